import SluiceCore
import SluicePlanner

extension Engine {
    /// The loop a query would close by writing stream `target`: the streams from `target` back
    /// to one the query reads, following the streams that running queries (and the queries
    /// `pending` starts before it) write from the streams they read; `[target]` when it reads
    /// `target` itself; nil when there is no loop. A query in a loop gets each row it writes
    /// back as input, for ever (a stream grew by gigabytes a minute).
    func loop(writing target: String, reading sources: [String], startingFirst pending: [Action]) -> [String]? {
        // Names as the store has them: its streams are told apart by case (a KDA application's
        // output "tumbles" fed from its in-application stream "TUMBLES" is no loop).
        var feeds: [String: [String]] = [:]  // stream -> the streams queries reading it write
        func edge(_ from: String, _ to: String) {
            if !(feeds[from] ?? []).contains(to) { feeds[from, default: []].append(to) }
        }
        for j in jobs where !j.ephemeral && !j.observed(\.done) {
            for written in j.sink.streamsWritten { for input in j.inputs { edge(input.source.stream.name, written) } }
            for input in j.inputs { if let late = lateStream(of: input.source.stream) { edge(input.source.stream.name, late) } }
        }
        for case .start(let plan, let target, _, _) in pending {
            let sources = Engine.sourceNodes(plan).map(\.stream)
            for written in Engine.streams(writtenBy: target) { for s in sources { edge(s.name, written) } }
            for s in sources { if let late = lateStream(of: s) { edge(s.name, late) } }
        }
        let read = Set(sources)
        // Breadth first from the stream written, so the loop named is a shortest one.
        var from: [String: String] = [:]
        var queue = [target], next = 0
        while next < queue.count {
            let s = queue[next]
            next += 1
            if read.contains(s) {
                var path = [s]
                while let p = from[path[0]] { path.insert(p, at: 0) }
                return path
            }
            for t in feeds[s] ?? [] where t != target && from[t] == nil {
                from[t] = s
                queue.append(t)
            }
        }
        return nil
    }

    /// The streams a query's target puts records into: the stream of an INSERT INTO or CREATE
    /// STREAM ... AS, an alert's `NOTIFY 'stream:NAME'` targets.
    static func streams(writtenBy target: Target) -> [String] {
        switch target {
        case .stream(let def): return [def.name]
        case .alert(let def): return def.targets.filter { $0.hasPrefix("stream:") }.map { String($0.dropFirst(7)) }
        case .sink, .stdout: return []
        }
    }

    /// The stream a stream's `late_records` sends the late records of the queries reading it to,
    /// by its declared name (as `JobInput.latePolicy` has it); nil when they are dropped or go to
    /// the error stream.
    func lateStream(of def: StreamDefinition) -> String? {
        guard let l = Engine.text(def.options["late_records"]), l != "drop", l != "error_stream" else { return nil }
        return catalog.stream(named: l)?.name ?? l
    }

    /// Refuses a query writing `target` from `plan` when that closes a loop (`loop(writing:...)`):
    /// through the stream it writes, or through the streams its sources send late records to
    /// (records put back into a stream behind its watermark are late again, for ever).
    func refuseLoop(_ plan: LogicalPlan, writing target: Target, _ pending: [Action], span: SourceSpan?) throws(EngineError) {
        let sources = Engine.sourceNodes(plan).map(\.stream)
        let reads = sources.map(\.name), lateStreams = sources.compactMap(lateStream(of:))
        for (written, late) in Engine.streams(writtenBy: target).map({ ($0, false) }) + lateStreams.map({ ($0, true) }) {
            guard let path = loop(writing: written, reading: reads, startingFirst: pending) else { continue }
            let how = path.count == 1 ? "it reads \(written)" : "queries feed \(path.joined(separator: " → ")), which it reads"
            let message = late
                ? "this query's late records go to \(written) (late_records), and \(how): each would come back to it late, for ever"
                : "this query would write \(written), and \(how): each row it writes would come back to it, for ever"
            throw EngineError(diagnostics: [Diagnostic(id: "plan.query-loop", message: message, span: span,
                                                       help: late ? "send late records elsewhere (or drop the query that closes the loop)"
                                                                  : "write to another stream (or drop the query that closes the loop)")])
        }
    }
}
