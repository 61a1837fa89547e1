import Foundation
import SluiceAWS
import SluiceCodecs
import SluiceCore
import SluiceKinesis
import SluicePlanner
import SluiceStreams

/// One part of a shard that workers share: the query runs over that shard alone (the keys of
/// `inputRange` of it, when given), from where its lease says or its checkpoint in the shared
/// state location, with its checkpoint there.
struct Lane {
    var shard: String
    var start: RemoteStreamConsumer.Start
    /// The lease's checkpoint when it is a sequence number (a lease the shard's last holder
    /// checkpointed): read after it when the shared location holds no state of the lane.
    var startAfter: String?
    var checkpointPath: String
    /// Where its state is kept (its name `checkpointPath` there), when not in a local file.
    var state: LaneState? = nil
    /// Only the records whose partition keys hash here (a part after a merge).
    var inputRange: ClosedRange<UInt128>? = nil
}

/// A persistent query over a remote stream whose shards the workers of an application share
/// (`sluice run FILE.sql --worker-id W`, the stream declared with `application = 'APP'`):
/// each shard this worker holds a lease of runs as a lane of its own (the query over that shard,
/// its own watermark and state), checkpointed in the shared state location under the shard's
/// name, so that the worker that takes the lease over (a failover, a handoff, a clean stop)
/// restores it there. A lane's file sink writes the path with `{worker}` and `{shard}` filled
/// in; resuming another worker's checkpoint cuts that worker's file back to it. Since a lane's
/// rows depend only on its shard's records, the workers' files together hold exactly the rows one
/// worker alone would write, whatever the workers do.
///
/// After a reshard a shard's groups go on in its children: a parent read to its end keeps its
/// windows open in its last checkpoint, and a child starts from its parents' state. A lane is a
/// list of parts, each one state and the hash-key range of the partition keys it answers for:
/// a child of a split takes its parent's parts narrowed to its own range, and writes only the
/// rows of keys in it (its sibling writes the others); a child of a merge takes both parents'
/// parts, each reading only the child's records of its range. The parts are kept in
/// DIR/query-ID/SHARD.parts.json.
final class ScaleOutQuery {
    unowned let engine: Engine
    let id: Int
    let plan: LogicalPlan
    let label: String
    let source: SourceNode
    let coordinator: LeaseCoordinator
    let client: KinesisClient
    /// Where lanes keep their checkpoints: query-ID/SHARD.json (SHARD.I.json for parts) there.
    let state: LaneState
    let makeSink: (_ file: String) throws(EngineError) -> any RowSink
    /// The output column holding the partition key (rows of a part are written when the key
    /// hashes into the part's range).
    let keyColumn: Int?
    /// Each held shard's parts.
    private(set) var lanes: [String: [Job]] = [:]
    /// The shards as the last round listed them.
    private var known: [String: KinesisClient.Shard] = [:]
    /// When the last lease round ran (the engine's clock), and how often one runs.
    private var lastRound: Int64 = .min
    let roundMillis: Int64
    /// Whether the last step read anything.
    private var lastBusy = true
    /// Renews this worker's leases on a thread of its own (started by the first round), so that
    /// lanes busy for a long while do not let them expire.
    private var renewer: LeaseRenewer? = nil

    init(engine: Engine, id: Int, plan: LogicalPlan, label: String, source: SourceNode, coordinator: LeaseCoordinator, client: KinesisClient,
         state: LaneState, makeSink: @escaping (_ file: String) throws(EngineError) -> any RowSink) {
        self.engine = engine
        self.id = id
        self.plan = plan
        self.label = label
        self.source = source
        self.coordinator = coordinator
        self.client = client
        self.state = state
        self.makeSink = makeSink
        let key = Engine.text(source.stream.options["partition_key"])?.lowercased()
        keyColumn = key.flatMap { k in plan.schema.firstIndex { $0.name.lowercased() == k } }
        roundMillis = max(100, coordinator.failoverMillis / 3)
    }

    var worker: String { coordinator.worker }
    private var directory: String { "query-\(id)" }

    deinit { renewer?.stop() }

    /// A lease round when one is due, then a step of every lane; whether anything was read.
    func step() throws(EngineError) -> Bool {
        if let e = renewer?.error { throw EngineError.io("lease table \(coordinator.table.name): renewing this worker's leases: \(Engine.remoteProblem(e))") }
        let now = engine.clock.nowMillis()
        if lastRound == .min || now - lastRound >= roundMillis { try round(now: now) }
        var busy = false
        for shard in lanes.keys.sorted() {
            guard let parts = lanes[shard] else { continue }
            var checkpointed = false
            for job in parts where !job.done {
                let before = job.lastCheckpointAt
                busy = try job.step() || busy
                if job.lastCheckpointAt != before { checkpointed = true }
            }
            if checkpointed { try recordProgress(shard) }
            if parts.allSatisfy({ $0.inputs[0].consumer.positions[shard] == .shardEnd && !$0.inputs[0].consumer.hasMore }) {
                // Read to its end: the last checkpoint (its windows stay open for its children),
                // and the lease finished (its children become workable).
                for job in parts { try job.stop() }
                lanes[shard] = nil
                _ = try leaseCall { () throws(StreamError) in try coordinator.checkpoint(shard: shard, "SHARD_END") }
                busy = true
            }
        }
        lastBusy = busy
        return busy
    }

    /// The lease's checkpoint follows the lane's: the least far read part's last sequence number.
    private func recordProgress(_ shard: String) throws(EngineError) {
        guard let parts = lanes[shard] else { return }
        var least: String? = nil
        for job in parts {
            guard case .sequenceNumber(let s)? = job.inputs[0].consumer.positions[shard] else { return }
            if least == nil || s.count < least!.count || (s.count == least!.count && s < least!) { least = s }
        }
        guard let s = least else { return }
        let held = try leaseCall { () throws(StreamError) in try coordinator.checkpoint(shard: shard, s) }
        if !held { drop(shard) }
    }

    private func leaseCall<T>(_ body: () throws(StreamError) -> T) throws(EngineError) -> T {
        do { return try body() } catch {
            throw EngineError.io("lease table \(coordinator.table.name): \(Engine.remoteProblem(error))")
        }
    }

    private func round(now: Int64) throws(EngineError) {
        lastRound = now
        let shards: [KinesisClient.Shard]
        do { shards = try client.listShards() } catch { throw EngineError.io("\(client.place): \(Engine.remoteProblem(error))") }
        for s in shards { known[s.id] = s }
        let changes = try leaseCall { () throws(StreamError) in
            try coordinator.sync(shards: shards)
            return try coordinator.round(now: now, renew: false)
        }
        if renewer == nil {
            let clock = engine.clock
            renewer = LeaseRenewer(coordinator: coordinator, everyMillis: roundMillis) { clock.nowMillis() }
        }
        for shard in changes.lost { drop(shard) }
        for shard in changes.handoffs {
            // Asked for by a worker below its share: the last checkpoint, then the lease goes.
            if let parts = lanes[shard] {
                for job in parts { try job.stop() }
                try recordProgress(shard)
                lanes[shard] = nil
            }
            try leaseCall { () throws(StreamError) in try coordinator.release(shard: shard) }
        }
        for lease in changes.gained { try open(lease) }
    }

    /// A lease another worker took (this one was presumed dead): the lane stops at once, without
    /// a checkpoint or a flush (the rows since its last checkpoint are the new holder's to write).
    private func drop(_ shard: String) {
        guard let parts = lanes.removeValue(forKey: shard) else { return }
        for job in parts {
            job.done = true
            job.sink.abandon()
        }
    }

    /// One part of a lane: the keys it answers for (nil: all of the shard's) and its checkpoint file.
    struct Part {
        var range: ClosedRange<UInt128>?
        var file: String
    }

    /// A shard's parts as its manifest lists them; nil without one (one part, all its keys).
    private func manifest(_ shard: String) throws(EngineError) -> [Part]? {
        guard let bytes = try state.read(directory + "/\(shard).parts.json"), let j = try? JSONValue.parse(bytes: bytes), let list = j["parts"]?.arrayValue else { return nil }
        return list.compactMap { p in
            guard let file = p["file"]?.stringValue else { return nil }
            guard let lo = p["from"]?.stringValue.flatMap({ try? HashKey.parse($0).get() }), let hi = p["to"]?.stringValue.flatMap({ try? HashKey.parse($0).get() }) else {
                return Part(range: nil, file: file)
            }
            return Part(range: lo...hi, file: file)
        }
    }

    /// The parts a shard's lane runs: its manifest's; for a child of shards read to their end
    /// without one yet, its parents' parts narrowed to its keys, their state copied to its own
    /// files; else one part of all its keys.
    private func parts(_ lease: Lease) throws(EngineError) -> [Part] {
        let shard = lease.key
        if let m = try manifest(shard) { return m }
        guard !lease.parents.isEmpty, let mine = known[shard]?.hashKeyRange else { return [Part(range: nil, file: shard + ".json")] }
        var out: [Part] = []
        for parent in lease.parents.sorted() {
            let inherited = try manifest(parent) ?? [Part(range: known[parent]?.hashKeyRange, file: parent + ".json")]
            for p in inherited {
                let r = p.range ?? mine
                let lo = max(r.lowerBound, mine.lowerBound), hi = min(r.upperBound, mine.upperBound)
                guard lo <= hi else { continue }
                out.append(Part(range: lo...hi, file: "\(shard).\(out.count).json"))
                // The parent's last state goes on in the child's part (once: later opens find the manifest).
                if let bytes = try state.read(directory + "/" + p.file) {
                    try state.write(directory + "/" + out[out.count - 1].file, bytes)
                }
            }
        }
        if out.isEmpty { return [Part(range: nil, file: shard + ".json")] }
        var doc: [JSONValue] = []
        for p in out {
            doc.append(["file": .string(p.file), "from": .string(String(p.range!.lowerBound)), "to": .string(String(p.range!.upperBound))])
        }
        try state.write(directory + "/\(shard).parts.json", Array(JSONValue.object(["parts": .array(doc)]).serialized(pretty: true).utf8))
        return out
    }

    private func open(_ lease: Lease) throws(EngineError) {
        var start: RemoteStreamConsumer.Start = .trimHorizon
        var after: String? = nil
        switch lease.readFrom {
        case nil: start = .latest
        case .trimHorizon?: start = .trimHorizon
        case .latest?: start = .latest
        case .atTimestamp(let t)?: start = .atTimestamp(t)
        case .afterSequenceNumber(let s)?: after = s
        }
        let list = try parts(lease)
        let mine = known[lease.key]?.hashKeyRange
        var jobs: [Job] = []
        for (i, part) in list.enumerated() {
            // A part of only some of the shard's keys reads those alone.
            let narrower = part.range.flatMap { r in mine.map { r != $0 } } ?? false
            var lane = Lane(shard: lease.key, start: start, startAfter: after, checkpointPath: directory + "/" + part.file,
                            inputRange: narrower ? part.range : nil)
            if case .directory(let d) = state { lane.checkpointPath = d + "/" + lane.checkpointPath } else { lane.state = state }
            var sink = try makeSink(list.count == 1 ? lease.key : "\(lease.key).\(i)")
            if let r = part.range, let k = keyColumn { sink = KeyRangeSink(sink, column: k, range: r) }
            let job = try Job(id: id, label: label, plan: plan, sources: [source], sink: sink, engine: engine, lane: lane)
            // A checkpoint before the first row: whoever takes the lease next knows which file this
            // worker writes and where it began, and cuts it back there if this worker dies first.
            try job.checkpoint()
            jobs.append(job)
        }
        lanes[lease.key] = jobs
        let resumed = jobs.contains(where: \.resumed)
        engine.emit(resumed ? "resume" : "start", query: "query \(id) (\(label))",
                    "worker \(worker) took the lease of \(lease.key)" + (resumed ? ", resumed from its checkpoint" : "") + (list.count > 1 ? " (\(list.count) parts)" : ""),
                    [("shard", .string(lease.key)), ("worker", .string(worker))])
    }

    /// Whether every shard has been read to the end of what it holds now: this worker's lanes
    /// read nothing in their last step (and are checkpointed here), and for every lease that is
    /// not finished the shard holds no record after the lease's checkpoint, whoever holds it. A
    /// worker that died part way leaves records after its checkpoint, so the others wait, take its
    /// leases when they expire, and read them. (A shared stream has no end: this is the end of
    /// what it holds now, for `sluice run --until-end`.)
    func caughtUp() throws(EngineError) -> Bool {
        guard !lastBusy, lastRound != .min else { return false }
        for shard in lanes.keys.sorted() {
            for job in lanes[shard] ?? [] { try job.checkpoint() }
            try recordProgress(shard)
        }
        let leases = try leaseCall { () throws(StreamError) in try coordinator.table.list() }
        let finished = Set(leases.filter(\.isFinished).map(\.key))
        for l in leases where !l.isFinished {
            // A child waits for its parents (those still in the table) to be finished.
            guard l.parents.allSatisfy({ p in finished.contains(p) || !leases.contains { $0.key == p } }) else { return false }
            guard let from = l.readFrom else { continue }
            do {
                let r = try client.getRecords(iterator: try client.shardIterator(shard: l.key, from), limit: 1)
                // More records, records not yet reachable, or a closed shard not yet marked finished.
                if r.records.count > 0 || r.millisBehindLatest > 0 || r.nextShardIterator == nil || known[l.key]?.closed == true { return false }
            } catch {
                return false
            }
        }
        return true
    }

    /// What a crash or a kill leaves of the worker (tests make one so): no more renewals, and it
    /// is never stepped again (no checkpoint, no release, its unflushed rows lost); its leases
    /// expire for the others to take.
    func halt() {
        renewer?.stop()
        renewer = nil
    }

    /// A clean stop: every lane checkpointed, its lease checkpointed and let go.
    func stop() throws(EngineError) {
        renewer?.stop()
        renewer = nil
        for shard in lanes.keys.sorted() {
            for job in lanes[shard] ?? [] { try job.stop() }
            try recordProgress(shard)
            lanes[shard] = nil
        }
        try leaseCall { () throws(StreamError) in try coordinator.releaseAll() }
    }
}

/// The rows of the keys a lane's part answers for: those whose partition key column hashes into
/// its range (the other keys of the state it inherited are its sibling's to write).
final class KeyRangeSink: RowSink {
    let inner: any RowSink
    let column: Int
    let range: ClosedRange<UInt128>

    init(_ inner: any RowSink, column: Int, range: ClosedRange<UInt128>) {
        self.inner = inner
        self.column = column
        self.range = range
    }

    func write(_ rows: [[Value]]) throws(EngineError) {
        let mine = rows.filter { range.contains(HashKey.of(partitionKey: RecordEncoder.text($0[column]))) }
        if !mine.isEmpty { try inner.write(mine) }
    }
    func begin(resumingAt position: Int64?) throws(EngineError) { try inner.begin(resumingAt: position) }
    func checkpoint() throws(EngineError) -> Int64? { try inner.checkpoint() }
    func close() throws(EngineError) { try inner.close() }
    func state() -> JSONValue? { inner.state() }
    func restore(_ state: JSONValue?) throws(EngineError) { try inner.restore(state) }
    var streamsWritten: [String] { inner.streamsWritten }
    func flushIfDue(now: Int64) throws(EngineError) { try inner.flushIfDue(now: now) }
    func advance(watermark: Int64, now: Int64) throws(EngineError) { try inner.advance(watermark: watermark, now: now) }
    func abandon() { inner.abandon() }
    var kind: String { inner.kind }
}

extension Engine {
    /// The shared remote stream a query reads when this engine is a worker (`workerId`) and the
    /// stream names an `application`; nil: the query runs as any other. A query that cannot be
    /// split by shard is refused, with the way to make it one.
    func scaleOutSource(_ plan: LogicalPlan) throws(EngineError) -> SourceNode? {
        guard workerId != nil else { return nil }
        let sources = Engine.sourceNodes(plan)
        guard let shared = sources.first(where: { Engine.isRemote($0.stream) && Engine.text($0.stream.options["application"]) != nil }) else { return nil }
        if let why = Engine.scaleOutProblem(plan) {
            throw EngineError(diagnostics: [Diagnostic(id: "plan.not-shard-local", message: "this query cannot be shared by the workers of application \(Engine.text(shared.stream.options["application"]) ?? ""): \(why)",
                                                       span: nil, help: "workers split a stream by shard: a query scales out when its groups never span shards (it groups by the stream's partition_key), or when it keeps no state; re-partition through an intermediate stream keyed by the grouping columns (INSERT INTO it with partition_key = 'that column'), and scale out the query over that stream")])
        }
        return shared
    }

    /// Why the query cannot be shared by workers, or nil: its groups must lie within one shard,
    /// and a query that keeps state must output the partition key column (after a reshard a
    /// child shard writes the rows of the keys of its range, told apart by that column).
    static func scaleOutProblem(_ plan: LogicalPlan) -> String? {
        if let why = shardLocal(plan) { return why }
        func stateful(_ p: LogicalPlan) -> Bool {
            switch p {
            case .source: return false
            case .filter(let q, _), .project(let q, _, _), .lookupJoin(let q, _): return stateful(q)
            default: return true
            }
        }
        guard stateful(plan), let source = sourceNodes(plan).first, let key = text(source.stream.options["partition_key"]) else { return nil }
        return plan.schema.contains(where: { $0.name.lowercased() == key.lowercased() }) ? nil
            : "it does not output the partition key column \(key), by which the children of a resharded shard tell their keys' rows apart"
    }

    /// Nil when every group of the query lies within one shard: no state (filters, projections,
    /// reference-table joins), or windows and aggregates grouped by the stream's `partition_key`;
    /// else why not. (EXPLAIN says which.)
    static func shardLocal(_ plan: LogicalPlan) -> String? {
        func stateless(_ p: LogicalPlan) -> SourceNode? {
            switch p {
            case .source(let s): return s
            case .filter(let q, _), .project(let q, _, _), .lookupJoin(let q, _): return stateless(q)
            default: return nil
            }
        }
        func groupsByKey(_ input: LogicalPlan, _ keys: [BoundExpr]) -> String? {
            guard let source = stateless(input) else { return "it aggregates the rows of another stateful operator" }
            guard let key = text(source.stream.options["partition_key"]) else {
                return "stream \(source.stream.name) declares no partition_key, so no grouping is known to stay within a shard"
            }
            let names = input.schema.map(\.name)
            let grouped = keys.contains { if case .column(let i, _, _) = $0 { return i < names.count && names[i].lowercased() == key.lowercased() } else { return false } }
            return grouped ? nil : "its groups do not include the partition key column \(key), so a group's rows may come from several shards"
        }
        switch plan {
        case .source, .filter, .project, .lookupJoin:
            if stateless(plan) != nil { return nil }
        default: break
        }
        switch plan {
        case .filter(let p, _), .project(let p, _, _), .lookupJoin(let p, _): return shardLocal(p)
        case .windowAggregate(let input, _, _, let keys, _, _, _), .aggregate(let input, let keys, _, _, _, _): return groupsByKey(input, keys)
        case .intervalJoin: return "it joins two streams"
        case .union: return "it unions streams"
        case .limit: return "LIMIT counts rows across shards"
        default: return "its operators keep state across the stream's partition keys"
        }
    }

    /// A scaled-out query: this worker's coordinator over the application's lease table, lanes
    /// opened as it takes leases.
    func startScaleOut(_ plan: LogicalPlan, _ source: SourceNode, _ label: String, target: Target, owner: String) throws(EngineError) {
        guard let worker = workerId else { return }
        let def = source.stream
        let app = Engine.text(def.options["application"]) ?? ""
        if case .sink(let s) = target, s.type == "file", !(s.path ?? "").contains("{shard}") {
            throw EngineError(message: "query \(nextQueryId) (\(label)) is shared by the workers of \(app): its file sink \(s.name) needs {shard} in its path (and {worker} when workers share a machine), for each shard's rows are written by the worker that holds its lease, and go on where its checkpoint left them when the lease moves")
        }
        guard let state = Engine.text(def.options["state"]) else {
            throw EngineError(message: "stream \(def.name): a stream shared by workers (application = '\(app)') needs state = 'DIR', a directory every worker reaches, where each shard's query state is kept for the worker that takes its lease over")
        }
        let laneState = try LaneState.parse(state) { () throws(EngineError) -> S3Client in
            let credentials = try awsCredentials(def)
            let region = Engine.text(def.options["region"]) ?? aws.region() ?? ""
            guard let c = S3Client(endpoint: Engine.text(def.options["state_endpoint"]), region: region, credentials: credentials, caBundle: aws.caBundle()) else {
                throw EngineError(message: "stream \(def.name): state_endpoint \(Engine.text(def.options["state_endpoint"]) ?? "") is not a URL")
            }
            return c
        }
        let client = try kinesisClient(def)
        guard case .success(let o) = remoteOptions(def) else { return }
        let leaseEndpoint = Engine.text(def.options["lease_endpoint"]) ?? (Engine.text(def.options["endpoint"]) != nil ? o.endpoint : "https://dynamodb.\(o.region).amazonaws.com")
        guard let dynamo = AWSJSONClient.dynamoDB(endpoint: leaseEndpoint, credentials: try awsCredentials(def), region: o.region, caBundle: aws.caBundle()) else {
            throw EngineError(message: "stream \(def.name): lease_endpoint \(leaseEndpoint) is not a URL such as https://dynamodb.\(o.region).amazonaws.com")
        }
        let failover = Engine.text(def.options["lease_failover"]).flatMap(Units.millis) ?? 10_000
        let table = LeaseTable(api: dynamo, name: app)
        do { try table.ensure() } catch { throw EngineError(message: "stream \(def.name): lease table \(app): \(Engine.remoteProblem(error))") }
        do { _ = try client.status() } catch { throw EngineError(message: "stream \(def.name): \(Engine.remoteProblem(error))") }
        var initial = "TRIM_HORIZON"
        switch o.start {
        case .trimHorizon: initial = "TRIM_HORIZON"
        case .latest: initial = "AT_TIMESTAMP " + TimeFormat.iso8601(clock.nowMillis())
        case .atTimestamp(let t): initial = "AT_TIMESTAMP " + TimeFormat.iso8601(t)
        }
        let coordinator = LeaseCoordinator(table: table, worker: worker, failoverMillis: failover, initialCheckpoint: initial)
        let id = nextQueryId
        nextQueryId += 1
        let q = ScaleOutQuery(engine: self, id: id, plan: plan, label: label, source: source, coordinator: coordinator, client: client,
                              state: laneState.within(app)) { [unowned self] (shard: String) throws(EngineError) -> any RowSink in
            try self.makeSink(target, plan, owner: "query \(id) (\(label)) \(shard)", fill: {
                $0.replacingOccurrences(of: "{worker}", with: worker).replacingOccurrences(of: "{shard}", with: shard)
            })
        }
        scaleOuts.append(q)
        emit("start", query: "query \(id) (\(label))", "started as worker \(worker) of application \(app) (lease table \(app) at \(leaseEndpoint))",
             [("worker", .string(worker)), ("application", .string(app))])
    }
}
