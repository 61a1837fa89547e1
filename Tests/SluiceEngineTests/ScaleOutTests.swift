import Foundation
import Testing
import SluiceAWS
import SluiceCore
import SluiceKinesis
import SluiceSQL
import SluiceStreams
import SluiceTestSupport
@testable import SluiceEngine

/// Workers of one application sharing a remote stream's shards through DynamoDB leases (moto's
/// server), the stream in sluice serve's API in this process: what several workers write together,
/// with one of them dying part way (never stepped again: no checkpoint, no release, its unflushed
/// rows lost, as a SIGKILL leaves it), is exactly what one worker alone writes.
@Suite("Scale-out: workers sharing a stream's shards through leases", .enabled(if: MotoServer.path != nil, "moto is not installed: pip install 'moto[server]'"))
struct ScaleOutTests {
    static let env = AWSProfiles(environment: ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret"], home: "/nonexistent")

    /// A worker: its own scratch store (the remote stream is elsewhere), the system clock (leases
    /// expire in real time), checkpoints every 200 ms.
    final class Worker {
        let dir: String
        let store: StreamStore
        let engine: Engine
        init(_ id: String?, sql: String, base: String) throws {
            dir = base + "/worker-\(id ?? "solo")"
            var c = StoreConfiguration(dataDirectory: dir)
            c.fsync = .never
            store = try StreamStore(configuration: c)
            engine = Engine(store: store, clock: SystemClock())
            engine.aws = ScaleOutTests.env
            engine.workerId = id ?? "solo"
            engine.checkpointIntervalMillis = 200
            try engine.load(Parser.parse(sql).script)
        }
        deinit { store.close() }
    }

    static func sql(app: String, kinesis: String, dynamo: String, base: String, out: String, more: String = "") -> String {
        """
        CREATE STREAM orders (user_id VARCHAR, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
          WITH (connector = 'kinesis', stream = 'orders', endpoint = '\(kinesis)', region = 'us-east-1', partition_key = 'user_id',\(more)
                application = '\(app)', lease_endpoint = '\(dynamo)', state = '\(base)/state', lease_failover = '1s');
        CREATE SINK out WITH (type = 'file', path = '\(base)/\(out)/{worker}-{shard}.jsonl');
        INSERT INTO out SELECT window_end, user_id, COUNT(*) AS n, SUM(amount) AS total
          FROM TUMBLE(orders, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, user_id;
        """
    }

    /// Every line of every file in `dir`, sorted.
    static func rows(_ dir: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return files.flatMap { f in ((try? String(contentsOfFile: dir + "/" + f, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }.sorted()
    }

    /// Steps the workers until each has nothing left to do, then stops them cleanly.
    static func settle(_ workers: [Worker], seconds: Double = 60) throws {
        let deadline = Date().addingTimeInterval(seconds)
        var live = workers
        while !live.isEmpty && Date() < deadline {
            var busy = false
            for w in live { busy = try w.engine.step() || busy }
            if !busy { for w in live where try w.engine.scaleOutsCaughtUp() { try w.engine.stop() } }
            live.removeAll { $0.engine.scaleOuts.isEmpty }
            if !busy { usleep(10_000) }
        }
        #expect(live.isEmpty, "workers still busy at the deadline")
    }

    @Test func threeWorkersWithOneKilledWriteExactlyWhatOneWorkerWrites() throws {
        let moto = try MotoServer()
        let remote = try LocalEndpoint()
        let base = NSTemporaryDirectory() + "sluice-scale-out-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try remote.store.createStream(name: "orders", shardCount: 6)
        // 3,000 orders of 40 users over 150 s of event time, each user's in order.
        for i in 0..<3000 {
            let user = "u\(i % 40)"
            let json = #"{"user_id":"\#(user)","amount":\#(i % 13).25,"ts":"\#(TimeFormat.iso8601(1_704_067_200_000 + Int64(i) * 50))"}"#
            _ = try remote.store.putRecord(stream: "orders", data: Array(json.utf8), partitionKey: user)
        }

        // One worker alone.
        let solo = try Worker(nil, sql: Self.sql(app: "solo-app", kinesis: remote.endpoint, dynamo: moto.endpoint, base: base + "/solo", out: "out"), base: base)
        try Self.settle([solo])
        let expected = Self.rows(base + "/solo/out")
        #expect(expected.count > 500)

        // Three workers; the second dies part way.
        let text = Self.sql(app: "shared-app", kinesis: remote.endpoint, dynamo: moto.endpoint, base: base + "/shared", out: "out")
        let w1 = try Worker("w1", sql: text, base: base), w2 = try Worker("w2", sql: text, base: base), w3 = try Worker("w3", sql: text, base: base)
        // Small reads, so the run takes many steps.
        for w in [w1, w2, w3] { w.engine.pollLimit = 10 }
        // w2's rows past its last checkpoint, as they stand in its files (flushed as the OS would have them).
        func rowsPastCheckpoint() throws -> Int64 {
            guard let q = w2.engine.scaleOuts.first else { return 0 }
            var past: Int64 = 0
            for (shard, parts) in q.lanes {
                let job = parts[0]
                try job.sink.flushIfDue(now: Int64.max / 2)
                let size = ((try? FileManager.default.attributesOfItem(atPath: base + "/shared/out/w2-\(shard).jsonl"))?[.size] as? Int64) ?? 0
                let cp = (try? Data(contentsOf: URL(fileURLWithPath: job.checkpointPath))).flatMap { try? JSONValue.parse(bytes: Array($0)) }
                past += size - (cp?["sink_position"]?.int64Value ?? 0)
            }
            return past
        }
        var steps = 0, past: Int64 = 0
        while steps < 2000 {
            for w in [w1, w2, w3] { _ = try w.engine.step() }
            steps += 1
            // Killed once it holds leases and its files hold rows written since its last checkpoint.
            if steps > 20 { past = try rowsPastCheckpoint(); if past > 0 { break } }
            usleep(2_000)
        }
        // Killed: its lease renewals stop with it.
        w2.engine.scaleOuts.first?.halt()
        let killed = w2.engine.scaleOuts.first?.lanes.keys.sorted() ?? []
        #expect(!killed.isEmpty && past > 0)
        for w in [w1, w3] { w.engine.pollLimit = 10_000 }
        try Self.settle([w1, w3])
        let got = Self.rows(base + "/shared/out")
        #expect(got.count == expected.count)
        #expect(got == expected)
        // Every lease ended with a live worker and was let go cleanly.
        let table = LeaseTable(api: AWSJSONClient.dynamoDB(endpoint: moto.endpoint, credentials: AWSCredentials(accessKeyId: "A", secretAccessKey: "B", source: "t"), region: "us-east-1")!, name: "shared-app")
        let leases = try table.list()
        #expect(leases.count == 6 && leases.allSatisfy { $0.owner == nil }, "\(leases)")
        // The dead worker's leases were taken over (an owner switch each since its last checkpoint, at least).
        #expect(leases.filter { killed.contains($0.key) }.allSatisfy { $0.counter > 0 })
    }

    @Test func aQueryWhoseGroupsSpanShardsIsRefusedWithAHint() throws {
        let f = try EngineFixture()
        f.engine.aws = ScaleOutTests.env
        f.engine.workerId = "w1"
        do {
            try f.load("""
                CREATE STREAM orders (user_id VARCHAR, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
                  WITH (connector = 'kinesis', stream = 'orders', endpoint = 'http://127.0.0.1:1', region = 'us-east-1', partition_key = 'user_id',
                        application = 'app', state = '$DIR/state');
                CREATE SINK out WITH (type = 'file', path = '$DIR/out-{shard}.jsonl');
                INSERT INTO out SELECT window_end, COUNT(*) AS n FROM TUMBLE(orders, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end;
                """)
            Issue.record("a query grouping across shards was taken")
        } catch let error as EngineError {
            #expect(error.description.contains("do not include the partition key column user_id"))
            #expect(error.diagnostics.first?.help?.contains("re-partition through an intermediate stream") == true)
        }
    }

    @Test func explainSaysWhetherAQueryScalesOut() throws {
        let f = try EngineFixture()
        f.engine.aws = ScaleOutTests.env
        try f.load("""
            CREATE STREAM orders (user_id VARCHAR, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
              WITH (connector = 'kinesis', stream = 'orders', endpoint = 'http://127.0.0.1:1', region = 'us-east-1', partition_key = 'user_id',
                    application = 'app', state = '$DIR/state');
            EXPLAIN SELECT window_end, user_id, COUNT(*) AS n FROM TUMBLE(orders, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, user_id;
            EXPLAIN SELECT window_end, COUNT(*) AS n FROM TUMBLE(orders, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end;
            EXPLAIN SELECT user_id, amount * 2 AS twice FROM orders WHERE amount > 10;
            """)
        let out = f.engine.output
        #expect(out.count == 3)
        #expect(out[0].contains("Scale-out (application app): yes"))
        #expect(out[0].contains("Remote: orders is Kinesis stream orders at http://127.0.0.1:1, read by GetRecords polling"), "\(out[0])")
        #expect(out[1].contains("Scale-out (application app): no: its groups do not include the partition key column user_id"))
        #expect(out[2].contains("Scale-out (application app): yes"))
    }

    @Test func aReshardDuringTheRunMovesEachShardsGroupsToItsChildren() throws {
        let moto = try MotoServer()
        let remote = try LocalEndpoint()
        let base = NSTemporaryDirectory() + "sluice-scale-out-reshard-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try remote.store.createStream(name: "orders", shardCount: 2)
        var records: [(user: String, ts: Int64)] = []
        func put(_ range: Range<Int>) throws {
            for i in range {
                let user = "u\(i % 40)"
                let ts = 1_704_067_200_000 + Int64(i) * 50
                records.append((user, ts))
                let json = #"{"user_id":"\#(user)","amount":1.0,"ts":"\#(TimeFormat.iso8601(ts))"}"#
                _ = try remote.store.putRecord(stream: "orders", data: Array(json.utf8), partitionKey: user)
            }
        }
        try put(0..<1500)
        let text = Self.sql(app: "reshard-app", kinesis: remote.endpoint, dynamo: moto.endpoint, base: base + "/shared", out: "out")
        let w1 = try Worker("w1", sql: text, base: base), w2 = try Worker("w2", sql: text, base: base)
        for w in [w1, w2] { w.engine.pollLimit = 50 }
        for _ in 0..<30 {
            for w in [w1, w2] { _ = try w.engine.step() }
            usleep(5_000)
        }
        // Split shard 0 in two (shards 2 and 3), then merge 3 with its neighbour 1 (shard 4), and
        // more orders go to the children.
        let ranges = try remote.store.listShards(streamName: "orders").shards.map(\.hashKeyRange)
        try remote.store.splitShard(stream: "orders", shardToSplit: "shardId-000000000000", newStartingHashKey: String(ranges[0].upperBound / 2))
        try remote.store.mergeShards(stream: "orders", shardToMerge: "shardId-000000000003", adjacentShardToMerge: "shardId-000000000001")
        try put(1500..<3000)
        for w in [w1, w2] { w.engine.pollLimit = 10_000 }
        try Self.settle([w1, w2])
        let got = Self.rows(base + "/shared/out")

        // One worker alone, after the reshard, gives the same rows.
        let solo = try Worker(nil, sql: Self.sql(app: "reshard-solo", kinesis: remote.endpoint, dynamo: moto.endpoint, base: base + "/solo", out: "out"), base: base)
        try Self.settle([solo])
        #expect(got == Self.rows(base + "/solo/out"))

        // Each row counts every order of its user in its window: groups went on across the reshard.
        var truth: [String: Int] = [:]
        for r in records { truth["\(r.user)@\(r.ts / 10_000 * 10_000 + 10_000)", default: 0] += 1 }
        var seen: Set<String> = []
        #expect(got.count > 200)
        for line in got {
            let j = try JSONValue.parse(line)
            let key = "\(j["user_id"]!.stringValue!)@\(TimeFormat.parseISO8601(j["window_end"]!.stringValue!)!)"
            #expect(seen.insert(key).inserted, "\(key) written twice")
            #expect(j["n"]?.int64Value == Int64(truth[key] ?? -1), "\(line)")
        }
    }

    /// Workers reading by enhanced fan-out: a lease handed over moves its shard's subscription
    /// too (the new holder's is refused while the old one is under 5 s old, then takes over),
    /// and the workers together still write what one worker writes.
    @Test func workersReadingByFanOutShareShardsAndWriteWhatOneWorkerWrites() throws {
        let moto = try MotoServer()
        let remote = try LocalEndpoint()
        let base = NSTemporaryDirectory() + "sluice-scale-out-efo-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try remote.store.createStream(name: "orders", shardCount: 4)
        func put(_ range: Range<Int>) throws {
            for i in range {
                let user = "u\(i % 40)"
                let json = #"{"user_id":"\#(user)","amount":\#(i % 13).25,"ts":"\#(TimeFormat.iso8601(1_704_067_200_000 + Int64(i) * 50))"}"#
                _ = try remote.store.putRecord(stream: "orders", data: Array(json.utf8), partitionKey: user)
            }
        }
        try put(0..<1500)
        let fanOut = " consumer = 'totals',"
        let text = Self.sql(app: "efo-app", kinesis: remote.endpoint, dynamo: moto.endpoint, base: base + "/shared", out: "out", more: fanOut)
        // The first worker takes every lease and reads; the second joins and is handed its share.
        let w1 = try Worker("w1", sql: text, base: base)
        for _ in 0..<20 {
            _ = try w1.engine.step()
            usleep(20_000)
        }
        #expect(w1.engine.scaleOuts.first?.lanes.count == 4)
        let w2 = try Worker("w2", sql: text, base: base)
        try put(1500..<3000)
        var moved = false
        let deadline = Date().addingTimeInterval(30)
        while !moved && Date() < deadline {
            for w in [w1, w2] { _ = try w.engine.step() }
            moved = (w2.engine.scaleOuts.first?.lanes.count ?? 0) >= 2
            usleep(10_000)
        }
        #expect(moved, "no lease was handed to the second worker")
        try put(3000..<4000)
        try Self.settle([w1, w2])
        let got = Self.rows(base + "/shared/out")
        let solo = try Worker(nil, sql: Self.sql(app: "efo-solo", kinesis: remote.endpoint, dynamo: moto.endpoint, base: base + "/solo", out: "out"), base: base)
        try Self.settle([solo])
        let expected = Self.rows(base + "/solo/out")
        #expect(expected.count > 500)
        #expect(got == expected)
        #expect(try remote.store.listConsumers(stream: "orders").map(\.name) == ["totals"])
    }

    /// A worker whose queries are busy for longer than lease_failover (a long step, a slow sink)
    /// keeps its leases: they are renewed on a thread of their own. Only a worker that stops
    /// running lets them expire.
    @Test func aBusyWorkerKeepsItsLeases() throws {
        let moto = try MotoServer()
        let remote = try LocalEndpoint()
        let base = NSTemporaryDirectory() + "sluice-scale-out-busy-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try remote.store.createStream(name: "orders", shardCount: 4)
        let text = Self.sql(app: "busy-app", kinesis: remote.endpoint, dynamo: moto.endpoint, base: base + "/shared", out: "out")
        let w1 = try Worker("w1", sql: text, base: base), w2 = try Worker("w2", sql: text, base: base)
        for _ in 0..<5 {
            _ = try w1.engine.step()
            usleep(20_000)
        }
        #expect(w1.engine.scaleOuts.first?.lanes.count == 4)
        // w1 is not stepped for three times lease_failover (1 s) while w2 runs rounds.
        let until = Date().addingTimeInterval(3)
        while Date() < until {
            _ = try w2.engine.step()
            usleep(50_000)
        }
        let table = LeaseTable(api: AWSJSONClient.dynamoDB(endpoint: moto.endpoint, credentials: AWSCredentials(accessKeyId: "A", secretAccessKey: "B", source: "t"), region: "us-east-1")!, name: "busy-app")
        #expect(try table.list().allSatisfy { $0.owner == "w1" }, "a busy worker's leases were taken")
        #expect(w2.engine.scaleOuts.first?.lanes.isEmpty == true)
        // Stepped again, w1 hands over what w2 asked for; a clean stop lets everything go.
        let deadline = Date().addingTimeInterval(20)
        while (w2.engine.scaleOuts.first?.lanes.count ?? 0) < 2 && Date() < deadline {
            for w in [w1, w2] { _ = try w.engine.step() }
            usleep(20_000)
        }
        #expect(w2.engine.scaleOuts.first?.lanes.count == 2)
        for w in [w1, w2] { try w.engine.stop() }
        #expect(try table.list().allSatisfy { $0.owner == nil })
        // A halted worker (killed) lets its leases expire: the other takes them.
        let w3 = try Worker("w3", sql: text, base: base), w4 = try Worker("w4", sql: text, base: base)
        for _ in 0..<5 { _ = try w3.engine.step(); usleep(20_000) }
        w3.engine.scaleOuts.first?.halt()
        let taken = Date().addingTimeInterval(20)
        while (w4.engine.scaleOuts.first?.lanes.count ?? 0) < 4 && Date() < taken {
            _ = try w4.engine.step()
            usleep(50_000)
        }
        #expect(w4.engine.scaleOuts.first?.lanes.count == 4)
        try w4.engine.stop()
    }
}
