import Foundation
import SluiceCodecs
import SluiceCore
import SluiceDataflow
import SluicePlanner
import SluiceStreams

/// One running query: reads every shard of its source stream (parents before children), decodes
/// records into batches with ROWTIME, tracks the watermark, runs the pipeline and writes to its sink.
/// Bad and late records go to the error stream (or are dropped) as the stream's options say, and
/// are counted either way.
final class Job {
    let label: String
    let source: SourceNode
    let pipeline: Pipeline
    let sink: any RowSink
    let consumer: StreamConsumer
    unowned let engine: Engine
    var tracker: WatermarkTracker
    var counters: QueryCounters
    var done = false
    private var decoder: SourceDecoder
    /// CSV with `header = true`: the decoder binds by name once the stream's header is known.
    private var csvByHeader = false
    private var csvDelimiter: UInt8 = 44
    private let predicate: PhysicalExpr?
    private let badPolicy: String
    private let latePolicy: String
    private var lastWatermark = Int64.min
    /// With `bad_records = 'fail'`: the first record that could not be decoded; the query stops.
    private var fatal: RecordFailure?

    init(id: Int, label: String, plan: LogicalPlan, source: SourceNode, sink: any RowSink, engine: Engine) throws(EngineError) {
        self.label = label
        self.source = source
        self.sink = sink
        self.engine = engine
        pipeline = Pipeline(plan)
        counters = QueryCounters(name: "query \(id) (\(label))")
        let options = source.stream.options
        badPolicy = Engine.text(options["bad_records"]) ?? "error_stream"
        let late = Engine.text(options["late_records"]) ?? "drop"
        // Another stream: its name as declared (names match without regard to case).
        latePolicy = late == "drop" || late == "error_stream" ? late : engine.catalog.stream(named: late)?.name ?? late
        let idle = Engine.text(options["idle_timeout"]).flatMap(Job.duration) ?? 30_000
        let delay = source.stream.watermark?.delayMillis ?? 0
        tracker = WatermarkTracker(delayMillis: delay, idleTimeoutMillis: idle)
        decoder = SourceDecoder(source: source)
        predicate = source.predicate.map(Lowering.expr)
        if Engine.text(options["format"]) == "csv" {
            csvDelimiter = (Engine.text(options["delimiter"]) ?? ",").utf8.first ?? 44
            if Engine.text(options["header"]) == "true" {
                csvByHeader = true
            } else {
                decoder.use(csv: Job.positional(decoder.fieldSpecs, source.stream, csvDelimiter))
            }
        }
        do {
            consumer = try StreamConsumer(store: engine.store, stream: source.stream.name, application: "sluice-query-\(id)")
            let now = engine.clock.nowMillis()
            for s in try engine.store.listShards(streamName: source.stream.name).shards { tracker.addShard(s.shardId, now: now) }
        } catch {
            throw EngineError(message: "cannot read stream \(source.stream.name): \(error)")
        }
    }

    /// By position: each field reads the column at its declared position.
    static func positional(_ fields: [FieldSpec], _ stream: StreamDefinition, _ delimiter: UInt8) -> CSVRecordDecoder {
        let all = stream.columns.map(\.name)
        return CSVRecordDecoder(fields: fields, columns: fields.map { f in all.firstIndex(of: f.name) ?? 0 }, delimiter: delimiter)
    }

    /// Binds a `header = true` CSV stream by name, with the header that loading it recorded (the
    /// stream's `sluice.csv-header` tag); without one, columns bind by declared position.
    private func bindCSVHeader() throws(EngineError) {
        guard csvByHeader, decoder.needsCSV else { return }
        let fields = decoder.fieldSpecs
        let header = (try? engine.store.listTags(name: source.stream.name))?.first(where: { $0.key == "sluice.csv-header" })?.value
        guard let h = header else {
            decoder.use(csv: Job.positional(fields, source.stream, csvDelimiter))
            return
        }
        switch Array(h.utf8).withUnsafeBytes({ CSVRecordDecoder.bind(fields: fields, header: $0, delimiter: csvDelimiter) }) {
        case .success(let d): decoder.use(csv: d)
        case .failure(let e): throw EngineError(message: "stream \(source.stream.name): \(e.message)")
        }
    }

    /// Parses '30s', '5m', '1h', '250ms' or a number of milliseconds.
    static func duration(_ s: String) -> Int64? {
        let t = s.trimmingCharacters(in: .whitespaces).lowercased()
        for (suffix, ms) in [("ms", Int64(1)), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)] where t.hasSuffix(suffix) {
            if let v = Double(t.dropLast(suffix.count)) { return Int64(v * Double(ms)) }
        }
        return Int64(t)
    }

    /// Reads what is new in every ready shard and pushes it through. Returns whether anything was read.
    func step() throws(EngineError) -> Bool {
        try bindCSVHeader()
        let now = engine.clock.nowMillis()
        let polled: [StreamConsumer.ShardRecords]
        do { polled = try consumer.poll() } catch { throw EngineError.io("reading \(source.stream.name): \(error)") }
        var read = false
        for p in polled {
            let r = p.result
            if r.records.count > 0 {
                read = true
                counters.recordsIn += Int64(r.records.count)
                let (batch, maxTime) = decode(r, shard: p.shardId)
                if let f = fatal {
                    // The records before the bad one go through; windows stay open (no end of input).
                    try emit(pipeline.push(pipeline.sourceFilter(predicate, batch), now: now))
                    done = true
                    try? sink.close()
                    throw EngineError(message: "stream \(source.stream.name): record \(f.sequenceNumber ?? "?") of \(f.shardId ?? "?") cannot be decoded: "
                                      + "\(f.message); bad_records = 'fail' stops the query (record: \(f.data ?? ""))")
                }
                if let t = maxTime { tracker.observe(shard: p.shardId, maxEventTime: t, now: now) } else { tracker.touch(shard: p.shardId, now: now) }
                try emit(pipeline.push(pipeline.sourceFilter(predicate, batch), now: now))
            }
            if r.nextShardIterator == nil { tracker.finishShard(p.shardId) }
        }
        let w = tracker.watermark(now: now)
        if w > lastWatermark {
            lastWatermark = w
            try emit(pipeline.advance(watermark: w, now: now))
        }
        try emit(pipeline.tick(now: now))
        try drainFailures()
        if pipeline.limitReached { try finish() }
        return read
    }

    /// The end of finite input: every window closes, the sink closes.
    func finish() throws(EngineError) {
        guard !done else { return }
        done = true
        tracker.endOfInput()
        let w = tracker.watermark(now: engine.clock.nowMillis())
        try emit(pipeline.advance(watermark: w, now: engine.clock.nowMillis()))
        try drainFailures()
        try sink.close()
    }

    private func emit(_ rows: [[Value]]) throws(EngineError) {
        guard !rows.isEmpty else { return }
        counters.rowsOut += Int64(rows.count)
        try sink.write(rows)
    }

    private func drainFailures() throws(EngineError) {
        let failures = pipeline.failures
        pipeline.failures.removeAll()
        for f in failures {
            if f.kind == "late" {
                counters.late += 1
                switch latePolicy {
                case "drop": break
                case "error_stream": engine.reportError(f, source: source.stream.name)
                default: try engine.forward(f, to: latePolicy)
                }
            } else {
                counters.bad += 1
                engine.reportError(f, source: source.stream.name)
            }
        }
    }

    /// Decodes a shard's records into a batch of the source's columns; returns the largest event time.
    private func decode(_ r: GetRecordsResult, shard: String) -> (Batch, Int64?) {
        for i in 0..<r.records.count where fatal == nil {
            let arrival = r.records.arrivalMillis(i)
            if let e = r.records.withData(i, { decoder.add($0, arrival: arrival) }) {
                let f = RecordFailure(kind: "decode", message: e.description, shardId: shard, sequenceNumber: r.sequenceNumber(i).description,
                                      data: String(decoding: r.records.data(i), as: UTF8.self))
                counters.bad += 1
                switch badPolicy {
                case "error_stream": engine.reportError(f, source: source.stream.name)
                case "fail": fatal = f
                default: break
                }
            }
        }
        return decoder.finish()
    }
}
