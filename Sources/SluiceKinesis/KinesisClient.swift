import Foundation
public import SluiceAWS
public import SluiceCore
public import SluiceStreams
public import Synchronization

/// One remote Kinesis data stream through its API (`sluice serve`, moto's server, AWS): the calls
/// a query's reader and writer make, typed, with throttling and transient failures retried with
/// capped exponential backoff and full jitter, and counted. Errors come back as the store's
/// `StreamError`s, named as the endpoint named them, saying which stream at which endpoint.
/// Thread-safe (the counters are atomic; each call opens its own connection).
public final class KinesisClient: Sendable {
    public let api: AWSJSONClient
    /// The stream by name, or by ARN (`StreamARN` in each call) when declared by ARN.
    public let streamName: String
    public let streamARN: String?
    /// Attempts of one call before its failure stands (throttling, 5xx, a lost connection).
    public let maxAttempts: Int
    /// Backoff bounds, in milliseconds.
    let baseBackoffMillis: Int, maxBackoffMillis: Int

    /// Calls (and records of batch puts) refused for throughput (ProvisionedThroughputExceeded,
    /// LimitExceeded, Throttling); retries of any kind.
    public let throttled = Atomic<Int>(0), retries = Atomic<Int>(0)

    public init(api: AWSJSONClient, stream: String, streamARN: String? = nil, maxAttempts: Int = 8,
                baseBackoffMillis: Int = 50, maxBackoffMillis: Int = 5000) {
        self.api = api
        self.streamName = stream
        self.streamARN = streamARN
        self.maxAttempts = max(1, maxAttempts)
        self.baseBackoffMillis = baseBackoffMillis
        self.maxBackoffMillis = maxBackoffMillis
    }

    /// The stream's name from `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`, with the region.
    public static func parseARN(_ arn: String) -> (name: String, region: String)? {
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[2] == "kinesis", !parts[3].isEmpty, parts[5].hasPrefix("stream/") else { return nil }
        let name = parts[5].dropFirst("stream/".count)
        guard !name.isEmpty, !name.contains("/") else { return nil }
        return (String(name), String(parts[3]))
    }

    /// Where the stream is, for messages: `stream NAME at ENDPOINT (REGION)`.
    public var place: String { "stream \(streamName) at \(api.endpoint) (\(api.region))" }

    /// The throughput errors: the call may succeed later.
    static let throttling: Set<String> = ["ProvisionedThroughputExceededException", "LimitExceededException", "ThrottlingException",
                                          "RequestLimitExceeded", "SlowDown"]
    /// Errors that say the credentials are wrong, missing or expired.
    static let credentialErrors: Set<String> = ["UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException",
                                                "ExpiredTokenException", "IncompleteSignature", "MissingAuthenticationToken",
                                                "InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure"]

    /// Calls `operation` with the stream named in the input; retries what may pass later.
    /// `retryThrottling` false: a throughput error comes back at once (a reader that moves on to
    /// other shards and comes back to this one later).
    public func call(_ operation: String, _ input: JSONObject, retryThrottling: Bool = true) throws(StreamError) -> JSONValue {
        var body = input
        if let arn = streamARN { body["StreamARN"] = .string(arn) } else { body["StreamName"] = .string(streamName) }
        return try plainCall(operation, body, retryThrottling: retryThrottling)
    }

    /// Calls `operation` with `input` as it is (GetRecords names no stream).
    public func plainCall(_ operation: String, _ input: JSONObject, retryThrottling: Bool = true) throws(StreamError) -> JSONValue {
        var attempt = 0
        while true {
            attempt += 1
            do throws(AWSJSONClient.Failure) {
                return try api.call(operation, .object(input))
            } catch {
                let throttle = KinesisClient.throttling.contains(error.name)
                if throttle { throttled.add(1, ordering: .relaxed) }
                let transient = throttle || error.unreachable != nil || error.status >= 500
                // An endpoint that does not answer is tried three times at most: a wrong URL is said soon.
                let attempts = error.unreachable != nil ? min(3, maxAttempts) : maxAttempts
                if transient && attempt < attempts && (retryThrottling || !throttle) {
                    retries.add(1, ordering: .relaxed)
                    backoff(attempt)
                    continue
                }
                throw failure(operation, error)
            }
        }
    }

    /// Counts the records of a batch put that the endpoint did not take: each is sent again (a
    /// retry), and those refused for throughput are throttled.
    public func countRefused(_ failed: [(index: Int, code: String)]) {
        guard !failed.isEmpty else { return }
        retries.add(failed.count, ordering: .relaxed)
        throttled.add(failed.filter { KinesisClient.throttling.contains($0.code) }.count, ordering: .relaxed)
    }

    /// Sleeps a random time up to min(cap, base × 2^attempt) ("full jitter").
    public func backoff(_ attempt: Int) {
        let ceiling = min(maxBackoffMillis, baseBackoffMillis << min(attempt, 16))
        usleep(UInt32(Int.random(in: 1...max(1, ceiling))) * 1000)
    }

    /// An endpoint's failure as the store's error: its name kept, the stream and endpoint said,
    /// and for credentials, whose credentials (never the secret).
    func failure(_ operation: String, _ f: AWSJSONClient.Failure) -> StreamError {
        if let why = f.unreachable {
            return StreamError(.internalFailure, "cannot reach Kinesis at \(api.endpoint) (\(operation) on stream \(streamName)): \(why)")
        }
        if KinesisClient.credentialErrors.contains(f.name) {
            return StreamError(.accessDenied, "\(api.endpoint) refused the credentials (\(api.credentialsSource), access key \(api.accessKeyId)) for \(operation) on stream \(streamName): \(f.name): \(f.message)")
        }
        let code = StreamError.Code(rawValue: f.name) ?? .internalFailure
        let message = code == .internalFailure && f.name != code.rawValue ? "\(f.name): \(f.message)" : f.message
        return StreamError(code, "\(message) (\(operation) on \(place))")
    }

    // MARK: - Typed calls

    /// A shard as ListShards describes it.
    public struct Shard: Sendable, Equatable {
        public var id: String
        public var parent: String?
        public var adjacentParent: String?
        /// Closed by a reshard: no records come after its end.
        public var closed: Bool
        /// The partition keys' hash keys it takes (nil: the endpoint did not say).
        public var hashKeyRange: ClosedRange<UInt128>?
        public var parents: [String] { [parent, adjacentParent].compactMap { $0 } }
        public init(id: String, parent: String?, adjacentParent: String?, closed: Bool, hashKeyRange: ClosedRange<UInt128>? = nil) {
            self.id = id
            self.parent = parent
            self.adjacentParent = adjacentParent
            self.closed = closed
            self.hashKeyRange = hashKeyRange
        }
    }

    /// Every shard, page by page (closed ones included while they are retained).
    public func listShards() throws(StreamError) -> [Shard] {
        var out: [Shard] = []
        var token: String? = nil
        repeat {
            let page: JSONValue
            if let t = token { page = try plainCall("ListShards", ["NextToken": .string(t)]) } else { page = try call("ListShards", [:]) }
            for s in page["Shards"]?.arrayValue ?? [] {
                guard let id = s["ShardId"]?.stringValue else { continue }
                var range: ClosedRange<UInt128>? = nil
                if let lo = s["HashKeyRange"]?["StartingHashKey"]?.stringValue.flatMap({ try? HashKey.parse($0).get() }),
                   let hi = s["HashKeyRange"]?["EndingHashKey"]?.stringValue.flatMap({ try? HashKey.parse($0).get() }), lo <= hi {
                    range = lo...hi
                }
                out.append(Shard(id: id, parent: s["ParentShardId"]?.stringValue, adjacentParent: s["AdjacentParentShardId"]?.stringValue,
                                 closed: s["SequenceNumberRange"]?["EndingSequenceNumber"]?.stringValue != nil, hashKeyRange: range))
            }
            token = page["NextToken"]?.stringValue
        } while token != nil
        return out
    }

    /// The stream's status (DescribeStreamSummary): says at once whether it is there and whether
    /// the credentials are taken.
    public func status() throws(StreamError) -> String {
        let d = try call("DescribeStreamSummary", [:])
        return d["StreamDescriptionSummary"]?["StreamStatus"]?.stringValue ?? "ACTIVE"
    }

    public enum IteratorStart: Sendable, Equatable {
        case trimHorizon, latest
        case afterSequenceNumber(String)
        case atTimestamp(Int64)
    }

    public func shardIterator(shard: String, _ start: IteratorStart) throws(StreamError) -> String {
        var input: JSONObject = ["ShardId": .string(shard)]
        switch start {
        case .trimHorizon: input["ShardIteratorType"] = "TRIM_HORIZON"
        case .latest: input["ShardIteratorType"] = "LATEST"
        case .afterSequenceNumber(let s):
            input["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            input["StartingSequenceNumber"] = .string(s)
        case .atTimestamp(let ms):
            input["ShardIteratorType"] = "AT_TIMESTAMP"
            input["Timestamp"] = .double(Double(ms) / 1000)
        }
        guard let it = try call("GetShardIterator", input)["ShardIterator"]?.stringValue else {
            throw StreamError(.internalFailure, "GetShardIterator on \(place) gave no iterator for \(shard)")
        }
        return it
    }

    /// One GetRecords: the records packed as the store packs its own (partition key then data),
    /// with their sequence numbers as the endpoint gave them. Throughput errors come back at once.
    public func getRecords(iterator: String, limit: Int) throws(StreamError) -> GetRecordsResult {
        let answer = try plainCall("GetRecords", ["ShardIterator": .string(iterator), "Limit": .int(Int64(limit))], retryThrottling: false)
        let list = answer["Records"]?.arrayValue ?? []
        let behind = answer["MillisBehindLatest"]?.int64Value ?? 0
        let next = answer["NextShardIterator"]?.stringValue
        return try records(list, "GetRecords", nextShardIterator: next, millisBehindLatest: behind, reachedEnd: behind == 0 && list.count < limit)
    }

    /// Records as GetRecords and SubscribeToShard's events list them, packed as the store packs
    /// its own (partition key then data), with their sequence numbers as the endpoint gave them.
    func records(_ list: [JSONValue], _ operation: String, nextShardIterator: String?, millisBehindLatest: Int64, reachedEnd: Bool) throws(StreamError) -> GetRecordsResult {
        var bytes: [UInt8] = []
        var records: [(keyOffset: Int, keyLength: Int, dataLength: Int, arrival: Int64)] = []
        var sequenceNumbers: [String] = []
        records.reserveCapacity(list.count)
        sequenceNumbers.reserveCapacity(list.count)
        for r in list {
            guard let sn = r["SequenceNumber"]?.stringValue, let key = r["PartitionKey"]?.stringValue, var data = r["Data"]?.stringValue else {
                throw StreamError(.internalFailure, "\(operation) on \(place) gave a record without SequenceNumber, PartitionKey or Data")
            }
            let keyOffset = bytes.count
            bytes.append(contentsOf: key.utf8)
            let dataStart = bytes.count
            guard data.withUTF8({ Base64.decode(UnsafeRawBufferPointer($0), into: &bytes) }) else {
                throw StreamError(.internalFailure, "\(operation) on \(place) gave record \(sn) whose Data is not base64")
            }
            let seconds = r["ApproximateArrivalTimestamp"]?.doubleValue ?? 0
            records.append((keyOffset, dataStart - keyOffset, bytes.count - dataStart, Int64((seconds * 1000).rounded())))
            sequenceNumbers.append(sn)
        }
        return GetRecordsResult(records: RecordBatch(bytes: bytes, records: records), shardIndex: 0, shardCreationSeconds: 0,
                                nextShardIterator: nextShardIterator, millisBehindLatest: millisBehindLatest,
                                reachedEnd: reachedEnd, remoteSequenceNumbers: sequenceNumbers)
    }

    /// PutRecords of up to 500 records: the indexes of the records the endpoint did not take,
    /// with its error code.
    public func putRecords(_ records: [(data: [UInt8], partitionKey: String)]) throws(StreamError) -> [(index: Int, code: String)] {
        var list: [JSONValue] = []
        list.reserveCapacity(records.count)
        for r in records {
            list.append(["Data": .string(Base64.encode(r.data)), "PartitionKey": .string(r.partitionKey)])
        }
        let answer = try call("PutRecords", ["Records": .array(list)])
        guard (answer["FailedRecordCount"]?.int64Value ?? 0) > 0 else { return [] }
        var failed: [(Int, String)] = []
        for (i, r) in (answer["Records"]?.arrayValue ?? []).enumerated() {
            if let code = r["ErrorCode"]?.stringValue { failed.append((i, code)) }
        }
        return failed
    }
}
