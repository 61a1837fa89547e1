import SluiceCore
import SluicePlanner

extension Engine {
    /// The loop a query would close by writing stream `target`: the streams from `target` back
    /// to one the query reads, following the streams that running queries (and the queries
    /// `pending` starts before it) write from the streams they read; `[target]` when it reads
    /// `target` itself; nil when there is no loop. A query in a loop gets each row it writes
    /// back as input, for ever (a stream grew by gigabytes a minute).
    func loop(writing target: String, reading sources: [String], startingFirst pending: [Action]) -> [String]? {
        var feeds: [String: [String]] = [:]  // stream -> the streams queries reading it write
        var shown: [String: String] = [:]
        func edge(_ from: String, _ to: String) {
            shown[from.lowercased()] = from
            shown[to.lowercased()] = to
            if !(feeds[from.lowercased()] ?? []).contains(to.lowercased()) { feeds[from.lowercased(), default: []].append(to.lowercased()) }
        }
        for j in jobs where !j.ephemeral && !j.observed(\.done) {
            for written in j.sink.streamsWritten { for input in j.inputs { edge(input.source.stream.name, written) } }
        }
        for case .start(let plan, let target, _, _) in pending {
            for written in Engine.streams(writtenBy: target) { for s in Engine.sourceNodes(plan) { edge(s.stream.name, written) } }
        }
        let read = Set(sources.map { $0.lowercased() })
        // Breadth first from the stream written, so the loop named is a shortest one.
        var from: [String: String] = [:]
        var queue = [target.lowercased()], next = 0
        while next < queue.count {
            let s = queue[next]
            next += 1
            if read.contains(s) {
                var path = [s]
                while let p = from[path[0]] { path.insert(p, at: 0) }
                return path.map { shown[$0] ?? ($0 == target.lowercased() ? target : $0) }
            }
            for t in feeds[s] ?? [] where t != target.lowercased() && from[t] == nil {
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

    /// Refuses a query writing `target` from `plan` when that closes a loop (`loop(writing:...)`).
    func refuseLoop(_ plan: LogicalPlan, writing target: Target, _ pending: [Action], span: SourceSpan?) throws(EngineError) {
        for written in Engine.streams(writtenBy: target) {
            guard let path = loop(writing: written, reading: Engine.sourceNodes(plan).map(\.stream.name), startingFirst: pending) else { continue }
            let how = path.count == 1 ? "it reads \(written)" : "queries feed \(path.joined(separator: " → ")), which it reads"
            throw EngineError(diagnostics: [Diagnostic(id: "plan.query-loop",
                                                       message: "this query would write \(written), and \(how): each row it writes would come back to it, for ever",
                                                       span: span, help: "write to another stream (or drop the query that closes the loop)")])
        }
    }
}
