import Foundation
import Glibc
import SluiceCore
import SluiceEngine
import SluiceSQL
import SluiceStreams

extension BenchCommand {
    /// `sluice bench parallel`: persistent queries as a server runs them, each on a thread of its
    /// own, over bids already in the built-in stream (loaded once, not timed). The same heavy query
    /// (by default (c), the 10 s tumbling window per auction) runs alone, then as Q copies at once;
    /// then the Q copies once more on one thread, the way one run loop steps every query in turn.
    /// Each time is until every copy has read every record. With Q cores, Q copies on threads take
    /// about as long as one; on one thread, Q times as long.
    func parallel(_ a: Arguments) throws -> Int32 {
        #if DEBUG
        err.line("warning: this is a debug build; build with 'swift build -c release' for meaningful figures")
        #endif
        let n = try a.int("records") ?? 2_000_000
        let copies = try a.int("queries") ?? 2
        let name = a.value("query") ?? "c"
        guard n >= 1, copies >= 1 else { throw UsageError("--records and --queries must be at least 1") }
        guard let sql = BenchCommand.baselineQueries.first(where: { $0.0 == name })?.1, name != "f" else {
            throw UsageError("--query takes one of a, b, c, d, e (the queries of `sluice bench queries`, but the self-join)")
        }
        let base = a.value("dir") ?? NSTemporaryDirectory() + "sluice-bench-parallel-\(getpid())"
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { if a.value("dir") == nil { try? FileManager.default.removeItem(atPath: base) } }
        var path = a.value("file") ?? ""
        if path.isEmpty {
            path = base + "/bids.jsonl"
            BenchCommand.writeBids(n, to: path)
        }
        let store = try scratchStore(base + "/store")
        defer { store.close() }
        let loader = Engine(store: store)
        try loader.load(Parser.parse(BenchCommand.bidsDDL).script)
        let records = try loader.loadInput(stream: "bids", path: path)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        out.line("query (\(name)) over \(records) bids in the built-in stream (loaded, not timed), \(cores) cores; each time: until every copy has read every record")
        out.line(pad("copies", 8) + pad("threads", 22) + pad("seconds", 9) + pad("records/s (all)", 17) + "vs one alone")
        out.flush()
        guard case .query(let q)? = Parser.parseStatement(sql).0?.kind else { throw UsageError("bad benchmark query \(name)") }

        /// Seconds until `k` copies have each read every record.
        func timed(_ k: Int, threaded: Bool) throws -> Double {
            let e = Engine(store: store)
            e.threadedQueries = threaded
            e.checkpointIntervalMillis = nil
            e.metricsIntervalMillis = nil
            try e.load(Parser.parse(BenchCommand.bidsDDL).script)
            let watch = Stopwatch()
            for c in 0..<k { try e.start(query: q, label: "\(name)\(c)") { _ in } }
            while !e.counters.allSatisfy({ $0.recordsIn >= Int64(records) }) {
                if threaded {
                    usleep(1000)
                } else if try !e.step() {
                    break
                }
            }
            let seconds = watch.elapsedSeconds
            let read = e.counters.map(\.recordsIn)
            try e.finish()
            guard read.allSatisfy({ $0 == Int64(records) }) else { throw UsageError("the copies read \(read) records, not \(records) each") }
            return seconds
        }
        let one = try timed(1, threaded: true)
        out.line(pad("1", 8) + pad("its own", 22) + pad(String(format: "%.3f", one), 9) + pad(fmt(Double(records) / one), 17) + "1.00")
        out.flush()
        let threaded = try timed(copies, threaded: true)
        out.line(pad(String(copies), 8) + pad("one each", 22) + pad(String(format: "%.3f", threaded), 9) + pad(fmt(Double(records * copies) / threaded), 17)
                 + String(format: "%.2f", threaded / one))
        out.flush()
        let loop = try timed(copies, threaded: false)
        out.line(pad(String(copies), 8) + pad("one for all (a loop)", 22) + pad(String(format: "%.3f", loop), 9) + pad(fmt(Double(records * copies) / loop), 17)
                 + String(format: "%.2f", loop / one))
        out.flush()
        return 0
    }
}
