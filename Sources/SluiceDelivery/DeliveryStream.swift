import Foundation
import Dispatch
import Glibc
public import SluiceCore
import SluiceCodecs
public import SluiceStreams
public import SluiceAWS

/// What a transformation made of one record (Firehose's Lambda result): its new bytes and its
/// partition keys, dropped, or failed with a reason (the record goes to the error prefix).
public enum ProcessedRecord: Sendable, Equatable {
    case ok([UInt8], keys: [String: String])
    case dropped
    case failed(String)
}

/// Transforms a batch of records (one result per record, in order).
public typealias RecordProcessor = ([[UInt8]]) -> [ProcessedRecord]

/// Counts since the delivery stream was opened.
public struct DeliveryCounters: Sendable, Equatable {
    public var recordsRead: Int64 = 0
    public var recordsDelivered: Int64 = 0
    public var recordsFailed: Int64 = 0
    public var recordsDropped: Int64 = 0
    public var objects: Int64 = 0
    public var bytesIn: Int64 = 0
    public var bytesWritten: Int64 = 0
}

/// A Firehose delivery stream over a built-in stream: records are read from the stream (its own,
/// one shard, for direct puts; or a source stream), buffered per partition and shard, and written
/// as objects under the destination directory, laid out as S3 keys, when a buffer reaches the size
/// hint or its oldest record the interval hint, and when the stream is flushed at shutdown.
///
/// Exactly once, across crashes: an object is written under `.sluice-staging/` and made durable,
/// then the delivery state (per shard: the position before the oldest record not yet delivered,
/// and the objects delivered past it) is written atomically, then the object is renamed into
/// place. On opening, objects the state lists are renamed into place if they are not yet, other
/// staged files are removed, and reading resumes at the positions, skipping the records of the
/// listed objects. Records acknowledged by a put are in the stream, on disk, so none is lost.
///
/// Owned by one thread (the run loop or the command that opened it).
public final class DeliveryStream {
    public let config: FirehoseConfig
    public let store: StreamStore
    let clock: any SluiceClock
    let consumer: StreamConsumer
    public var processor: RecordProcessor?
    public private(set) var counters = DeliveryCounters()
    private let prefix: PrefixTemplate
    private let errorPrefix: PrefixTemplate
    private let statePath: String
    private let stagingDir: String
    /// The directory of staged objects in a destination (and of no delivered object: a key that
    /// starts with it is written with its first dot escaped).
    static let stagingName = ".sluice-staging"
    /// The most partitions buffered at once (Firehose's active partition limit).
    public static let maxActivePartitions = 500

    /// A buffer being filled: records of one partition from one shard, streamed into a staged file.
    final class Buffer {
        let partition: String
        let shard: String
        let errorType: String?
        let firstSequence: SequenceNumber
        /// The shard position before the first record (nil: the shard's start).
        let resumeAfter: SequenceNumber?
        var lastSequence: SequenceNumber
        let oldestArrival: Int64
        var records = 0
        var bytes = 0
        let stagedPath: String
        let key: String
        let fd: Int32
        let gzip: BackgroundGzip?
        var pending: [UInt8] = []

        init(partition: String, shard: String, errorType: String?, first: SequenceNumber, resumeAfter: SequenceNumber?,
             arrival: Int64, stagedPath: String, key: String, fd: Int32, gzip: BackgroundGzip?) {
            self.partition = partition
            self.shard = shard
            self.errorType = errorType
            firstSequence = first
            lastSequence = first
            self.resumeAfter = resumeAfter
            oldestArrival = arrival
            self.stagedPath = stagedPath
            self.key = key
            self.fd = fd
            self.gzip = gzip
        }
    }

    /// An object delivered past its shard's position: its records are skipped when read again.
    struct Delivered: Equatable {
        var shard: String
        var partition: String
        var first: SequenceNumber
        var last: SequenceNumber
        var key: String
        var staged: String
        /// Renamed into place (only then may the state forget it).
        var placed = false
    }

    private var buffers: [String: Buffer] = [:]
    /// Per shard, the last record read (nil: none yet).
    private var lastRead: [String: SequenceNumber] = [:]
    /// Per shard, the durable position (nil: the shard's start).
    private var committed: [String: StreamConsumer.Position] = [:]
    private var delivered: [Delivered] = []
    /// GZIP objects are compressed on this queue's thread while the caller reads and buffers.
    private let compression = DispatchQueue(label: "sluice.firehose.gzip")
    /// Tests: called after the state lists an object and before it is renamed into place (a
    /// crash there is simulated by throwing).
    var afterStateSaved: (() throws(DeliveryError) -> Void)?
    /// Tests: bytes that staged files may still take before writes fail as on a full disk (nil: no limit).
    var spaceLeft: Int?
    /// A step failed and was rolled back: the durable state is read again before the next one.
    private var needsRecovery = false

    /// Where objects go when the destination is S3 (`config.s3Bucket`).
    let s3: S3Client?

    /// `s3`: the client of the destination's S3, for a firehose delivering to `s3://BUCKET`.
    public init(config: FirehoseConfig, store: StreamStore, clock: any SluiceClock = SystemClock(), s3: S3Client? = nil) throws(DeliveryError) {
        self.config = config
        self.store = store
        self.clock = clock
        self.s3 = s3
        if config.s3Bucket != nil && s3 == nil {
            throw DeliveryError(.invalidArgument, "firehose \(config.name) delivers to s3://\(config.s3Bucket!) and has no S3 client (credentials)")
        }
        prefix = try PrefixTemplate(config.prefix, field: "prefix")
        errorPrefix = try PrefixTemplate(config.errorPrefix.isEmpty ? "!{firehose:error-output-type}/" : config.errorPrefix, field: "error_prefix")
        let dir = DeliveryStream.definitionsDirectory(store)
        statePath = dir + "/" + config.name + ".delivery.json"
        // One staging directory per firehose: firehoses sharing a bucket never touch each
        // other's staged objects (opening one removes the staged files its state does not list).
        // (Objects bound for S3 are staged under the data directory.)
        stagingDir = (config.s3Bucket == nil ? config.directory : dir) + "/" + DeliveryStream.stagingName + "/" + config.name
        do {
            consumer = try StreamConsumer(store: store, stream: config.stream, application: "firehose-" + config.name)
        } catch {
            throw DeliveryError(.resourceNotFound, "the stream '\(config.stream)' of firehose \(config.name) cannot be read: \(error.message)")
        }
        try makeDirectories(stagingDir)
        try recover()
    }

    // MARK: - Definitions on disk

    static func definitionsDirectory(_ store: StreamStore) -> String { store.configuration.dataDirectory + "/firehoses" }

    /// Saves a firehose's definition (and creates its stream for direct puts). Defining it again
    /// as it is changes nothing; a replacement keeps its creation time and takes the next version.
    /// Returns the definition saved.
    /// `newVersion`: an update of the destination (UpdateDestination), which takes the next
    /// version and records when, even when nothing changed (as Firehose does).
    @discardableResult
    public static func create(_ config: FirehoseConfig, store: StreamStore, replace: Bool = false, newVersion: Bool = false) throws(DeliveryError) -> FirehoseConfig {
        var config = config
        let dir = definitionsDirectory(store)
        try makeDirectories(dir)
        let path = dir + "/" + config.name + ".json"
        if let existing = try? load(name: config.name, store: store) {
            // Tags and encryption are set through the API, not in a definition: they stay.
            if config.tags.isEmpty { config.tags = existing.tags }
            if config.encryption == nil { config.encryption = existing.encryption }
            config.createdMillis = existing.createdMillis
            config.version = existing.version
            config.lastUpdateMillis = existing.lastUpdateMillis
            if existing == config && !newVersion { return existing }
            guard replace else { throw DeliveryError(.resourceInUse, "Firehose \(config.name) under account 000000000000 already exists with a different definition.") }
            config.version = existing.version + 1
            if newVersion { config.lastUpdateMillis = Int64(Date().timeIntervalSince1970 * 1000) }
        } else if config.createdMillis == 0 {
            config.createdMillis = Int64(Date().timeIntervalSince1970 * 1000)
        }
        if config.isDirectPut {
            do {
                if (try? store.describeStreamSummary(name: config.name)) == nil { try store.createStream(name: config.name, shardCount: 1) }
            } catch {
                throw DeliveryError(.resourceInUse, "cannot create the stream of firehose \(config.name): \(error.message)")
            }
        } else if let s = config.sourceStream, (try? store.describeStreamSummary(name: s)) == nil {
            throw DeliveryError(.resourceNotFound, "the source stream '\(s)' of firehose \(config.name) does not exist")
        }
        do {
            try writeFileAtomically(path, Array(config.json.serialized(pretty: true).utf8))
        } catch {
            throw DeliveryError(.storage, error.message)
        }
        return config
    }

    /// Saves settings that are not the destination (tags, encryption) as they are: same version.
    public static func saveSettings(_ config: FirehoseConfig, store: StreamStore) throws(DeliveryError) {
        do {
            try writeFileAtomically(definitionsDirectory(store) + "/" + config.name + ".json", Array(config.json.serialized(pretty: true).utf8))
        } catch {
            throw DeliveryError(.storage, error.message)
        }
    }

    public static func load(name: String, store: StreamStore) throws(DeliveryError) -> FirehoseConfig {
        guard let bytes = readFile(definitionsDirectory(store) + "/" + name + ".json") else {
            throw DeliveryError(.resourceNotFound, "Firehose \(name) under account 000000000000 not found.")
        }
        guard let j = try? JSONValue.parse(bytes: bytes) else { throw DeliveryError(.storage, "the definition of firehose \(name) is unreadable") }
        return try FirehoseConfig(json: j)
    }

    public static func list(store: StreamStore) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: definitionsDirectory(store))) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasSuffix(".delivery.json") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// The firehoses defined in the store's directory that read `stream` (their source, or the
    /// stream of a direct-put firehose).
    public static func readers(of stream: String, store: StreamStore) -> [String] {
        list(store: store).filter { (try? load(name: $0, store: store))?.stream == stream }
    }

    /// Removes a firehose's definition, delivery state and (for direct puts) its stream.
    public static func delete(name: String, store: StreamStore) throws(DeliveryError) {
        let config = try load(name: name, store: store)
        let dir = definitionsDirectory(store)
        unlink(dir + "/" + name + ".json")
        unlink(dir + "/" + name + ".delivery.json")
        if config.isDirectPut { try? store.deleteStream(name: name, enforceConsumerDeletion: true) }
    }

    // MARK: - Puts (PutRecord, PutRecordBatch)

    public static let maxRecordBytes = 1_024_000
    public static let maxBatchRecords = 500
    public static let maxBatchBytes = 4 << 20

    /// PutRecordBatch: 1-500 records of at most 1,000 KiB, 4 MiB in all. Returns a record id per
    /// record (the stream's sequence number, the RecordId) or, for a record that failed, its error.
    public static func putBatch(_ config: FirehoseConfig, store: StreamStore, records: [[UInt8]]) throws(DeliveryError) -> [Result<SequenceNumber, DeliveryError>] {
        guard config.isDirectPut else {
            throw DeliveryError(.invalidArgument, "Firehose \(config.name) reads the stream \(config.stream); it does not take direct puts.")
        }
        guard !records.isEmpty, records.count <= maxBatchRecords else {
            throw DeliveryError(.invalidArgument, "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and 500")
        }
        let total = records.reduce(0) { $0 + $1.count }
        guard total <= maxBatchBytes else {
            throw DeliveryError(.invalidArgument, "Records size exceeds 4 MiB limit")
        }
        for r in records where r.count > maxRecordBytes {
            throw DeliveryError(.invalidArgument, "1 validation error detected: Value at 'record.data' failed to satisfy constraint: Member must have length less than or equal to 1024000")
        }
        // One shard: the partition key only has to be valid.
        let entries = records.map { PutRecordsRequestEntry(data: $0, partitionKey: "firehose") }
        do {
            let result = try store.putRecords(stream: config.name, records: entries)
            return result.records.map { r in
                switch r {
                case .success(let ok): return .success(ok.sequenceNumber)
                case .failure(let code, let message):
                    // Firehose reports a record it could not take as ServiceUnavailable (retry) or InternalFailure.
                    return .failure(DeliveryError(code == .provisionedThroughputExceeded ? .serviceUnavailable : .internalFailure, message))
                }
            }
        } catch {
            throw DeliveryError(error.code == .resourceNotFound ? .resourceNotFound : .invalidArgument, error.message)
        }
    }

    // MARK: - Delivery

    /// Reads what is new in the stream, fills buffers, and delivers the buffers that are due.
    /// Returns whether anything was read.
    @discardableResult
    public func poll() throws(DeliveryError) -> Bool {
        try undoingFailures { () throws(DeliveryError) -> Bool in try pollOnce() }
    }

    /// Runs a step of delivery; when it fails (a write error, a full disk), what it buffered is
    /// dropped and the delivery goes back to its durable state, as after a crash: staged files
    /// not listed in the state are removed, listed objects put in place, and records are read
    /// again from the saved positions. A retry so writes every record once, and a record that
    /// failed to be written stays in the stream until it is.
    private func undoingFailures<T>(_ body: () throws(DeliveryError) -> T) throws(DeliveryError) -> T {
        do {
            if needsRecovery { try recover() }
            return try body()
        } catch {
            rollBack()
            throw error
        }
    }

    private func rollBack() {
        for b in buffers.values {
            b.gzip?.abandon()
            close(b.fd)
            unlink(b.stagedPath)
        }
        buffers = [:]
        lastRead = [:]
        committed = [:]
        delivered = []
        needsRecovery = true
    }

    private func pollOnce() throws(DeliveryError) -> Bool {
        let batches: [StreamConsumer.ShardRecords]
        do { batches = try consumer.poll() } catch { throw DeliveryError(.storage, error.message) }
        var any = false
        for b in batches {
            let n = b.result.records.count
            guard n > 0 else { continue }
            any = true
            // The records to deliver: from a source stream, a KPL aggregated record is its user
            // records (as Firehose de-aggregates them); `record[j]` is the stream record of data[j],
            // and `last[j]` whether data[j] is the last of it.
            var data: [[UInt8]] = []
            var record: [Int] = [], last: [Bool] = []
            data.reserveCapacity(n)
            for i in 0..<n {
                let users = config.isDirectPut ? nil : b.result.records.withData(i) { KPLAggregate.hasMagic($0) ? KPLAggregate.deaggregate($0) : nil }
                if let users, !users.isEmpty {
                    for (k, u) in users.enumerated() {
                        data.append(u.data)
                        record.append(i)
                        last.append(k == users.count - 1)
                    }
                } else {
                    data.append(b.result.records.data(i))
                    record.append(i)
                    last.append(true)
                }
            }
            counters.recordsRead += Int64(data.count)
            let processed: [ProcessedRecord] = processor.map { $0(data) } ?? data.map { .ok($0, keys: [:]) }
            for j in 0..<data.count {
                let i = record[j]
                let sn = b.result.sequenceNumber(i)
                let seq = sn
                let arrival = b.result.records.arrivalMillis(i)
                let before = lastRead[b.shardId]
                if last[j] { lastRead[b.shardId] = seq }
                // Objects end between stream records, never inside an aggregated one, so that the
                // delivery state's sequence ranges hold whole records.
                let boundary = last[j]
                counters.bytesIn += Int64(data[j].count)
                switch j < processed.count ? processed[j] : .failed("the transformation returned no result for the record") {
                case .ok(let bytes, let keys):
                    let partition = DeliveryStream.partitionName(keys)
                    if isDelivered(b.shardId, partition, sn) { continue }
                    if buffers[partition + "\u{0}" + b.shardId] == nil && activePartitions >= DeliveryStream.maxActivePartitions {
                        try append(errorRecord(data[j], arrival, "activePartitionExceeded", "more than \(DeliveryStream.maxActivePartitions) partitions are active"),
                                   partition: "!error:activePartitionExceeded", keys: [:], errorType: "activePartitionExceeded",
                                   shard: b.shardId, seq: seq, before: before, arrival: arrival, boundary: boundary)
                        counters.recordsFailed += 1
                        continue
                    }
                    try append(bytes, partition: partition, keys: keys, errorType: nil, shard: b.shardId, seq: seq, before: before, arrival: arrival, boundary: boundary)
                case .dropped:
                    counters.recordsDropped += 1
                case .failed(let reason):
                    let partition = "!error:processing-failed"
                    if isDelivered(b.shardId, partition, sn) { continue }
                    try append(errorRecord(data[j], arrival, "processing-failed", reason), partition: partition, keys: [:],
                               errorType: "processing-failed", shard: b.shardId, seq: seq, before: before, arrival: arrival, boundary: boundary)
                    counters.recordsFailed += 1
                }
            }
        }
        let now = clock.nowMillis()
        for (k, buf) in buffers.sorted(by: { $0.key < $1.key }) where now - buf.oldestArrival >= config.bufferIntervalMillis {
            try deliver(k, buf)
        }
        return any
    }

    /// Delivers every buffer, whatever its size and age (shutdown).
    public func flushAll() throws(DeliveryError) {
        try undoingFailures { () throws(DeliveryError) in
            for (k, buf) in buffers.sorted(by: { $0.key < $1.key }) { try deliver(k, buf) }
            try saveState()
        }
    }

    /// Reads the stream to its end, then flushes every buffer.
    public func deliverAll() throws(DeliveryError) {
        while try poll() {}
        try flushAll()
    }

    /// Records buffered and not yet delivered.
    public var bufferedRecords: Int { buffers.values.reduce(0) { $0 + $1.records } }
    private var activePartitions: Int { Set(buffers.values.filter { $0.errorType == nil }.map(\.partition)).count }

    static func partitionName(_ keys: [String: String]) -> String {
        keys.keys.sorted().map { "\($0)=\(keys[$0]!)" }.joined(separator: "\u{1}")
    }

    private func isDelivered(_ shard: String, _ partition: String, _ s: SequenceNumber) -> Bool {
        delivered.contains { d in d.first <= s && s <= d.last && d.partition == partition && d.shard == shard }
    }

    private func errorRecord(_ data: [UInt8], _ arrival: Int64, _ code: String, _ message: String) -> [UInt8] {
        var o = JSONObject()
        o["attemptsMade"] = 1
        o["arrivalTimestamp"] = .int(arrival)
        o["errorCode"] = .string(code)
        o["errorMessage"] = .string(message)
        o["attemptEndingTimestamp"] = .int(clock.nowMillis())
        o["rawData"] = .string(Data(data).base64EncodedString())
        var out = Array(JSONValue.object(o).serialized().utf8)
        if !config.newlineDelimiter { out.append(10) }  // error documents are always one per line
        return out
    }

    private func append(_ bytes: [UInt8], partition: String, keys: [String: String], errorType: String?, shard: String,
                        seq: SequenceNumber, before: SequenceNumber?, arrival: Int64, boundary: Bool = true) throws(DeliveryError) {
        let k = partition + "\u{0}" + shard
        let buf: Buffer
        if let b = buffers[k] {
            buf = b
        } else {
            buf = try open(partition: partition, keys: keys, errorType: errorType, shard: shard, seq: seq, before: before, arrival: arrival)
            buffers[k] = buf
        }
        buf.lastSequence = seq
        buf.records += 1
        buf.bytes += bytes.count + (config.newlineDelimiter ? 1 : 0)
        buf.pending += bytes
        if config.newlineDelimiter { buf.pending.append(10) }
        if buf.pending.count >= 1 << 18 { try drain(buf) }
        if boundary && buf.bytes >= config.bufferSizeBytes { try deliver(k, buf) }
    }

    private func open(partition: String, keys: [String: String], errorType: String?, shard: String, seq: SequenceNumber,
                      before: SequenceNumber?, arrival: Int64) throws(DeliveryError) -> Buffer {
        let uuid = UUID().uuidString.lowercased()
        let random = String(uuid.filter { $0 != "-" }.prefix(11))
        let template = errorType == nil ? prefix : errorPrefix
        var p = template.evaluate(time: arrival, keys: keys.mapValues(DeliveryStream.pathSafe), errorType: errorType, random: random)
        if errorType != nil && config.errorPrefix.isEmpty { p += PrefixTemplate.timePath(arrival) }
        var key = DeliveryStream.objectName(prefix: p, name: config.name, version: config.version, time: arrival, id: uuid)
        if config.compression == .gzip { key += ".gz" }
        while key.hasPrefix("/") { key.removeFirst() }
        let staged = stagingDir + "/" + uuid
        let fd = Glibc.open(staged, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DeliveryError(.storage, "cannot write \(staged): \(String(cString: strerror(errno)))") }
        return Buffer(partition: partition, shard: shard, errorType: errorType, first: seq, resumeAfter: before, arrival: arrival,
                      stagedPath: staged, key: key, fd: fd, gzip: config.compression == .gzip ? BackgroundGzip(fd: fd, path: staged, queue: compression) : nil)
    }

    /// An object's key as Firehose names it: the prefix, then
    /// `NAME-VERSION-YYYY-MM-DD-HH-MM-SS-ID` of the time of its oldest record.
    public static func objectName(prefix: String, name: String, version: Int, time: Int64, id: String) -> String {
        let f = TimeFormat.fields(time)
        func p2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return prefix + "\(name)-\(version)-\(f.year)-\(p2(f.month))-\(p2(f.day))-\(p2(f.hour))-\(p2(f.minute))-\(p2(f.second))-\(id)"
    }

    /// A partition key value as one path segment: `/` and NUL are percent-encoded, `.` and `..`
    /// cannot climb out of the destination, and a value too long for a file name (over 200 bytes)
    /// is cut and ends with a hash of the whole value, so that it stays one name and distinct.
    static func pathSafe(_ v: String) -> String {
        if v == "." || v == ".." { return v.replacingAll(".", with: "%2E") }
        var out = ""
        for ch in v.unicodeScalars {
            switch ch {
            case "/": out += "%2F"
            case "%": out += "%25"
            case "\u{0}": out += "%00"
            default: out.unicodeScalars.append(ch)
            }
        }
        guard out.utf8.count > 200 else { return out }
        var h: UInt64 = 0xcbf29ce484222325
        for b in v.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        var cut = ""
        for ch in out.unicodeScalars {
            if cut.utf8.count + String(ch).utf8.count > 180 { break }
            cut.unicodeScalars.append(ch)
        }
        return cut + "~" + String(h, radix: 16)
    }

    /// A key whose first segment is the staging directory's name gets that dot escaped.
    static func outsideStaging(_ key: String) -> String {
        key == stagingName || key.hasPrefix(stagingName + "/") ? "%2E" + key.dropFirst() : key
    }

    /// Writes the buffer's object: staged and synced, listed in the state, renamed into place.
    /// Moves a buffer's pending bytes into its staged file (compressed, for GZIP), in chunks
    /// of 256 KiB rather than a call per record.
    private func drain(_ buf: Buffer) throws(DeliveryError) {
        guard !buf.pending.isEmpty else { return }
        if let g = buf.gzip {
            g.write(buf.pending)
        } else {
            try writeOut(buf.fd, buf.pending, buf.stagedPath)
        }
        buf.pending.removeAll(keepingCapacity: true)
    }

    private func deliver(_ k: String, _ buf: Buffer) throws(DeliveryError) {
        try drain(buf)
        try buf.gzip?.finish()
        if store.configuration.fsync != .never { fsync(buf.fd) }
        let size = lseek(buf.fd, 0, SEEK_END)
        close(buf.fd)
        buffers[k] = nil
        delivered.append(Delivered(shard: buf.shard, partition: buf.partition, first: buf.firstSequence,
                                   last: buf.lastSequence, key: buf.key, staged: buf.stagedPath))
        try saveState()
        try afterStateSaved?()
        try place(buf.stagedPath, buf.key)
        delivered[delivered.count - 1].placed = true
        counters.objects += 1
        counters.bytesWritten += Int64(size)
        if buf.errorType == nil { counters.recordsDelivered += Int64(buf.records) }
    }

    private func place(_ staged: String, _ key: String) throws(DeliveryError) {
        if let client = s3, let bucket = config.s3Bucket {
            // Put whole under its key (again, after a crash: the same key, the same bytes), then unstaged.
            guard let bytes = readFile(staged) else { throw DeliveryError(.storage, "cannot read the staged object \(staged)") }
            do { try client.putObject(bucket: bucket, key: DeliveryStream.outsideStaging(key), bytes) } catch {
                throw DeliveryError(.storage, "cannot put s3://\(bucket)/\(DeliveryStream.outsideStaging(key)): \(error)")
            }
            unlink(staged)
            return
        }
        let final = FileNames.objectPath(directory: config.directory, key: DeliveryStream.outsideStaging(key))
        if let slash = final.lastIndex(of: "/") { try makeDirectories(String(final[..<slash])) }
        guard rename(staged, final) == 0 else { throw DeliveryError(.storage, "cannot move \(staged) to \(final): \(String(cString: strerror(errno)))") }
    }

    private func writeOut(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws(DeliveryError) {
        if let left = spaceLeft {
            // Tests: a disk that fills part way through a write.
            let n = min(left, bytes.count)
            try writeAll(fd, Array(bytes[..<n]), path)
            spaceLeft = left - n
            if n < bytes.count { throw DeliveryError(.storage, "cannot write \(path): No space left on device") }
            return
        }
        try writeAll(fd, bytes, path)
    }

    // MARK: - State

    /// Per shard, the position before the oldest record still buffered, else the last read.
    private func positions() -> [String: StreamConsumer.Position] {
        var out = committed
        for (shard, seq) in lastRead { out[shard] = .sequenceNumber(seq.description) }
        for (shard, p) in consumer.positions where p == .shardEnd { out[shard] = .shardEnd }
        var oldest: [String: Buffer] = [:]
        for b in buffers.values {
            if let o = oldest[b.shard], o.firstSequence <= b.firstSequence { continue }
            oldest[b.shard] = b
        }
        for (shard, b) in oldest {
            if let r = b.resumeAfter { out[shard] = .sequenceNumber(r.description) } else { out[shard] = nil }
        }
        return out
    }

    private func saveState() throws(DeliveryError) {
        let pos = positions()
        // Objects wholly before their shard's position need not be remembered.
        delivered.removeAll { d in
            guard d.placed else { return false }
            guard case .sequenceNumber(let s)? = pos[d.shard] else { return pos[d.shard] == .shardEnd }
            guard let p = SequenceNumber(s) else { return false }
            return d.last <= p
        }
        var shards = JSONObject()
        for (k, v) in pos.sorted(by: { $0.key < $1.key }) {
            switch v {
            case .shardEnd: shards[k] = "SHARD_END"
            case .sequenceNumber(let s): shards[k] = .string(s)
            }
        }
        let objects: [JSONValue] = delivered.map {
            ["shard": .string($0.shard), "partition": .string($0.partition), "first": .string($0.first.description), "last": .string($0.last.description),
             "key": .string($0.key), "staged": .string($0.staged)]
        }
        let doc: JSONValue = ["firehose": .string(config.name), "shards": .object(shards), "delivered": .array(objects)]
        do { try writeFileAtomically(statePath, Array(doc.serialized(pretty: true).utf8)) } catch { throw DeliveryError(.storage, error.message) }
        committed = pos
    }

    /// Finishes what a crash interrupted: listed objects are moved into place, unlisted staged
    /// files removed, and reading resumes at the saved positions.
    private func recover() throws(DeliveryError) {
        committed = [:]
        lastRead = [:]
        delivered = []
        if let bytes = readFile(statePath) {
            guard let j = try? JSONValue.parse(bytes: bytes) else { throw DeliveryError(.storage, "the delivery state \(statePath) is unreadable") }
            for (k, v) in j["shards"]?.objectValue?.entries ?? [] {
                guard let s = v.stringValue else { continue }
                committed[k] = s == "SHARD_END" ? .shardEnd : .sequenceNumber(s)
            }
            for o in j["delivered"]?.arrayValue ?? [] {
                guard let shard = o["shard"]?.stringValue, let partition = o["partition"]?.stringValue,
                      let first = o["first"]?.stringValue.flatMap(SequenceNumber.init), let last = o["last"]?.stringValue.flatMap(SequenceNumber.init),
                      let key = o["key"]?.stringValue, let staged = o["staged"]?.stringValue else {
                    throw DeliveryError(.storage, "the delivery state \(statePath) lists an unreadable object")
                }
                delivered.append(Delivered(shard: shard, partition: partition, first: first, last: last, key: key, staged: staged))
            }
        }
        let listed = Set(delivered.map(\.staged))
        for d in delivered where access(d.staged, F_OK) == 0 { try place(d.staged, d.key) }
        for i in delivered.indices { delivered[i].placed = true }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: stagingDir)) ?? [] {
            let path = stagingDir + "/" + name
            if !listed.contains(path) { unlink(path) }
        }
        consumer.seek(to: committed)
        for (shard, p) in committed { if case .sequenceNumber(let s) = p { lastRead[shard] = SequenceNumber(s) } }
        needsRecovery = false
    }
}

func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws(DeliveryError) {
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
        if n < 0 {
            if errno == EINTR { continue }
            throw DeliveryError(.storage, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        off += n
    }
}

/// A staged GZIP object compressed on a worker thread: chunks are compressed and written in
/// order while the delivery stream goes on reading and buffering (so delivery costs little
/// beyond compression); at most eight chunks wait. `finish()` waits for them and ends the member.
/// Only the queue touches the writer.
final class BackgroundGzip: @unchecked Sendable {
    private let queue: DispatchQueue
    private let fd: Int32
    private let path: String
    private let gzip = GzipWriter()
    private let slots = DispatchSemaphore(value: 8)
    private var failure: DeliveryError?

    init(fd: Int32, path: String, queue: DispatchQueue) {
        self.fd = fd
        self.path = path
        self.queue = queue
    }

    func write(_ chunk: [UInt8]) {
        slots.wait()
        queue.async { [self] in
            defer { slots.signal() }
            guard failure == nil else { return }
            gzip.write(chunk)
            if gzip.output.count >= 1 << 18 {
                do throws(DeliveryError) { try writeAll(fd, gzip.take(), path) } catch { failure = error }
            }
        }
    }

    /// Waits for the chunks given so far and drops the output (the object is abandoned).
    func abandon() {
        queue.sync { _ = gzip.take() }
    }

    func finish() throws(DeliveryError) {
        let f: DeliveryError? = queue.sync { () -> DeliveryError? in
            if let f = failure { return f }
            gzip.finish()
            do throws(DeliveryError) { try writeAll(fd, gzip.take(), path) } catch { return error }
            return nil
        }
        if let f { throw f }
    }
}

func makeDirectories(_ path: String) throws(DeliveryError) {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw DeliveryError(.storage, "cannot create \(path): \(error.localizedDescription)")
    }
}
