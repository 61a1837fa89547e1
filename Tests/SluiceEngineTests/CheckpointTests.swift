import Foundation
import Testing
import SluiceCore
import SluiceSQL
import SluiceStreams
@testable import SluiceEngine

/// A data directory whose store and engine can be dropped (as a crash would) and reopened.
final class RestartableRun {
    let dir: String
    let clock = ManualClock(millis: 1_704_067_200_000)
    var store: StreamStore
    var engine: Engine
    let sql: String

    init(sql: String) throws {
        dir = NSTemporaryDirectory() + "sluice-checkpoint-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        self.sql = sql.replacingOccurrences(of: "$DIR", with: dir)
        store = try StreamStore(configuration: RestartableRun.config(dir, clock))
        engine = Engine(store: store, clock: clock)
        engine.checkpointIntervalMillis = nil
        try engine.load(Parser.parse(self.sql).script)
    }

    static func config(_ dir: String, _ clock: ManualClock) -> StoreConfiguration {
        var c = StoreConfiguration(dataDirectory: dir + "/data", clock: clock)
        c.fsync = .never
        return c
    }

    /// Drops the engine without a checkpoint, reopens the store and loads the same file again.
    func crashAndReopen() throws {
        store.close()
        store = try StreamStore(configuration: RestartableRun.config(dir, clock))
        engine = Engine(store: store, clock: clock)
        engine.checkpointIntervalMillis = nil
        try engine.load(Parser.parse(sql).script)
    }

    /// Steps until a step reads nothing; with `restart`, the engine is stopped and the run resumed
    /// from its checkpoint after every step (the read size kept).
    func drain(restart: Bool = false) throws {
        let limit = engine.pollLimit
        while try engine.step() {
            guard restart else { continue }
            try engine.stop()
            try crashAndReopen()
            engine.pollLimit = limit
        }
    }

    func put(_ records: ArraySlice<String>) throws {
        for r in records { _ = try store.putRecord(stream: "bids", data: Array(r.utf8), partitionKey: "k") }
        clock.advance(by: 100)
        while try engine.step() {}
    }

    func file(_ name: String) -> String { (try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)) ?? "<missing>" }

    deinit {
        store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite("Checkpoints and restart")
struct CheckpointTests {
    static let sql = """
        CREATE STREAM bids (auction BIGINT, bidder VARCHAR, price DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '3' SECOND)
          WITH (format = 'json');
        CREATE SINK tumbling WITH (type = 'file', path = '$DIR/tumbling.jsonl');
        CREATE SINK hopping WITH (type = 'file', path = '$DIR/hopping.csv', format = 'csv');
        CREATE SINK running WITH (type = 'file', path = '$DIR/running.jsonl');
        CREATE SINK percentiles WITH (type = 'file', path = '$DIR/percentiles.jsonl');
        CREATE SINK rolled WITH (type = 'file', path = '$DIR/rolled/changes.csv', format = 'csv', roll_size = '2KB');
        INSERT INTO tumbling SELECT auction, window_end, COUNT(*) AS n, SUM(price) AS total, AVG(price) AS mean,
          STDDEV(price) AS sd, COUNT(DISTINCT bidder) AS bidders, MIN(bidder) AS first_bidder
          FROM TUMBLE(bids, ts, INTERVAL '5' SECOND) GROUP BY window_start, window_end, auction;
        INSERT INTO hopping SELECT window_start, window_end, COUNT(*) AS n, MAX(price) AS top
          FROM HOP(bids, ts, SIZE INTERVAL '6' SECOND, ADVANCE INTERVAL '2' SECOND) GROUP BY window_start, window_end;
        INSERT INTO running SELECT bidder, COUNT(*) AS n, SUM(price) AS spent FROM bids GROUP BY bidder EMIT CHANGES;
        INSERT INTO percentiles SELECT auction % 2 AS half, COUNT(*) AS n, PERCENTILE(price, 0.5) AS median, PERCENTILE(price, 0.9) AS p90
          FROM bids GROUP BY auction % 2 EMIT CHANGES;
        INSERT INTO rolled SELECT bidder, COUNT(*) AS n, SUM(price) AS spent FROM bids GROUP BY bidder EMIT CHANGES;
        """

    /// Seeded bids, out of order by less than the watermark delay (so no record is late however
    /// the reads are batched).
    static func bids(_ n: Int) -> [String] {
        var rng = SplitMix64(seed: 4)
        return (0..<n).map { i in
            let ts = 1_704_067_200_000 + Int64(i) * 150 + Int64(rng.next() % 2_500)
            return #"{"auction":\#(rng.next() % 6),"bidder":"b\#(rng.next() % 9)","price":\#(Double(rng.next() % 10_000) / 100),"ts":\#(ts)}"#
        }
    }

    static let sinks = ["tumbling.jsonl", "hopping.csv", "running.jsonl", "percentiles.jsonl"]

    @Test(arguments: [false, true])
    func aRunResumedFromACheckpointWritesWhatAnUninterruptedRunWrites(stopCleanly: Bool) throws {
        let records = Self.bids(900)
        let whole = try RestartableRun(sql: Self.sql)
        for chunk in stride(from: 0, to: 900, by: 100) { try whole.put(records[chunk..<chunk + 100]) }
        try whole.engine.finish()

        let parts = try RestartableRun(sql: Self.sql)
        try parts.put(records[0..<300])
        try parts.engine.checkpoint()
        try parts.put(records[300..<500])  // rows written after the checkpoint...
        if stopCleanly {
            try parts.engine.stop()
        } else {
            // Make sure the rows after the checkpoint reached the files before the "crash".
            for j in parts.engine.jobs { _ = try j.sink.checkpoint() }
            // A row per record (+I or +U), and before each +U the row it replaces (-U).
            let lines = parts.file("running.jsonl").split(separator: "\n")
            #expect(lines.filter { !$0.contains(#""op":"-U""#) }.count == 500)
            #expect(lines.filter { $0.contains(#""op":"-U""#) }.count == 500 - 9)
        }
        try parts.crashAndReopen()  // ...are taken back after a crash, kept after a clean stop
        #expect(parts.engine.resumedQueries.count == 5)
        for chunk in stride(from: 500, to: 900, by: 100) { try parts.put(records[chunk..<chunk + 100]) }
        try parts.engine.finish()

        for s in Self.sinks {
            #expect(parts.file(s) == whole.file(s), "\(s) differs")
            #expect(parts.file(s).split(separator: "\n").count > 10)
        }
        // The rolling sink: the same files, each complete, each with the CSV header.
        let rolled = try FileManager.default.contentsOfDirectory(atPath: whole.dir + "/rolled").sorted()
        #expect(rolled.count > 5 && rolled.first == "changes-000001.csv" && !rolled.contains { $0.hasSuffix(".part") }, "\(rolled)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: parts.dir + "/rolled").sorted() == rolled)
        for f in rolled {
            #expect(parts.file("rolled/" + f) == whole.file("rolled/" + f), "rolled/\(f) differs")
            #expect(whole.file("rolled/" + f).hasPrefix("bidder,n,spent,op\n"))
        }
        let rows = rolled.flatMap { whole.file("rolled/" + $0).split(separator: "\n").dropFirst() }
        #expect(rows.filter { !$0.hasSuffix(",-U") }.count == 900, "every change row once across the files")
        // A finished query leaves no checkpoint: the next run starts it from the beginning.
        #expect(!FileManager.default.fileExists(atPath: parts.dir + "/data/queries/query-1.json"))
    }

    @Test func aChangedQueryOrADamagedCheckpointIsRefusedWithAReason() throws {
        let run = try RestartableRun(sql: Self.sql)
        try run.put(Self.bids(50)[0..<50])
        try run.engine.stop()
        run.store.close()
        let path = run.dir + "/data/queries/query-2.json"
        #expect(FileManager.default.fileExists(atPath: path))

        // The same place in the file, another query.
        run.store = try StreamStore(configuration: RestartableRun.config(run.dir, run.clock))
        run.engine = Engine(store: run.store, clock: run.clock)
        let changed = run.sql.replacingOccurrences(of: "MAX(price) AS top", with: "MIN(price) AS top")
        #expect {
            try run.engine.load(Parser.parse(changed).script)
        } throws: { error in
            "\(error)".contains("the checkpoint \(path) of query 2 (INSERT INTO hopping) cannot be used: the query has changed since it was taken; remove it")
        }

        try Data("{\"version\":1,".utf8).write(to: URL(fileURLWithPath: path))
        run.engine = Engine(store: run.store, clock: run.clock)
        #expect {
            try run.engine.load(Parser.parse(run.sql).script)
        } throws: { error in
            "\(error)".contains("cannot be used: it is not valid JSON")
        }
    }

    @Test func checkpointsAreTakenPeriodicallyOnProcessingTime() throws {
        let run = try RestartableRun(sql: Self.sql)
        run.engine.checkpointIntervalMillis = 10_000
        try run.put(Self.bids(10)[0..<10])
        let path = run.dir + "/data/queries/query-3.json"
        #expect(!FileManager.default.fileExists(atPath: path))
        run.clock.advance(by: 10_000)
        _ = try run.engine.step()
        let doc = try JSONValue.parse(bytes: Array(Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(doc["counters"]?["records_in"] == .int(10))
        #expect(doc["sink_position"]?.int64Value == Int64(run.file("running.jsonl").utf8.count))
    }
}

@Suite("Rolling file sinks")
struct RollingSinkTests {
    /// A file open for roll_interval (processing time) is closed under its final name at the next
    /// row; the open file is hidden (`.NAME-N.EXT.part`) until then; the last one at the end.
    @Test func filesRollByTimeAndAreHiddenUntilComplete() throws {
        let run = try RestartableRun(sql: """
            CREATE STREAM bids (auction BIGINT, bidder VARCHAR, price DOUBLE, ts TIMESTAMP) WITH (format = 'json');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out/bids.jsonl', roll_interval = '1m');
            INSERT INTO out SELECT auction, price FROM bids;
            """)
        func listing() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: run.dir + "/out")) ?? []).sorted() }
        try run.put([#"{"auction":1,"price":1.5}"#, #"{"auction":2,"price":2.5}"#])
        #expect(listing() == [".bids-000001.jsonl.part"])
        run.clock.advance(by: 60_000)
        try run.put([#"{"auction":3,"price":3.5}"#])
        #expect(listing() == [".bids-000002.jsonl.part", "bids-000001.jsonl"])
        #expect(run.file("out/bids-000001.jsonl") == #"{"auction":1,"price":1.5}"# + "\n" + #"{"auction":2,"price":2.5}"# + "\n")
        try run.engine.finish()
        #expect(listing() == ["bids-000001.jsonl", "bids-000002.jsonl"])
        #expect(run.file("out/bids-000002.jsonl") == #"{"auction":3,"price":3.5}"# + "\n")
    }

    /// A roll whose rename fails (a directory holds the final name) fails the write, and the
    /// closed descriptor is not used again: the file that opens next under the same number is
    /// neither written nor closed by the sink's close.
    @Test func aFailedRollLeavesNoDescriptorBehind() throws {
        let dir = NSTemporaryDirectory() + "sluice-roll-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/out-000001.jsonl", withIntermediateDirectories: true)
        try "x".write(toFile: dir + "/out-000001.jsonl/keep", atomically: true, encoding: .utf8)
        let sink = RollingFileSink(path: dir + "/out.jsonl", format: .json, columns: ["n"], rollBytes: 16, rollMillis: nil, clock: ManualClock())
        try sink.begin(resumingAt: nil)
        try sink.write([[.int(1)], [.int(2)]])  // 16 bytes buffered
        #expect(throws: EngineError.self) { try sink.write([[.int(3)]]) }  // the roll's rename fails
        // The next file opened takes the lowest free number: the one the sink closed.
        let other = open(dir + "/other", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        defer { close(other) }
        try? sink.close()
        #expect(lseek(other, 0, SEEK_END) == 0, "the sink wrote into, or closed, another file (lseek -1: closed)")
    }

    @Test(arguments: [("roll_size = '10'", "at least 1KB"), ("roll_interval = 'soon'", "at least 1s"),
                      ("type = 'stdout', roll_size = '1MB'", "only file sinks roll")])
    func badRollingOptionsAreRefused(_ options: String, _ reason: String) throws {
        let o = options.hasPrefix("type") ? options : "type = 'file', path = 'x.jsonl', " + options
        #expect(throws: EngineError.self) {
            _ = try RestartableRun(sql: "CREATE SINK s WITH (\(o));")
        }
        do { _ = try RestartableRun(sql: "CREATE SINK s WITH (\(o));") } catch { #expect("\(error)".contains(reason), "\(error)") }
    }
}
