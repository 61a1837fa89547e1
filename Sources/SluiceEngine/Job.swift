import Foundation
import SluiceCodecs
import SluiceCore
import SluiceDataflow
import SluicePlanner
import SluiceStreams
import SluiceKinesis

/// One source of a query: a stream read over all its shards, decoded into batches of the
/// source's columns, with its own watermark. A join of two streams has two.
final class JobInput {
    let source: SourceNode
    /// The built-in store's consumer, or a remote Kinesis stream's reader.
    let consumer: any ShardRecordSource
    /// Read from a remote Kinesis stream (arrival times are the endpoint's).
    let remote: Bool
    var tracker: WatermarkTracker
    var decoder: SourceDecoder
    /// CSV with `header = true`: the decoder binds by name once the stream's header is known.
    var csvByHeader = false
    var csvDelimiter: UInt8 = 44
    let predicate: PhysicalExpr?
    let badPolicy: String
    let latePolicy: String
    /// `row_path` (JSON): the array in each record whose elements are the rows (a record of
    /// several rows, as Kinesis Data Analytics' `RecordRowPath` `$.rows[0:]`); empty: the record
    /// itself is that array.
    let rowPath: [String]?
    /// `row_delimiter` (CSV): the bytes between the rows a record holds (Kinesis Data Analytics'
    /// `RecordRowDelimiter`); nil: a record is one row.
    let rowDelimiter: [UInt8]?
    /// MillisBehindLatest of the last read (0 when every shard is caught up), for the metrics.
    var iteratorAgeMillis: Int64 = 0
    /// Records read from this source so far (EXPLAIN of a running query).
    var recordsIn: Int64 = 0
    /// The records behind the rows of the batch decoded last: the read, its shard, and for each
    /// row the record's index in the read (and its user record's, for a KPL aggregate), so that a
    /// row that fails later is reported as the record that arrived.
    var lastRead: Job.ReadRows? = nil

    /// `lane`: one shard of a remote stream that workers share (a lease), and where it starts.
    init(source: SourceNode, application: String, engine: Engine, lane: Lane? = nil) throws(EngineError) {
        self.source = source
        let options = source.stream.options
        badPolicy = Engine.text(options["bad_records"]) ?? "error_stream"
        let late = Engine.text(options["late_records"]) ?? "drop"
        // Another stream: its name as declared (names match without regard to case).
        latePolicy = late == "drop" || late == "error_stream" ? late : engine.catalog.stream(named: late)?.name ?? late
        let idle = Engine.text(options["idle_timeout"]).flatMap(Units.millis) ?? 30_000
        let delay = source.stream.watermark?.delayMillis ?? 0
        tracker = WatermarkTracker(delayMillis: delay, idleTimeoutMillis: idle)
        decoder = SourceDecoder(source: source)
        rowPath = Engine.text(options["row_path"]).map { $0.split(separator: ".").map(String.init) }
        rowDelimiter = Engine.text(options["format"]) == "csv" ? Engine.text(options["row_delimiter"]).map { Array($0.utf8) }.flatMap { $0.isEmpty || $0 == [10] ? nil : $0 } : nil
        predicate = source.predicate.map(Lowering.expr)
        if Engine.text(options["format"]) == "csv" {
            csvDelimiter = (Engine.text(options["delimiter"]) ?? ",").utf8.first ?? 44
            if Engine.text(options["header"]) == "true" {
                csvByHeader = true
            } else {
                decoder.use(csv: Job.positional(decoder.fieldSpecs, source.stream, csvDelimiter))
            }
        }
        remote = Engine.isRemote(source.stream)
        if remote {
            let reader = try engine.remoteReader(source.stream, lane: lane)
            consumer = lane?.inputRange.map { HashRangeFilter(reader, range: $0) } ?? reader
        } else {
            do { consumer = try StreamConsumer(store: engine.store, stream: source.stream.name, application: application) } catch {
                throw EngineError(message: "cannot read stream \(source.stream.name): \(error)")
            }
        }
        do {
            let now = engine.clock.nowMillis()
            for s in try consumer.shardIds() { tracker.addShard(s, now: now) }
        } catch {
            throw EngineError(message: "cannot read stream \(source.stream.name): \(error)")
        }
    }

    var positionsJSON: JSONValue {
        var positions = JSONObject()
        for (shard, p) in consumer.positions.sorted(by: { $0.key < $1.key }) {
            switch p {
            case .shardEnd: positions[shard] = "SHARD_END"
            case .sequenceNumber(let n): positions[shard] = .string(n)
            }
        }
        return .object(positions)
    }

    func seek(_ j: JSONValue?) -> String? {
        guard let positions = j?.objectValue else { return "the read positions are missing" }
        var at: [String: StreamConsumer.Position] = [:]
        for (shard, v) in positions.entries {
            guard let p = v.stringValue else { return "the position of \(shard) is malformed" }
            at[shard] = p == "SHARD_END" ? .shardEnd : .sequenceNumber(p)
        }
        consumer.seek(to: at)
        return nil
    }
}

/// One running query: reads every shard of its source stream (two streams for an interval join;
/// parents before children), decodes records into batches with ROWTIME, tracks the watermark,
/// runs the pipeline and writes to its sink. Bad and late records go to the error stream (or are
/// dropped) as the stream's options say, and are counted either way.
final class Job {
    /// The query's number (persistent queries: SHOW QUERIES, DROP QUERY, its checkpoint's name).
    let id: Int
    let label: String
    let inputs: [JobInput]
    let plan: LogicalPlan
    let pipeline: Pipeline
    let sink: any RowSink
    unowned let engine: Engine
    var counters: QueryCounters
    var done = false {
        // A query that ended (or stopped, failed, was dropped) lets go of its inputs' open reads.
        didSet { if done && !oldValue { for input in inputs { input.consumer.close() } } }
    }
    /// Why the query failed, when it did (a server's engine keeps going without it).
    var failure: String?
    /// The sink, stream or alert it writes, by name (DROP refuses to take it away).
    var writes: String?
    /// The statement that started it, on one line.
    var text = ""
    /// Its thread, when it runs on one of its own (a server's queries).
    var runner: QueryRunner?
    private(set) var lastWatermark = Int64.min
    /// With `bad_records = 'fail'`: the first record that could not be decoded; the query stops.
    private var fatal: RecordFailure?
    /// Where this query's checkpoint lives, what identifies the query in it, and when it was last taken.
    let checkpointPath: String
    /// A lane's state kept elsewhere than in a local file (S3): `checkpointPath` names it there.
    let laneState: LaneState?
    private let fingerprint: String
    private var lastCheckpoint: Int64
    /// When the last checkpoint was taken (the engine's clock).
    var lastCheckpointAt: Int64 { lastCheckpoint }

    /// The first (left) source.
    var source: SourceNode { inputs[0].source }
    /// The remote endpoints' clients it reads and writes through (their throttling and retry counts).
    var remoteClients: [KinesisClient] {
        var out: [KinesisClient] = []
        for i in inputs {
            if let r = i.consumer as? RemoteStreamConsumer { out.append(r.client) }
            if let f = i.consumer as? HashRangeFilter, let r = f.base as? RemoteStreamConsumer { out.append(r.client) }
        }
        if let c = sink.remoteClient { out.append(c) }
        return out
    }
    var iteratorAgeMillis: Int64 { inputs.map(\.iteratorAgeMillis).max() ?? 0 }

    /// An ad-hoc query (the REPL's): no checkpoint is read or written.
    let ephemeral: Bool

    /// `lane`: the query runs over one shard of a stream that workers share, its checkpoint at
    /// the lane's path.
    init(id: Int, label: String, plan: LogicalPlan, sources: [SourceNode], sink: any RowSink, engine: Engine,
         ephemeral: Bool = false, application: String? = nil, lane: Lane? = nil) throws(EngineError) {
        self.id = id
        self.label = label
        self.ephemeral = ephemeral
        self.sink = sink
        self.engine = engine
        self.plan = plan
        pipeline = Pipeline(plan, tables: engine.tables)
        counters = QueryCounters(name: "query \(id) (\(label))")
        var inputs: [JobInput] = []
        for (i, s) in sources.enumerated() {
            inputs.append(try JobInput(source: s, application: (application ?? "sluice-query-\(id)") + (i == 0 ? "" : "-\(i)"), engine: engine, lane: lane))
        }
        self.inputs = inputs
        laneState = lane?.state
        checkpointPath = lane?.checkpointPath ?? (engine.stateDirectory ?? engine.store.configuration.dataDirectory + "/queries") + "/query-\(id).json"
        fingerprint = "\(label)\n\(sink.kind)\n\(plan.explain)"
        lastCheckpoint = engine.clock.nowMillis()
        try resume()
    }

    // MARK: - Checkpoints

    /// Continues from this query's checkpoint when there is one (the same query, in the same place
    /// in the same file): read positions, watermarks, window and group state, and the sink's
    /// position. Without one the query starts at TRIM_HORIZON and the sink starts empty.
    private func resume() throws(EngineError) {
        let found: [UInt8]?
        if let st = laneState { found = try st.read(checkpointPath) } else { found = readFile(checkpointPath) }
        guard !ephemeral, let bytes = found else {
            try sink.begin(resumingAt: nil)
            return
        }
        func broken(_ why: String) -> EngineError {
            EngineError(message: "the checkpoint \(checkpointPath) of \(counters.name) cannot be used: \(why); remove it to run the query from the beginning")
        }
        guard let j = try? JSONValue.parse(bytes: bytes) else { throw broken("it is not valid JSON") }
        guard j["version"] == .int(1) else { throw broken("it was written by another version of sluice") }
        guard j["query"]?.stringValue == fingerprint else { throw broken("the query has changed since it was taken") }
        // The first source's positions and watermark at the top, the others' under "inputs".
        let others = j["inputs"]?.arrayValue ?? []
        guard others.count == inputs.count - 1 else { throw broken("it reads \(others.count + 1) streams, the query \(inputs.count)") }
        let states = [j] + others
        let now = engine.clock.nowMillis()
        do throws(SnapshotError) {
            for (input, st) in zip(inputs, states) { try input.tracker.restore(st["watermark"] ?? .null, now: now) }
            try pipeline.restore(j["pipeline"] ?? .null, now: now)
        } catch {
            throw broken(error.message)
        }
        for (input, st) in zip(inputs, states) {
            if let why = input.seek(st["positions"]) { throw broken(why) }
        }
        lastWatermark = j["last_watermark"]?.int64Value ?? .min
        if let c = j["counters"] {
            counters.recordsIn = c["records_in"]?.int64Value ?? 0
            counters.rowsOut = c["rows_out"]?.int64Value ?? 0
            counters.bad = c["bad"]?.int64Value ?? 0
            counters.late = c["late"]?.int64Value ?? 0
        }
        try sink.restore(j["sink_state"])
        try sink.begin(resumingAt: j["sink_position"]?.int64Value)
        resumed = true
    }

    /// Whether this run continued from a checkpoint.
    private(set) var resumed = false

    /// Takes a checkpoint: the sink's rows made durable first, then the state written atomically.
    /// Taken between steps, so the positions and the state describe the same records.
    func checkpoint() throws(EngineError) {
        guard !done, !ephemeral else { return }
        let now = engine.clock.nowMillis()
        let sinkPosition = try sink.checkpoint()
        var doc: JSONObject = [
            "version": 1, "query": .string(fingerprint), "taken_at": .string(TimeFormat.iso8601(now)),
            "positions": inputs[0].positionsJSON, "watermark": inputs[0].tracker.snapshot(), "last_watermark": .int(lastWatermark),
            "pipeline": pipeline.snapshot(now: now),
            "counters": ["records_in": .int(counters.recordsIn), "rows_out": .int(counters.rowsOut), "bad": .int(counters.bad), "late": .int(counters.late)],
        ]
        if inputs.count > 1 {
            doc["inputs"] = .array(inputs.dropFirst().map { ["positions": $0.positionsJSON, "watermark": $0.tracker.snapshot()] })
        }
        if let p = sinkPosition { doc["sink_position"] = .int(p) }
        if let st = sink.state() { doc["sink_state"] = st }
        if let st = laneState {
            // An object store takes the checkpoint whole.
            var bytes: [UInt8] = []
            JSONValue.object(doc).write(to: &bytes)
            try st.write(checkpointPath, bytes)
        } else {
            try writeCheckpointFile(&doc)
        }
        lastCheckpoint = now
        engine.emit("checkpoint", query: counters.name, "checkpoint (\(counters.recordsIn) records in, \(counters.rowsOut) rows out)",
                    [("records_in", .int(counters.recordsIn)), ("rows_out", .int(counters.rowsOut)), ("path", .string(checkpointPath))])
    }

    /// Writes the checkpoint to its file atomically, as it is serialized, a megabyte at a time:
    /// the large parts of the state (held rows, groups, partitions) are written from the
    /// operators when their turn comes, so neither their tree nor their text exists whole in memory.
    private func writeCheckpointFile(_ doc: inout JSONObject) throws(EngineError) {
        do {
            try FileManager.default.createDirectory(atPath: FileNames.directory(of: checkpointPath), withIntermediateDirectories: true)
            let file = try AtomicFile(checkpointPath)
            var failure: StreamError? = nil
            var bytes: [UInt8] = []
            bytes.reserveCapacity(JSONValueFlush.size)
            let flush: JSONFlush = { out in
                if failure == nil { do throws(StreamError) { try file.write(out) } catch { failure = error } }
                out.removeAll(keepingCapacity: true)
            }
            JSONValue.object(doc).write(to: &bytes, flush: flush)
            doc = [:]
            flush(&bytes)
            if let failure {
                file.abandon()
                throw failure
            }
            try file.commit()
        } catch {
            throw EngineError.io("cannot write the checkpoint \(checkpointPath): \(error)")
        }
    }

    /// Stops without ending the input: a checkpoint, then the sink closed. Open windows stay
    /// open in the checkpoint, and a later run continues them.
    func stop() throws(EngineError) {
        guard !done else { return }
        try checkpoint()
        done = true
        try sink.close()
    }

    /// By position: each field reads the column at its declared position.
    static func positional(_ fields: [FieldSpec], _ stream: StreamDefinition, _ delimiter: UInt8) -> CSVRecordDecoder {
        let all = stream.columns.map(\.name)
        return CSVRecordDecoder(fields: fields, columns: fields.map { f in all.firstIndex(of: f.name) ?? 0 }, delimiter: delimiter, width: all.count)
    }

    /// Binds a `header = true` CSV stream by name, with the header that loading it recorded (the
    /// stream's `sluice.csv-header` tag); without one, columns bind by declared position. Asked
    /// once the stream's first records have been read (a load that is still running tags the
    /// stream before it puts a record).
    private func bindCSVHeader(_ input: JobInput) throws(EngineError) {
        guard input.csvByHeader, input.decoder.needsCSV else { return }
        let fields = input.decoder.fieldSpecs
        let stream = input.source.stream
        let header = (try? engine.store.listTags(name: stream.name))?.first(where: { $0.key == "sluice.csv-header" })?.value
        guard let h = header else {
            input.decoder.use(csv: Job.positional(fields, stream, input.csvDelimiter))
            return
        }
        switch Array(h.utf8).withUnsafeBytes({ CSVRecordDecoder.bind(fields: fields, header: $0, delimiter: input.csvDelimiter) }) {
        case .success(let d): input.decoder.use(csv: d)
        case .failure(let e): throw EngineError(message: "stream \(stream.name): \(e.message)")
        }
    }

    /// The records behind a decoded batch: the read, its shard, and for each row the record's
    /// index in the read (and its user record's, for a KPL aggregate).
    typealias ReadRows = (result: GetRecordsResult, shard: String, rows: [(record: Int, user: Int?)]?)

    /// One shard's read in a step: the source it belongs to and its place in that source's poll.
    /// Reads are numbered source by source, shard by shard, the order in which records that
    /// arrived at the same millisecond meet.
    private struct Read {
        let input: Int
        let shard: Int
    }

    /// A read's records decoded: the read (its number), the batch and what it came from.
    private typealias Decoded = (read: Int, batch: Batch, lastRead: ReadRows?)

    /// A step, record by record in effect (DIALECT.md §4): reads what is new in every shard of
    /// every source and pushes it through. The records of every shard of every source meet in
    /// the order they arrived (then by source, left first, then by shard), each sees the
    /// watermarks the ones before it left, and a record that could be late for it is judged
    /// after the windows those records closed. Records in order go through in batches, as read.
    /// A shard read that stopped short of its end makes the records of other reads that arrived
    /// after its last one wait for the next step, so the order does not depend on how much a
    /// read returns. Returns whether anything was read (or held back for the next step).
    func step() throws(EngineError) -> Bool {
        let now = engine.clock.nowMillis()
        // Records that arrived while this step was reading wait for the next one, on every
        // shard alike, so that a later record of one shard is never taken before an earlier one
        // of another that the step's read of it came too soon to see. A put that one shard's
        // read missed and another's saw either took its arrival after the step began, or was
        // being written when the step asked the store (after reading the clock) which puts are
        // in flight: its records arrive at or after `inFlight`. So a clock that moves holds back
        // the step's own millisecond too (a put may be landing in it now), and every record from
        // the earliest arrival of a put still being written waits.
        let pollStart = now
        let inFlight = engine.store.arrivalsInFlight ?? .max
        let current = engine.clock.movesByItself
        var polled: [[StreamConsumer.ShardRecords]] = []
        var before: [[String: StreamConsumer.Position]] = []
        var reads: [Read] = []
        for (i, input) in inputs.enumerated() {
            before.append(input.consumer.positions)
            do { polled.append(try input.consumer.poll(limitPerShard: engine.pollLimit)) } catch { throw EngineError.io("reading \(input.source.stream.name): \(error)") }
            // Bound once records are there: a load records the header before its first record.
            if polled[i].contains(where: { $0.result.records.count > 0 }) { try bindCSVHeader(input) }
            input.iteratorAgeMillis = polled[i].map(\.result.millisBehindLatest).max() ?? 0
            reads += polled[i].indices.map { Read(input: i, shard: $0) }
        }
        func result(_ g: Int) -> GetRecordsResult { polled[reads[g].input][reads[g].shard].result }
        func shardId(_ g: Int) -> String { polled[reads[g].input][reads[g].shard].shardId }
        // How many records of each read take part in this step.
        var keep = reads.indices.map { result($0).records.count }
        let producing = reads.indices.filter { keep[$0] > 0 }
        // With one read producing, the step's own millisecond still waits when more shards of
        // the store's streams were read: a put of it may have reached this shard after another
        // shard's read found nothing.
        let shardsRead = inputs.reduce(0) { $0 + ($1.remote ? 0 : $1.consumer.shardsPolled) }
        if producing.count > 1 || (producing.count == 1 && shardsRead > 1) {
            // A read `s` that stopped short of its shard's end has unread records arriving at or
            // after its last read one (arrival c): a record of another read k waits when it comes
            // after them, that is when it arrived later, or at c from a read after s.
            let limits = producing.filter { !result($0).reachedEnd }.map { (read: $0, arrival: result($0).records.arrivalMillis(keep[$0] - 1)) }
            for k in producing {
                let r = result(k)
                var n = keep[k]
                // (A remote stream's arrivals are its endpoint's clock, not this one: only the
                // reads' own limits order them.)
                let local = !inputs[reads[k].input].remote
                func waits(_ a: Int64) -> Bool {
                    (local && (a > pollStart || (current && a == pollStart) || a >= inFlight)) || limits.contains { $0.read != k && (a > $0.arrival || (a == $0.arrival && k > $0.read)) }
                }
                while n > 0 && waits(r.records.arrivalMillis(n - 1)) { n -= 1 }
                if n < keep[k] {
                    let id = shardId(k)
                    inputs[reads[k].input].consumer.rewind(shard: id, to: n > 0 ? .sequenceNumber(r.sequenceNumberText(n - 1)) : before[reads[k].input][id])
                    keep[k] = n
                }
            }
        }
        var batches: [Decoded] = []
        // Records held back count as work: the next step takes them.
        var read = reads.indices.contains { keep[$0] < result($0).records.count }
        // A remote reader that left a shard for later (read-rate limit, throttling) has more.
        if inputs.contains(where: \.consumer.hasMore) { read = true }
        for g in reads.indices where keep[g] > 0 {
            let input = inputs[reads[g].input]
            read = true
            counters.recordsIn += Int64(keep[g])
            input.recordsIn += Int64(keep[g])
            let (batch, _) = decode(input, result(g), shard: shardId(g), limit: keep[g])
            batches.append((g, batch, input.lastRead))
            if let f = fatal { try stop(at: f, read: g, reads, polled, keep, batches, now: now) }
        }
        for g in reads.indices where keep[g] == 0 {
            // Held back whole: the shard is active all the same (not idle).
            let input = inputs[reads[g].input]
            if result(g).records.count > 0 { input.tracker.active(shard: shardId(g), now: now) } else { input.tracker.touch(shard: shardId(g), now: now) }
        }
        if !batches.isEmpty { try pushInOrder(reads, polled, batches, now: now) }
        for input in inputs { input.lastRead = nil }
        for g in reads.indices where result(g).nextShardIterator == nil && keep[g] == result(g).records.count {
            inputs[reads[g].input].tracker.finishShard(shardId(g))
        }
        try endStep(now: now)
        return read
    }

    /// The rest of a step: the run loop's ticks, the checkpoint, the end of a LIMIT.
    private func endStep(now: Int64) throws(EngineError) {
        try advance(now: now)
        try emit(pipeline.tick(now: now))
        try drainFailures(inputs[0])
        if lastWatermark != WatermarkTracker.infinity { try sink.advance(watermark: lastWatermark, now: now) }
        try sink.flushIfDue(now: now)
        if pipeline.limitReached {
            try finish()
        } else if let every = engine.checkpointIntervalMillis, now - lastCheckpoint >= every {
            try checkpoint()
        }
    }

    /// `bad_records = 'fail'` met a bad record in read `k`: the records that come before it in
    /// the merged order (arrival, then source, then shard) go through, in that order, and no
    /// other; windows stay open (no end of input), and the query stops.
    private func stop(at f: RecordFailure, read k: Int, _ reads: [Read], _ polled: [[StreamConsumer.ShardRecords]], _ keep: [Int],
                      _ decoded: [Decoded], now: Int64) throws(EngineError) -> Never {
        let r = polled[reads[k].input][reads[k].shard].result
        let bad = (0..<keep[k]).first { r.sequenceNumberText($0) == f.sequenceNumber } ?? keep[k]
        let badArrival = bad < r.records.count ? r.records.arrivalMillis(bad) : Int64.max
        fatal = nil
        var batches = decoded.filter { $0.read == k }
        for j in reads.indices where j != k && keep[j] > 0 {
            // This read's records that arrived before the bad one (or with it, from a read before k).
            let p = polled[reads[j].input][reads[j].shard]
            let records = p.result.records
            var n = 0
            while n < keep[j] && (records.arrivalMillis(n) < badArrival || (records.arrivalMillis(n) == badArrival && j < k)) { n += 1 }
            let already = decoded.contains { $0.read == j }
            counters.recordsIn += Int64(n - (already ? keep[j] : 0))
            inputs[reads[j].input].recordsIn += Int64(n - (already ? keep[j] : 0))
            guard n > 0 else { continue }
            let input = inputs[reads[j].input]
            let (batch, _) = decode(input, p.result, shard: p.shardId, limit: n)
            batches.append((j, batch, input.lastRead))
        }
        fatal = f
        batches.sort { $0.read < $1.read }
        if !batches.isEmpty { try pushInOrder(reads, polled, batches, now: now) }
        for input in inputs { input.lastRead = nil }
        done = true
        try? sink.close()
        let stream = inputs[reads[k].input].source.stream.name
        throw EngineError(message: "stream \(stream): record \(f.sequenceNumber ?? "?") of \(f.shardId ?? "?") cannot be decoded: "
                          + "\(f.message); bad_records = 'fail' stops the query (record: \(f.data ?? ""))")
    }

    /// The rows of a step's batches in the order their records arrived (then by source and
    /// shard), with the watermarks before each; runs of rows of one read that cannot be late go
    /// through together.
    private func pushInOrder(_ reads: [Read], _ polled: [[StreamConsumer.ShardRecords]], _ batches: [Decoded], now: Int64) throws(EngineError) {
        // Per batch: each row's arrival and event time (`.min`: none).
        var arrivals: [[Int64]] = [], times: [[Int64]] = []
        for b in batches {
            let n = b.batch.count
            var a = [Int64](repeating: 0, count: batches.count == 1 ? 0 : n)
            if batches.count > 1, let lr = b.lastRead {
                let records = lr.result.records
                if let listed = lr.rows { for r in 0..<n { a[r] = records.arrivalMillis(listed[r].record) } } else { for r in 0..<n { a[r] = records.arrivalMillis(r) } }
            }
            arrivals.append(a)
            var t = [Int64](repeating: .min, count: n)
            if let c = inputs[reads[b.read].input].decoder.eventTimeColumn, case .int(let ts) = b.batch.columns[c].storage {
                let col = b.batch.columns[c]
                if col.valid == nil { for r in 0..<n { t[r] = ts[r] } } else { for r in 0..<n where !col.isNull(r) { t[r] = ts[r] } }
            }
            times.append(t)
        }
        // The merged order, as runs of one batch: a merge by (arrival, read) that takes a batch's
        // rows for as long as they come before every other batch's next row. (Batches are in
        // read order, so a batch's index orders ties as its read's does.)
        var runs: [(batch: Int, rows: Range<Int>)] = []
        var next = [Int](repeating: 0, count: batches.count)
        if batches.count == 1 {
            runs = [(0, 0..<batches[0].batch.count)]
            next[0] = batches[0].batch.count
        }
        while batches.count > 1 {
            var best = -1
            for b in batches.indices where next[b] < batches[b].batch.count {
                if best < 0 || arrivals[b][next[b]] < arrivals[best][next[best]] { best = b }
            }
            guard best >= 0 else { break }
            // The next row of any other batch bounds the run: (arrival, batch) order.
            var end = next[best] + 1
            var bound = (Int64.max, Int.max)
            for b in batches.indices where b != best && next[b] < batches[b].batch.count {
                let head = (arrivals[b][next[b]], b)
                if head < bound { bound = head }
            }
            let a = arrivals[best]
            while end < a.count && (a[end], best) < bound { end += 1 }
            runs.append((best, next[best]..<end))
            next[best] = end
        }
        // Each source's watermark before each of its rows, in the merged order.
        let sourceOf = batches.map { reads[$0.read].input }
        let startMarks = inputs.map(\.tracker.value)
        var marks: [[Int64]] = []
        for (i, input) in inputs.enumerated() {
            let mine = batches.indices.filter { sourceOf[$0] == i }
            guard !mine.isEmpty else { marks.append([]); continue }
            var shardOf: [Int32] = [], ordered: [Int64] = []
            if mine.count == 1 {
                // One batch: its runs are its rows in order.
                ordered = times[mine[0]]
            } else {
                var local = [Int32](repeating: 0, count: batches.count)
                for (n, b) in mine.enumerated() { local[b] = Int32(n) }
                let total = mine.reduce(0) { $0 + batches[$1].batch.count }
                shardOf.reserveCapacity(total)
                ordered.reserveCapacity(total)
                for r in runs where sourceOf[r.batch] == i {
                    shardOf.append(contentsOf: repeatElement(local[r.batch], count: r.rows.count))
                    ordered.append(contentsOf: times[r.batch][r.rows])
                }
            }
            let ids = mine.map { polled[i][reads[batches[$0].read].shard].shardId }
            marks.append(input.tracker.watermarksBefore(ids, shardOf, ordered, now: now))
        }
        func push(_ b: Int, _ rows: Range<Int>, _ rowMarks: SourceMarks? = nil) throws(EngineError) {
            guard !rows.isEmpty else { return }
            let input = inputs[sourceOf[b]]
            input.lastRead = batches[b].lastRead
            try emit(pipeline.pushSource(batches[b].batch, rows: rows, predicate: input.predicate, source: sourceOf[b], marks: rowMarks, now: now))
            try drainFailures(input)
        }
        if inputs.count > 1 {
            // Joins and unions: each row meets them with every source's watermark as the rows before it left them.
            let n = inputs.count
            var rowMarks = batches.map { SourceMarks(count: n, values: [Int64](repeating: .min, count: $0.batch.count * n)) }
            // A source's watermark after its row k is the one before its row k + 1, or after the last, where its tracker ended.
            func after(_ i: Int, _ k: Int) -> Int64 { k + 1 < marks[i].count ? marks[i][k + 1] : inputs[i].tracker.value }
            var current = startMarks
            var seen = [Int](repeating: 0, count: n)
            for run in runs {
                let i = sourceOf[run.batch]
                rowMarks[run.batch].values.withUnsafeMutableBufferPointer { v in
                    for row in run.rows {
                        for s in 0..<n { v[row * n + s] = current[s] }
                        current[i] = after(i, seen[i])
                        seen[i] += 1
                    }
                }
            }
            for run in runs { try push(run.batch, run.rows, rowMarks[run.batch]) }
            return
        }
        let mine = marks[0]
        if !pipeline.judgesLateness {
            // No row can be late: the runs go through as they are, in order.
            for run in runs { try push(run.batch, run.rows) }
            return
        }
        var k = 0
        for run in runs {
            let t = times[run.batch]
            var start = run.rows.lowerBound
            for row in run.rows {
                defer { k += 1 }
                guard t[row] != .min, pipeline.couldBeLate(t[row], at: mine[k]) else { continue }
                try push(run.batch, start..<row)
                // The windows the rows before it closed close first; then the row is judged.
                if mine[k] > lastWatermark {
                    lastWatermark = mine[k]
                    try emit(pipeline.advance(watermark: mine[k], now: now))
                }
                try push(run.batch, row..<(row + 1))
                start = row + 1
            }
            try push(run.batch, start..<run.rows.upperBound)
        }
    }

    /// Moves the watermark: of the one source, or of each source of the joins and unions.
    private func advance(now: Int64) throws(EngineError) {
        let marks = inputs.indices.map { inputs[$0].tracker.watermark(now: now) }
        if marks.count > 1 {
            let w = marks.min()!
            if w > lastWatermark { lastWatermark = w }
            try emit(pipeline.advanceInputs(marks, now: now))
        } else if marks[0] > lastWatermark {
            lastWatermark = marks[0]
            try emit(pipeline.advance(watermark: marks[0], now: now))
        }
    }

    /// The end of finite input: every window closes, the sink closes.
    func finish() throws(EngineError) {
        guard !done else { return }
        done = true
        for input in inputs { input.tracker.endOfInput() }
        try advance(now: engine.clock.nowMillis())
        try drainFailures(inputs[0])
        // Scores of 0 are not "normal" when a forest never warmed up: say so, once.
        for f in pipeline.forests where f.warming > 0 {
            engine.emit("warning", query: counters.name,
                        "warning: \(f.warming) of \(f.partitions) random cut forest partition\(f.partitions == 1 ? "" : "s") saw fewer than \(f.warmUp) rows (output_after): their anomaly_score stayed 0",
                        [("warming_partitions", .int(Int64(f.warming))), ("partitions", .int(Int64(f.partitions))), ("warm_up", .int(Int64(f.warmUp)))])
        }
        try sink.close()
        // The query has ended its input: a later run starts it afresh.
        if !ephemeral { unlink(checkpointPath) }
    }

    private func emit(_ rows: [[Value]]) throws(EngineError) {
        guard !rows.isEmpty else { return }
        counters.rowsOut += Int64(rows.count)
        try sink.write(rows)
    }

    /// Late and bad rows of the pipeline, under the policies of the source they came from. A row
    /// the pipeline traces to the batch just decoded is reported as its record: shard, sequence
    /// number and the raw bytes as they arrived.
    private func drainFailures(_ input: JobInput) throws(EngineError) {
        var failures = pipeline.failures
        pipeline.failures.removeAll()
        let stream = input.source.stream.name
        if let read = input.lastRead {
            var users: [Int: [KPLAggregate.UserRecord]] = [:]  // an aggregate unpacked once
            for k in failures.indices {
                guard let r = failures[k].sourceRow else { continue }
                let (i, user): (Int, Int?)
                if let listed = read.rows {
                    guard r < listed.count else { continue }
                    (i, user) = listed[r]
                } else {
                    guard r < read.result.records.count else { continue }
                    (i, user) = (r, nil)
                }
                failures[k].shardId = read.shard
                failures[k].sequenceNumber = read.result.sequenceNumberText(i)
                failures[k].rowtime = read.result.records.arrivalMillis(i)
                var data = read.result.records.data(i)
                if let u = user {
                    if users[i] == nil { users[i] = KPLAggregate.deaggregate(data) ?? [] }
                    if let list = users[i], u < list.count { data = list[u].data }
                }
                failures[k].data = String(decoding: data, as: UTF8.self)
            }
        }
        for f in failures {
            if f.kind == "late" {
                counters.late += 1
                counters.note(f)
                switch input.latePolicy {
                case "drop": break
                case "error_stream": engine.reportError(f, source: stream, query: label)
                default: try engine.forward(f, to: input.latePolicy)
                }
            } else {
                counters.bad += 1
                counters.note(f)
                engine.reportError(f, source: stream, query: label)
            }
        }
    }

    /// Decodes a shard's records into a batch of the source's columns; returns the largest event time.
    /// A KPL aggregated record is read as its user records, as the KCL reads it.
    private func decode(_ input: JobInput, _ r: GetRecordsResult, shard: String, limit: Int? = nil) -> (Batch, Int64?) {
        input.decoder.shard = shard
        func failed(_ e: DecodeError, _ i: Int, _ data: [UInt8], subsequence: Int?) {
            var f = RecordFailure(kind: "decode", message: e.description + (subsequence.map { " (user record \($0) of an aggregated record)" } ?? ""),
                                  shardId: shard, sequenceNumber: r.sequenceNumberText(i), data: String(decoding: data, as: UTF8.self))
            f.rowtime = r.records.arrivalMillis(i)
            counters.bad += 1
            counters.note(f)
            switch input.badPolicy {
            case "error_stream": engine.reportError(f, source: input.source.stream.name, query: label)
            case "fail": fatal = f
            default: break
            }
        }
        // Row k is record k until a record makes no row or several: only then are the rows
        // listed (nothing is kept per record in the common case).
        var rows: [(record: Int, user: Int?)]? = nil
        var made = 0
        func list() { if rows == nil { rows = (0..<made).map { ($0, nil) } } }
        let keep = limit ?? r.records.count
        // Every row is decoded through `add`, the decoder held once for the whole read.
        input.decoder.adding { add in
            r.records.forEachRecord { i, arrival, data in
                guard fatal == nil, i < keep else { return }
                if KPLAggregate.hasMagic(data), let users = KPLAggregate.deaggregate(data) {
                    list()
                    for (k, u) in users.enumerated() where fatal == nil {
                        if let e = u.data.withUnsafeBytes({ add($0, arrival) }) { failed(e, i, u.data, subsequence: k) } else { rows!.append((i, k)) }
                    }
                } else if let path = input.rowPath {
                    // A record of several rows: the record once per element of its array at
                    // `row_path`, the element standing in the array's place.
                    list()
                    let record = try? JSONValue.parse(bytes: Array(data))
                    var value = record
                    for step in path { value = value?[step] }
                    guard let record, let elements = value?.arrayValue else {
                        failed(DecodeError("the record has no array at \(path.isEmpty ? "its top" : path.joined(separator: "."))"), i, Array(data), subsequence: nil)
                        return
                    }
                    for element in elements where fatal == nil {
                        let bytes = Array(Self.replacing(record, at: path[...], with: element).serialized().utf8)
                        if let e = bytes.withUnsafeBytes({ add($0, arrival) }) { failed(e, i, bytes, subsequence: nil) } else { rows!.append((i, nil)) }
                    }
                } else if let delimiter = input.rowDelimiter {
                    // A record of several CSV rows, between delimiters (empty ones are no rows).
                    list()
                    let bytes = Array(data)
                    var start = 0, at = 0
                    func row(_ r: Range<Int>) {
                        guard !r.isEmpty, fatal == nil else { return }
                        let piece = Array(bytes[r])
                        if let e = piece.withUnsafeBytes({ add($0, arrival) }) { failed(e, i, piece, subsequence: nil) } else { rows!.append((i, nil)) }
                    }
                    while at + delimiter.count <= bytes.count {
                        if bytes[at..<(at + delimiter.count)].elementsEqual(delimiter) {
                            row(start..<at)
                            at += delimiter.count
                            start = at
                        } else {
                            at += 1
                        }
                    }
                    row(start..<bytes.count)
                } else if let e = add(data, arrival) {
                    list()
                    failed(e, i, Array(data), subsequence: nil)
                } else {
                    made += 1
                    rows?.append((i, nil))
                }
            }
        }
        input.lastRead = (r, shard, rows)
        return input.decoder.finish()
    }

    /// `record` with the value at `path` (object keys) replaced by `element`.
    static func replacing(_ record: JSONValue, at path: ArraySlice<String>, with element: JSONValue) -> JSONValue {
        guard let key = path.first else { return element }
        guard case .object(var o) = record, let inner = o[key] else { return record }
        o[key] = replacing(inner, at: path.dropFirst(), with: element)
        return .object(o)
    }
}
