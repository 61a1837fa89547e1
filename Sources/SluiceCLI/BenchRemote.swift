import Foundation
import SluiceAWS
import SluiceCore
import SluiceEngine
import SluiceServer
import SluiceSQL
import SluiceStreams
import Synchronization

extension BenchCommand {
    /// `sluice bench remote`: queries over a remote Kinesis stream, `sluice serve`'s endpoint
    /// started in this process on a loopback port over a scratch store. Reads: N generated bids
    /// (default 1,000,000) in S shards (default 8), put straight into the store (not timed), read by
    /// a query through GetRecords polling (10,000 a call, at most 5 calls a second per shard), a
    /// 10 s tumbling window per auction with COUNT(*); the same query through enhanced fan-out
    /// (`--phases fanout`: a registered consumer, SubscribeToShard). Writes: the same bids from a built-in stream
    /// INSERTed INTO a remote stream (PutRecords of 500). Records/s of each, with the endpoint's
    /// work in the same process (a worker and the endpoint share the machine).
    func remote(_ a: Arguments) throws -> Int32 {
        #if DEBUG
        err.line("warning: this is a debug build; build with 'swift build -c release' for meaningful figures")
        #endif
        let n = try a.int("records") ?? 1_000_000
        let shards = try a.int("shards") ?? 8
        guard n >= 1, shards >= 1 else { throw UsageError("--records and --shards at least 1") }
        let base = a.value("dir") ?? NSTemporaryDirectory() + "sluice-bench-remote-\(getpid())"
        try? FileManager.default.removeItem(atPath: base)
        defer { if a.value("dir") == nil { try? FileManager.default.removeItem(atPath: base) } }
        let store = try scratchStore(base + "/endpoint")
        defer { store.close() }
        let service = Service(store: store, log: { _ in })
        let server = try HTTPServer(port: 0) { service.handle($0) }
        server.start()
        defer { server.stop() }
        let endpoint = "http://127.0.0.1:\(server.port)"
        let env = AWSProfiles(environment: ["AWS_ACCESS_KEY_ID": "AKIDBENCH", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"], home: base)

        try store.createStream(name: "bids", shardCount: shards)
        let (data, ends) = BidGenerator.lines(n)
        try putBids(store, "bids", data, ends)
        out.line("remote: \(n) bid records (\(data.count) bytes) in \(shards) shards at \(endpoint) (sluice serve's API, this process)")
        out.flush()

        let phases = Set((a.value("phases") ?? "read,fanout,write").split(separator: ",").map(String.init))
        var read = Int64(n), written = Int64(n)
        let remoteDDL = BenchCommand.bidsDDL.replacingOccurrences(of: "WITH (shards = 1, format = 'json')",
                                                                   with: "WITH (connector = 'kinesis', stream = 'bids', endpoint = '\(endpoint)', format = 'json')")
        // Reading: by GetRecords polling, and by enhanced fan-out (SubscribeToShard).
        for (phase, how, extra) in [("read", "polling", ""), ("fanout", "enhanced fan-out, SubscribeToShard", ", consumer = 'bench'")] where phases.contains(phase) {
            let readStore = try scratchStore(base + "/reader-\(phase)")
            defer { readStore.close() }
            let reader = Engine(store: readStore)
            reader.aws = env
            try reader.load(Parser.parse(remoteDDL.replacingOccurrences(of: "format = 'json')", with: "format = 'json'\(extra))")).script)
            var windows = 0
            try reader.start(query: Parser.parse(BenchCommand.baselineQueries.first { $0.0 == "c" }!.1 + ";").script.statements.compactMap {
                if case .query(let q) = $0.kind { return q } else { return nil }
            }[0], label: "c") { windows += $0.count }
            let watch = Stopwatch()
            try reader.runUntilEnd()
            let readSeconds = watch.elapsedSeconds
            let got = reader.counters[0].recordsIn
            if got != Int64(n) { err.line("error: the query read \(got) records of \(n)") }
            if reader.counters[0].bad > 0 { err.line("error: \(reader.counters[0].bad) records could not be decoded") }
            read = min(read, got)
            out.line(String(format: "%@ (query c over the remote stream, %@): %@ records/s, %.2f s, %d window rows", phase, how, fmt(Double(got) / readSeconds), readSeconds, windows))
            out.flush()
        }
        if phases.contains("write") {
        try store.createStream(name: "copy", shardCount: shards)
        let writeStore = try scratchStore(base + "/writer")
        defer { writeStore.close() }
        try writeStore.createStream(name: "bids", shardCount: 1)
        try putBids(writeStore, "bids", data, ends)
        let writer = Engine(store: writeStore)
        writer.aws = env
        try writer.load(Parser.parse(BenchCommand.bidsDDL + """
            CREATE STREAM copy (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR)
              WITH (connector = 'kinesis', stream = 'copy', endpoint = '\(endpoint)', partition_key = 'auction');
            """).script)
        let writeWatch = Stopwatch()
        try writer.load(Parser.parse("INSERT INTO copy SELECT * FROM bids;").script)
        try writer.runUntilEnd()
        let writeSeconds = writeWatch.elapsedSeconds
        written = try store.writeCounters(name: "copy").records
        if written != Int64(n) { err.line("error: \(written) records of \(n) reached the remote stream") }
        out.line(String(format: "write (INSERT INTO the remote stream, PutRecords of 500): %@ records/s, %.2f s", fmt(Double(written) / writeSeconds), writeSeconds))
        }
        if let workersText = a.value("workers") {
            guard let lease = a.value("lease-endpoint") else {
                throw UsageError("--workers needs --lease-endpoint URL: a DynamoDB endpoint for the lease table (moto_server -p 5000: http://127.0.0.1:5000)")
            }
            var first: Double? = nil
            for (round, text) in workersText.split(separator: ",").enumerated() {
                guard let w = Int(text), w >= 1 else { throw UsageError("--workers takes counts such as 1,2, not '\(workersText)'") }
                let app = "bench-\(getpid())-\(round)"
                let options = "format = 'json', partition_key = 'auction', application = '\(app)', lease_endpoint = '\(lease)', state = '\(base)/state', lease_failover = '3s')"
                let sql = remoteDDL.replacingOccurrences(of: "format = 'json')", with: options)
                    + "CREATE SINK out WITH (type = 'file', path = '\(base)/\(app)/{worker}-{shard}.jsonl');\n"
                    + "INSERT INTO out SELECT window_end, auction, COUNT(*) AS n, MAX(price) AS top FROM TUMBLE(bids, \"dateTime\", INTERVAL '10' SECOND) "
                    + "GROUP BY window_start, window_end, auction;"
                var engines: [Engine] = []
                var stores: [StreamStore] = []
                for i in 0..<w {
                    let st = try scratchStore(base + "/\(app)-worker-\(i)")
                    stores.append(st)
                    let e = Engine(store: st)
                    e.aws = env
                    e.workerId = "w\(i)"
                    try e.load(Parser.parse(sql).script)
                    engines.append(e)
                }
                let failures = Mutex<[String]>([])
                let watch = Stopwatch()
                let all = Workers(engines)
                DispatchQueue.concurrentPerform(iterations: w) { i in
                    do { try all.engines[i].runUntilEnd() } catch { failures.withLock { $0.append("\(error)") } }
                }
                let seconds = watch.elapsedSeconds
                for st in stores { st.close() }
                if let f = failures.withLock({ $0.first }) { err.line("error: a worker failed: \(f)") }
                let rate = Double(n) / seconds
                let ratio = first.map { String(format: ", %.2fx one worker", rate / $0) } ?? ""
                if first == nil { first = rate }
                out.line(String(format: "%d worker%@ sharing the stream through leases (query c per auction, a lane per shard): %@ records/s, %.2f s%@",
                                w, w == 1 ? "" : "s", fmt(rate), seconds, ratio))
                out.flush()
            }
        }
        out.line(String(format: "peak RSS %.0f MB", peakRSSMegabytes()))
        return read == Int64(n) && written == Int64(n) ? 0 : 1
    }

    /// The bids put into a stream of `store` in PutRecords-sized batches, keyed by auction.
    private func putBids(_ store: StreamStore, _ stream: String, _ data: [UInt8], _ ends: [Int]) throws {
        var start = 0, k = 0
        while k < ends.count {
            var packed = PackedRecords()
            let upto = min(ends.count, k + 500)
            data.withUnsafeBytes { d in
                for i in k..<upto {
                    packed.append(data: UnsafeRawBufferPointer(rebasing: d[start..<(ends[i] - 1)]), partitionKey: "a\(i % 1000)")
                    start = ends[i]
                }
            }
            _ = try store.putRecords(stream: stream, packed: packed)
            k = upto
        }
    }
}

/// The bench's workers, each engine run by one thread of its own.
private final class Workers: @unchecked Sendable {
    let engines: [Engine]
    init(_ engines: [Engine]) { self.engines = engines }
}
