import Foundation
import SluiceCodecs
import SluiceCore
import SluiceEngine
import SluiceSQL
import SluiceStreams

/// `sluice bench ...`: throughput measurements. Build with `swift build -c release` first:
/// figures from a debug build say nothing.
struct BenchCommand {
    let out: OutputStream
    let err: OutputStream

    static let usage = """
        usage: sluice bench stream [--records N] [--record-bytes B] [--shards 1,4] [--keys K]
                                   [--fsync never|always|interval[:MS]] [--dir DIR]
          Puts N records of B bytes through the PutRecords batch path (500 per call), then reads them
          all back with GetRecords (10,000 per call), once per shard count; one thread throughout.
               sluice bench decode [--records N] [--runs R]
          Decodes N generated bid records (JSON lines, default 1,000,000) into columns: the three fields a
          windowed query reads (auction, price, dateTime), then all seven; fastest of R runs (default 3).
               sluice bench queries [--records N] [--file FILE] [--queries a,b,c,d,e,f] [--sources file,stream,replay] [--duckdb PYTHON]
                                    [--duckdb-threads T] [--runs R]
          The baseline queries of ../shared/reference/performance-baseline.md over generated bids (default
          5,000,000, seed 42): (a) count, (b) filter and project, (c) 10 s tumbling window per auction with
          COUNT and MAX(price), (d) 10 s / 2 s hopping window per auction with COUNT, (e) sessions per auction
          with a 1 s gap and COUNT (DuckDB computes it with LAG and a running sum), (f) an interval self-join:
          each bid with the bids at the same price on the same auction within the next second (DuckDB: a
          range join of the file with itself; the file source decodes each line once for both sides, the
          stream source reads and decodes the stream once per side); each read from the JSON
          file and from the built-in stream (loaded once, not timed); the replay source is `sluice run --input`
          end to end: a fresh stream (scratch: no fsync), the file put into it on a thread of its own while the query
          reads it on another, timed from the start of the load to the end of the query. Records/s, MB/s and
          peak memory, with result checksums. With --duckdb PYTHON (a Python with duckdb installed), DuckDB
          runs the same query on the same file, one thread (--duckdb-threads T: T), in the same run, through
          ../shared/bench/bench.py, and the ratio is printed. --runs R times each
          side R times and keeps the fastest (default 1); results must agree from run to run.
               sluice bench parallel [--records N] [--file FILE] [--query c] [--queries Q]
          Persistent queries as `sluice serve` runs them, each on a thread of its own, over N bids in the built-in
          stream (default 2,000,000, loaded first, not timed): one query alone, then Q copies of it (default 2) at
          once, then the Q copies stepped in turn by one loop on one thread; seconds until every copy has read
          every record, and each time over the time of one alone.
               sluice bench firehose [--records N] [--buffer-size 64MB] [--fsync POLICY] [--dir DIR]
          Puts N generated bids (default 2,000,000) through PutRecordBatch into a firehose writing GZIP
          objects, delivered as buffers fill; records/s and MB/s, and gzip -6 on the same bytes in the
          same run, with the ratio of the two.
               sluice bench serve [--records N] [--connections C] [--shards S] [--fsync POLICY]
          Starts the Kinesis endpoint of `sluice serve` in this process and drives it over loopback with C
          keep-alive connections (default 4) sending PutRecords of 500 generated bids (default 1,000,000
          records, 4 shards), then reads every shard back with GetRecords; records/s, MB/s, p50/p99 latency.
               sluice bench rcf [--records N] [--columns 1,2,4] [--trees 100] [--sample-size 256] [--score depth|displacement]
          Random cut forest scoring throughput on seeded Gaussian data (each record scored, then added).
               sluice bench anomalies [--shapes level-shift,spikes,seasonal-drift,stuck,bursts,amplitude,ramp] [--seed S] [--trees 100]
                                      [--sample-size 256] [--score depth|displacement] [--forest-seeds 3] [--scores-dir DIR]
          Precision and recall of the random cut forest on seeded series with planted anomalies (see
          `sluice gen shapes`); --scores-dir writes each series with its scores for Tests/peers/rcf_peers.py.
               sluice bench parse [--statements N] [--runs R] [--write FILE]
          Lexes and parses a file of N statements of every kind (default 10,000), R times (default 5),
          and reports the fastest run; --write also saves the file.
               sluice bench nexmark [--events N] [--rate R] [--queries q0,q5,...] [--sources file,stream] [--runs R]
                                    [--queries-dir queries/nexmark] [--dir DIR]
          The Nexmark queries of queries/nexmark (run it from the repository) over N generated events
          (default 10,000,000, 10,000 a second of event time, see sluice gen nexmark): events/s (all the
          events generated, over the query's time), records read, rows out and peak memory, from the JSON
          files (queries over one stream) and from the built-in streams (loaded once, not timed); one thread.
               sluice bench remote [--records N] [--shards S] [--phases read,fanout,write] [--dir DIR]
                                   [--workers 1,2 --lease-endpoint URL]
          Queries over a remote Kinesis stream (sluice serve's API in this process, on a loopback port):
          N generated bids (default 1,000,000) in S shards (default 8) read by a 10 s window per auction
          through GetRecords polling (read) and enhanced fan-out (fanout), and INSERTed INTO a remote
          stream (write); --workers times that many workers sharing the stream through a DynamoDB lease
          table at --lease-endpoint (moto_server).
        """

    func run(_ argv: ArraySlice<String>) throws -> Int32 {
        guard let what = argv.first else { throw UsageError("missing benchmark name\n" + BenchCommand.usage) }
        switch what {
        case "stream":
            let a = try Arguments(argv.dropFirst(), valued: ["records", "record-bytes", "shards", "keys", "fsync", "dir"])
            return try stream(a)
        case "parse":
            let a = try Arguments(argv.dropFirst(), valued: ["statements", "runs", "write"])
            return try parse(a)
        case "decode":
            let a = try Arguments(argv.dropFirst(), valued: ["records", "runs"])
            return try decode(a)
        case "queries":
            let a = try Arguments(argv.dropFirst(), valued: ["records", "file", "queries", "sources", "duckdb", "duckdb-threads", "dir", "runs"])
            return try queries(a)
        case "firehose":
            let a = try Arguments(argv.dropFirst(), valued: ["records", "buffer-size", "fsync", "dir"])
            return try firehose(a)
        case "serve":
            let a = try Arguments(argv.dropFirst(), valued: ["records", "connections", "shards", "fsync", "dir"])
            return try serve(a)
        case "remote":
            return try remote(try Arguments(argv.dropFirst(), valued: ["records", "shards", "dir", "phases", "workers", "lease-endpoint"]))
        case "rcf":
            return try rcf(try Arguments(argv.dropFirst(), valued: ["records", "columns", "trees", "sample-size", "score"]))
        case "anomalies":
            return try anomalies(try Arguments(argv.dropFirst(), valued: ["shapes", "seed", "trees", "sample-size", "scores-dir", "forest-seeds", "score"]))
        case "parallel":
            return try parallel(try Arguments(argv.dropFirst(), valued: ["records", "file", "query", "queries", "dir"]))
        case "nexmark":
            return try nexmark(try Arguments(argv.dropFirst(), valued: ["events", "rate", "queries", "sources", "runs", "queries-dir", "dir"]))
        case "--help", "-h", "help":
            out.line(BenchCommand.usage)
            return 0
        default:
            throw UsageError("unknown benchmark '\(what)' (known: stream, parse, decode, queries, parallel, firehose, serve, rcf, anomalies, nexmark)")
        }
    }

    private func stream(_ a: Arguments) throws -> Int32 {
        let records = try a.int("records") ?? 2_000_000
        let size = try a.int("record-bytes") ?? 100
        let keys = try a.int("keys") ?? 1000
        let shardCounts = try (a.value("shards") ?? "1,4").split(separator: ",").map { s -> Int in
            guard let n = Int(s), n >= 1 else { throw UsageError("--shards takes a list of shard counts, like 1,4") }
            return n
        }
        guard records >= 500, size >= 1, size <= 1 << 20, keys >= 1 else {
            throw UsageError("--records must be at least 500, --record-bytes 1 to 1048576, --keys at least 1")
        }
        let fsync = try a.value("fsync").map { f throws -> FsyncPolicy in
            guard let p = FsyncPolicy(f) else { throw UsageError("bad --fsync '\(f)'") }
            return p
        } ?? .interval(millis: 1000)
        let base = a.value("dir") ?? NSTemporaryDirectory() + "sluice-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: base) }

        #if DEBUG
        err.line("warning: this is a debug build; build with 'swift build -c release' for meaningful figures")
        #endif
        out.line("stream store: \(records) records of \(size) bytes, \(keys) partition keys, PutRecords of 500, "
                 + "GetRecords of 10,000, fsync \(describe(fsync)), one thread")
        out.line(pad("shards", 7) + pad("put rec/s", 13) + pad("put MB/s", 10) + pad("get rec/s", 13) + pad("get MB/s", 10) + "peak RSS MB")
        out.flush()

        // Prebuilt batches, reused round-robin: the producer's cost stays out of the figure.
        var rng = SplitMix64(seed: 42)
        let keyNames = (0..<keys).map { "user-\($0)" }
        let batchCount = 16
        let batches: [[PutRecordsRequestEntry]] = (0..<batchCount).map { b in
            (0..<500).map { i in
                let data = (0..<size).map { _ in UInt8(truncatingIfNeeded: 32 + rng.next() % 95) }
                return PutRecordsRequestEntry(data: data, partitionKey: keyNames[(b * 500 + i) % keys])
            }
        }
        for shards in shardCounts {
            let dir = base + "/s\(shards)"
            var config = StoreConfiguration(dataDirectory: dir)
            config.fsync = fsync
            config.shardLimit = max(500, shards)
            let store = try StreamStore(configuration: config)
            try store.createStream(name: "bench", shardCount: shards)
            let calls = records / 500
            let putWatch = Stopwatch()
            var failed = 0
            for c in 0..<calls {
                failed += try store.putRecords(stream: "bench", records: batches[c % batchCount]).failedRecordCount
            }
            let putSeconds = putWatch.elapsedSeconds
            let written = calls * 500
            if failed > 0 { err.line("warning: \(failed) records failed") }

            let getWatch = Stopwatch()
            var read = 0
            var checksum: UInt64 = 0
            for shard in try store.listShards(streamName: "bench").shards {
                var it: String? = try store.getShardIterator(stream: "bench", shardId: shard.shardId, type: .trimHorizon)
                while let i = it {
                    let r = try store.getRecords(shardIterator: i, limit: 10000)
                    for k in 0..<r.records.count {
                        checksum &+= r.records.withData(k) { UInt64($0[0]) &+ UInt64($0.count) }
                    }
                    read += r.records.count
                    it = r.records.count == 0 && r.millisBehindLatest == 0 ? nil : r.nextShardIterator
                }
            }
            let getSeconds = getWatch.elapsedSeconds
            store.close()
            guard read == written else {
                err.line("error: wrote \(written) records but read back \(read)")
                return 1
            }
            let mb = Double(written * size) / 1e6
            out.line(pad(String(shards), 7) + pad(fmt(Double(written) / putSeconds), 13) + pad(fmt2(mb / putSeconds), 10)
                     + pad(fmt(Double(read) / getSeconds), 13) + pad(fmt2(mb / getSeconds), 10) + fmt2(peakRSSMegabytes()))
            out.flush()
            _ = checksum
            try? FileManager.default.removeItem(atPath: dir)
        }
        return 0
    }

    /// A file of `n` statements cycling through the dialect's statement kinds, with varying names,
    /// literals and nesting.
    static func parseBenchScript(statements n: Int) -> String {
        var out = ""
        out.reserveCapacity(n * 200)
        for i in 0..<n {
            let s = "s\(i % 97)", c = "c\(i % 13)"
            switch i % 8 {
            case 0:
                out += "CREATE STREAM \(s) (user_id VARCHAR, url VARCHAR PATH '$.page.url', latency_ms DOUBLE, status BIGINT, ts TIMESTAMP,\n"
                    + "  WATERMARK FOR ts AS ts - INTERVAL '\(i % 10)' SECOND) WITH (shards = \(1 + i % 8), partition_key = 'user_id', format = 'json');\n"
            case 1:
                out += "INSERT INTO out_\(i % 7) SELECT window_start, window_end, url, COUNT(*) AS hits, AVG(latency_ms) AS avg_ms\n"
                    + "FROM TUMBLE(\(s), ts, INTERVAL '1' MINUTE) WHERE latency_ms >= \(i % 100) AND status <> 500\n"
                    + "GROUP BY window_start, window_end, url HAVING AVG(latency_ms) > \(i % 1000);\n"
            case 2:
                out += "SELECT user_id, \(c), CASE WHEN latency_ms > \(i) THEN 'slow' WHEN latency_ms > 100 THEN 'ok' ELSE 'fast' END AS speed,\n"
                    + "  EXTRACT(HOUR FROM ts) AS h, FLOOR(ts TO MINUTE) AS m, LOWER(TRIM(url)) || '/' || CAST(status AS VARCHAR)\n"
                    + "FROM \(s) WHERE url LIKE '/products/%' AND status IN (200, 201, 204) AND latency_ms BETWEEN 0 AND \(i + 10) LIMIT 100;\n"
            case 3:
                out += "CREATE ALERT alert_\(i) SEVERITY 'critical' AS SELECT window_end, url, AVG(latency_ms) AS avg_ms\n"
                    + "FROM HOP(\(s), ts, SIZE INTERVAL '5' MINUTE, ADVANCE INTERVAL '1' MINUTE) GROUP BY window_start, window_end, url\n"
                    + "FIRE WHEN avg_ms > \(1000 + i) RESOLVE WHEN avg_ms < 800 PER url COOLDOWN INTERVAL '10' MINUTE\n"
                    + "MESSAGE 'Average latency on {url} is {avg_ms} ms' NOTIFY 'file:out/alerts.jsonl';\n"
            case 4:
                out += "SELECT c.user_id, p.owner, SUM(c.latency_ms) OVER (PARTITION BY c.user_id ORDER BY c.ts RANGE INTERVAL '1' MINUTE PRECEDING) AS s\n"
                    + "FROM \(s) AS c LEFT JOIN pages AS p ON c.url = p.url WHERE (c.status / 100) % 5 = 2 EMIT CHANGES;\n"
            case 5:
                out += "SELECT * FROM RANDOM_CUT_FOREST(\(s), COLUMNS (hits, avg_ms), PARTITION BY url, trees => 100, sample_size => 256, shingle => 4);\n"
            case 6:
                out += "CREATE STREAM derived_\(i) AS SELECT user_id, COUNT(DISTINCT url) AS pages FROM SESSION(\(s) PARTITION BY user_id, ts, GAP INTERVAL '30' MINUTE)\n"
                    + "GROUP BY window_start, window_end, user_id;\n"
            default:
                out += "-- a comment before a small statement\n"
                out += ["SET result_mode = 'table';", "SHOW STREAMS;", "DESCRIBE \(s);", "DROP SINK IF EXISTS out_\(i);"][(i / 8) % 4] + "\n"
            }
        }
        return out
    }

    private func parse(_ a: Arguments) throws -> Int32 {
        let n = try a.int("statements") ?? 10_000
        let runs = try a.int("runs") ?? 5
        guard n >= 1, runs >= 1 else { throw UsageError("--statements and --runs must be at least 1") }
        #if DEBUG
        err.line("warning: this is a debug build; build with 'swift build -c release' for meaningful figures")
        #endif
        let text = BenchCommand.parseBenchScript(statements: n)
        if let path = a.value("write") { try text.write(toFile: path, atomically: true, encoding: .utf8) }
        let bytes = Array(text.utf8)
        var best = Double.infinity
        var parsed = 0
        for _ in 0..<runs {
            let watch = Stopwatch()
            let r = Parser.parse(bytes: bytes)
            best = min(best, watch.elapsedSeconds)
            if r.hasErrors {
                err.line("error: the benchmark file does not parse: \(r.diagnostics[0])")
                return 1
            }
            parsed = r.script.statements.count
        }
        out.line("parse: a file of \(parsed) statements, \(bytes.count) bytes, lexed and parsed; fastest of \(runs) runs")
        out.line(String(format: "%.1f ms for the file, %.0f statements/s, %.1f MB/s", best * 1000, Double(parsed) / best,
                        Double(bytes.count) / 1e6 / best))
        return 0
    }

    private func decode(_ a: Arguments) throws -> Int32 {
        let n = try a.int("records") ?? 1_000_000
        let runs = try a.int("runs") ?? 3
        guard n >= 1, runs >= 1 else { throw UsageError("--records and --runs must be at least 1") }
        #if DEBUG
        err.line("warning: this is a debug build; build with 'swift build -c release' for meaningful figures")
        #endif
        let (data, ends) = BidGenerator.lines(n)
        let few = [FieldSpec(name: "auction", type: .bigint), FieldSpec(name: "price", type: .bigint),
                   FieldSpec(name: "dateTime", type: .timestamp)]
        let all = few + [FieldSpec(name: "bidder", type: .bigint), FieldSpec(name: "channel", type: .varchar),
                         FieldSpec(name: "url", type: .varchar), FieldSpec(name: "extra", type: .varchar)]
        out.line("decode: \(n) bid records, \(data.count) bytes of JSON lines, batches of 4,096 records; fastest of \(runs) runs")
        for (label, fields) in [("0 fields", [FieldSpec]()), ("3 fields", few), ("7 fields", all)] {
            var best = Double.infinity
            var bad = 0
            for _ in 0..<runs {
                var decoder = JSONRecordDecoder(fields: fields)
                var builders = fields.map { ColumnBuilder($0.type, capacity: 4096) }
                bad = 0
                let watch = Stopwatch()
                data.withUnsafeBytes { buf in
                    var start = 0
                    for (i, end) in ends.enumerated() {
                        if decoder.decode(UnsafeRawBufferPointer(rebasing: buf[start..<end]), into: &builders) != nil { bad += 1 }
                        start = end
                        if i % 4096 == 4095 { for j in builders.indices { _ = builders[j].finish() } }
                    }
                }
                best = min(best, watch.elapsedSeconds)
            }
            if bad > 0 { err.line("error: \(bad) records failed to decode") }
            out.line(pad(label, 10) + String(format: "%.2f M records/s, %.0f MB/s", Double(n) / best / 1e6, Double(data.count) / 1e6 / best))
        }
        return 0
    }

    static let bidsDDL = """
        CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
          WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (shards = 1, format = 'json');
        """

    static let baselineQueries: [(String, String)] = [
        ("a", "SELECT COUNT(*) AS n FROM bids EMIT CHANGES EVERY INTERVAL '1' DAY"),
        ("b", "SELECT auction, price FROM bids WHERE auction % 123 = 0"),
        ("c", """
            SELECT auction, window_start, COUNT(*) AS num, MAX(price) AS max_price
            FROM TUMBLE(bids, "dateTime", INTERVAL '10' SECOND) GROUP BY window_start, window_end, auction
            """),
        ("d", """
            SELECT auction, window_start, COUNT(*) AS num
            FROM HOP(bids, "dateTime", SIZE INTERVAL '10' SECOND, ADVANCE INTERVAL '2' SECOND) GROUP BY window_start, window_end, auction
            """),
        ("e", """
            SELECT auction, window_start, COUNT(*) AS num
            FROM SESSION(bids PARTITION BY auction, "dateTime", GAP INTERVAL '1' SECOND) GROUP BY window_start, window_end, auction
            """),
        ("f", """
            SELECT a.auction, a.price, b.bidder AS later_bidder FROM bids a JOIN bids b
            ON a.auction = b.auction AND a.price = b.price
            AND b."dateTime" BETWEEN a."dateTime" + INTERVAL '1' MILLISECOND AND a."dateTime" + INTERVAL '1' SECOND
            """),
    ]


    /// A Python script timing one query in DuckDB (one thread) over the bids file named by its
    /// argument; it prints the seconds and the checksums of `Checksum`. `sql` is a Python
    /// expression building the query text, with `{src}` the file read as JSON lines.
    static func duckdbScript(_ sql: String, sumColumn: String) -> String {
        """
        import duckdb, json, sys, time
        path = sys.argv[1]
        con = duckdb.connect()
        con.execute(f"SET threads = {int(sys.argv[2]) if len(sys.argv) > 2 else 1}")
        src = (f"read_json('{path}', format='newline_delimited', columns={{auction:'BIGINT', bidder:'BIGINT', "
               f"price:'BIGINT', channel:'VARCHAR', url:'VARCHAR', dateTime:'BIGINT', extra:'VARCHAR'}})")
        sql = \(sql)
        t0 = time.perf_counter()
        con.execute(f"CREATE TEMP TABLE result AS {sql}")
        dt = time.perf_counter() - t0
        rows, sum_auction, sum_num = con.execute("SELECT count(*), sum(auction), sum(\(sumColumn)) FROM result").fetchone()
        print(json.dumps({"seconds": dt, "result": {"rows": rows, "sum_auction": int(sum_auction or 0), "sum_num": int(sum_num or 0)}}))
        """
    }

    /// DuckDB's batch form of (e), sessions by gaps: a new session where the previous bid of the
    /// auction is a second or more before (../shared/bench/bench.py has (a)-(d) only).
    static let duckdbSessions = duckdbScript("""
        (f"WITH b AS (SELECT auction, dateTime AS t, CASE WHEN t - lag(t) OVER (PARTITION BY auction ORDER BY t) < 1000 "
               f"THEN 0 ELSE 1 END AS fresh FROM {src}), "
               f"s AS (SELECT auction, t, sum(fresh) OVER (PARTITION BY auction ORDER BY t ROWS UNBOUNDED PRECEDING) AS sid FROM b) "
               f"SELECT auction, min(t) AS window_start, max(t) + 1000 AS window_end, count(*) AS num FROM s GROUP BY auction, sid")
        """, sumColumn: "num")

    /// DuckDB's batch form of (f), the interval self-join: the same bid price on the same auction
    /// again within the next second.
    static let duckdbIntervalJoin = duckdbScript("""
        (f"WITH b AS (SELECT auction, bidder, price, dateTime AS t FROM {src}) "
               f"SELECT x.auction, x.price, y.bidder AS later_bidder FROM b x JOIN b y ON x.auction = y.auction AND x.price = y.price "
               f"AND y.t BETWEEN x.t + 1 AND x.t + 1000")
        """, sumColumn: "later_bidder")

    /// Checksums in the form of the baseline's golden results: rows, sum(auction), sum(num), sum(max_price).
    struct Checksum: CustomStringConvertible {
        var rows = 0, auction: Int64 = 0, num: Int64 = 0, maxPrice: Int64 = 0, count: Int64 = 0
        mutating func add(_ query: String, _ rows: [[Value]]) {
            for r in rows {
                switch query {
                case "a": if case .int(let n) = r[0] { count = n }
                case "b": self.rows += 1; if case .int(let a) = r[0] { auction &+= a }
                default:
                    self.rows += 1
                    if case .int(let a) = r[0] { auction &+= a }
                    if case .int(let n) = r[2] { num &+= n }
                    if r.count > 3, case .int(let p) = r[3] { maxPrice &+= p }
                }
            }
        }
        var description: String { count > 0 ? "count=\(count)" : "rows=\(rows) sum(auction)=\(auction) sum(num)=\(num)" + (maxPrice > 0 ? " sum(max_price)=\(maxPrice)" : "") }
    }

    private func queries(_ a: Arguments) throws -> Int32 {
        #if DEBUG
        err.line("warning: this is a debug build; build with 'swift build -c release' for meaningful figures")
        #endif
        let n = try a.int("records") ?? 5_000_000
        let base = a.value("dir") ?? NSTemporaryDirectory() + "sluice-bench-queries-\(getpid())"
        try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { if a.value("dir") == nil { try? FileManager.default.removeItem(atPath: base) } }
        var path = a.value("file") ?? ""
        if path.isEmpty {
            path = base + "/bids.jsonl"
            let watch = Stopwatch()
            BenchCommand.writeBids(n, to: path)
            err.line(String(format: "generated %d bids in %.1f s", n, watch.elapsedSeconds))
        }
        let size = Double((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
        let wanted = Set((a.value("queries") ?? "a,b,c,d,e,f").split(separator: ",").map(String.init))
        let sources = (a.value("sources") ?? "file,stream").split(separator: ",").map(String.init)
        let duckThreads = try a.int("duckdb-threads") ?? 1
        guard duckThreads >= 1 else { throw UsageError("--duckdb-threads must be at least 1") }
        let duckThreadsNote = a.value("duckdb") == nil ? "" : ", DuckDB \(duckThreads) thread\(duckThreads == 1 ? "" : "s")"
        out.line("queries over \(path) (\(Int(size / 1e6)) MB), one thread (replay: two, the load and the query)" + (duckThreadsNote) + "; peak RSS is the process's high-water mark so far")
        out.line(pad("query", 7) + pad("source", 8) + pad("records/s", 12) + pad("MB/s", 8) + pad("peak MB", 9) + pad("duckdb rec/s", 14) + pad("ratio", 7) + "checksum")
        out.flush()
        var store: StreamStore? = nil
        var streamEngine: Engine? = nil
        defer { store?.close() }
        let runs = try a.int("runs") ?? 1
        guard runs >= 1 else { throw UsageError("--runs must be at least 1") }
        if let bad = sources.first(where: { !["file", "stream", "replay"].contains($0) }) {
            throw UsageError("unknown source '\(bad)' (known: file, stream, replay)")
        }
        for (name, sql) in BenchCommand.baselineQueries where wanted.contains(name) {
            var duck: Double? = nil
            if let py = a.value("duckdb") {
                // The fastest of the runs, on both sides: this machine is shared and noisy.
                for _ in 0..<runs { if let t = duckdb(py, name, path, threads: duckThreads) { duck = min(duck ?? t, t) } }
            }
            for source in sources {
              var best: (seconds: Double, records: Int64, sum: Checksum)? = nil
              for _ in 0..<runs {
                let (stmt, _) = Parser.parseStatement(sql)
                guard case .query(let q)? = stmt?.kind else { throw UsageError("bad benchmark query \(name)") }
                var sum = Checksum()
                let seconds: Double
                var records: Int64 = 0
                if source == "file" {
                    (seconds, records) = try timedReplay(Parser.parse(BenchCommand.bidsDDL).script, q, file: path, dir: base + "/file-\(name)") { sum.add(name, $0) }
                } else if source == "replay" {
                    (seconds, records) = try timedLoadAndRun(q, name, file: path, dir: base + "/replay-\(name)") { sum.add(name, $0) }
                } else {
                    if streamEngine == nil {
                        let s = try scratchStore(base + "/stream")
                        store = s
                        let e = Engine(store: s)
                        try e.load(Parser.parse(BenchCommand.bidsDDL).script)
                        let watch = Stopwatch()
                        let put = try e.loadInput(stream: "bids", path: path)
                        err.line(String(format: "loaded %d records into the built-in stream in %.1f s (%.0f records/s)", put, watch.elapsedSeconds, Double(put) / watch.elapsedSeconds))
                        streamEngine = e
                    }
                    let e = streamEngine!
                    let before = e.counters.count
                    try e.start(query: q, label: name) { sum.add(name, $0) }
                    let watch = Stopwatch()
                    try e.runUntilEnd()
                    seconds = watch.elapsedSeconds
                    // A self-join reads the stream once per side: count its records once.
                    records = e.counters[before].recordsIn / Int64(max(1, Engine.sourceCount(q, e)))
                }
                if let b = best, b.sum.description != sum.description {
                    err.line("warning: query \(name) from \(source) gave another result in a later run: \(sum) vs \(b.sum)")
                }
                if best == nil || seconds < best!.seconds { best = (seconds, records, sum) }
              }
                let (seconds, records, sum) = best!
                let rate = Double(records) / seconds
                out.line(pad("(\(name))", 7) + pad(source, 8) + pad(fmt(rate), 12) + pad(fmt(size / 1e6 / seconds), 8) + pad(fmt(peakRSSMegabytes()), 9)
                         + pad(duck.map { fmt(Double(records) / $0) } ?? "-", 14) + pad(duck.map { String(format: "%.2f", (Double(records) / seconds) / (Double(records) / $0)) } ?? "-", 7)
                         + sum.description)
                out.flush()
            }
        }
        return 0
    }

    /// A query replayed from a file on a scratch engine with `ddl` declared: its time (the replay
    /// alone) and the records it read.
    func timedReplay(_ ddl: Script, _ q: Query, file: String, dir: String, onRows: @escaping ([[Value]]) -> Void) throws -> (Double, Int64) {
        let engine = Engine(store: try scratchStore(dir))
        defer { engine.store.close() }
        try engine.load(ddl)
        let watch = Stopwatch()
        let c = try engine.replay(query: q, file: file, onRows: onRows)
        return (watch.elapsedSeconds, c.recordsIn)
    }

    /// `n` generated bids (seed 42) as JSON lines in `path`, written 4 MB at a time.
    static func writeBids(_ n: Int, to path: String) {
        var g = BidGenerator()
        let sink = OutputStream(fd: open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644))
        var buffer: [UInt8] = []
        for _ in 0..<n {
            g.appendNext(to: &buffer)
            if buffer.count >= 1 << 22 { sink.write(bytes: buffer); buffer.removeAll(keepingCapacity: true) }
        }
        sink.write(bytes: buffer)
        sink.flush()
        close(sink.fd)
    }

    /// `sluice run --input` end to end: a fresh store (without fsync, as a run's scratch store), the
    /// file put into the stream on a thread of its own while the query reads it on this one; the
    /// time from the start of the load to the end of the query, and the records it read.
    func timedLoadAndRun(_ q: Query, _ name: String, file: String, dir: String, onRows: @escaping ([[Value]]) -> Void) throws -> (Double, Int64) {
        try? FileManager.default.removeItem(atPath: dir)
        let store = try scratchStore(dir)
        defer { store.close(); try? FileManager.default.removeItem(atPath: dir) }
        let engine = Engine(store: store)
        try engine.load(Parser.parse(BenchCommand.bidsDDL).script)
        try engine.start(query: q, label: name, onRows: onRows)
        let watch = Stopwatch()
        try engine.run(whileLoading: [try engine.inputLoader(stream: "bids", path: file)])
        try engine.runUntilEnd()
        let seconds = watch.elapsedSeconds
        return (seconds, engine.counters[0].recordsIn / Int64(max(1, Engine.sourceCount(q, engine))))
    }

    func scratchStore(_ dir: String) throws -> StreamStore {
        var c = StoreConfiguration(dataDirectory: dir)
        c.fsync = .never
        return try StreamStore(configuration: c)
    }

    /// Seconds DuckDB takes for the query, from ../shared/bench/bench.py (one thread unless told).
    private func duckdb(_ python: String, _ query: String, _ file: String, threads: Int) -> Double? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        if query == "e" || query == "f" {
            let path = NSTemporaryDirectory() + "sluice-duckdb-\(query)-\(getpid()).py"
            _ = FileManager.default.createFile(atPath: path, contents: Data((query == "e" ? BenchCommand.duckdbSessions : BenchCommand.duckdbIntervalJoin).utf8))
            p.arguments = [path, file, String(threads)]
        } else {
            let script = ["../shared/bench/bench.py", "shared/bench/bench.py"].first { FileManager.default.fileExists(atPath: $0) }
            guard let s = script else {
                err.line("warning: ../shared/bench/bench.py not found; no DuckDB comparison")
                return nil
            }
            p.arguments = [s, "duckdb", query, file, "--threads", String(threads)]
        }
        let pipe = Pipe()
        p.standardOutput = pipe
        do { try p.run() } catch { err.line("warning: cannot run \(python): \(error)"); return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let j = try? JSONValue.parse(bytes: [UInt8](data)), let secs = j["seconds"]?.doubleValue else {
            err.line("warning: DuckDB did not run query \(query)")
            return nil
        }
        err.line("duckdb (\(query)): \(secs) s, result \(j["result"]?.serialized() ?? "")")
        return secs
    }

    private func describe(_ p: FsyncPolicy) -> String {
        switch p {
        case .never: return "never"
        case .always: return "always"
        case .interval(let ms): return "every \(ms) ms"
        }
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
func fmt(_ v: Double) -> String { String(Int(v.rounded())) }
func fmt2(_ v: Double) -> String { String(format: "%.1f", v) }

/// Peak resident memory of this process (VmHWM), in MB.
func peakRSSMegabytes() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    return 0
}
