import Foundation
public import SluiceCore
import SluiceCodecs
public import SluiceSQL
public import SluicePlanner
import SluiceDataflow
import Glibc
import Synchronization
public import SluiceStreams
public import SluiceDelivery
public import SluiceAWS

/// An error from the engine: diagnostics that point into the SQL, or a plain message.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public var message: String?
    public init(diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public init(message: String) { diagnostics = []; self.message = message }
    static func io(_ m: String) -> EngineError { EngineError(message: m) }
    public var description: String { message ?? diagnostics.map(\.description).joined(separator: "\n") }
}

/// Counts of one query's run.
public struct QueryCounters: Sendable {
    public var name: String
    public var recordsIn: Int64 = 0
    public var rowsOut: Int64 = 0
    public var bad: Int64 = 0
    public var late: Int64 = 0
    /// The query's watermark and the newest event time it read (nil: none yet), for the lag of
    /// the one behind the other.
    public var watermark: Int64? = nil
    public var newestEventTime: Int64? = nil
    /// Calls to remote endpoints (Kinesis, Firehose) refused for throughput, and calls or records
    /// sent again (throttling, transient failures, records a batch put did not take).
    public var throttled: Int64 = 0
    public var retried: Int64 = 0

    /// Why records failed (bad or late), by kind and reason (quoted values left out, so that
    /// `cannot cast 'a'` and `cannot cast 'b'` are one reason), with a count and the first record.
    public var reasons: [FailureReason] = []

    public struct FailureReason: Sendable, Equatable {
        public var kind: String
        public var reason: String
        public var count: Int64
        public var example: String
    }

    /// The reasons seen most often, the most frequent first.
    public func topReasons(_ n: Int) -> [FailureReason] {
        Array(reasons.sorted { $0.count != $1.count ? $0.count > $1.count : $0.reason < $1.reason }.prefix(n))
    }

    /// Counts a failure under its reason (at most 100 reasons are kept apart).
    mutating func note(_ f: RecordFailure) {
        let reason = QueryCounters.generalized(f.message)
        if let i = reasons.firstIndex(where: { $0.kind == f.kind && $0.reason == reason }) {
            reasons[i].count += 1
        } else if reasons.count < 100 {
            reasons.append(FailureReason(kind: f.kind, reason: reason, count: 1, example: String((f.data ?? "").prefix(300))))
        }
    }

    /// A message with its quoted values ('...' and "...") replaced by `…`; a field's name
    /// (`field 'amount'`) is kept.
    static func generalized(_ message: String) -> String {
        var out = ""
        var quote: Character? = nil
        var keep = false
        for c in message {
            if let q = quote {
                if c == q { quote = nil; out.append(c) } else if keep { out.append(c) }
            } else {
                out.append(c)
                if c == "'" || c == "\"" {
                    quote = c
                    keep = out.dropLast().hasSuffix("field ")
                    if !keep { out.append("…") }
                }
            }
        }
        return out
    }

    /// How far the watermark is behind the newest event time read (event time), if both are known.
    public var watermarkLagMillis: Int64? {
        guard let w = watermark, let t = newestEventTime, w != WatermarkTracker.infinity else { return nil }
        return max(0, t - w)
    }
}

/// The façade: statements in, running queries out. One engine per process; driven from one
/// thread (the run loop), with the stream store shared.
public final class Engine {
    public let store: StreamStore
    let clock: any SluiceClock
    var catalog = MemoryCatalog()
    var sinks: [String: SinkDefinition] = [:]
    var jobs: [Job] = []
    /// Reference tables by lower-cased name.
    var tables: [String: ReferenceTable] = [:]
    /// The delivery streams of the firehoses declared, delivered from the run loop.
    public internal(set) var firehoses: [DeliveryStream] = []
    /// Events worth a log line: a query started or resumed, a checkpoint taken, an alert fired or
    /// resolved. Called on the engine's thread.
    public var onEvent: ((EngineEvent) -> Void)?
    /// Ad-hoc queries started so far (names their stream consumers).
    var adHocCount = 0
    /// The number the next persistent query (not ad-hoc) takes: it names the query ("query 3")
    /// and its checkpoint. Numbers are not reused within a run; a server that keeps queries
    /// across restarts sets it before loading each one, so each keeps its number and checkpoint.
    public var nextQueryId = 1
    /// A server's engine: a persistent query that fails stops alone, marked FAILED (SHOW QUERIES
    /// gives the reason), instead of `step()` throwing (a run's engine stops on it).
    public var isolateFailures = false
    /// Where queries keep their checkpoints (`--state-dir`); by default DATA/queries.
    public var stateDirectory: String?
    /// A server's engine: each persistent query runs on a thread of its own (QueryRunner), and
    /// `step()` runs the rest (ad-hoc queries, firehose delivery, metrics, table refreshes).
    public var threadedQueries = false
    /// Where remote streams' credentials and default region come from (the process's environment
    /// and the AWS CLI's files, as the CLI reads them).
    public var aws = AWSProfiles()
    /// This engine is worker `workerId` of the applications its streams name (`application`):
    /// queries over such a stream share its shards with the other workers through leases.
    public var workerId: String?
    /// Its queries over shared streams.
    var scaleOuts: [ScaleOutQuery] = []

    func emit(_ event: String, query: String?, _ message: String, _ fields: [(String, JSONValue)] = []) {
        services.withLock { onEvent?(EngineEvent(event: event, query: query, message: message, fields: fields)) }
    }

    /// What queries on threads of their own share: the event log, the error stream's bookkeeping.
    let services = NSRecursiveLock()

    /// Files written by queries (sinks and alert targets), by absolute path: the query writing each.
    /// A file has one writer, so that each query's checkpoint can cut it back exactly.
    var claimedFiles: [String: String] = [:]

    func claimFile(_ path: String, by label: String) throws(EngineError) {
        let key = URL(fileURLWithPath: path).standardizedFileURL.path
        if let owner = claimedFiles[key], owner != label {
            throw EngineError(message: "\(label) writes \(path), which \(owner) already writes; give each query or alert its own file (a file has one writer, so that restarts can cut it back exactly)")
        }
        claimedFiles[key] = label
    }
    /// Text that statements such as EXPLAIN print.
    public private(set) var output: [String] = []
    var errorStreamReady = false

    struct SinkDefinition {
        var name: String
        var type: String
        var path: String?
        var format: RecordEncoder.Format
        /// Rolling file sinks: a new file after this many bytes, or after this long open.
        var rollBytes: Int64? = nil
        var rollMillis: Int64? = nil
        /// Lambda sinks: the command standing in for the function, and the application it says it is.
        var command: String? = nil
        var applicationArn: String? = nil
        /// Every option as written (remote sinks read theirs).
        var options: [String: OptionValue] = [:]
    }

    public init(store: StreamStore, clock: any SluiceClock = SystemClock()) {
        self.store = store
        self.clock = clock
        catalog.add(Engine.metricsDefinition)
        // error_stream is there from the start (queryable, DESCRIBE-able) in files, the REPL and
        // serve; the store's stream is made when a record fails or a query reads it.
        catalog.add(Engine.errorStreamDefinition)
    }

    static let errorStreamName = "error_stream"

    /// The built-in streams a query reads (`sluice_metrics`, `error_stream`) exist in the store
    /// once a query reads them.
    func ensureBuiltIn(_ sources: [SourceNode]) throws(EngineError) {
        if sources.contains(where: { $0.stream.name == Engine.metricsStreamName }) { try ensureStream(Engine.metricsDefinition) }
        if sources.contains(where: { $0.stream.name == Engine.errorStreamName }) {
            try ensureStream(Engine.errorStreamDefinition)
            errorStreamReady = true
        }
    }
    /// The error stream's columns (DIALECT.md §5): when, what kind, why, which stream, and the
    /// record as it arrived with its shard and sequence number.
    static let errorStreamDefinition = StreamDefinition(name: errorStreamName, columns: [
        ColumnDefinition(name: "error_time", type: .timestamp), ColumnDefinition(name: "error_kind", type: .varchar),
        ColumnDefinition(name: "message", type: .varchar), ColumnDefinition(name: "source", type: .varchar),
        ColumnDefinition(name: "shard_id", type: .varchar), ColumnDefinition(name: "sequence_number", type: .varchar),
        ColumnDefinition(name: "data", type: .varchar),
        // Kinesis Data Analytics' columns of the same error, for applications that read them.
        ColumnDefinition(name: "ERROR_LEVEL", type: .varchar), ColumnDefinition(name: "ERROR_NAME", type: .varchar),
        ColumnDefinition(name: "DATA_ROWTIME", type: .timestamp), ColumnDefinition(name: "DATA_ROW", type: .varchar),
        ColumnDefinition(name: "PUMP_NAME", type: .varchar),
    ])

    /// How often (processing time) a row per stream and per query goes into `sluice_metrics`;
    /// nil: never.
    public var metricsIntervalMillis: Int64? = 10_000
    var lastMetricsAt: Int64? = nil
    var metricsStreamBaseline: [String: (records: Int64, bytes: Int64, throttled: Int64)] = [:]
    var metricsQueryBaseline: [Int: QueryCounters] = [:]

    public var counters: [QueryCounters] {
        jobs.map { j in
            j.observed { j in
                var c = j.counters
                c.watermark = j.lastWatermark == .min ? nil : j.lastWatermark
                c.newestEventTime = j.inputs.compactMap(\.tracker.newestEventTime).max()
                for client in j.remoteClients {
                    c.throttled += Int64(client.throttled.load(ordering: .relaxed))
                    c.retried += Int64(client.retries.load(ordering: .relaxed))
                }
                return c
            }
        }
    }

    /// The most records a query reads from a shard in one step. Results do not depend on it
    /// (records are judged one by one in effect); tests vary it to show that.
    public var pollLimit = 10_000

    /// How often (processing time) each running query takes a checkpoint; nil: only on `stop()`.
    public var checkpointIntervalMillis: Int64? = 10_000

    /// Queries that continued from a checkpoint when they started.
    public var resumedQueries: [String] { jobs.filter(\.resumed).map(\.counters.name) }

    // MARK: - Statements

    /// Plans every statement of a script. Every problem is reported before anything runs:
    /// nothing starts unless all statements are valid.
    public func load(_ script: Script) throws(EngineError) {
        let (localCatalog, localSinks, pending) = try prepareAll(script)
        catalog = localCatalog
        sinks = localSinks
        for action in pending { try perform(action) }
    }

    func prepareAll(_ script: Script) throws(EngineError) -> (MemoryCatalog, [String: SinkDefinition], [Action]) {
        var diagnostics: [Diagnostic] = []
        var pending: [Action] = []
        var localCatalog = catalog
        var localSinks = sinks
        for statement in script.statements {
            do throws(EngineError) {
                try prepare(statement, &localCatalog, &localSinks, &pending)
            } catch {
                diagnostics += error.diagnostics
                if let m = error.message { diagnostics.append(Diagnostic(id: "engine.error", message: m, span: statement.loc.span)) }
            }
        }
        if !diagnostics.isEmpty { throw EngineError(diagnostics: diagnostics) }
        return (localCatalog, localSinks, pending)
    }

    /// A query's plans as `--dry-run` prints them.
    public struct PlannedQuery: Sendable {
        public var label: String
        public var target: String
        public var logical: String
        public var physical: String
    }

    /// Checks a script like `load` and returns the plans of its queries, running nothing and
    /// changing nothing (no stream created, no table read, no query started).
    public func plans(_ script: Script) throws(EngineError) -> [PlannedQuery] {
        let (_, _, pending) = try prepareAll(script)
        var out: [PlannedQuery] = []
        for case .start(let plan, let target, let label, _) in pending {
            let where_: String
            switch target {
            case .stdout: where_ = "standard output"
            case .alert(let def): where_ = "alert notifications to " + (def.targets.isEmpty ? "stderr" : def.targets.joined(separator: ", "))
            case .sink(let def): where_ = def.type == "stdout" ? "standard output" : def.type == "firehose" ? "firehose \(Engine.text(def.options["delivery_stream"]) ?? "")"
                : def.type == "kinesis" ? "Kinesis stream \(Engine.text(def.options["stream"]) ?? Engine.text(def.options["stream_arn"]) ?? "")" : "\(def.type) \(def.path ?? "")"
            case .stream(let def): where_ = "stream \(def.name)"
            }
            out.append(PlannedQuery(label: label, target: where_, logical: plan.explain, physical: Engine.physical(plan)))
        }
        return out
    }

    /// What a valid statement does once every statement of the file has been checked.
    enum Action {
        case ensureStream(StreamDefinition)
        case ensureFirehose(FirehoseConfig, replace: Bool)
        case loadTable(TableDefinition)
        /// `text`: the statement that starts the query, on one line (SHOW QUERIES shows it).
        case start(LogicalPlan, Target, label: String, text: String = "")
        case print(String)
        case dropQuery(Int, ifExists: Bool)
        case dropTable(String)
        case dropFirehose(String)
        case explainQuery(Int)
        case showAlerts
        case show(ShowTarget)
    }

    enum Target {
        case alert(AlertDefinition)
        case sink(SinkDefinition)
        case stream(StreamDefinition)
        case stdout
    }

    private func perform(_ action: Action) throws(EngineError) {
        switch action {
        case .ensureStream(let def): try ensureStream(def)
        case .ensureFirehose(let config, let replace):
            let saved: FirehoseConfig
            do { saved = try DeliveryStream.create(config, store: store, replace: replace) } catch { throw EngineError(message: error.description) }
            firehoses.append(try openFirehose(saved))
        case .loadTable(let def):
            let table = ReferenceTable(def)
            if let e = table.load(now: clock.nowMillis()) {
                throw EngineError(message: "\(e) (a table must load once before a query can join it)")
            }
            tables[def.name.lowercased()] = table
        case .print(let text): output.append(text)
        case .dropQuery(let id, let ifExists):
            if ifExists && !runningQueries.contains(where: { $0.id == id }) { break }
            try dropQuery(id)
        case .explainQuery(let id): output.append(try explainRunning(id))
        case .dropTable(let name): tables[name.lowercased()] = nil
        case .dropFirehose(let name):
            // What it holds is delivered first; then its definition and delivery state go.
            if let at = firehoses.firstIndex(where: { $0.config.name == name }) {
                let d = firehoses[at]
                do {
                    while try d.poll() {}
                    try d.flushAll()
                    try DeliveryStream.delete(name: name, store: store)
                } catch {
                    throw EngineError(message: "firehose \(name): \(error.description)")
                }
                firehoses.remove(at: at)
            }
        case .showAlerts: output.append(Engine.render(alertStatus))
        case .show(let target): output.append(listing(target))
        case .start(let plan, let target, let label, let text):
            let owner = "query \(nextQueryId) (\(label))"
            let written: String?
            switch target {
            case .stdout: written = nil
            case .alert(let def): written = def.name
            case .sink(let def): written = def.name
            case .stream(let def): written = def.name
            }
            if let shared = try scaleOutSource(plan) {
                try startScaleOut(plan, shared, label, target: target, owner: owner)
                return
            }
            try start(plan, try makeSink(target, plan, owner: owner), label, writes: written, text: text)
        }
    }

    /// The sink a query writes to; `fill` fills a scaled-out lane's `{worker}` and `{shard}` into file paths.
    func makeSink(_ target: Target, _ plan: LogicalPlan, owner: String, fill: (String) -> String = { $0 }) throws(EngineError) -> any RowSink {
        let columns = plan.schema.map(\.name)
        switch target {
        case .stdout: return DescriptorSink(fd: 1, columns: columns)
        case .alert(let def):
            for t in Set(def.targets) where t.hasPrefix("file:") { try claimFile(String(t.dropFirst(5)), by: owner) }
            let a = try alertSink(def)
            a.onNotification = { [weak self] state, at, key, message in
                self?.emit("alert", query: owner, "\(def.name) \(state)\(key.isEmpty ? "" : " for " + key) at \(TimeFormat.iso8601(at)): \(message)",
                           [("alert", .string(def.name)), ("state", .string(state)), ("key", .string(key)), ("at", .string(TimeFormat.iso8601(at)))])
            }
            return a
        case .sink(let def):
            let path = fill(def.path ?? "")
            if def.type == "firehose" { return RemoteFirehoseSink(client: try firehoseClient(def), columns: columns, format: def.format) }
            if def.type == "kinesis" {
                let stream = try kinesisSinkStream(def.name, def.options, span: nil)
                return RemoteStreamSink(client: try kinesisClient(stream), columns: columns,
                                        key: try kinesisSinkKey(Engine.text(def.options["partition_key"]), plan, expressions: true, sink: def.name, span: nil),
                                        format: def.format == .csv ? .csv : .json)
            }
            if def.type == "file", path.hasPrefix("s3://") {
                try claimFile(path, by: owner)
                return S3Sink(client: try s3Client(def), url: path, name: def.name, format: def.format, columns: columns, clock: clock)
            }
            if def.type != "stdout" && def.type != "lambda" { try claimFile(path, by: owner) }
            if def.type == "lambda" {
                return LambdaSink(command: def.command ?? "", applicationArn: def.applicationArn ?? "", format: def.format, columns: columns)
            } else if def.type == "stdout" {
                return DescriptorSink(fd: 1, columns: columns)
            } else if def.rollBytes != nil || def.rollMillis != nil {
                return RollingFileSink(path: path, format: def.format, columns: columns, rollBytes: def.rollBytes, rollMillis: def.rollMillis, clock: clock)
            } else {
                return try FileSink(path: path, format: def.format, columns: columns)
            }
        case .stream(let def) where Engine.isRemote(def):
            return RemoteStreamSink(client: try kinesisClient(def), columns: columns,
                                    key: try kinesisSinkKey(Engine.text(def.options["partition_key"]), plan, expressions: false, sink: def.name, span: def.span),
                                    format: Engine.text(def.options["format"])?.lowercased() == "csv" ? .csv : .json)
        case .stream(let def):
            return StreamSink(store: store, stream: def.name, columns: columns, partitionKey: Engine.text(def.options["partition_key"]),
                              arrivalColumn: StreamSink.arrivalColumn(plan.schema.map { ($0.name, $0.type) }),
                              format: Engine.text(def.options["format"])?.lowercased() == "csv" ? .csv : .json)
        }
    }

    func planQuery(_ q: Query, _ cat: MemoryCatalog) throws(EngineError) -> LogicalPlan {
        do {
            let logical = try Planner(catalog: cat).plan(q)
            return Optimizer(fold: Lowering.fold).optimize(logical)
        } catch {
            throw EngineError(diagnostics: error.diagnostics)
        }
    }

    private func prepare(_ s: Statement, _ cat: inout MemoryCatalog, _ sinkDefs: inout [String: SinkDefinition],
                         _ pending: inout [Action]) throws(EngineError) {
        switch s.kind {
        case .createStream(let c):
            try notAView(c.name, cat, s.loc.span)
            let def = try Engine.define(c, s.loc.span)
            try checkOptions(def, cat, s.loc.span)
            cat.add(def)
            pending.append(.ensureStream(def))
        case .createFirehose(let c):
            let (config, def) = try Engine.firehose(c, s.loc.span)
            if cat.stream(named: def.name) != nil {
                throw EngineError(diagnostics: [Diagnostic(id: "plan.duplicate", message: "'\(def.name)' is already declared (streams and firehoses share names)", span: s.loc.span)])
            }
            if config.isDirectPut { cat.add(def) }
            pending.append(.ensureFirehose(config, replace: c.orReplace))
        case .createTable(let c):
            let def: TableDefinition
            do { def = try Planner.tableDefinition(c, span: s.loc.span) } catch { throw EngineError(diagnostics: error.diagnostics) }
            if cat.stream(named: def.name) != nil || (cat.table(named: def.name) != nil && !c.orReplace) {
                throw EngineError(diagnostics: [Diagnostic(id: "plan.duplicate", message: "'\(def.name)' is already declared (streams and tables share names)", span: s.loc.span)])
            }
            cat.add(def)
            pending.append(.loadTable(def))
        case .createAlert(let a):
            let (plan, def) = try planAlert(a, cat, s.loc.span)
            try refuseLoop(plan, writing: .alert(def), pending, span: s.loc.span)
            pending.append(.start(plan, .alert(def), label: "ALERT \(def.name)", text: Engine.oneLine(s)))
        case .createSink(let c):
            var opts: [String: OptionValue] = [:]
            for o in c.options { opts[o.key.name.lowercased()] = o.value }
            let type = Engine.text(opts["type"]) ?? "file"
            guard ["file", "stdout", "lambda", "firehose", "kinesis"].contains(type) else {
                throw EngineError(diagnostics: [Diagnostic(id: "plan.unsupported", message: "sinks of type '\(type)' are not supported (file, stdout, lambda, firehose and kinesis are)", span: s.loc.span)])
            }
            if type == "kinesis" { _ = try kinesisSinkStream(c.name.name, opts, span: s.loc.span) }
            if type == "firehose" {
                if let why = firehoseSinkProblem(opts) {
                    throw EngineError(diagnostics: [Diagnostic(id: "plan.bad-option", message: "sink \(c.name.name): \(why)", span: s.loc.span)])
                }
            }
            if type == "lambda" && Engine.text(opts["command"]) == nil {
                throw EngineError(diagnostics: [Diagnostic(id: "plan.bad-option", message: "a lambda sink needs WITH (command = '...'): the command that takes each batch's event on stdin and prints the response", span: s.loc.span)])
            }
            let format = RecordEncoder.Format(rawValue: Engine.text(opts["format"]) ?? "json") ?? .json
            if type == "file" && Engine.text(opts["path"]) == nil {
                throw EngineError(diagnostics: [Diagnostic(id: "plan.sink-needs-path", message: "a file sink needs WITH (path = '...')", span: s.loc.span)])
            }
            var def = SinkDefinition(name: c.name.name, type: type, path: Engine.text(opts["path"]), format: format)
            def.options = opts
            if type == "lambda" {
                def.command = Engine.text(opts["command"])
                def.applicationArn = Engine.text(opts["application_arn"]) ?? "arn:aws:kinesisanalytics:us-east-1:000000000000:application/sluice"
            }
            if let r = Engine.text(opts["roll_size"]) {
                guard let bytes = Units.bytes(r), bytes >= 1024 else {
                    throw EngineError(diagnostics: [Diagnostic(id: "plan.bad-option", message: "roll_size '\(r)' must be a size of at least 1KB ('64MB', '512KB')", span: s.loc.span)])
                }
                def.rollBytes = bytes
            }
            if let r = Engine.text(opts["roll_interval"]) {
                guard let ms = Units.millis(r), ms >= 1000 else {
                    throw EngineError(diagnostics: [Diagnostic(id: "plan.bad-option", message: "roll_interval '\(r)' must be a duration of at least 1s ('1h', '10m')", span: s.loc.span)])
                }
                def.rollMillis = ms
            }
            if let p = def.path, p.hasPrefix("s3://") {
                if let why = s3SinkProblem(p, opts) {
                    throw EngineError(diagnostics: [Diagnostic(id: "plan.bad-option", message: "sink \(c.name.name): \(why)", span: s.loc.span)])
                }
                if def.rollBytes != nil || def.rollMillis != nil {
                    throw EngineError(diagnostics: [Diagnostic(id: "plan.bad-option", message: "sink \(c.name.name): an S3 sink puts an object per checkpoint interval; roll_size and roll_interval are for local files", span: s.loc.span)])
                }
            }
            if (def.rollBytes != nil || def.rollMillis != nil) && type != "file" {
                throw EngineError(diagnostics: [Diagnostic(id: "plan.bad-option", message: "only file sinks roll", span: s.loc.span)])
            }
            sinkDefs[c.name.name.lowercased()] = def
        case .insert(var i):
            // Columns by position have no use for their names: two of one name are told apart.
            if i.pump != nil && i.byPosition { i.query = Engine.distinctNames(i.query) }
            let name = i.target.name
            // A pump's rows keep their time: each one's ROWTIME (a group's, when it closed) becomes
            // the arrival of its record in the stream it fills, when the query has one to give.
            var rowtime = false
            var plan: LogicalPlan
            var timed: LogicalPlan? = nil
            if i.pump != nil, cat.stream(named: name) != nil {
                for q in Engine.rowtimeForms(i.query) {
                    if let p = try? planQuery(q, cat) { timed = p; break }
                }
            }
            if let p = timed {
                plan = p
                rowtime = true
            } else {
                do {
                    plan = try planQuery(i.query, cat)
                } catch where i.pump != nil {
                    throw Engine.inKDATerms(error)
                }
                // A KDA INSERT (not a pump) that gives ROWTIME last gives its rows' time (as
                // `sluice run APP.json` feeds an in-application stream from the input's stream).
                if i.byPosition, let last = plan.schema.last, last.name.uppercased() == "ROWTIME", last.type == .timestamp { rowtime = true }
            }
            let label = i.pump.map { "PUMP \($0.name)" } ?? "INSERT INTO \(name)"
            if let sink = sinkDefs[name.lowercased()] {
                try refuseLoop(plan, writing: .sink(sink), pending, span: i.target.loc.span)
                pending.append(.start(plan, .sink(sink), label: label, text: Engine.oneLine(s)))
            } else if let target = cat.stream(named: name) {
                if i.byPosition { plan = try Engine.byPosition(plan, into: target, i, rowtime: rowtime) }
                try refuseLoop(plan, writing: .stream(target), pending, span: i.target.loc.span)
                if plan.isUpdating, !target.columns.contains(where: { $0.name.lowercased() == ChangeKind.column }) {
                    throw EngineError(diagnostics: [Diagnostic(id: "plan.sink-takes-no-changes",
                                                               message: "stream \(name) has no op column, so it cannot take the changes of an updating query",
                                                               span: i.target.loc.span,
                                                               help: "declare op VARCHAR in \(name) (each record then says +I, -U, +U or -D), or make the query append-only (a window with EMIT FINAL)")])
                }
                pending.append(.start(plan, .stream(target), label: label, text: Engine.oneLine(s)))
            } else {
                let known = Array(sinkDefs.values.map(\.name)) + cat.streamNames
                throw EngineError(diagnostics: [Diagnostic(id: "bind.unknown-target", message: "unknown sink or stream '\(name)'", span: i.target.loc.span,
                                                           help: closestMatch(name, in: known).map { "did you mean '\($0)'?" })])
            }
        case .createStreamAs(let c):
            try notAView(c.name, cat, s.loc.span)
            let plan = try planQuery(c.query, cat)
            var options: [String: OptionValue] = [:]
            for o in c.options { options[o.key.name.lowercased()] = o.value }
            // The new stream keeps the query's event time: its watermark is declared on the column
            // that carries it (DIALECT.md §4), so windows and forests over it work.
            let time = Planner.derivedWatermark(of: plan)
            // A ROWTIME column is the records' arrival, not a column of theirs.
            let arrival = StreamSink.arrivalColumn(plan.schema.map { ($0.name, $0.type) })
            var def = StreamDefinition(name: c.name.name, columns: plan.schema.enumerated().filter { $0.offset != arrival }.map { ColumnDefinition(name: $0.element.name, type: $0.element.type) },
                                       watermark: time.map { ($0.column, $0.delayMillis) }, options: options, span: s.loc.span)
            def.timeOrigin = time?.origin ?? "processing time: ROWTIME, when a row reached the stream"
            try refuseLoop(plan, writing: .stream(def), pending, span: s.loc.span)
            cat.add(def)
            pending.append(.ensureStream(def))
            pending.append(.start(plan, .stream(def), label: "CREATE STREAM \(def.name)", text: Engine.oneLine(s)))
        case .createView(let v):
            // Planned now, so that a view that cannot run is refused where it is written.
            if cat.stream(named: v.name.name) != nil {
                throw EngineError(diagnostics: [Diagnostic(id: "plan.duplicate-name", message: "'\(v.name.name)' is already a stream", span: s.loc.span)])
            }
            if !v.orReplace, cat.view(named: v.name.name) != nil {
                throw EngineError(diagnostics: [Diagnostic(id: "plan.duplicate-name", message: "'\(v.name.name)' is already a view", span: s.loc.span,
                                                           help: "CREATE OR REPLACE VIEW to redefine it")])
            }
            _ = try planQuery(v.query, cat)
            cat.addView(v.name.name, v.query)
        case .query(let q):
            let plan = try planQuery(q, cat)
            try refuseLoop(plan, writing: .stdout, pending, span: s.loc.span)
            pending.append(.start(plan, .stdout, label: "SELECT", text: Engine.oneLine(s)))
        case .drop(let d) where d.kind != .query:
            try prepareDrop(d, s.loc.span, &cat, &sinkDefs, &pending)
        case .print:
            throw EngineError(diagnostics: [Diagnostic(id: "plan.unsupported", message: "PRINT tails a stream as records arrive: it runs in the REPL and through the server's SQL API",
                                                       span: s.loc.span, help: "in a file, SELECT * FROM the stream reads it")])
        case .drop(let d) where d.kind == .query:
            guard let id = Int(d.name.name), id > 0 else {
                throw EngineError(diagnostics: [Diagnostic(id: "plan.unknown-query", message: "DROP QUERY takes the query's number, not '\(d.name.name)'",
                                                           span: d.name.loc.span, help: "SHOW QUERIES lists the running queries with their numbers")])
            }
            pending.append(.dropQuery(id, ifExists: d.ifExists))
        case .show(.alerts):
            pending.append(.showAlerts)
        case .show(let target):
            pending.append(.show(target))
        case .explainQuery(let id):
            pending.append(.explainQuery(id))
        case .explain(let e):
            let query: Query
            switch e.statement.kind {
            case .query(let q): query = q
            case .insert(let i): query = i.query
            case .createStreamAs(let c): query = c.query
            default:
                throw EngineError(diagnostics: [Diagnostic(id: "plan.unsupported", message: "EXPLAIN explains a query, INSERT INTO or CREATE STREAM AS",
                                                           span: s.loc.span)])
            }
            let plan = try planQuery(query, cat)
            var text = e.level == .physical ? Engine.physical(plan) : plan.explain
            // A remote stream: where and how it is read.
            for src in Engine.sourceNodes(plan) where Engine.isRemote(src.stream) {
                let o = src.stream.options
                let endpoint = Engine.text(o["endpoint"]).map { " at \($0)" } ?? ""
                text += "\nRemote: \(src.stream.name) is Kinesis stream \(Engine.text(o["stream"]) ?? Engine.text(o["stream_arn"]) ?? "")\(endpoint), read by "
                    + (Engine.text(o["consumer"]).map { "enhanced fan-out (SubscribeToShard) as consumer \($0)" } ?? "GetRecords polling")
            }
            // Over a stream workers share (or a remote one that could be): whether it scales out.
            if let shared = Engine.sourceNodes(plan).first(where: { Engine.isRemote($0.stream) }) {
                let app = Engine.text(shared.stream.options["application"]).map { " (application \($0))" } ?? ""
                if let why = Engine.scaleOutProblem(plan) {
                    text += "\nScale-out\(app): no: \(why)"
                } else {
                    text += "\nScale-out\(app): yes: its groups stay within a shard, so workers sharing \(shared.stream.name)'s shards write exactly what one worker writes"
                }
            }
            pending.append(.print(text))
        default:
            throw EngineError(diagnostics: [Diagnostic(id: "plan.unsupported", message: "this statement is not supported in a query file yet",
                                                       span: s.loc.span, help: "sluice run executes CREATE STREAM, CREATE VIEW, CREATE FIREHOSE, CREATE SINK, CREATE ALERT, INSERT INTO, CREATE STREAM AS, SELECT, EXPLAIN and DROP QUERY")])
        }
    }

    /// `DROP STREAM | SINK | ALERT name`: refused while a running query reads or writes the
    /// object (naming the queries to drop first), or, for a stream, while a firehose reads it or
    /// a view is defined over it. A stream's declaration goes (with the query of its CREATE
    /// STREAM ... AS); its records stay in the store (`sluice stream delete` removes them). An
    /// alert is its query, which stops.
    private func prepareDrop(_ d: Drop, _ span: SourceSpan, _ cat: inout MemoryCatalog, _ sinkDefs: inout [String: SinkDefinition],
                             _ pending: inout [Action]) throws(EngineError) {
        let name = d.name.name, key = name.lowercased()
        func refuse(_ id: String, _ message: String, help: String? = nil) -> EngineError {
            EngineError(diagnostics: [Diagnostic(id: id, message: message, span: span, help: help)])
        }
        let running = jobs.filter { !$0.ephemeral && !$0.observed(\.done) }
        func users(reading: Bool) -> [Job] {
            running.filter { j in j.writes?.lowercased() == key || (reading && j.inputs.contains { $0.source.stream.name.lowercased() == key }) }
        }
        func inUse(_ js: [Job], _ what: String) -> EngineError {
            // A CREATE STREAM ... AS query goes with its stream; an alert is dropped by name.
            let first = js.map { j -> String in
                let label = j.label
                if label.uppercased().hasPrefix("CREATE STREAM ") { return "DROP STREAM " + label.dropFirst("CREATE STREAM ".count) }
                if label.uppercased().hasPrefix("ALERT ") { return "DROP ALERT " + label.dropFirst("ALERT ".count) }
                return "DROP QUERY \(j.id)"
            }
            return refuse("plan.in-use", "\(what) \(name) is used by " + js.map { "query \($0.id) (\($0.label))" }.joined(separator: ", "),
                          help: first.joined(separator: "; ") + " first")
        }
        /// The running queries whose statements no longer plan in `without`.
        func queriesNeeding(_ without: MemoryCatalog) -> [Job] {
            running.filter { j in
                guard !j.text.isEmpty, let st = Parser.parse(j.text).script.statements.first else { return false }
                do throws(EngineError) {
                    switch st.kind {
                    case .insert(let i): _ = try planQuery(i.query, without)
                    case .createStreamAs(let c): _ = try planQuery(c.query, without)
                    case .createAlert(let a): _ = try planAlert(a, without, span)
                    default: return false
                    }
                    return false
                } catch {
                    return true
                }
            }
        }
        /// The first view (by name) that no longer plans in `without`.
        func viewNeeding(_ without: MemoryCatalog) -> String? {
            without.views.values.filter { v in
                do throws(EngineError) { _ = try planQuery(v.query, without); return false } catch { return true }
            }.map(\.name).min()
        }
        func refuseIfNeeded(_ without: MemoryCatalog, _ what: String, _ shown: String) throws(EngineError) {
            let queries = queriesNeeding(without)
            if !queries.isEmpty { throw inUse(queries, what) }
            if let v = viewNeeding(without) { throw refuse("plan.in-use", "view \(v) reads \(what) \(shown)", help: "DROP VIEW \(v) first") }
        }
        switch d.kind {
        case .table:
            guard let def = cat.table(named: name) else {
                if d.ifExists { return }
                throw refuse("bind.unknown-table", "no table named '\(name)'")
            }
            var without = cat
            without.tables[key] = nil
            try refuseIfNeeded(without, "table", def.name)
            cat = without
            pending.append(.dropTable(def.name))
            pending.append(.print("dropped table \(def.name)"))
        case .view:
            guard cat.view(named: name) != nil else {
                if d.ifExists { return }
                throw refuse("bind.unknown-view", "no view named '\(name)'")
            }
            let shown = cat.views[key]?.name ?? name
            var without = cat
            without.views[key] = nil
            try refuseIfNeeded(without, "view", shown)
            cat = without
            pending.append(.print("dropped view \(shown)"))
        case .firehose:
            let names = DeliveryStream.list(store: store)
            guard let shown = names.first(where: { $0.lowercased() == key }) else {
                if d.ifExists { return }
                throw refuse("bind.unknown-firehose", "no firehose named '\(name)'")
            }
            guard firehoses.contains(where: { $0.config.name == shown }) || pending.contains(where: { if case .ensureFirehose(let c, _) = $0 { return c.name == shown } else { return false } }) else {
                throw refuse("plan.unsupported", "firehose \(shown) was not created by CREATE FIREHOSE here (the Firehose API's delivery runs it)",
                             help: "aws firehose delete-delivery-stream --delivery-stream-name \(shown) deletes it")
            }
            // A direct-put firehose is a stream too: queries may read it.
            var without = cat
            without.streams[key] = nil
            let writers = users(reading: false)
            if !writers.isEmpty { throw inUse(writers, "firehose") }
            try refuseIfNeeded(without, "firehose", shown)
            cat = without
            pending.append(.dropFirehose(shown))
            pending.append(.print("dropped firehose \(shown) (what it held was delivered first)"))
        case .stream:
            guard let def = cat.stream(named: name) else {
                if d.ifExists { return }
                throw refuse("bind.unknown-stream", "no stream named '\(name)'")
            }
            if [Engine.errorStreamDefinition.name, Engine.metricsStreamName].contains(where: { $0.lowercased() == key }) {
                throw refuse("plan.built-in", "\(def.name) is built in; it cannot be dropped")
            }
            // The query of CREATE STREAM ... AS goes with its stream; any other user holds it.
            let js = users(reading: true)
            let own = js.filter { $0.label.lowercased() == "create stream " + key }
            let others = js.filter { j in !own.contains { $0 === j } }
            if !others.isEmpty { throw inUse(others, "stream") }
            if let reader = DeliveryStream.readers(of: def.name, store: store).first {
                throw refuse("plan.in-use", "stream \(def.name) is read by firehose \(reader)")
            }
            var without = cat
            without.streams[key] = nil
            if let v = viewNeeding(without) { throw refuse("plan.in-use", "view \(v) reads stream \(def.name)", help: "DROP VIEW \(v) first") }
            cat.streams[key] = nil
            for j in own { pending.append(.dropQuery(j.id, ifExists: true)) }
            pending.append(.print("dropped stream \(def.name) (its records stay in the store; sluice stream delete \(def.name) removes them)"))
        case .sink:
            guard let def = sinkDefs[key] else {
                if d.ifExists { return }
                throw refuse("bind.unknown-sink", "no sink named '\(name)'")
            }
            let js = users(reading: false)
            if !js.isEmpty { throw inUse(js, "sink") }
            sinkDefs[key] = nil
            pending.append(.print("dropped sink \(def.name)"))
        case .query:
            return  // (DROP QUERY n is prepared apart: it names a number)
        case .alert:
            guard let job = running.first(where: { $0.label.lowercased() == "alert " + key }) else {
                if d.ifExists { return }
                throw refuse("bind.unknown-alert", "no alert named '\(name)' runs")
            }
            pending.append(.dropQuery(job.id, ifExists: true))
            pending.append(.print("dropped alert \(name)"))
        }
    }

    /// A statement in canonical form on one line.
    static func oneLine(_ s: Statement) -> String {
        var text = Printer.print(s).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        while text.hasSuffix(";") || text.hasSuffix(" ") { text.removeLast() }
        return text
    }

    /// A stream may not take a view's name (the view would hide it).
    private func notAView(_ name: Identifier, _ cat: MemoryCatalog, _ span: SourceSpan) throws(EngineError) {
        guard cat.view(named: name.name) != nil else { return }
        throw EngineError(diagnostics: [Diagnostic(id: "plan.duplicate-name", message: "'\(name.name)' is already a view", span: span)])
    }

    static func define(_ c: CreateStream, _ span: SourceSpan) throws(EngineError) -> StreamDefinition {
        do {
            return try Planner.streamDefinition(c, span: span)
        } catch {
            throw EngineError(diagnostics: error.diagnostics)
        }
    }

    static func text(_ v: OptionValue?) -> String? {
        switch v {
        case .string(let s)?: return s
        case .name(let n)?: return n.name
        case .number(let n)?: return n
        case .bool(let b)?: return b ? "true" : "false"
        default: return nil
        }
    }

    /// The options of CREATE STREAM that the engine acts on, checked before anything runs.
    func checkOptions(_ def: StreamDefinition, _ cat: MemoryCatalog, _ span: SourceSpan) throws(EngineError) {
        func bad(_ m: String, _ help: String? = nil) -> EngineError {
            EngineError(diagnostics: [Diagnostic(id: "plan.bad-option", message: m, span: span, help: help)])
        }
        if Engine.isRemote(def), case .failure(let d) = remoteOptions(def) {
            var d = d
            d.span = span
            throw EngineError(diagnostics: [d])
        }
        let format = Engine.text(def.options["format"]) ?? "json"
        guard format == "json" || format == "csv" else { throw bad("format must be 'json' or 'csv', not '\(format)'") }
        if let b = Engine.text(def.options["bad_records"]), !["error_stream", "drop", "fail"].contains(b) {
            throw bad("bad_records must be 'error_stream', 'drop' or 'fail', not '\(b)'",
                      closestMatch(b, in: ["error_stream", "drop", "fail"]).map { "did you mean '\($0)'?" })
        }
        if let l = Engine.text(def.options["late_records"]), l != "drop", l != "error_stream" {
            guard l.lowercased() != def.name.lowercased() else { throw bad("late_records cannot send a stream's late records back into itself") }
            guard cat.stream(named: l) != nil else {
                throw bad("late_records must be 'drop', 'error_stream' or the name of a stream declared before this one, not '\(l)'",
                          closestMatch(l, in: ["drop", "error_stream"] + cat.streamNames).map { "did you mean '\($0)'?" })
            }
        }
        if let t = Engine.text(def.options["idle_timeout"]), Units.millis(t).map({ $0 <= 0 }) ?? true {
            throw bad("idle_timeout must be a positive duration such as '30s', '500ms' or '2m', not '\(t)'")
        }
        if let v = def.options["state_ttl"] {
            var ms: Int64? = nil
            if case .interval(let i) = v { ms = i.millis } else if let t = Engine.text(v) { ms = Units.millis(t) }
            guard let m = ms, m > 0 else { throw bad("state_ttl must be a positive duration such as '1h' or '10m', not '\(Engine.text(v) ?? "that")'") }
        }
    }

    /// Puts a late record into the stream its source names in `late_records`.
    func forward(_ f: RecordFailure, to stream: String) throws(EngineError) {
        guard let data = f.data else { return }
        do {
            _ = try store.putRecord(stream: stream, data: Array(data.utf8), partitionKey: f.sequenceNumber ?? f.kind)
        } catch {
            throw EngineError.io("late_records: cannot put into stream \(stream): \(error)")
        }
    }

    /// Creates the stream in the store unless it exists (then it is attached as it is).
    func ensureStream(_ def: StreamDefinition) throws(EngineError) {
        // A remote stream is there or not at its endpoint: a query that reads it says which.
        if Engine.isRemote(def) { return }
        do {
            _ = try store.describeStreamSummary(name: def.name)
            return
        } catch where error.code == .resourceNotFound {
        } catch {
            throw EngineError.io("\(error)")
        }
        let shards = Int(Engine.text(def.options["shards"]) ?? "1") ?? 1
        var hours = 24
        if let r = Engine.text(def.options["retention"]) {
            hours = r.hasSuffix("h") ? Int(r.dropLast()) ?? 24 : r.hasSuffix("d") ? (Int(r.dropLast()) ?? 1) * 24 : Int(r) ?? 24
        }
        do {
            try store.createStream(name: def.name, shardCount: shards, retentionHours: hours)
        } catch {
            throw EngineError.io("cannot create stream \(def.name): \(error)")
        }
    }

    /// A running query's operators (EXPLAIN n): its line of SHOW QUERIES, then its physical plan
    /// with the rows that entered each operator so far and the records each source read.
    func explainRunning(_ id: Int) throws(EngineError) -> String {
        guard let job = jobs.first(where: { !$0.ephemeral && $0.id == id }) else {
            let ids = runningQueries.map { String($0.id) }
            throw EngineError(diagnostics: [Diagnostic(id: "plan.unknown-query", message: "no running query \(id)", span: nil,
                                                       help: ids.isEmpty ? "no query runs" : "running: " + ids.joined(separator: ", "))])
        }
        let shown = listing(.queries).split(separator: "\n").first { $0.hasPrefix(job.counters.name + ":") }.map(String.init) ?? job.counters.name
        // (Between its steps: its operators are its thread's.)
        let plan = job.observed { j in Engine.physical(j.plan, running: (j.pipeline, j.pipeline.rowsIn, j.inputs.map(\.recordsIn))) }
        return shown + "\n" + plan
    }

    /// The operators that run a plan, top down, the sources under them. For a running query
    /// (`running`: its pipeline, the rows that entered each stage, the records each source
    /// read), each line ends with its count.
    static func physical(_ plan: LogicalPlan, running: (Pipeline, [Int64], [Int64])? = nil) -> String {
        let p = running?.0 ?? Pipeline(plan)
        var lines: [String] = []
        for (i, s) in p.stages.enumerated().reversed() {
            defer { if let r = running, i < r.1.count { lines[lines.count - 1] += " (\(r.1[i]) rows in)" } }
            switch s {
            case .filter(let e): lines.append("FilterExec: \(e)")
            case .project(let exprs, let schema): lines.append("ProjectExec: \(schema.fields.map(\.name).joined(separator: ", ")) (\(exprs.count) expressions)")
            case .window(_, _, let op, _):
                lines.append(op.explain)
            case .aggregate(_, _, let op, _):
                lines.append("AggregateExec: keys=\(op.keys) aggregates=[\(op.aggregates.map(\.function.rawValue).joined(separator: ", "))] emit=changes")
            case .over(_, _, let op, _): lines.append(op.explain)
            case .anomaly(_, _, let op, _): lines.append(op.explain)
            case .intervalJoin(let j): lines.append(j.op.explain)
            case .union: lines.append("UnionExec: 2 inputs")
            case .hopRows(_, let size, let advance, _): lines.append("HopRowsExec: size=\(size)ms advance=\(advance)ms")
            case .lookup(let l):
                lines.append("LookupJoinExec: \(l.left ? "left" : "inner") \(l.table.definition.name) keys=\(l.tableKeys.count)" + (l.residual == nil ? "" : " with a residual condition"))
            case .limit(let n): lines.append("LimitExec: \(n)")
            case .topN(let t):
                lines.append("TopNExec: \(t.op.function.rawValue) limit=\(t.op.limit) keys=\(t.partition.count) order=\(t.order.count)"
                             + (t.op.windowed ? " per window" : " emit=changes"))
            }
        }
        // The sources sit under the last operator, side by side for a join of two streams.
        let depth = lines.count
        for (k, src) in sourceNodes(plan).enumerated() {
            let decode = Engine.text(src.stream.options["format"]) ?? "json"
            // A remote stream says where it is read and how.
            let o = src.stream.options
            let remote = isRemote(src.stream)
                ? " remote=kinesis:\(text(o["stream"]) ?? text(o["stream_arn"]) ?? "")"
                    + (text(o["consumer"]).map { " read=fan-out(consumer \($0))" } ?? " read=polling")
                    + (text(o["application"]).map { " application=\($0)" } ?? "")
                : ""
            lines.append(String(repeating: "  ", count: depth) + "StreamSourceExec: \(src.stream.name) decode=\(decode) fields=[\(src.columns.map(\.name).joined(separator: ", "))]"
                         + remote + (src.predicate.map { " filter=\($0.text)" } ?? "")
                         + (running.flatMap { k < $0.2.count ? " (\($0.2[k]) records read)" : nil } ?? ""))
        }
        return lines.enumerated().map { $0.offset < depth ? String(repeating: "  ", count: $0.offset) + $0.element : $0.element }.joined(separator: "\n")
    }

    /// Every source of a plan, left to right (two for a join of two streams).
    static func sourceNodes(_ p: LogicalPlan) -> [SourceNode] { Planner.sourceNodes(of: p) }

    static func sourceNode(_ p: LogicalPlan) -> SourceNode? {
        switch p {
        case .source(let s): return s
        case .filter(let c, _), .project(let c, _, _), .limit(let c, _), .over(let c, _), .anomaly(let c, _), .lookupJoin(let c, _), .intervalJoin(let c, _, _),
             .union(let c, _), .windowRows(let c, _, _, _): return sourceNode(c)
        case .windowAggregate(let c, _, _, _, _, _, _), .aggregate(let c, _, _, _, _, _), .topN(let c, _): return sourceNode(c)
        }
    }

    // MARK: - Inputs

    /// Puts the lines of a file into a declared stream through the normal put path; the partition
    /// key comes from the stream's `partition_key` field (or CSV column), else round robin.
    /// Returns the number of records put.
    @discardableResult
    /// With `pace` (a speed: 1 = as recorded), records are put one at a time, each when as much
    /// wall time has passed since the first as event time (the stream's WATERMARK column) has,
    /// divided by the speed; `stop` is asked between records. Returns the records put.
    public func loadInput(stream name: String, path: String, pace: Double? = nil, stop: () -> Bool = { false }) throws(EngineError) -> Int {
        let loader = try inputLoader(stream: name, path: path, pace: pace)
        loader.run(stop: stop)
        finish(loader)
        if let f = loader.failure { throw EngineError.io(f) }
        return loader.put
    }

    /// A load of a file into a declared stream, to run where the caller likes (`run()` on a
    /// thread of its own: it touches only the store), then to hand back to `finish(_:)` on the
    /// engine's thread.
    public func inputLoader(stream name: String, path: String, pace: Double? = nil, arrival: RecordedArrival? = nil) throws(EngineError) -> InputLoader {
        guard let def = catalog.stream(named: name) else {
            throw EngineError(message: "--input names stream '\(name)', which the query file does not declare")
        }
        if pace != nil {
            guard let w = def.watermark, def.columns.contains(where: { $0.name.lowercased() == w.column.lowercased() }) else {
                throw EngineError(message: "stream \(def.name) has no WATERMARK column to pace the records by")
            }
        }
        return InputLoader(definition: def, path: path, pace: pace, arrival: arrival, store: store)
    }

    /// What a load found that the engine reports: its oversized records go to error_stream.
    public func finish(_ loader: InputLoader) {
        let oversized = loader.oversized
        for f in oversized { reportError(f, source: loader.stream) }
        if !oversized.isEmpty {
            let n = oversized.count, max = store.configuration.maxRecordBytes
            emit("input", query: nil, "\(n) record\(n == 1 ? "" : "s") of \(loader.path) \(n == 1 ? "was" : "were") over \(max) bytes and went to error_stream",
                 [("stream", .string(loader.stream)), ("file", .string(loader.path)), ("oversized", .int(Int64(n)))])
        }
        if let a = loader.arrival, loader.undated > 0 {
            let n = loader.undated
            emit("input", query: nil, "warning: \(n) record\(n == 1 ? "" : "s") of \(loader.path) had no time in \(a.field); each arrived with the record before it",
                 [("stream", .string(loader.stream)), ("file", .string(loader.path)), ("undated", .int(Int64(n)))])
        }
    }

    /// Loads the inputs one after another on a thread of their own while this thread runs the
    /// queries that read them, so a replay takes about as long as the slower of the two; each load
    /// is handed to `loaded` (and its oversized records reported) as it ends. `stop` stops the
    /// loads. What is left to read after the last one is the caller's: until the end, or on.
    public func run(whileLoading loaders: [InputLoader], stop: @escaping @Sendable () -> Bool = { false },
                    loaded: (InputLoader) -> Void = { _ in }) throws(EngineError) {
        guard !loaders.isEmpty else { return }
        let done = Atomic<Bool>(false)
        let thread = Thread {
            for l in loaders {
                l.run(stop: stop)
                if l.failure != nil { break }
            }
            done.store(true, ordering: .releasing)
        }
        thread.stackSize = 8 << 20
        thread.start()
        func join() { while !done.load(ordering: .acquiring) { usleep(100) } }
        var pending = loaders[...]
        while let l = pending.first {
            let busy: Bool
            do { busy = try step() } catch {
                for l in loaders { l.stop() }
                join()
                throw error
            }
            if l.finished {
                pending.removeFirst()
                finish(l)
                if let f = l.failure {
                    for l in loaders { l.stop() }
                    join()
                    throw EngineError.io(f)
                }
                loaded(l)
            } else if !busy {
                usleep(200)
            }
        }
        join()
    }

    // MARK: - Running

    /// Starts a query whose rows are handed to `onRows` as they are emitted (tests, the REPL).
    /// Returns the output column names.
    @discardableResult
    public func start(query: Query, label: String, onRows: @escaping ([[Value]]) -> Void) throws(EngineError) -> [String] {
        let plan = try planQuery(query, catalog)
        try start(plan, CallbackSink(onRows), label)
        return plan.schema.map(\.name)
    }

    func start(_ plan: LogicalPlan, _ sink: any RowSink, _ label: String, writes: String? = nil, text: String = "") throws(EngineError) {
        let sources = Engine.sourceNodes(plan)
        guard !sources.isEmpty else { throw EngineError(message: "a query without a source") }
        try ensureBuiltIn(sources)
        let job = try Job(id: nextQueryId, label: label, plan: plan, sources: sources, sink: sink, engine: self)
        job.writes = writes
        job.text = text
        nextQueryId += 1
        jobs.append(job)
        emit(job.resumed ? "resume" : "start", query: job.counters.name, job.resumed ? "resumed from its checkpoint" : "started",
             [("sources", .array(sources.map { .string($0.stream.name) }))])
        if threadedQueries {
            job.runner = QueryRunner(job, engine: self)
            job.runner?.start()
        }
    }

    /// A running persistent query: its number, what started it, its counters.
    public struct RunningQuery: Sendable {
        public var id: Int
        public var label: String
        public var counters: QueryCounters
    }

    /// The persistent queries that run, by number.
    public var runningQueries: [RunningQuery] {
        jobs.filter { !$0.ephemeral && !$0.observed(\.done) }.map { j in RunningQuery(id: j.id, label: j.label, counters: j.observed(\.counters)) }
    }

    /// `DROP QUERY n`: stops query n, closes its sink, removes its checkpoint (a later query of
    /// the same text starts afresh) and frees the files it wrote for other queries.
    public func dropQuery(_ id: Int) throws(EngineError) {
        guard let job = jobs.first(where: { !$0.ephemeral && $0.id == id && !$0.observed(\.done) }) else {
            let ids = runningQueries.map { String($0.id) }
            throw EngineError(diagnostics: [Diagnostic(id: "plan.unknown-query", message: "no running query \(id)", span: nil,
                                                       help: ids.isEmpty ? "no query runs" : "running: " + ids.joined(separator: ", "))])
        }
        job.runner?.stop()
        try? job.sink.close()
        job.done = true
        jobs.removeAll { $0 === job }
        try? FileManager.default.removeItem(atPath: job.checkpointPath)
        claimedFiles = claimedFiles.filter { $0.value != job.counters.name }
        emit("drop", query: job.counters.name, "dropped: stopped, its checkpoint removed")
    }

    /// Runs every query until every source is read to its end, then ends the input (the
    /// watermark becomes +infinity, so every window closes) and closes the sinks.
    public func runUntilEnd() throws(EngineError) {
        stopRunners()
        // A worker's shared queries run until there is nothing left for it (every shard's lease
        // held by a live worker, its own lanes caught up), then stop at a checkpoint and let
        // their leases go: a shared stream has no end of input.
        var lastCheck: Int64? = nil
        while !scaleOuts.isEmpty {
            var busy = false
            for q in scaleOuts { busy = try q.step() || busy }
            // Whether all is read is asked of the endpoints at most twice a second.
            let now = clock.nowMillis()
            if !busy, lastCheck.map({ now - $0 >= 500 }) ?? true {
                lastCheck = now
                if try scaleOutsCaughtUp() {
                    for q in scaleOuts { try q.stop() }
                    scaleOuts = []
                    continue
                }
            }
            if !busy { usleep(20_000) }
        }
        while true {
            refreshTables()
            var busy = false
            for j in jobs where !j.done { busy = try j.step() || busy }
            busy = try deliver() || busy
            if !busy { break }
        }
        try finishAll()
    }

    /// Whether every shared query of this worker has read what its stream holds (see `ScaleOutQuery.caughtUp`).
    func scaleOutsCaughtUp() throws(EngineError) -> Bool {
        for q in scaleOuts where !(try q.caughtUp()) { return false }
        return true
    }

    /// Ends every query, each after the queries writing the streams it reads, and lets the others
    /// read what each one emitted as it ended (a derived stream's last windows reach its readers).
    func finishAll() throws(EngineError) {
        while true {
            let open = jobs.filter { !$0.done }
            guard let first = open.first else { break }
            let written = Set(open.flatMap { $0.sink.streamsWritten.map { $0.lowercased() } })
            let next = open.first { !$0.inputs.contains { written.contains($0.source.stream.name.lowercased()) } } ?? first
            try next.finish()
            while true {
                var busy = false
                for j in jobs where !j.done { busy = try j.step() || busy }
                if !busy { break }
            }
        }
        try flushFirehoses()
    }

    /// One pass over every query; returns whether any read something.
    public func runStep() throws(EngineError) -> Bool { try step() }

    /// One pass over every query; returns whether any read something.
    public func step() throws(EngineError) -> Bool {
        refreshTables()
        var busy = false
        for j in jobs where j.runner == nil && !j.done {
            guard isolateFailures && !j.ephemeral else {
                busy = try j.step() || busy
                continue
            }
            do { busy = try j.step() || busy } catch {
                fail(j, error)
            }
        }
        for q in scaleOuts { busy = try q.step() || busy }
        busy = try deliver() || busy
        busy = try emitMetricsIfDue() || busy
        return busy
    }

    /// Ends the queries' own threads (after the step each is in): from here this thread steps
    /// them, to their end or to a checkpoint.
    func stopRunners() {
        for j in jobs where j.runner != nil {
            j.runner?.stop()
            j.runner = nil
        }
    }

    deinit { stopRunners() }

    /// One query fails (a bad record under bad_records = 'fail', a sink that cannot write): it
    /// stops, marked FAILED with the reason; the others go on.
    func fail(_ j: Job, _ error: EngineError) {
        j.failure = error.description
        j.done = true
        emit("failed", query: j.counters.name, "failed: \(error.description)", [("reason", .string(error.description))])
    }

    /// Re-reads the reference tables whose refresh interval has passed. A table that fails to load
    /// keeps its last good version; the failure goes to the error stream (kind `table`).
    func refreshTables() {
        let now = clock.nowMillis()
        for t in tables.values {
            if let e = t.refreshIfDue(now: now) {
                reportError(RecordFailure(kind: "table", message: "\(e); keeping version \(t.version)", data: nil), source: t.definition.name)
            }
        }
    }

    /// SHOW STREAMS | FIREHOSES | TABLES | SINKS | QUERIES as text, a line per object.
    func listing(_ target: ShowTarget) -> String {
        var lines: [String] = []
        switch target {
        case .streams:
            let firehoses = Set(DeliveryStream.list(store: store).map { $0.lowercased() })
            for name in catalog.streamNames where !firehoses.contains(name.lowercased()) {
                let def = catalog.stream(named: name)!
                let shards = (try? store.describeStreamSummary(name: name).openShardCount).map { "\($0) shards" } ?? "not created yet"
                let time = def.watermark.map { "event time \($0.column) - \(Duration(millis: $0.delayMillis))" } ?? "processing time"
                lines.append("\(name): \(def.columns.count) columns, \(shards), \(time)")
            }
        case .firehoses:
            for name in DeliveryStream.list(store: store) {
                guard let c = try? DeliveryStream.load(name: name, store: store) else { continue }
                lines.append("\(name): to file:\(c.directory), \(c.bufferSizeBytes >> 20) MB / \(c.bufferIntervalMillis / 1000) s, \(c.compression.rawValue)"
                             + (c.sourceStream.map { ", reading \($0)" } ?? ""))
            }
        case .sinks:
            for s in sinks.values.sorted(by: { $0.name < $1.name }) {
                lines.append("\(s.name): \(s.type)" + (s.path.map { " \($0)" } ?? "") + " (\(s.format.rawValue))")
            }
        case .queries:
            for (j, c) in zip(jobs, counters) {
                let state = j.observed { j in j.failure.map { "FAILED (\($0))" } ?? (j.done ? "DONE" : "RUNNING") }
                var line = "\(c.name): \(state), \(c.recordsIn) records in, \(c.rowsOut) rows out, \(c.late) late, \(c.bad) bad"
                if let w = c.watermark, w != WatermarkTracker.infinity {
                    line += ", watermark \(TimeFormat.iso8601(w))" + (c.watermarkLagMillis.map { " (\(TimeFormat.human(millis: $0)) behind the newest event)" } ?? "")
                }
                if c.throttled > 0 || c.retried > 0 { line += ", \(c.throttled) throttled, \(c.retried) retried (remote calls)" }
                if !j.text.isEmpty { line += " -- " + j.text }
                lines.append(line)
            }
        case .tables:
            for name in catalog.tableNames {
                guard let t = tables[name.lowercased()] else { continue }
                let d = t.definition
                var line = "\(d.name): \(t.rows.count) rows from \(d.file) (\(d.format)), version \(t.version)"
                line += d.refreshMillis.map { ", refreshed every \(Duration(millis: $0))" } ?? ", read once"
                if let e = t.lastError { line += "; the last refresh failed, keeping version \(t.version): \(e)" }
                lines.append(line)
            }
        case .alerts:
            return Engine.render(alertStatus)
        }
        return lines.isEmpty ? "no \(target.rawValue.lowercased())" : lines.joined(separator: "\n")
    }

    /// One poll of every firehose: new records buffered, due buffers delivered.
    func deliver() throws(EngineError) -> Bool {
        var busy = false
        for d in firehoses {
            do { busy = try d.poll() || busy } catch { throw EngineError(message: "firehose \(d.config.name): \(error.description)") }
        }
        return busy
    }

    /// Delivers everything the firehoses hold (shutdown: buffers flush whatever their hints).
    func flushFirehoses() throws(EngineError) {
        for d in firehoses {
            do {
                while try d.poll() {}
                try d.flushAll()
            } catch {
                throw EngineError(message: "firehose \(d.config.name): \(error.description)")
            }
        }
    }

    /// Ends every query: windows close, sinks close; firehoses deliver what they hold.
    public func finish() throws(EngineError) {
        stopRunners()
        try finishAll()
    }

    /// Takes a checkpoint of every running query now.
    public func checkpoint() throws(EngineError) {
        for j in jobs { try j.observed { j throws(EngineError) in if !j.done { try j.checkpoint() } } }
    }

    /// Stops every running query at a checkpoint without ending its input: open windows are kept
    /// in the checkpoint, and running the same file again over the same data directory continues.
    public func stop() throws(EngineError) {
        stopRunners()
        for j in jobs where !j.done { try j.stop() }
        for q in scaleOuts { try q.stop() }
        scaleOuts = []
        try flushFirehoses()
    }

    /// How many streams a query reads (two for a join of two streams).
    public static func sourceCount(_ q: Query, _ e: Engine) -> Int {
        (try? e.planQuery(q, e.catalog)).map { sourceNodes($0).count } ?? 1
    }

    // MARK: - Replaying a file

    /// Runs a query straight over a file of records (JSON lines, or CSV as the source stream
    /// declares), without the stream store: the file is one ordered source, and its end ends the
    /// input. For benchmarks and batch replays. Rows go to `onRows`.
    public func replay(query: Query, file path: String, onRows: @escaping ([[Value]]) -> Void) throws(EngineError) -> QueryCounters {
        let plan = try planQuery(query, catalog)
        let sources = Engine.sourceNodes(plan)
        guard let first = sources.first else { throw EngineError(message: "a query without a source") }
        // A replay reads one file: a join replays it into both sides (a self-join).
        guard sources.allSatisfy({ $0.stream.name.lowercased() == first.stream.name.lowercased() }) else {
            throw EngineError(message: "a replay reads one file, and this query joins two different streams")
        }
        let pipeline = Pipeline(plan, tables: tables)
        // Every source reads each line: one decoder reads it once for all (a self-join decodes
        // each record once, not once per side).
        let merged = MergedSources(sources)
        var decoder = SourceDecoder(source: merged.source)
        if decoder.needsCSV {
            let delimiter = (Engine.text(first.stream.options["delimiter"]) ?? ",").utf8.first ?? 44
            decoder.use(csv: Job.positional(decoder.fieldSpecs, first.stream, delimiter))
        }
        let predicates = sources.map { $0.predicate.map(Lowering.expr) }
        var tracker = WatermarkTracker(delayMillis: first.stream.watermark?.delayMillis ?? 0, idleTimeoutMillis: nil)
        var counters = QueryCounters(name: "replay of \(path)")
        var lastWatermark = Int64.min
        func deliver(_ rows: [[Value]]) {
            if !rows.isEmpty {
                counters.rowsOut += Int64(rows.count)
                onRows(rows)
            }
        }
        func advance(_ w: Int64, now: Int64) -> [[Value]] {
            pipeline.advanceInputs(Array(repeating: w, count: sources.count), now: now)
        }
        func flush() {
            guard decoder.count > 0 else { return }
            let now = clock.nowMillis()
            var rows: [[Value]] = []
            if sources.count == 1 && pipeline.judgesLateness {
                // Record by record in effect, as a stream job: each row meets the watermark the
                // rows before it left, whatever the size of the chunks read.
                let (batch, _) = decoder.finish()
                var times = [Int64](repeating: .min, count: batch.count)
                if let c = decoder.eventTimeColumn, case .int(let ts) = batch.columns[c].storage {
                    if let valid = batch.columns[c].valid {
                        for r in 0..<batch.count where valid[r] { times[r] = ts[r] }
                    } else {
                        times = Array(ts)
                    }
                }
                let marks = tracker.watermarksBefore(["file"], [], times, now: now)
                var start = 0
                for r in 0..<batch.count where times[r] != .min && pipeline.couldBeLate(times[r], at: marks[r]) {
                    if start < r { rows += pipeline.pushSource(batch, rows: start..<r, predicate: predicates[0], now: now) }
                    if marks[r] > lastWatermark {
                        lastWatermark = marks[r]
                        rows += advance(marks[r], now: now)
                    }
                    rows += pipeline.pushSource(batch, rows: r..<(r + 1), predicate: predicates[0], now: now)
                    start = r + 1
                }
                if start < batch.count { rows += pipeline.pushSource(batch, rows: start..<batch.count, predicate: predicates[0], now: now) }
                let w = tracker.watermark(now: now)
                if w > lastWatermark {
                    lastWatermark = w
                    rows += advance(w, now: now)
                }
                deliver(rows)
                return
            }
            let (batch, maxTime) = decoder.finish()
            if let t = maxTime { tracker.observe(shard: "file", maxEventTime: t, now: now) }
            for i in sources.indices {
                rows += pipeline.push(pipeline.sourceFilter(predicates[i], merged.batch(i, of: batch), now: now), source: i, now: now)
            }
            let w = tracker.watermark(now: now)
            if w > lastWatermark {
                lastWatermark = w
                rows += advance(w, now: now)
            }
            deliver(rows)
        }
        var arrival = clock.nowMillis()
        // (CSV records are read as RFC 4180 has them: a quoted field may hold a line break.)
        let csvDelimiter: UInt8? = decoder.csv != nil ? (Engine.text(first.stream.options["delimiter"]) ?? ",").utf8.first ?? 44 : nil
        func records(_ body: (UnsafeRawBufferPointer, Int) throws(EngineError) -> Void) throws(EngineError) {
            if let d = csvDelimiter {
                try forEachCSVRecord(path, delimiter: d, chunk: { arrival = clock.nowMillis() }, body)
            } else {
                try forEachNumberedLine(path, chunk: { arrival = clock.nowMillis() }, body)
            }
        }
        try records { line, _ throws(EngineError) in
            counters.recordsIn += 1
            if decoder.add(line, arrival: arrival) != nil { counters.bad += 1 }
            if decoder.count == 4096 { flush() }
        }
        flush()
        tracker.endOfInput()
        deliver(advance(WatermarkTracker.infinity, now: clock.nowMillis()))
        counters.late = Int64(pipeline.failures.filter { $0.kind == "late" }.count)
        counters.bad += Int64(pipeline.failures.filter { $0.kind != "late" }.count)
        return counters
    }

    // MARK: - The error stream

    /// Per stream and shard, the last sequence number whose decode failure was reported: every
    /// query reading a stream decodes it, and a bad record is reported once, not once per query.
    private var decodeReportedThrough: [String: String] = [:]

    /// KDA's ERROR_NAME for a kind of failure.
    static func kdaErrorName(_ kind: String) -> String {
        switch kind {
        case "decode": return "ParseError"
        case "late": return "LateRow"
        case "eval": return "ExpressionError"
        case "load": return "RecordTooLarge"
        default: return kind.prefix(1).uppercased() + kind.dropFirst() + "Error"
        }
    }

    /// Puts a failed record into `error_stream` (DIALECT.md §5): Sluice's columns and KDA's (`ERROR_LEVEL`, `ERROR_NAME`,
    /// `DATA_ROWTIME`, `DATA_ROW` hex-encoded as KDA wrote it, `PUMP_NAME` for a pump's query).
    func reportError(_ f: RecordFailure, source: String, query: String? = nil) {
        services.lock()
        defer { services.unlock() }
        if f.kind == "decode", let shard = f.shardId, let seq = f.sequenceNumber {
            let key = source + "\u{0}" + shard
            // Sequence numbers are decimals: longer is larger, equal lengths compare as text.
            if let last = decodeReportedThrough[key], (seq.count, seq) <= (last.count, last) { return }
            decodeReportedThrough[key] = seq
        }
        if !errorStreamReady {
            errorStreamReady = true
            try? ensureStream(Engine.errorStreamDefinition)
        }
        var o = JSONObject()
        o["error_time"] = .string(TimeFormat.iso8601(clock.nowMillis()))
        o["error_kind"] = .string(f.kind)
        o["message"] = .string(f.message)
        o["source"] = .string(source)
        o["shard_id"] = f.shardId.map { .string($0) } ?? .null
        o["sequence_number"] = f.sequenceNumber.map { .string($0) } ?? .null
        o["data"] = f.data.map { .string($0) } ?? .null
        o["ERROR_LEVEL"] = "ERROR"
        o["ERROR_NAME"] = .string(Engine.kdaErrorName(f.kind))
        o["DATA_ROWTIME"] = f.rowtime.map { .string(TimeFormat.iso8601($0)) } ?? .null
        o["DATA_ROW"] = f.data.map { .string(Array($0.utf8).map { String(format: "%02x", $0) }.joined()) } ?? .null
        o["PUMP_NAME"] = query.flatMap { $0.hasPrefix("PUMP ") ? .string(String($0.dropFirst(5))) : nil } ?? .null
        _ = try? store.putRecord(stream: "error_stream", data: Array(JSONValue.object(o).serialized().utf8), partitionKey: f.kind)
    }
}

/// Something a running engine reports: `start`, `resume`, `checkpoint`, `alert`; with the query it
/// concerns, a one-line message and machine-readable fields.
public struct EngineEvent: Sendable {
    public var event: String
    public var query: String?
    public var message: String
    public var fields: [(String, JSONValue)]
}


/// An ad-hoc SELECT (the REPL's, the SQL API's push queries): reads its streams from the start
/// of their retention, from their latest records or from each shard's last few (`ReadStart`),
/// hands rows to a function, keeps no checkpoint, and ends at its LIMIT or when stopped.
public final class AdHocQuery {
    let job: Job
    /// The result's column names.
    public let columns: [String]
    /// The result is updating: each row ends with its change kind (the `op` column, ChangeKind).
    public let emitsChanges: Bool

    init(job: Job, columns: [String], emitsChanges: Bool) {
        self.job = job
        self.columns = columns
        self.emitsChanges = emitsChanges
    }

    public var done: Bool { job.done }
    public var counters: QueryCounters { job.counters }
    /// The query's watermark (event time), if it has one yet.
    public var watermark: Int64? { job.lastWatermark == .min ? nil : job.lastWatermark }
    /// The newest event time the query has read, if any.
    public var newestEventTime: Int64? { job.inputs.compactMap(\.tracker.newestEventTime).max() }
}

extension Engine {
    /// Starts an ad-hoc SELECT in the current catalog (streams declared so far).
    public func startAdHoc(_ query: Query, from start: ReadStart, onRows: @escaping ([[Value]]) -> Void) throws(EngineError) -> AdHocQuery {
        let plan = try planQuery(query, catalog)
        let sources = Engine.sourceNodes(plan)
        guard !sources.isEmpty else { throw EngineError(message: "a query without a source") }
        // Its late records may go to another stream, as a file's SELECT's do.
        try refuseLoop(plan, writing: .stdout, [], span: nil)
        try ensureBuiltIn(sources)
        adHocCount += 1
        let job = try Job(id: jobs.count + 1, label: "SELECT", plan: plan, sources: sources, sink: CallbackSink(onRows), engine: self,
                          ephemeral: true, application: "sluice-adhoc-\(getpid())-\(adHocCount)")
        if start != .earliest {
            for input in job.inputs { input.consumer.seek(to: store.positions(start, stream: input.source.stream.name)) }
        }
        jobs.append(job)
        return AdHocQuery(job: job, columns: plan.schema.map(\.name), emitsChanges: plan.isUpdating)
    }

    /// Steps one ad-hoc query; returns whether it read anything.
    public func step(_ q: AdHocQuery) throws(EngineError) -> Bool {
        refreshTables()
        return q.job.done ? false : try q.job.step()
    }

    /// Ends an ad-hoc query's input: its open windows close and emit (a script's SELECT reads what
    /// the streams hold, then ends).
    public func finish(_ q: AdHocQuery) throws(EngineError) {
        try q.job.finish()
    }

    /// Ends an ad-hoc query (cancelled, or done) and forgets it.
    public func stop(_ q: AdHocQuery) {
        try? q.job.sink.close()
        q.job.done = true
        jobs.removeAll { $0 === q.job }
    }
}

extension Engine {
    /// A `SET` value as text (strings unquoted).
    public static func optionText(_ v: OptionValue) -> String? { text(v) }

    /// A declared stream as a CREATE STREAM statement that reads back as the same definition
    /// (columns, paths, WATERMARK, options): what a client of a server needs to load a file as
    /// the server would (keys, CSV header, pace).
    public func definitionStatement(_ name: String) -> String? {
        guard let s = catalog.stream(named: name) else { return nil }
        let quoted = Printer.quoted, literal = Printer.string
        var parts = s.columns.map { c in
            quoted(c.name) + " " + c.type.rawValue + (c.path.count == 1 && c.path[0] == c.name ? "" : " PATH " + literal("$." + c.path.joined(separator: ".")))
        }
        if let w = s.watermark { parts.append("WATERMARK FOR \(quoted(w.column)) AS \(quoted(w.column)) - INTERVAL '\(w.delayMillis)' MILLISECOND") }
        let options = s.options.keys.sorted().compactMap { k in Engine.text(s.options[k]).map { "\(k) = \(literal($0))" } }
        return "CREATE STREAM \(quoted(s.name)) (" + parts.joined(separator: ", ") + ")" + (options.isEmpty ? "" : " WITH (" + options.joined(separator: ", ") + ")")
    }

    /// The stream a CREATE STREAM statement (`definitionStatement`'s) declares.
    public static func streamDefinition(fromStatement text: String) -> StreamDefinition? {
        guard let st = Parser.parse(text).script.statements.first, case .createStream(let c) = st.kind else { return nil }
        return try? define(c, st.loc.span)
    }

    /// DESCRIBE: a declared stream's or table's columns (name, type, JSON path) and options, or nil.
    public func describe(_ name: String) -> String? {
        func row(_ c: SluicePlanner.ColumnDefinition) -> String {
            let path = c.path.count == 1 && c.path[0] == c.name ? "" : "  PATH '$." + c.path.joined(separator: ".") + "'"
            return "  \(c.name)  \(c.type.rawValue)\(path)"
        }
        if let s = catalog.stream(named: name) {
            var lines = ["stream \(s.name)"] + s.columns.map(row)
            if let w = s.watermark { lines.append("  WATERMARK FOR \(w.column) AS \(w.column) - \(w.delayMillis) ms") }
            // Where the stream's time comes from: a derived stream's query, or its declaration.
            let origin = s.timeOrigin ?? (s.watermark.map { "\($0.column), declared by its WATERMARK" } ?? "processing time: ROWTIME, when a record reached the stream (no WATERMARK)")
            lines.append("  -- event time: \(origin)")
            let options = s.options.keys.sorted().compactMap { k in Engine.text(s.options[k]).map { "\(k) = '\($0)'" } }
            if !options.isEmpty { lines.append("  WITH (" + options.joined(separator: ", ") + ")") }
            return lines.joined(separator: "\n")
        }
        if let t = catalog.table(named: name) {
            return (["table \(t.name)"] + t.columns.map(row)).joined(separator: "\n")
        }
        if let q = catalog.view(named: name), let plan = try? planQuery(q, catalog) {
            var lines = ["view \(catalog.viewNames.first { $0.lowercased() == name.lowercased() } ?? name)"]
            lines += plan.schema.map { "  \($0.name)  \($0.type.rawValue)" }
            lines.append("  AS " + Printer.inlineQuery(q))
            lines.append("  -- event time: " + (Planner.eventTime(of: plan).map { plan.schema[$0].name } ?? "none (its rows have no event-time column)"))
            return lines.joined(separator: "\n")
        }
        return nil
    }

    /// Names worth completing: declared streams and tables, and their columns.
    public var completionNames: [String] {
        var out = Set<String>()
        for n in catalog.streamNames {
            out.insert(n)
            for c in catalog.stream(named: n)?.columns ?? [] { out.insert(c.name) }
        }
        for n in catalog.tableNames {
            out.insert(n)
            for c in catalog.table(named: n)?.columns ?? [] { out.insert(c.name) }
        }
        return out.sorted()
    }
}

extension Engine {
    /// A query whose unnamed column items that share a name (`SELECT s.ROWTIME, o.ROWTIME`) are
    /// named apart (`ROWTIME_2`), as a KDA pump may have them: it fills columns by position. A
    /// ROWTIME it gives as a value is named apart too: the name is for the rows' own time.
    static func distinctNames(_ q: Query) -> Query {
        var r = q
        var seen: [String: Int] = [:]
        for (k, item) in q.items.enumerated() {
            guard case .expression(let e, nil, let loc) = item, case .column(_, let n) = e.kind else { continue }
            let key = n.name.uppercased()
            seen[key, default: 0] += 1
            if let count = seen[key], count > 1 || key == "ROWTIME" { r.items[k] = .expression(e, alias: Identifier(n.name + "_\(count)", quoted: true), loc: loc) }
        }
        r.unionAll = q.unionAll.map(distinctNames)
        return r
    }

    /// KDA's INSERT (a pump's): the query's columns fill the target stream's by position, the
    /// listed ones (`INSERT INTO s (a, b)`) or all of them, converted to their types (KDA's
    /// implicit conversions); columns not listed are NULL.
    static func byPosition(_ plan: LogicalPlan, into target: StreamDefinition, _ i: Insert, rowtime: Bool = false) throws(EngineError) -> LogicalPlan {
        func bad(_ m: String, _ help: String? = nil) -> EngineError {
            EngineError(diagnostics: [Diagnostic(id: "plan.insert-columns", message: m, span: i.target.loc.span, help: help)])
        }
        var filled: [Int] = []
        for c in i.columns {
            guard let k = target.columns.firstIndex(where: { c.quoted ? $0.name == c.name : $0.name.lowercased() == c.name.lowercased() }) else {
                throw bad("\(target.name) has no column \(c.name)", closestMatch(c.name, in: target.columns.map(\.name)).map { "did you mean \($0)?" })
            }
            guard !filled.contains(k) else { throw bad("column \(c.name) is listed twice") }
            filled.append(k)
        }
        if i.columns.isEmpty { filled = Array(target.columns.indices) }
        // A target that declares no columns (a firehose taking whole records) takes the rows as they are.
        if target.columns.isEmpty && i.columns.isEmpty { return plan }
        var schema = plan.schema
        // The ROWTIME `rowtimeForms` added comes last and passes through as it is.
        let time = rowtime ? schema.popLast() : nil
        guard schema.count == filled.count else {
            throw bad("the query gives \(schema.count) column\(schema.count == 1 ? "" : "s") for the \(filled.count) of \(target.name) it fills",
                      "the SELECT list fills \(filled.map { target.columns[$0].name }.joined(separator: ", ")) in that order")
        }
        var exprs: [BoundExpr] = []
        for (k, column) in target.columns.enumerated() {
            guard let from = filled.firstIndex(of: k) else { exprs.append(.literal(.null, column.type)); continue }
            let e = BoundExpr.column(from, name: schema[from].name, schema[from].type)
            exprs.append(schema[from].type == column.type ? e : .cast(e, column.type))
        }
        var names = target.columns.map(\.name)
        if let t = time {
            exprs.append(.column(schema.count, name: t.name, t.type))
            names.append("ROWTIME")
        }
        return .project(plan, exprs, names: names)
    }

    /// A pump's error told in the terms of KDA's SQL where they differ from Sluice's: a GROUP BY
    /// without a monotonic key is what KDA refused as such.
    static func inKDATerms(_ e: EngineError) -> EngineError {
        var e = e
        e.diagnostics = e.diagnostics.map { d in
            guard d.id == "plan.unwindowed-aggregate-needs-emit-changes" else { return d }
            var d = d
            d.message = "a streaming GROUP BY needs a monotonic key, so that each group ends"
            d.help = "group by STEP(s.ROWTIME BY INTERVAL '1' MINUTE) or FLOOR(s.ROWTIME TO MINUTE) too (a group then leaves when ROWTIME passes its interval), or use WINDOWED BY STAGGER"
            return d
        }
        return e
    }

    /// A pump's query with its rows' ROWTIME as a last column (every branch of a UNION ALL), or
    /// nil when it has no single ROWTIME to give (DISTINCT rows). A group of a window (a stagger
    /// window's, say) carries the window's end, when it closed.
    /// The ways a pump's query may give its rows' ROWTIME, to try in order: its ROWTIME (a
    /// window group's end), then for a join of two streams the later of the two sides' (KDA's
    /// rule); a row of an outer join that met nothing has its own side's, plus that side's window
    /// in KDA's windowed join (when KDA knew it would meet nothing).
    static func rowtimeForms(_ q: Query) -> [Query] {
        guard !q.distinct else { return [] }
        func add(_ q: Query, _ time: (Query) -> Expr) -> Query {
            var r = q
            r.items.append(.expression(time(q), alias: Identifier("ROWTIME", quoted: true), loc: q.loc))
            r.unionAll = q.unionAll.map { add($0, time) }
            return r
        }
        // A subquery in FROM passes its rows' ROWTIME up (a column of that name, out of `*`).
        func passingRowtime(_ q: Query) -> Query {
            guard case .subquery(let inner, let alias, let loc)? = q.from, inner.groupBy.isEmpty, !inner.distinct, inner.unionAll.isEmpty,
                  !inner.items.contains(where: Engine.givesRowtime) else { return q }
            var sub = passingRowtime(inner)
            sub.items.append(.expression(Expr(.column(qualifier: nil, name: Identifier("ROWTIME")), loc), alias: Identifier("ROWTIME", quoted: true), loc: loc))
            var r = q
            r.from = .subquery(sub, alias: alias, loc: loc)
            return r
        }
        let own = add(passingRowtime(q)) { q in
            var windowed = false
            if case .window? = q.from, !q.groupBy.isEmpty { windowed = true }
            return Expr(.column(qualifier: nil, name: Identifier(windowed ? "window_end" : "ROWTIME")), q.loc)
        }
        guard case .join(let j)? = q.from, let l = Parser.qualifier(of: j.left), let r = Parser.qualifier(of: j.right), q.unionAll.isEmpty else { return [own] }
        let later = add(q) { q in
            let lt = Expr(.column(qualifier: l, name: Identifier("ROWTIME")), q.loc), rt = Expr(.column(qualifier: r, name: Identifier("ROWTIME")), q.loc)
            func plus(_ e: Expr, _ w: IntervalLiteral?) -> Expr { w.map { Expr(.binary(.add, e, Expr(.literal(.interval($0)), q.loc)), q.loc) } ?? e }
            return Expr(.caseWhen(operand: nil, branches: [
                CaseBranch(when: Expr(.isNull(rt, negated: false), q.loc), then: plus(lt, j.kdaWindows?.left)),
                CaseBranch(when: Expr(.isNull(lt, negated: false), q.loc), then: plus(rt, j.kdaWindows?.right)),
                CaseBranch(when: Expr(.binary(.ge, lt, rt), q.loc), then: lt),
            ], otherwise: rt), q.loc)
        }
        return [own, later]
    }
}
