public import SluiceCore

/// How a stream's shard count is managed.
public enum StreamMode: String, Sendable, CaseIterable {
    /// The shard count is set by CreateStream, SplitShard, MergeShards and UpdateShardCount.
    case provisioned = "PROVISIONED"
    /// The store grows the shard count from observed write throughput.
    case onDemand = "ON_DEMAND"
}

public enum StreamStatus: String, Sendable {
    case creating = "CREATING", deleting = "DELETING", active = "ACTIVE", updating = "UPDATING"
}

/// When written records are forced to stable storage (a machine crash, not a process crash: every
/// acknowledged record has already reached the operating system, which survives `kill -9`).
public enum FsyncPolicy: Sendable, Equatable {
    /// Leave it to the operating system's write-back.
    case never
    /// A background flush every so many milliseconds (the default: 1000).
    case interval(millis: Int64)
    /// Flush before every acknowledgement.
    case always

    /// Parses `never`, `always`, `interval` or `interval:<ms>`.
    public init?(_ text: String) {
        switch text {
        case "never": self = .never
        case "always": self = .always
        case "interval": self = .interval(millis: 1000)
        default:
            guard text.hasPrefix("interval:"), let ms = Int64(text.dropFirst(9)), ms > 0 else { return nil }
            self = .interval(millis: ms)
        }
    }
}

public struct StoreConfiguration: Sendable {
    public var dataDirectory: String
    public var clock: any SluiceClock
    /// Open shards allowed across all streams of the store.
    public var shardLimit = 500
    /// Shard iterators expire this long after they were issued (Kinesis: 5 minutes).
    public var iteratorTTLMillis: Int64 = 300_000
    /// ListShards / ListStreams tokens expire after this long (Kinesis: 5 minutes).
    public var nextTokenTTLMillis: Int64 = 300_000
    /// Enforce the per-shard throughput limits of provisioned streams (off by default, as in the emulators).
    public var enforceThroughputLimits = false
    public var fsync: FsyncPolicy = .interval(millis: 1000)
    /// A shard's segment files roll over at this size.
    public var segmentBytes = 64 << 20
    /// Reads take records where they lie in a read-only mapping of the segment (no copy); false
    /// reads them with pread into a buffer per read.
    public var mapSegments = true
    /// The largest record (partition key plus data).
    public var maxRecordBytes = 1 << 20
    /// The largest PutRecords request (keys plus data).
    public var maxPutRecordsBytes = 5 << 20
    /// A bulk load's put (`loadRecords`) is about this size (keys plus data): a thousand puts a
    /// second, the most that each take a millisecond of their own without running ahead of the
    /// clock, then carry a gigabyte, more than a load parses.
    public var loadBatchBytes = 1 << 20
    /// Shards of a new on-demand stream.
    public var onDemandInitialShards = 4
    /// Expired data is looked for at most this often per stream, on reads and writes.
    public var trimIntervalMillis: Int64 = 60_000
    public var region = "us-east-1"
    public var accountId = "000000000000"
    /// A registered consumer is CREATING this long, then ACTIVE (Kinesis takes seconds).
    public var consumerCreationMillis: Int64 = 0
    /// A new stream is CREATING this long (no shards, no puts or reads), then ACTIVE; a stream is
    /// UPDATING this long after a reshard or a mode change (no further reshards). Kinesis takes
    /// seconds; 0 makes both immediate.
    public var createDelayMillis: Int64 = 0
    public var updateDelayMillis: Int64 = 0
    /// Whether records leave when their retention period has passed. A replay's store (records
    /// arriving at recorded times, on a `ReplayClock` that runs ahead of the queries reading
    /// them) keeps everything for the run instead.
    public var retentionApplies = true

    public init(dataDirectory: String, clock: any SluiceClock = SystemClock()) {
        self.dataDirectory = dataDirectory
        self.clock = clock
    }
}

/// One record for PutRecords (and PutRecord).
public struct PutRecordsRequestEntry: Sendable {
    public var data: [UInt8]
    public var partitionKey: String
    public var explicitHashKey: String?

    public init(data: [UInt8], partitionKey: String, explicitHashKey: String? = nil) {
        self.data = data
        self.partitionKey = partitionKey
        self.explicitHashKey = explicitHashKey
    }
}

public struct PutRecordResult: Sendable, Equatable {
    public var shardIndex: UInt32
    public var sequenceNumber: SequenceNumber
    public var shardId: String { ShardID.format(shardIndex) }

    public var json: JSONValue {
        ["ShardId": .string(shardId), "SequenceNumber": .string(sequenceNumber.description)]
    }
}

/// One entry of a PutRecords response: the record's place, or why it was not written.
public enum PutRecordsResultEntry: Sendable, Equatable {
    case success(PutRecordResult)
    case failure(code: StreamError.Code, message: String)

    public var json: JSONValue {
        switch self {
        case .success(let r): return r.json
        case .failure(let code, let message): return ["ErrorCode": .string(code.rawValue), "ErrorMessage": .string(message)]
        }
    }
}

public struct PutRecordsResult: Sendable {
    public var records: [PutRecordsResultEntry]
    public var failedRecordCount: Int {
        records.reduce(0) { if case .failure = $1 { return $0 + 1 }; return $0 }
    }
}

/// What a bulk load's put did (`StreamStore.loadRecords`): how many records it had, and the
/// positions of those that failed (a throughput limit, a storage failure); the rest are written.
public struct LoadResult: Sendable, Equatable {
    public let count: Int
    public let failed: [Int]
    public var failedRecordCount: Int { failed.count }
}

public enum ShardIteratorType: String, Sendable, CaseIterable {
    case atSequenceNumber = "AT_SEQUENCE_NUMBER"
    case afterSequenceNumber = "AFTER_SEQUENCE_NUMBER"
    case trimHorizon = "TRIM_HORIZON"
    case latest = "LATEST"
    case atTimestamp = "AT_TIMESTAMP"
}

/// A child of a closed shard, as GetRecords reports it at the end of that shard.
public struct ChildShard: Sendable, Equatable {
    public var shardId: String
    public var parentShards: [String]
    public var hashKeyRange: ClosedRange<UInt128>

    public var json: JSONValue {
        ["ShardId": .string(shardId), "ParentShards": .array(parentShards.map { .string($0) }),
         "HashKeyRange": hashKeyRangeJSON(hashKeyRange)]
    }
}

public struct GetRecordsResult: Sendable {
    public var records: RecordBatch
    public var shardIndex: UInt32
    public var shardCreationSeconds: UInt64
    /// Nil once a closed shard has been read to its end.
    public var nextShardIterator: String?
    public var millisBehindLatest: Int64
    /// The children of a closed shard read to its end.
    public var childShards: [ChildShard]?
    /// The read went to the end of what the shard held (false: it stopped at its limit or at a
    /// segment's end, and more records are there to read now).
    public var reachedEnd: Bool = true
    /// Records of a remote stream: their sequence numbers as the endpoint gave them (the
    /// built-in store's are computed from the shard and the record's index instead).
    public var remoteSequenceNumbers: [String]? = nil

    public init(records: RecordBatch, shardIndex: UInt32, shardCreationSeconds: UInt64, nextShardIterator: String?,
                millisBehindLatest: Int64, childShards: [ChildShard]? = nil, reachedEnd: Bool = true, remoteSequenceNumbers: [String]? = nil) {
        self.records = records
        self.shardIndex = shardIndex
        self.shardCreationSeconds = shardCreationSeconds
        self.nextShardIterator = nextShardIterator
        self.millisBehindLatest = millisBehindLatest
        self.childShards = childShards
        self.reachedEnd = reachedEnd
        self.remoteSequenceNumbers = remoteSequenceNumbers
    }

    /// Record i's sequence number as text, whichever kind of stream it came from.
    public func sequenceNumberText(_ i: Int) -> String {
        remoteSequenceNumbers?[i] ?? sequenceNumber(i).description
    }

    public func sequenceNumber(_ i: Int) -> SequenceNumber {
        SequenceNumber(shardCreationSeconds: shardCreationSeconds, shardIndex: shardIndex,
                       index: records.sequenceIndex(i), recordSeconds: UInt64(records.arrivalMillis(i) / 1000))
    }
}

public struct ShardDescription: Sendable, Equatable {
    public var index: UInt32
    public var parentShardId: String?
    public var adjacentParentShardId: String?
    public var hashKeyRange: ClosedRange<UInt128>
    public var startingSequenceNumber: SequenceNumber
    public var endingSequenceNumber: SequenceNumber?
    public var shardId: String { ShardID.format(index) }
    public var isOpen: Bool { endingSequenceNumber == nil }

    public var json: JSONValue {
        var o: JSONObject = ["ShardId": .string(shardId)]
        if let p = parentShardId { o["ParentShardId"] = .string(p) }
        if let a = adjacentParentShardId { o["AdjacentParentShardId"] = .string(a) }
        o["HashKeyRange"] = hashKeyRangeJSON(hashKeyRange)
        var seq: JSONObject = ["StartingSequenceNumber": .string(startingSequenceNumber.description)]
        if let e = endingSequenceNumber { seq["EndingSequenceNumber"] = .string(e.description) }
        o["SequenceNumberRange"] = .object(seq)
        return .object(o)
    }
}

public struct StreamDescription: Sendable {
    public var name: String
    public var arn: String
    public var status: StreamStatus
    public var mode: StreamMode
    public var retentionHours: Int
    public var creationMillis: Int64
    public var shards: [ShardDescription]
    public var hasMoreShards: Bool
    public var openShardCount: Int
    public var tags: [String: String]
    public var consumerCount: Int = 0
    /// The KMS key named by StartStreamEncryption (nil: EncryptionType NONE).
    public var encryptionKeyId: String? = nil
    public var shardLevelMetrics: [String] = []

    /// The DescribeStream response: `{"StreamDescription": {...}}`.
    public var json: JSONValue {
        var o: JSONObject = [:]
        o["StreamName"] = .string(name)
        o["StreamARN"] = .string(arn)
        o["StreamStatus"] = .string(status.rawValue)
        o["StreamModeDetails"] = ["StreamMode": .string(mode.rawValue)]
        o["Shards"] = .array(shards.map(\.json))
        o["HasMoreShards"] = .bool(hasMoreShards)
        o["RetentionPeriodHours"] = .int(Int64(retentionHours))
        o["StreamCreationTimestamp"] = .double(Double(creationMillis) / 1000)
        o["EnhancedMonitoring"] = [["ShardLevelMetrics": .array(shardLevelMetrics.map { .string($0) })]]
        o["EncryptionType"] = encryptionKeyId == nil ? "NONE" : "KMS"
        if let k = encryptionKeyId { o["KeyId"] = .string(k) }
        return ["StreamDescription": .object(o)]
    }

    /// The DescribeStreamSummary response.
    public var summaryJSON: JSONValue {
        var o: JSONObject = [:]
        o["StreamName"] = .string(name)
        o["StreamARN"] = .string(arn)
        o["StreamStatus"] = .string(status.rawValue)
        o["StreamModeDetails"] = ["StreamMode": .string(mode.rawValue)]
        o["RetentionPeriodHours"] = .int(Int64(retentionHours))
        o["StreamCreationTimestamp"] = .double(Double(creationMillis) / 1000)
        o["EnhancedMonitoring"] = [["ShardLevelMetrics": .array(shardLevelMetrics.map { .string($0) })]]
        o["EncryptionType"] = encryptionKeyId == nil ? "NONE" : "KMS"
        if let k = encryptionKeyId { o["KeyId"] = .string(k) }
        o["OpenShardCount"] = .int(Int64(openShardCount))
        o["ConsumerCount"] = .int(Int64(consumerCount))
        return ["StreamDescriptionSummary": .object(o)]
    }
}

func hashKeyRangeJSON(_ r: ClosedRange<UInt128>) -> JSONValue {
    ["StartingHashKey": .string(String(r.lowerBound)), "EndingHashKey": .string(String(r.upperBound))]
}

/// Shard identifiers: `shardId-` and a 12-digit index.
public enum ShardID {
    public static func format(_ index: UInt32) -> String {
        let s = String(index)
        return "shardId-" + String(repeating: "0", count: max(0, 12 - s.count)) + s
    }

    /// Kinesis is lenient: a bare decimal, or anything whose text after the first `-` is a decimal
    /// no larger than 2^31-1, names that shard (`5`, `shardId-5`, `shard-5`, `a-00005`).
    public static func parse(_ text: String) -> UInt32? {
        let digits: Substring
        if let dash = text.firstIndex(of: "-") {
            digits = text[text.index(after: dash)...]
        } else {
            digits = Substring(text)
        }
        guard !digits.isEmpty, digits.utf8.count <= 20, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let v = UInt64(digits), v <= UInt64(Int32.max)
        else { return nil }
        return UInt32(v)
    }
}

/// A ShardFilter for ListShards.
public enum ShardFilter: Sendable, Equatable {
    case afterShardId(String)
    case atTrimHorizon
    case fromTrimHorizon
    case atLatest
    case atTimestamp(Int64)
    case fromTimestamp(Int64)
}
