import SluiceCodecs
import SluiceCore
import SluicePlanner
import SluiceSQL

/// Turns a source's raw records (JSON lines or CSV) into batches of the source's columns, with
/// ROWTIME from the arrival time, and finds the batch's largest event time. Shared by stream jobs
/// and file replays. Records that cannot be decoded are returned with their reason.
struct SourceDecoder {
    let schema: Schema
    private let fieldColumns: [Int]
    private let rowtimeColumn: Int?
    private let shardColumn: Int?
    /// The shard the records being added come from (a batch holds one shard's): SHARD_ID.
    var shard = "shardId-000000000000"
    let eventTimeColumn: Int?
    private var json: JSONRecordDecoder?
    private(set) var csv: CSVRecordDecoder?
    private let fields: [FieldSpec]
    /// Per field, the part of its time a DATE or TIME column keeps.
    private let parts: [TimePart?]
    private var builders: [ColumnBuilder]
    private var rowtimes: ColumnBuilder
    private(set) var count = 0

    init(source: SourceNode) {
        schema = Schema(source.columns.map { Field($0.name, $0.type) })
        var fields: [FieldSpec] = [], positions: [Int] = [], parts: [TimePart?] = []
        var rowtime: Int? = nil, shard: Int? = nil
        for (i, c) in source.columns.enumerated() {
            switch c {
            case .field(let d):
                fields.append(FieldSpec(name: d.name, path: d.path, type: d.type))
                parts.append(d.part)
                positions.append(i)
            case .rowtime: rowtime = i
            case .shardId: shard = i
            }
        }
        self.fields = fields
        self.parts = parts
        fieldColumns = positions
        rowtimeColumn = rowtime
        shardColumn = shard
        eventTimeColumn = Self.eventTimeColumn(of: source)
        if Engine.text(source.stream.options["format"]) != "csv" { json = JSONRecordDecoder(fields: fields) }
        builders = fields.map { ColumnBuilder($0.type) }
        rowtimes = ColumnBuilder(.timestamp)
    }

    /// The column of a source's rows that holds its event time: the watermark's column, else ROWTIME.
    static func eventTimeColumn(of source: SourceNode) -> Int? {
        if let w = source.stream.watermark { return source.columns.firstIndex { $0.name.lowercased() == w.column.lowercased() } }
        return source.columns.firstIndex { $0 == .rowtime }
    }

    var fieldSpecs: [FieldSpec] { fields }
    var needsCSV: Bool { json == nil && csv == nil }
    mutating func use(csv d: CSVRecordDecoder) { csv = d }

    /// Decodes one record into the batch being built; nil on success, else why it is bad.
    mutating func add(_ bytes: UnsafeRawBufferPointer, arrival: Int64) -> DecodeError? {
        let failure: DecodeError?
        if json != nil {
            failure = json!.decode(bytes, into: &builders)
        } else if csv != nil {
            failure = csv!.decode(bytes, into: &builders)
        } else {
            failure = DecodeError("the stream's CSV columns are not bound yet")
        }
        if failure == nil {
            if rowtimeColumn != nil { rowtimes.append(int: arrival) }  // only a query that reads ROWTIME keeps it
            count += 1
        }
        return failure
    }

    /// Runs `body` with a function that decodes one record as `add` does: for JSON, without
    /// reaching the decoder and the builders through this struct again for each record (taken
    /// out for the length of `body`, and put back).
    mutating func adding<R>(_ body: (_ add: (UnsafeRawBufferPointer, Int64) -> DecodeError?) -> R) -> R {
        guard var decoder = json else { return body { add($0, arrival: $1) } }
        json = nil
        var columns = builders, times = rowtimes, added = 0
        builders = []
        rowtimes = ColumnBuilder(.timestamp)
        let keepsTimes = rowtimeColumn != nil
        let result = columns.withUnsafeMutableBufferPointer { bs in
            body { bytes, arrival in
                let failure = decoder.decode(bytes, into: bs)
                if failure == nil {
                    if keepsTimes { times.append(int: arrival) }
                    added += 1
                }
                return failure
            }
        }
        json = decoder
        builders = columns
        rowtimes = times
        count += added
        return result
    }

    /// The batch built so far and its largest event time; starts a new one.
    mutating func finish() -> (Batch, Int64?) {
        var columns = [Column?](repeating: nil, count: schema.fields.count)
        for (k, pos) in fieldColumns.enumerated() {
            columns[pos] = builders[k].finish()
            if let p = parts[k] { columns[pos]!.keep(p) }
            builders[k] = ColumnBuilder(fields[k].type, capacity: count)  // the next batch is likely as large
        }
        if let r = rowtimeColumn {
            columns[r] = rowtimes.finish()
            rowtimes = ColumnBuilder(.timestamp, capacity: count)
        }
        if let s = shardColumn {
            var b = ColumnBuilder(.varchar, capacity: count)
            for _ in 0..<count { _ = b.append(.string(shard)) }
            columns[s] = b.finish()
        }
        let batch = Batch(schema: schema, columns: columns.map { $0! }, count: count)
        count = 0
        var maxTime: Int64? = nil
        if let t = eventTimeColumn, case .int(let ts) = batch.columns[t].storage {
            let col = batch.columns[t]
            for row in 0..<batch.count where !col.isNull(row) { maxTime = max(maxTime ?? .min, ts[row]) }
        }
        return (batch, maxTime)
    }
}

/// Sources that read the same records (a replay's file, which every source of the query reads):
/// one decoder reads each record once into the columns of all of them, and each source takes its
/// own columns from the batch (the columns are shared, not copied). A record that cannot be
/// decoded is bad for all.
struct MergedSources {
    /// The sources' columns together, first source's first; no predicate (each source filters its own).
    let source: SourceNode
    /// Per source, where each of its columns lies among the merged ones.
    let picks: [[Int]]
    let schemas: [Schema]

    init(_ sources: [SourceNode]) {
        var merged = sources[0]
        merged.predicate = nil
        for s in sources.dropFirst() { for c in s.columns where !merged.columns.contains(c) { merged.columns.append(c) } }
        source = merged
        picks = sources.map { s in s.columns.map { c in merged.columns.firstIndex(of: c)! } }
        schemas = sources.map { s in Schema(s.columns.map { Field($0.name, $0.type) }) }
    }

    /// Source `i`'s columns of a batch of the merged ones.
    func batch(_ i: Int, of b: Batch) -> Batch {
        picks[i] == Array(b.columns.indices) ? b : Batch(schema: schemas[i], columns: picks[i].map { b.columns[$0] }, count: b.count)
    }
}

extension Column {
    /// A TIMESTAMP column's values reduced to the part a DATE (midnight UTC of the day) or TIME
    /// (the time of day, on 1970-01-01) keeps.
    mutating func keep(_ part: TimePart) {
        guard case .int(var values) = storage else { return }
        let day: Int64 = 86_400_000
        for i in values.indices {
            let midnight = Pipeline.floorDiv(values[i], day) * day
            values[i] = part == .date ? midnight : values[i] - midnight
        }
        storage = .int(values)
    }
}
