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
        for case .start(let plan, .stream(let def), _, _) in pending {
            for s in Engine.sourceNodes(plan) { edge(s.stream.name, def.name) }
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
}
