import Foundation
import SluiceCodecs
import SluiceCore
public import SluicePlanner
public import SluiceStreams

/// Where a load puts its records: the store itself, or a server's through its API.
public protocol LoadTarget: AnyObject, Sendable {
    /// Puts one PutRecords' worth; returns how many records were not put.
    func put(_ records: PackedRecords, into stream: String) throws -> Int
    func addTags(stream: String, tags: [String: String]) throws
    var maxRecordBytes: Int { get }
    var maxPutRecordsBytes: Int { get }
}

extension StreamStore: LoadTarget {
    public func put(_ records: PackedRecords, into stream: String) throws -> Int {
        try putRecords(stream: stream, packed: records).failedRecordCount
    }
    public func addTags(stream: String, tags: [String: String]) throws { try addTags(name: stream, tags: tags) }
    public var maxRecordBytes: Int { configuration.maxRecordBytes }
    public var maxPutRecordsBytes: Int { configuration.maxPutRecordsBytes }
}

/// A file put into a declared stream (`--input`, the REPL's `.load`): JSON lines or CSV as the
/// stream declares, each record's partition key from the stream's `partition_key` field, at once
/// or at the records' recorded pace (event time, times `pace`). It touches only the store, so it
/// may run on a thread of its own while the engine's thread runs the queries that read the
/// stream; what it found for the engine to report (records too large for the stream) waits in
/// `oversized` for `Engine.finish(_:)`.
public final class InputLoader: @unchecked Sendable {
    let definition: StreamDefinition
    public let path: String
    public let pace: Double?
    let store: any LoadTarget
    private let lock = NSLock()
    private var _put = 0
    private var _finished = false
    private var _failure: String?
    private var _stopRequested = false
    private var _oversized: [RecordFailure] = []

    init(definition: StreamDefinition, path: String, pace: Double?, store: StreamStore) {
        self.definition = definition
        self.path = path
        self.pace = pace
        self.store = store
    }

    /// A load into a stream elsewhere (a server's, through its API): `definition` says how its
    /// records are keyed and timed.
    public init(definition: StreamDefinition, path: String, pace: Double?, target: any LoadTarget) {
        self.definition = definition
        self.path = path
        self.pace = pace
        self.store = target
    }

    public var stream: String { definition.name }
    /// Records put so far.
    public var put: Int { lock.withLock { _put } }
    public var finished: Bool { lock.withLock { _finished } }
    /// Why it stopped short, if it did.
    public var failure: String? { lock.withLock { _failure } }
    public var stopRequested: Bool { lock.withLock { _stopRequested } }
    var oversized: [RecordFailure] { lock.withLock { _oversized } }

    /// Asks a running load to stop (at the next record).
    public func stop() { lock.withLock { _stopRequested = true } }

    /// Puts the file, record by record in effect (batches of 500, or one at a time when paced),
    /// until its end or until `stop` says so (asked between records).
    public func run(stop: () -> Bool = { false }) {
        do throws(EngineError) { try load(stop: stop) } catch { lock.withLock { _failure = error.description } }
        lock.withLock { _finished = true }
    }

    private func load(stop: () -> Bool) throws(EngineError) {
        let def = definition
        func stopNow() -> Bool { lock.withLock { _stopRequested } || stop() }
        var timeColumn: SluicePlanner.ColumnDefinition? = nil
        if pace != nil, let w = def.watermark {
            timeColumn = def.columns.first { $0.name.lowercased() == w.column.lowercased() }
        }
        var timeDecoder = timeColumn.map { JSONRecordDecoder(fields: [FieldSpec(name: "t", path: $0.path, type: .timestamp)]) }
        var timeBuilder = [ColumnBuilder(.timestamp)]
        var timeIndex: Int? = nil
        var firstEvent: Int64? = nil
        let startedAt = Date()
        var stopped = false
        let csv = Engine.text(def.options["format"]) == "csv"
        let delimiter = (Engine.text(def.options["delimiter"]) ?? ",").utf8.first ?? 44
        let keyField = Engine.text(def.options["partition_key"])
        let keyPath = keyField.map { $0.split(separator: ".").map(String.init) }
        var keyIndex: Int? = nil
        var headerPending = csv && Engine.text(def.options["header"]) == "true"
        if csv && !headerPending, let k = keyField {
            keyIndex = def.columns.firstIndex { $0.name.lowercased() == k.lowercased() }
        }
        // JSON keys are read by the same decoder as queries, one field.
        var keyDecoder = keyPath.map { JSONRecordDecoder(fields: [FieldSpec(name: "key", path: $0, type: .varchar)]) }
        var keyBuilder = [ColumnBuilder(.varchar)]
        var n = 0
        var batch = PackedRecords()
        func flush() throws(EngineError) {
            guard batch.count > 0 else { return }
            let failed: Int
            do {
                failed = try store.put(batch, into: def.name)
            } catch {
                throw EngineError.io("cannot put \(path) into \(def.name): \(error)")
            }
            if failed > 0 { throw EngineError.io("\(failed) records of \(path) were not put") }
            let count = batch.count
            lock.withLock { _put += count }
            batch.removeAll()
        }
        func records(_ body: (UnsafeRawBufferPointer, Int) throws(EngineError) -> Void) throws(EngineError) {
            if csv { try forEachCSVRecord(path, delimiter: delimiter, body) } else { try forEachNumberedLine(path, body) }
        }
        try records { line, lineNumber throws(EngineError) in
            if headerPending {
                headerPending = false
                do {
                    try store.addTags(stream: def.name, tags: ["sluice.csv-header": String(decoding: line, as: UTF8.self)])
                } catch {
                    throw EngineError.io("\(error)")
                }
                if let k = keyField, let names = CSVRecordDecoder.values(of: line, delimiter: delimiter) {
                    keyIndex = names.firstIndex { $0.lowercased() == k.lowercased() }
                }
                if let t = timeColumn, let names = CSVRecordDecoder.values(of: line, delimiter: delimiter) {
                    timeIndex = names.firstIndex { $0.lowercased() == t.name.lowercased() }
                }
                return
            }
            if stopped { return }
            if let speed = pace {
                // The record's event time, then a wait until its moment of the replay.
                var t: Int64? = nil
                if csv {
                    if timeIndex == nil, !headerPending { timeIndex = def.columns.firstIndex { $0.name == timeColumn!.name } }
                    if let i = timeIndex, let values = CSVRecordDecoder.values(of: line, delimiter: delimiter), i < values.count {
                        t = TimeFormat.parseISO8601(values[i]) ?? Int64(values[i])
                    }
                } else if timeDecoder!.decode(line, into: &timeBuilder) == nil, case .timestamp(let v) = timeBuilder[0].finish().value(0) {
                    t = v
                }
                if let t {
                    if firstEvent == nil { firstEvent = t }
                    let due = Double(t - firstEvent!) / 1000 / speed
                    while true {
                        let wait = due - Date().timeIntervalSince(startedAt)
                        if wait <= 0 { break }
                        if stopNow() { stopped = true; return }
                        usleep(useconds_t(min(wait, 0.1) * 1_000_000))
                    }
                }
                if stopNow() { stopped = true; return }
            }
            // The record's key from its field, else its number in the file (round robin).
            var key: String? = nil
            let number = n
            n += 1
            if csv {
                if let i = keyIndex, let values = CSVRecordDecoder.values(of: line, delimiter: delimiter), i < values.count, !values[i].isEmpty {
                    key = values[i]
                }
            } else if keyDecoder != nil, keyDecoder!.decode(line, into: &keyBuilder) == nil {
                if case .string(let s) = keyBuilder[0].finish().value(0), !s.isEmpty { key = s }
            }
            // At most 256 characters: a key of at most 256 UTF-8 bytes has no more, and is not walked.
            let partitionKey = key.map { $0.utf8.count <= 256 ? $0 : String($0.prefix(256)) }
            // A record the stream cannot take goes to the error stream with its line, and the rest
            // of the file loads (so a rerun does not put the records before it twice).
            let size = line.count + (partitionKey?.utf8.count ?? InputLoader.digits(number))
            if size > store.maxRecordBytes {
                let head = String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<min(line.count, 4096)]), as: UTF8.self)
                let f = RecordFailure(kind: "load", message: "line \(lineNumber) of \(path): the record has \(size) bytes with its partition key; a record is at most \(store.maxRecordBytes) bytes",
                                      shardId: nil, sequenceNumber: nil, data: head + (line.count > 4096 ? "…" : ""))
                lock.withLock { _oversized.append(f) }
                return
            }
            // A put takes 500 records and 5 MB at most.
            if batch.byteCount + size > store.maxPutRecordsBytes { try flush() }
            if let k = partitionKey {
                batch.append(data: line, partitionKey: k)
            } else {
                InputLoader.decimal(number) { batch.append(data: line, partitionKey: $0) }
            }
            if batch.count == 500 || pace != nil {
                try flush()
                // Unpaced, a stop is heard between batches.
                if pace == nil && stopNow() { stopped = true }
            }
        }
        try flush()
    }

    /// How many digits `n` (not negative) has.
    static func digits(_ n: Int) -> Int {
        var d = 1, x = n
        while x >= 10 { x /= 10; d += 1 }
        return d
    }

    /// `n` (not negative) in decimal digits, written on the stack.
    static func decimal<R>(_ n: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
            let count = digits(n)
            var x = n
            for k in stride(from: count - 1, through: 0, by: -1) {
                buf[k] = UInt8(truncatingIfNeeded: 48 + x % 10)
                x /= 10
            }
            return body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buf)[0..<count]))
        }
    }
}
