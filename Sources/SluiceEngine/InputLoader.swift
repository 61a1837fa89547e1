import Foundation
import SluiceCodecs
public import SluiceCore
public import SluicePlanner
public import SluiceStreams

/// Where a load puts its records: the store itself, or a server's through its API.
public protocol LoadTarget: AnyObject, Sendable {
    /// Puts one PutRecords' worth; returns how many records were not put.
    func put(_ records: PackedRecords, into stream: String) throws -> Int
    /// Puts one batch of a load (at most `loadBatch` records and bytes) where later puts cannot
    /// share its arrival millisecond, when the target can promise that; returns how many records
    /// were not put.
    func load(_ records: PackedRecords, into stream: String) throws -> Int
    /// How many records and bytes a load puts at a time (before the record that would go over).
    var loadBatch: (records: Int, bytes: Int) { get }
    func addTags(stream: String, tags: [String: String]) throws
    var maxRecordBytes: Int { get }
    var maxPutRecordsBytes: Int { get }
}

extension StreamStore: LoadTarget {
    public func put(_ records: PackedRecords, into stream: String) throws -> Int {
        try putRecords(stream: stream, packed: records).failedRecordCount
    }
    public func load(_ records: PackedRecords, into stream: String) throws -> Int {
        try loadRecords(stream: stream, packed: records).failedRecordCount
    }
    public var loadBatch: (records: Int, bytes: Int) { (1 << 16, configuration.loadBatchBytes) }
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

    /// Where each record's arrival time comes from, in a replay that keeps the recorded times.
    let arrival: RecordedArrival?
    private var _undated = 0

    init(definition: StreamDefinition, path: String, pace: Double?, arrival: RecordedArrival? = nil, store: StreamStore) {
        self.definition = definition
        self.path = path
        self.pace = pace
        self.arrival = arrival
        self.store = store
    }

    /// A load into a stream elsewhere (a server's, through its API): `definition` says how its
    /// records are keyed and timed.
    public init(definition: StreamDefinition, path: String, pace: Double?, target: any LoadTarget) {
        self.definition = definition
        self.path = path
        self.pace = pace
        self.arrival = nil
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
    /// Records whose arrival field could not be read (with `arrival`): each took the arrival of
    /// the record before it.
    public var undated: Int { lock.withLock { _undated } }

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
        let csv = Engine.text(def.options["format"]) == "csv"
        let delimiter = (Engine.text(def.options["delimiter"]) ?? ",").utf8.first ?? 44
        // The event time that paces the load: the stream's WATERMARK column.
        var eventTime = pace == nil ? nil : def.watermark.flatMap { w in
            def.columns.first { $0.name.lowercased() == w.column.lowercased() }
        }.map { RecordTime(field: $0.name, in: def, csv: csv, delimiter: delimiter) }
        // The recorded arrival: a field of each record, not before the one of the record before.
        var arrivalTime = arrival.map { RecordTime(field: $0.field, in: def, csv: csv, delimiter: delimiter) }
        var lastArrival = Int64.min, batchArrival = Int64.min, undated = 0
        // Nothing more of this load is in flight once it ends, however: its last millisecond may be read.
        arrival?.clock.loadBegan()
        defer {
            if lastArrival != .min { arrival?.clock.advance(to: lastArrival + 1) }
            arrival?.clock.loadEnded()
        }
        var firstEvent: Int64? = nil
        let startedAt = Date()
        var stopped = false
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
        // The record's number in the file as decimal digits, counted up in place: a key without
        // a division per record.
        var number = DecimalCounter()
        var batch = PackedRecords()
        // Unpaced, with no recorded arrivals, a load puts large batches each at a millisecond of
        // its own (so its order does not depend on its speed); otherwise PutRecords' worth.
        let bulk = pace == nil && arrival == nil
        let most = bulk ? store.loadBatch : (records: 500, bytes: store.maxPutRecordsBytes)
        func flush() throws(EngineError) {
            guard batch.count > 0 else { return }
            let failed: Int
            do {
                failed = try bulk ? store.load(batch, into: def.name) : store.put(batch, into: def.name)
            } catch {
                throw EngineError.io("cannot put \(path) into \(def.name): \(error)")
            }
            if failed > 0 { throw EngineError.io("\(failed) records of \(path) were not put") }
            let count = batch.count
            lock.withLock { _put += count; _undated = undated }
            batch.removeAll()
            // Every record up to here is in: the replay's time is theirs.
            if batchArrival != .min { arrival?.clock.advance(to: batchArrival) }
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
                if let names = CSVRecordDecoder.values(of: line, delimiter: delimiter) {
                    if let k = keyField { keyIndex = names.firstIndex { $0.lowercased() == k.lowercased() } }
                    eventTime?.header(names)
                    arrivalTime?.header(names)
                }
                return
            }
            if stopped { return }
            if let speed = pace {
                // The record's event time, then a wait until its moment of the replay.
                if let t = eventTime!.time(of: line) {
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
            defer { number.increment() }
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
            let size = line.count + (partitionKey?.utf8.count ?? number.count)
            if size > store.maxRecordBytes {
                let head = String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<min(line.count, 4096)]), as: UTF8.self)
                let f = RecordFailure(kind: "load", message: "line \(lineNumber) of \(path): the record has \(size) bytes with its partition key; a record is at most \(store.maxRecordBytes) bytes",
                                      shardId: nil, sequenceNumber: nil, data: head + (line.count > 4096 ? "…" : ""))
                lock.withLock { _oversized.append(f) }
                return
            }
            // A put takes 500 records and 5 MB at most (a bulk load's, `loadBatch`).
            if batch.byteCount + size > most.bytes { try flush() }
            if arrivalTime != nil {
                if let t = arrivalTime!.time(of: line) { lastArrival = max(lastArrival, t) } else { undated += 1 }
                if lastArrival == .min { lastArrival = arrival!.clock.nowMillis() }
                batchArrival = lastArrival
                let at = lastArrival
                if let k = partitionKey {
                    batch.append(data: line, partitionKey: k, arrival: at)
                } else {
                    number.withDigits { k in batch.append(data: line, partitionKey: String(decoding: k, as: UTF8.self), arrival: at) }
                }
            } else if let k = partitionKey {
                batch.append(data: line, partitionKey: k)
            } else {
                number.withDigits { batch.append(data: line, partitionKey: $0) }
            }
            if batch.count == most.records || pace != nil {
                try flush()
                // Unpaced, a stop is heard between batches.
                if pace == nil && stopNow() { stopped = true }
            }
        }
        try flush()
    }
}

/// A count from 0 as its decimal digits, most significant first, incremented in place (a carry
/// walks back over the nines; a new digit is added in front when they all were).
struct DecimalCounter {
    /// Digits as ASCII, right-aligned in 20 bytes (enough for any Int).
    private var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
    /// How many digits there are (1 for 0).
    private(set) var count = 1

    /// The count at `n` (not negative).
    init(_ n: Int = 0) {
        precondition(n >= 0)
        var x = n, k = 19
        withBytes { b in
            repeat {
                b[k] = UInt8(truncatingIfNeeded: 48 + x % 10)
                x /= 10
                k -= 1
            } while x > 0
        }
        count = 19 - k
    }

    private mutating func withBytes<R>(_ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        withUnsafeMutableBytes(of: &digits) { body(UnsafeMutableRawBufferPointer(rebasing: $0[0..<20])) }
    }

    mutating func increment() {
        let n = count
        let grew = withBytes { b -> Bool in
            var k = 19
            while k >= 20 - n {
                if b[k] != UInt8(ascii: "9") { b[k] += 1; return false }
                b[k] = UInt8(ascii: "0")
                k -= 1
            }
            b[k] = UInt8(ascii: "1")
            return true
        }
        if grew { count += 1 }
    }

    /// The digits, for the length of `body`.
    func withDigits<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: digits) { body(UnsafeRawBufferPointer(rebasing: $0[(20 - count)..<20])) }
    }
}

/// A replay's recorded arrival times (`sluice run --arrival-field`): each record's from `field`
/// (ISO-8601 or epoch milliseconds), on `clock`, which the load moves as its puts land.
public struct RecordedArrival: Sendable {
    public let field: String
    public let clock: ReplayClock
    public init(field: String, clock: ReplayClock) {
        self.field = field
        self.clock = clock
    }
}

/// A time read from one field of each record of a file: a declared column (by its PATH, or its
/// position in a CSV record without a header) or else a JSON path (`a.b`) or a CSV header name.
struct RecordTime {
    private var decoder: JSONRecordDecoder?
    private var builder = [ColumnBuilder(.timestamp)]
    private var index: Int?
    private let name: String
    private let delimiter: UInt8

    init(field: String, in def: StreamDefinition, csv: Bool, delimiter: UInt8) {
        name = field
        self.delimiter = delimiter
        let column = def.columns.firstIndex { $0.name.lowercased() == field.lowercased() }
        if csv {
            index = column
        } else {
            let path = column.map { def.columns[$0].path } ?? field.split(separator: ".").map(String.init)
            decoder = JSONRecordDecoder(fields: [FieldSpec(name: "t", path: path, type: .timestamp)])
        }
    }

    /// A CSV file's header: the field is the column of that name.
    mutating func header(_ names: [String]) {
        if let i = names.firstIndex(where: { $0.lowercased() == name.lowercased() }) { index = i }
    }

    /// The record's time, or nil when the field is missing or not a time.
    mutating func time(of line: UnsafeRawBufferPointer) -> Int64? {
        if decoder != nil {
            guard decoder!.decode(line, into: &builder) == nil, case .timestamp(let v) = builder[0].finish().value(0) else { return nil }
            return v
        }
        guard let i = index, let values = CSVRecordDecoder.values(of: line, delimiter: delimiter), i < values.count else { return nil }
        return TimeFormat.parseISO8601(values[i]) ?? Int64(values[i])
    }
}
