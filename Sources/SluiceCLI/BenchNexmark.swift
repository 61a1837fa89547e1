import Foundation
import SluiceCore
import SluiceEngine
import SluiceSQL
import SluiceStreams

/// `sluice bench nexmark`: the Nexmark queries of queries/nexmark over generated events, one
/// thread, from the JSON-lines files and from the built-in stream.
extension BenchCommand {
    /// A query file taken apart: its streams and tables, and the query of its INSERT.
    struct NexmarkQuery {
        var name: String
        var definitions: [Statement]
        var query: Query
        var streams: Set<String>
    }

    static func nexmarkQueries(_ dir: String, wanted: Set<String>?) throws -> [NexmarkQuery] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("q") && $0.hasSuffix(".sql") }
        guard !files.isEmpty else { throw UsageError("no Nexmark query files (q*.sql) in \(dir); run from the repository or give --queries-dir") }
        var out: [NexmarkQuery] = []
        for f in files {
            let name = String(f.dropLast(4))
            if let w = wanted, !w.contains(name) { continue }
            let text = try String(contentsOfFile: dir + "/" + f, encoding: .utf8)
            let parsed = Parser.parse(text)
            guard parsed.diagnostics.isEmpty else { throw UsageError("\(f): \(parsed.diagnostics.map(\.description).joined(separator: "; "))") }
            var defs: [Statement] = [], query: Query? = nil, streams = Set<String>()
            for s in parsed.script.statements {
                switch s.kind {
                case .createStream(let c):
                    defs.append(s)
                    streams.insert(c.name.name.lowercased())
                case .createTable: defs.append(s)
                case .insert(let i): query = i.query
                default: break
                }
            }
            guard let q = query else { throw UsageError("\(f) has no INSERT INTO ... SELECT") }
            out.append(NexmarkQuery(name: name, definitions: defs, query: q, streams: streams))
        }
        // q0, q1, ..., q22 in number order.
        return out.sorted { Int($0.name.dropFirst()) ?? 0 < Int($1.name.dropFirst()) ?? 0 }
    }

    func nexmark(_ a: Arguments) throws -> Int32 {
        #if DEBUG
        err.line("warning: this is a debug build; build with 'swift build -c release' for meaningful figures")
        #endif
        let events = try a.int("events") ?? 10_000_000
        let rate = try a.int("rate") ?? 10_000
        guard events > 0, rate > 0 else { throw UsageError("--events and --rate must be positive") }
        let runs = try a.int("runs") ?? 1
        guard runs >= 1 else { throw UsageError("--runs must be at least 1") }
        let queriesDir = URL(fileURLWithPath: a.value("queries-dir") ?? "queries/nexmark").standardizedFileURL.path
        let wanted = a.value("queries").map { Set($0.split(separator: ",").map(String.init)) }
        let queries = try BenchCommand.nexmarkQueries(queriesDir, wanted: wanted)
        let sources = (a.value("sources") ?? "file,stream").split(separator: ",").map(String.init)
        let base = a.value("dir") ?? NSTemporaryDirectory() + "sluice-bench-nexmark-\(getpid())"
        try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { if a.value("dir") == nil { try? FileManager.default.removeItem(atPath: base) } }
        let data = base + "/nexmark"
        let watch = Stopwatch()
        let counts = try NexmarkGenerator.writeFiles(events: Int64(events), seed: 42, rate: Int64(rate), baseMillis: 1_704_067_200_000, dir: data)
        err.line(String(format: "generated %d events (%d persons, %d auctions, %d bids) in %.1f s", events,
                        counts[.person] ?? 0, counts[.auction] ?? 0, counts[.bid] ?? 0, watch.elapsedSeconds))
        // The query files name their tables' files relative to the repository (nexmark/...): run from the data's parent.
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(base)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }

        // Every stream and table the queries declare, once.
        var definitions: [Statement] = [], declared = Set<String>()
        for q in queries {
            for d in q.definitions {
                let name: String
                switch d.kind {
                case .createStream(let c): name = c.name.name.lowercased()
                case .createTable(let c): name = c.name.name.lowercased()
                default: continue
                }
                if declared.insert(name).inserted { definitions.append(d) }
            }
        }
        let ddl = Script(statements: definitions)
        var streamEngine: Engine? = nil
        var store: StreamStore? = nil
        defer { store?.close() }

        out.line("Nexmark over \(events) events (\(rate) events/s of event time), one thread; events/s counts every event generated, as the benchmark does")
        out.line(pad("query", 7) + pad("source", 8) + pad("events/s", 12) + pad("records in", 12) + pad("rows out", 10) + pad("seconds", 9) + pad("peak MB", 9))
        out.flush()
        for q in queries {
            for source in sources {
                if source == "file" && q.streams.count != 1 {
                    out.line(pad(q.name, 7) + pad(source, 8) + "- (a replay reads one file; \(q.name) reads \(q.streams.sorted().joined(separator: " and ")))")
                    continue
                }
                var best: (seconds: Double, records: Int64, rows: Int)? = nil
                for _ in 0..<runs {
                    var rows = 0
                    let seconds: Double
                    var records: Int64 = 0
                    if source == "file" {
                        (seconds, records) = try timedReplay(ddl, q.query, file: data + "/\(q.streams.first!).jsonl", dir: base + "/file-\(q.name)") { rows += $0.count }
                    } else {
                        if streamEngine == nil {
                            let s = try scratchStore(base + "/stream")
                            store = s
                            let e = Engine(store: s)
                            try e.load(ddl)
                            let w = Stopwatch()
                            var put = 0
                            for kind in NexmarkGenerator.Kind.allCases where declared.contains(kind.rawValue) {
                                put += try e.loadInput(stream: kind.rawValue, path: data + "/\(kind.rawValue).jsonl")
                            }
                            err.line(String(format: "loaded %d records into the built-in streams in %.1f s", put, w.elapsedSeconds))
                            streamEngine = e
                        }
                        let e = streamEngine!
                        let before = e.counters.count
                        _ = try e.start(query: q.query, label: q.name) { rows += $0.count }
                        let w = Stopwatch()
                        try e.runUntilEnd()
                        seconds = w.elapsedSeconds
                        records = e.counters[before].recordsIn
                    }
                    if let b = best, b.rows != rows {
                        err.line("warning: \(q.name) from \(source) gave \(rows) rows in a later run, \(b.rows) before")
                    }
                    if best == nil || seconds < best!.seconds { best = (seconds, records, rows) }
                }
                let (seconds, records, rows) = best!
                out.line(pad(q.name, 7) + pad(source, 8) + pad(fmt(Double(events) / seconds), 12) + pad(String(records), 12) + pad(String(rows), 10)
                         + pad(String(format: "%.2f", seconds), 9) + pad(fmt(peakRSSMegabytes()), 9))
                out.flush()
            }
        }
        return 0
    }
}
