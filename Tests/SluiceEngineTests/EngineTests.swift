import Foundation
import Testing
import SluiceCore
import SluiceSQL
@testable import SluiceStreams
@testable import SluiceEngine

final class EngineFixture {
    let dir: String
    let clock = ManualClock(millis: 1_704_067_200_000)
    let store: StreamStore
    let engine: Engine

    init() throws {
        dir = NSTemporaryDirectory() + "sluice-engine-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        var c = StoreConfiguration(dataDirectory: dir + "/data", clock: clock)
        c.fsync = .never
        store = try StreamStore(configuration: c)
        engine = Engine(store: store, clock: clock)
    }

    deinit {
        store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Loads SQL in which `$DIR` stands for the scratch directory.
    func load(_ sql: String) throws {
        try engine.load(Parser.parse(sql.replacingOccurrences(of: "$DIR", with: dir)).script)
    }

    func put(_ stream: String, _ json: String, shard: Int? = nil, of shards: Int = 1) throws {
        let ehk = shard.map { String(HashKey.evenRanges(count: shards)[$0].lowerBound) }
        _ = try store.putRecord(stream: stream, data: Array(json.utf8), partitionKey: "k", explicitHashKey: ehk)
    }

    func lines(_ file: String) -> [String] {
        ((try? String(contentsOfFile: dir + "/" + file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func errorStream() throws -> [JSONValue] {
        var out: [JSONValue] = []
        guard (try? store.describeStreamSummary(name: "error_stream")) != nil else { return [] }
        var it: String? = try store.getShardIterator(stream: "error_stream", shardId: "0", type: .trimHorizon)
        while let i = it {
            let r = try store.getRecords(shardIterator: i)
            for k in 0..<r.records.count { out.append(try JSONValue.parse(bytes: r.records.data(k))) }
            it = r.records.count == 0 ? nil : r.nextShardIterator
        }
        return out
    }
}

let clicksDDL = """
    CREATE STREAM clicks (url VARCHAR, ms DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '10' SECOND) WITH (format = 'json');
    CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
    """

@Suite("Engine")
struct EngineTests {
    @Test func windowsCloseAsTheWatermarkPasses() throws {
        let f = try EngineFixture()
        try f.load(clicksDDL + "INSERT INTO out SELECT window_end, url, COUNT(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, url;")
        try f.put("clicks", #"{"url":"/a","ms":1,"ts":"2024-01-01T00:00:05Z"}"#)
        try f.put("clicks", #"{"url":"/b","ms":1,"ts":"2024-01-01T00:00:30Z"}"#)
        try f.put("clicks", #"{"url":"/a","ms":1,"ts":"2024-01-01T00:01:05Z"}"#)  // watermark 00:00:55
        _ = try f.engine.runStep()
        #expect(f.lines("out.jsonl").isEmpty)
        try f.put("clicks", #"{"url":"/a","ms":1,"ts":"2024-01-01T00:01:15Z"}"#)  // watermark 00:01:05
        _ = try f.engine.runStep()
        try f.engine.finish()
        #expect(f.lines("out.jsonl") == [
            #"{"window_end":"2024-01-01T00:01:00.000Z","url":"/a","n":1}"#,
            #"{"window_end":"2024-01-01T00:01:00.000Z","url":"/b","n":1}"#,
            #"{"window_end":"2024-01-01T00:02:00.000Z","url":"/a","n":2}"#,
        ])
    }

    /// Two queries writing one file would overwrite each other (each checkpoint cuts the file back
    /// to its own position): the second is refused with both names, and nothing runs.
    @Test func aFileHasOneWriter() throws {
        let f = try EngineFixture()
        let alert = { (name: String) in
            "CREATE ALERT \(name) AS SELECT window_end, COUNT(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end FIRE WHEN n > 1 NOTIFY 'file:$DIR/alarms.jsonl';"
        }
        #expect(throws: EngineError.self) { try f.load(clicksDDL + alert("a") + alert("b")) }
        do {
            try f.load(clicksDDL + alert("c") + alert("d"))
            Issue.record("two alerts writing one file were accepted")
        } catch let error as EngineError {
            #expect(error.message?.contains("already writes") == true && error.message?.contains("ALERT c") == true, "\(error)")
        }
        let g = try EngineFixture()
        #expect(throws: EngineError.self) {
            try g.load(clicksDDL + "INSERT INTO out SELECT url FROM clicks; INSERT INTO out SELECT url FROM clicks WHERE ms > 1;")
        }
    }

    /// A KPL aggregated record is read as its user records (as the KCL reads it); a bad user
    /// record inside one is reported with the stream record's sequence number.
    @Test func aggregatedRecordsAreReadAsTheirUserRecords() throws {
        let f = try EngineFixture()
        try f.load(clicksDDL + "INSERT INTO out SELECT url, ms FROM clicks;")
        let users = [#"{"url":"/a","ms":1,"ts":"2024-01-01T00:00:05Z"}"#, #"{"url":"/b","ms":2,"ts":"2024-01-01T00:00:06Z"}"#,
                     #"{"url":"/c","ms":"not a number","ts":"2024-01-01T00:00:07Z"}"#, #"{"url":"/d","ms":4,"ts":"2024-01-01T00:00:08Z"}"#]
        let aggregated = KPLAggregate.aggregate(users.enumerated().map { KPLAggregate.UserRecord(partitionKey: "k\($0.offset)", data: Array($0.element.utf8)) })
        let seq = try f.store.putRecord(stream: "clicks", data: aggregated, partitionKey: "k").sequenceNumber
        try f.put("clicks", #"{"url":"/e","ms":5,"ts":"2024-01-01T00:00:09Z"}"#)
        _ = try f.engine.runStep()
        try f.engine.finish()
        #expect(f.lines("out.jsonl") == [#"{"url":"/a","ms":1.0}"#, #"{"url":"/b","ms":2.0}"#, #"{"url":"/d","ms":4.0}"#, #"{"url":"/e","ms":5.0}"#])
        let errors = try f.errorStream()
        #expect(errors.count == 1)
        #expect(errors.first?.serialized().contains(seq.description) == true, "\(errors)")
        #expect(errors.first?.serialized().contains("user record 2 of an aggregated record") == true, "\(errors)")
    }

    @Test func badRecordsGoToTheErrorStreamWithTheirReason() throws {
        let f = try EngineFixture()
        try f.load(clicksDDL + "INSERT INTO out SELECT url, ms FROM clicks;")
        try f.put("clicks", #"{"url":"/a","ms":1,"ts":1}"#)
        try f.put("clicks", #"{"url":"/b","ms":"fast","ts":1}"#)
        try f.put("clicks", "not json at all")
        try f.engine.runUntilEnd()
        #expect(f.lines("out.jsonl") == [#"{"url":"/a","ms":1.0}"#])
        let errors = try f.errorStream()
        #expect(errors.count == 2)
        #expect(errors[0]["error_kind"] == "decode")
        #expect(errors[0]["message"]?.stringValue?.contains("field 'ms'") == true)
        #expect(errors[0]["data"] == #"{"url":"/b","ms":"fast","ts":1}"#)
        #expect(errors[1]["data"] == "not json at all")
        #expect(errors[1]["shard_id"] == "shardId-000000000000")
        #expect(errors[1]["sequence_number"]?.stringValue?.count == 56)
        #expect(f.engine.counters[0].bad == 2 && f.engine.counters[0].recordsIn == 3)
    }

    @Test func evaluationErrorsSkipTheRowAndAreReported() throws {
        let f = try EngineFixture()
        try f.load(clicksDDL + "INSERT INTO out SELECT url, CAST(ms AS BIGINT) / CAST(ms AS BIGINT) AS one FROM clicks;")
        try f.put("clicks", #"{"url":"/a","ms":2,"ts":1}"#)
        try f.put("clicks", #"{"url":"/zero","ms":0,"ts":1}"#)
        try f.engine.runUntilEnd()
        #expect(f.lines("out.jsonl") == [#"{"url":"/a","one":1}"#])
        let errors = try f.errorStream()
        #expect(errors.first?["error_kind"] == "eval")
        #expect(errors.first?["message"]?.stringValue?.contains("division by zero") == true)
    }

    @Test func lateRecordsAreDroppedAndCountedOrKept() throws {
        for policy in ["drop", "error_stream"] {
            let f = try EngineFixture()
            try f.load("""
                CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (late_records = '\(policy)');
                CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
                INSERT INTO out SELECT window_end, COUNT(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end;
                """)
            try f.put("clicks", #"{"url":"/a","ts":1000}"#)
            try f.put("clicks", #"{"url":"/a","ts":25000}"#)
            _ = try f.engine.runStep()
            try f.put("clicks", #"{"url":"/late","ts":2000}"#)
            try f.engine.runUntilEnd()
            #expect(f.lines("out.jsonl") == [#"{"window_end":"1970-01-01T00:00:10.000Z","n":1}"#, #"{"window_end":"1970-01-01T00:00:30.000Z","n":1}"#])
            #expect(f.engine.counters[0].late == 1)
            #expect(try f.errorStream().filter { $0["error_kind"] == "late" }.count == (policy == "drop" ? 0 : 1))
        }
    }

    @Test func anIdleShardHoldsTheWatermarkUntilItsTimeout() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM ticks (sym VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '10' SECOND) WITH (shards = 2, idle_timeout = '20s');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            INSERT INTO out SELECT window_end, sym, COUNT(*) AS n FROM TUMBLE(ticks, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, sym;
            """)
        try f.put("ticks", #"{"sym":"A","ts":"2024-01-01T00:00:10Z"}"#, shard: 0, of: 2)
        f.clock.advance(by: 15_000)
        try f.put("ticks", #"{"sym":"A","ts":"2024-01-01T00:01:30Z"}"#, shard: 0, of: 2)
        _ = try f.engine.runStep()
        #expect(f.lines("out.jsonl").isEmpty)  // shard 1 has produced nothing
        f.clock.advance(by: 20_000)
        _ = try f.engine.runStep()
        (f.engine.jobs[0].sink as? FileSink).map { try? $0.flush() }
        #expect(f.lines("out.jsonl") == [#"{"window_end":"2024-01-01T00:01:00.000Z","sym":"A","n":1}"#])
    }

    @Test func emitChangesGivesARowPerUpdateOrPerInterval() throws {
        let f = try EngineFixture()
        try f.load(clicksDDL + """
            CREATE SINK every WITH (type = 'file', path = '$DIR/every.jsonl');
            INSERT INTO out SELECT url, COUNT(*) AS n FROM clicks GROUP BY url EMIT CHANGES;
            INSERT INTO every SELECT url, COUNT(*) AS n FROM clicks GROUP BY url EMIT CHANGES EVERY INTERVAL '10' SECOND;
            """)
        for _ in 0..<3 { try f.put("clicks", #"{"url":"/a","ms":1,"ts":1}"#) }
        _ = try f.engine.runStep()
        f.clock.advance(by: 11_000)
        try f.put("clicks", #"{"url":"/a","ms":1,"ts":1}"#)
        try f.engine.runUntilEnd()
        // Each update: the row it replaces (-U), then the row now (+U).
        #expect(f.lines("out.jsonl") == [#"{"url":"/a","n":1,"op":"+I"}"#] + (2...4).flatMap {
            [#"{"url":"/a","n":\#($0 - 1),"op":"-U"}"#, #"{"url":"/a","n":\#($0),"op":"+U"}"#]
        })
        // At most once per interval: from the row last emitted to the row now.
        #expect(f.lines("every.jsonl") == [#"{"url":"/a","n":1,"op":"+I"}"#, #"{"url":"/a","n":1,"op":"-U"}"#, #"{"url":"/a","n":4,"op":"+U"}"#])
    }

    @Test func everyProblemIsReportedBeforeAnythingRuns() throws {
        let f = try EngineFixture()
        do {
            try f.load(clicksDDL + """
                INSERT INTO out SELECT urll FROM clicks;
                INSERT INTO nowhere SELECT url FROM clicks;
                INSERT INTO out SELECT url, COUNT(*) FROM clicks GROUP BY url;
                """)
            Issue.record("loaded")
        } catch let error as EngineError {
            #expect(error.diagnostics.map(\.id) == ["bind.unknown-column", "bind.unknown-target", "plan.unwindowed-aggregate-needs-emit-changes"])
        }
        #expect(!FileManager.default.fileExists(atPath: f.dir + "/out.jsonl"))
        #expect((try? f.store.describeStreamSummary(name: "clicks")) == nil)
    }

    @Test func derivedStreamsFeedOtherQueries() throws {
        let f = try EngineFixture()
        try f.load(clicksDDL + """
            CREATE STREAM slow WITH (partition_key = 'url') AS SELECT url, ms FROM clicks WHERE ms > 100;
            INSERT INTO out SELECT url, COUNT(*) AS n FROM slow GROUP BY url EMIT CHANGES;
            """)
        try f.put("clicks", #"{"url":"/a","ms":500,"ts":1}"#)
        try f.put("clicks", #"{"url":"/b","ms":5,"ts":1}"#)
        try f.engine.runUntilEnd()
        #expect(f.lines("out.jsonl") == [#"{"url":"/a","n":1,"op":"+I"}"#])
    }

    @Test func csvWithAHeaderBindsByName() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM readings (device VARCHAR, temp DOUBLE, ts TIMESTAMP) WITH (format = 'csv', header = true, partition_key = 'device');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.csv', format = 'csv');
            INSERT INTO out SELECT device, temp * 2 AS t2 FROM readings WHERE temp > 20;
            """)
        let input = f.dir + "/in.csv"
        try "ts,temp,device\n2024-01-01T00:00:00Z,21.5,\"dev,1\"\n2024-01-01T00:00:01Z,19,dev2\n".write(toFile: input, atomically: true, encoding: .utf8)
        #expect(try f.engine.loadInput(stream: "readings", path: input) == 2)
        try f.engine.runUntilEnd()
        #expect(f.lines("out.csv") == ["device,t2", "\"dev,1\",43.0"])
    }

    /// `--input` keys records by the stream's partition_key field, cut to Kinesis' 256 characters
    /// (characters, not bytes: a key of 200 two-byte characters stays whole).
    @Test func loadedPartitionKeysAreCutTo256Characters() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM readings (device VARCHAR, temp DOUBLE) WITH (format = 'json', partition_key = 'device', shards = 1);
            """)
        let keys = [String(repeating: "a", count: 300), String(repeating: "é", count: 300), String(repeating: "é", count: 200),
                    String(repeating: "a", count: 256), "dev-1"]
        let input = f.dir + "/in.jsonl"
        try keys.map { #"{"device":"\#($0)","temp":1}"# }.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        #expect(try f.engine.loadInput(stream: "readings", path: input) == keys.count)
        let shard = try f.store.listShards(streamName: "readings").shards[0].shardId
        let it = try f.store.getShardIterator(stream: "readings", shardId: shard, type: .trimHorizon)
        let batch = try f.store.getRecords(shardIterator: it).records
        #expect((0..<batch.count).map { batch.partitionKey($0) } == keys.map { String($0.prefix(256)) })
        #expect(batch.partitionKey(1).count == 256 && batch.partitionKey(2).count == 200)
    }

    /// A replay gives the same result however fast its load runs: a query that passes records
    /// through in the order they meet gets the same rows from a load whose puts share
    /// milliseconds (a clock that ticks once every 40 readings) as from one whose clock ticks at
    /// every reading, over two shards and many puts, query and load one after the other or side
    /// by side. (Puts sharing a millisecond met shard by shard, across puts.)
    @Test func aLoadsOrderDoesNotDependOnItsSpeed() throws {
        final class SteppingClock: SluiceClock, @unchecked Sendable {
            let lock = NSLock()
            var readings: Int64 = 0
            let perTick: Int64
            init(perTick: Int64) { self.perTick = perTick }
            func nowMillis() -> Int64 { lock.withLock { readings += 1; return 1_704_067_200_000 + readings / perTick } }
        }
        let dir = NSTemporaryDirectory() + "sluice-load-order-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in.jsonl"
        var runs = 0
        try (0..<600).map { #"{"url":"/\#($0 % 7)","ms":\#($0),"ts":\#($0)}"# }.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        func run(perTick: Int64, sideBySide: Bool) throws -> [String] {
            let clock = SteppingClock(perTick: perTick)
            runs += 1
            let out = dir + "/run\(runs)"
            var c = StoreConfiguration(dataDirectory: out + "/data", clock: clock)
            c.fsync = .never
            c.loadBatchBytes = 300  // a put of about ten records
            let store = try StreamStore(configuration: c)
            defer { store.close() }
            let engine = Engine(store: store, clock: clock)
            try engine.load(Parser.parse("""
                CREATE STREAM clicks (url VARCHAR, ms DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '10' SECOND)
                  WITH (format = 'json', partition_key = 'url', shards = 2);
                CREATE SINK out WITH (type = 'file', path = '\(out)/out.jsonl');
                INSERT INTO out SELECT ms FROM clicks;
                """).script)
            if sideBySide {
                try engine.run(whileLoading: [engine.inputLoader(stream: "clicks", path: input)])
            } else {
                #expect(try engine.loadInput(stream: "clicks", path: input) == 600)
            }
            try engine.runUntilEnd()
            return ((try? String(contentsOfFile: out + "/out.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        let ticking = try run(perTick: 1, sideBySide: false)
        #expect(ticking.count == 600)
        #expect(ticking != (0..<600).map { #"{"ms":\#($0).0}"# }, "puts of ten records over two shards meet shard by shard")
        #expect(try run(perTick: 40, sideBySide: false) == ticking)
        #expect(try run(perTick: 40, sideBySide: true) == ticking)
    }

    /// A query over a stream of two shards whose store's clock can act while a step reads: the
    /// third reading since the step began (listShards, shard 0's read, then shard 1's) calls
    /// `atShard1Read` once `armed`. The engine's reading begins a step.
    final class BetweenShards: @unchecked Sendable {
        let lock = NSLock()
        var now: Int64 = 1_704_067_200_000
        var armed = false, fired = false, storeReads = 0
        var atShard1Read: (() -> Void)? = nil
        let dir = NSTemporaryDirectory() + "sluice-between-shards-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        var store: StreamStore!
        var engine: Engine!

        struct EngineClock: SluiceClock { unowned let time: BetweenShards; func nowMillis() -> Int64 { time.engineRead() } }
        struct StoreClock: SluiceClock { unowned let time: BetweenShards; func nowMillis() -> Int64 { time.storeRead() } }

        init() throws {
            var c = StoreConfiguration(dataDirectory: dir + "/data", clock: StoreClock(time: self))
            c.fsync = .never
            store = try StreamStore(configuration: c)
            engine = Engine(store: store, clock: EngineClock(time: self))
            try engine.load(Parser.parse("""
                CREATE STREAM s (n BIGINT) WITH (format = 'json', shards = 2);
                CREATE SINK out WITH (type = 'file', path = '\(dir)/out.jsonl');
                INSERT INTO out SELECT n FROM s;
                """).script)
        }

        deinit {
            store?.close()
            try? FileManager.default.removeItem(atPath: dir)
        }

        func engineRead() -> Int64 { lock.withLock { storeReads = 0; return now } }
        func storeRead() -> Int64 {
            let (fire, t) = lock.withLock { () -> (Bool, Int64) in
                storeReads += 1
                let f = armed && !fired && storeReads == 3
                if f { fired = true }
                return (f, now)
            }
            if fire { atShard1Read?() }
            return t
        }

        /// Puts {"n":1} on shard 0 and {"n":2} on shard 1 in one PutRecords.
        func putOneAndTwo() {
            let ranges = HashKey.evenRanges(count: 2)
            _ = try? store.putRecords(stream: "s", records: [1, 2].map {
                PutRecordsRequestEntry(data: Array(#"{"n":\#($0)}"#.utf8), partitionKey: "k", explicitHashKey: String(ranges[$0 - 1].lowerBound))
            })
        }

        var output: [String] {
            ((try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
    }

    /// A put that lands during a step, after one shard's read found nothing and before the next
    /// shard's read, in the step's own millisecond: its records wait for the next step on every
    /// shard, so they meet in shard order there (the one shard that saw them used to hand its
    /// records on at once, ahead of the other shard's of the same put). The put is made by the
    /// store's clock when shard 1's GetRecords reads it.
    @Test func aPutLandingBetweenTwoShardsReadsWaitsForTheNextStep() throws {
        let f = try BetweenShards()
        f.atShard1Read = { [unowned f] in f.putOneAndTwo() }
        _ = try f.engine.step()
        f.lock.withLock { f.armed = true }
        _ = try f.engine.step()
        #expect(f.lock.withLock { f.fired })
        f.lock.withLock { f.now += 1 }
        _ = try f.engine.step()
        try f.engine.runUntilEnd()
        #expect(f.output == [#"{"n":1}"#, #"{"n":2}"#])
    }

    /// A put that took its time before a step began and was still writing when the step read
    /// the shards: the step read shard 0 before the put reached it and shard 1 after. A put
    /// writes without the stream's lock (readers do not wait for it) but announces its time as
    /// in flight, so its record on shard 1 waits for the next step and meets the one on shard 0
    /// in shard order there (taken at once, it went out first). The put is held before it
    /// writes, and let go by the store's clock when shard 1's GetRecords reads it.
    @Test func aPutStillBeingWrittenWhenAStepReadsWaitsForTheNextStep() throws {
        let f = try BetweenShards()
        _ = try f.engine.step()
        // The put takes its time, then waits before writing.
        let parked = DispatchSemaphore(value: 0), resume = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        f.store.beforeWritingShares = {
            parked.signal()
            resume.wait()
        }
        Thread {
            f.putOneAndTwo()
            done.signal()
        }.start()
        guard parked.wait(timeout: .now() + 10) == .success else {
            Issue.record("the put did not start")
            return
        }
        f.store.beforeWritingShares = nil
        f.atShard1Read = {
            resume.signal()
            _ = done.wait(timeout: .now() + 10)
        }
        f.lock.withLock {
            f.now += 1
            f.armed = true
        }
        _ = try f.engine.step()
        #expect(f.lock.withLock { f.fired })
        if !f.lock.withLock({ f.fired }) { resume.signal() }
        _ = try f.engine.step()
        try f.engine.runUntilEnd()
        #expect(f.output == [#"{"n":1}"#, #"{"n":2}"#])
    }

    /// A replay at recorded arrival times (`--arrival-field`) ends when a query reads a derived
    /// stream of several shards: once the load is over nothing moves the replay's clock, so the
    /// records the first query put at its last millisecond must not wait for a later one (the
    /// run spun for ever). The run gets a minute on a thread of its own.
    @Test func aRecordedArrivalReplayEndsWithADerivedStreamOfShards() throws {
        let dir = NSTemporaryDirectory() + "sluice-replay-derived-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try (0..<300).map { #"{"k":"k\#($0 % 7)","ts":\#(1_704_067_200_000 + Int64($0) * 1000),"rt":\#(1_704_067_200_050 + Int64($0) * 1000)}"# }
            .joined(separator: "\n").write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        let clock = ReplayClock(start: 0)
        var c = StoreConfiguration(dataDirectory: dir + "/data", clock: clock)
        c.fsync = .never
        c.retentionApplies = false
        c.iteratorTTLMillis = .max / 4
        let store = try StreamStore(configuration: c)
        defer { store.close() }
        let engine = Engine(store: store, clock: clock)
        try engine.load(Parser.parse("""
            CREATE STREAM s (k VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (format = 'json', shards = 2, partition_key = 'k');
            CREATE STREAM d (k VARCHAR, c BIGINT, window_end TIMESTAMP, WATERMARK FOR window_end AS window_end)
              WITH (format = 'json', shards = 2, partition_key = 'k');
            CREATE SINK out WITH (type = 'file', path = '\(dir)/out.jsonl');
            INSERT INTO d SELECT k, COUNT(*) AS c, window_end FROM TUMBLE(s, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, k;
            INSERT INTO out SELECT k, c FROM d;
            """).script)
        let loader = try engine.inputLoader(stream: "s", path: dir + "/in.jsonl", arrival: RecordedArrival(field: "rt", clock: clock))
        final class Outcome: @unchecked Sendable { var error: (any Error)? = nil }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let e = engine
        let thread = Thread {
            do {
                try e.run(whileLoading: [loader])
                try e.runUntilEnd()
            } catch { outcome.error = error }
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        guard done.wait(timeout: .now() + 60) == .success else {
            Issue.record("the replay did not end within a minute")
            return
        }
        #expect(outcome.error == nil)
        let rows = ((try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
        // 30 windows of 10 s, the 7 keys in each (7 records of 10 a window, one key twice or more).
        #expect(rows.count == 210)
    }

    @Test func limitEndsAQuery() throws {
        let f = try EngineFixture()
        try f.load(clicksDDL + "INSERT INTO out SELECT url FROM clicks LIMIT 2;")
        for i in 0..<5 { try f.put("clicks", #"{"url":"/\#(i)","ms":1,"ts":1}"#) }
        try f.engine.runUntilEnd()
        #expect(f.lines("out.jsonl").count == 2)
    }

    @Test func explainPrintsBothPlans() throws {
        let f = try EngineFixture()
        try f.load(clicksDDL + """
            EXPLAIN SELECT url FROM clicks WHERE ms > 1 + 1;
            EXPLAIN PHYSICAL SELECT window_end, COUNT(*) AS n FROM HOP(clicks, ts, SIZE INTERVAL '10' SECOND, ADVANCE INTERVAL '4' SECOND) GROUP BY window_start, window_end;
            """)
        #expect(f.engine.output[0] == """
            Project: url
              Source: clicks columns=[url, ms] watermark=ts - 10s filter=ms > 2
            """)
        #expect(f.engine.output[1].contains("WindowAggregateExec: size=10000ms advance=4000ms pane=2000ms"))
    }

    /// An ad-hoc query started at `.last(n)` reads each shard's last n records and nothing before
    /// them (the REPL's `.sample` read the whole stream to keep its last rows: seconds for a few
    /// million records); a shard with fewer has them all; then what arrives after.
    @Test func anAdHocQueryFromTheLastRecordsReadsOnlyThem() throws {
        let f = try EngineFixture()
        try f.load("CREATE STREAM e (k VARCHAR, n BIGINT) WITH (shards = 2, format = 'json');")
        for i in 0..<500 { try f.put("e", #"{"k":"a","n":\#(i)}"#, shard: 0, of: 2) }
        for i in 0..<2 { try f.put("e", #"{"k":"b","n":\#(i)}"#, shard: 1, of: 2) }
        var rows: [[Value]] = []
        let (s, _) = Parser.parseStatement("SELECT k, n FROM e")
        guard case .query(let q)? = s?.kind else { Issue.record("not a query"); return }
        let query = try f.engine.startAdHoc(q, from: .last(3)) { rows += $0 }
        while try f.engine.step(query) {}
        #expect(Set(rows.map { "\($0[0])\($0[1])" }) == ["a497", "a498", "a499", "b0", "b1"])
        #expect(query.counters.recordsIn == 5)
        try f.put("e", #"{"k":"a","n":500}"#, shard: 0, of: 2)
        while try f.engine.step(query) {}
        #expect(rows.last.map { "\($0[0])\($0[1])" } == "a500")
        f.engine.stop(query)
    }

    /// A query that would get back what it writes is refused: into the stream it reads, into one
    /// that running queries (or earlier ones of the same script) turn into a stream it reads,
    /// through a view too. Such a query put each row back into its input for ever (a stream grew
    /// by gigabytes a minute). Once the query closing the loop is dropped, the INSERT runs.
    @Test func aQueryThatWouldReadWhatItWritesIsRefused() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM s (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (format = 'json');
            CREATE STREAM other (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (format = 'json');
            CREATE VIEW big AS SELECT k, v, ts FROM s WHERE v > 10;
            CREATE STREAM counts AS SELECT window_end AS ts, k, COUNT(*) AS v FROM TUMBLE(s, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, k;
            """)
        func refusal(_ sql: String) -> Diagnostic? {
            do {
                try f.load(sql)
                return nil
            } catch let e as EngineError {
                return e.diagnostics.first
            } catch {
                return nil
            }
        }
        let itself = refusal("INSERT INTO s SELECT k, v, ts FROM s;")
        #expect(itself?.id == "plan.query-loop")
        #expect(itself?.message == "this query would write s, and it reads s: each row it writes would come back to it, for ever")
        #expect(refusal("INSERT INTO s SELECT k, v, ts FROM big;")?.id == "plan.query-loop")
        let through = refusal("INSERT INTO s SELECT k, v, ts FROM counts;")
        #expect(through?.message == "this query would write s, and queries feed s → counts, which it reads: each row it writes would come back to it, for ever")
        // Within one script: the second closes the loop the first opens.
        let script = refusal("INSERT INTO other SELECT k, v, ts FROM s;\nINSERT INTO s SELECT k, v, ts FROM other;")
        #expect(script?.message.contains("s → other") == true, "\(String(describing: script))")
        // Apart, the first runs (query 2) and the second is refused; with query 2 dropped, it runs.
        #expect(refusal("INSERT INTO other SELECT k, v, ts FROM s;") == nil)
        #expect(refusal("INSERT INTO s SELECT k, v, ts FROM other;")?.id == "plan.query-loop")
        #expect(refusal("DROP QUERY 2;") == nil)
        #expect(refusal("INSERT INTO s SELECT k, v, ts FROM other;") == nil)
        #expect(f.engine.runningQueries.map(\.label) == ["CREATE STREAM counts", "INSERT INTO s"])
        // An alert's NOTIFY 'stream:...' writes a stream too: into one it reads, or one that
        // running queries turn into what it reads (s, through INSERT INTO s ... FROM other).
        #expect(refusal("CREATE ALERT a AS SELECT k, v, ts FROM s FIRE WHEN v > 1 NOTIFY 'stream:s';")?.id == "plan.query-loop")
        #expect(refusal("CREATE ALERT b AS SELECT k, v, ts FROM s FIRE WHEN v > 1 NOTIFY 'stream:other';")?.message.contains("other → s") == true)
        #expect(refusal("CREATE ALERT c AS SELECT k, v, ts FROM other FIRE WHEN v > 1 NOTIFY 'stream:counts';") == nil)
    }

    /// Late records sent to another stream (`late_records`) that running queries put back into
    /// the stream they came from would be late again there, for ever: a query reading that
    /// stream is refused too, whatever it writes; without the query that closes the loop it runs.
    @Test func lateRecordsThatWouldComeBackAreALoop() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM late (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (format = 'json');
            CREATE STREAM s (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (format = 'json', late_records = 'late');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            """)
        func refusal(_ sql: String) -> Diagnostic? {
            do { try f.load(sql); return nil } catch let e as EngineError { return e.diagnostics.first } catch { return nil }
        }
        #expect(refusal("INSERT INTO out SELECT k, v FROM s;") == nil)  // nothing puts late records back yet
        #expect(refusal("INSERT INTO s SELECT k, v, ts FROM late;")?.id == "plan.query-loop")  // query 1 reads s, its late records go to late
        #expect(refusal("DROP QUERY 1;") == nil)
        #expect(refusal("INSERT INTO s SELECT k, v, ts FROM late;") == nil)
        let d = refusal("INSERT INTO out SELECT k, v FROM s;")
        #expect(d?.message == "this query's late records go to late (late_records), and queries feed late → s, which it reads: each would come back to it late, for ever", "\(String(describing: d))")
        #expect(refusal("SELECT k FROM s;")?.id == "plan.query-loop")
        // The REPL's and the SQL API's SELECT alike.
        let (st, _) = Parser.parseStatement("SELECT k FROM s")
        guard case .query(let q)? = st?.kind else { Issue.record("not a query"); return }
        #expect(throws: EngineError.self) { _ = try f.engine.startAdHoc(q, from: .earliest) { _ in } }
    }

    /// EXPLAIN n: a running query's line of SHOW QUERIES and its operators, each with the rows
    /// that entered it (what a filter let through is what the window took), its source with the
    /// records read; a number that runs nothing is refused with the numbers that run.
    @Test func explainOfARunningQueryCountsEachOperator() throws {
        let f = try EngineFixture()
        try f.load(clicksDDL + """
            INSERT INTO out SELECT window_end, url, COUNT(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND)
            WHERE CAST(ms AS BIGINT) % 2 = 0 GROUP BY window_start, window_end, url;
            """)
        for i in 0..<50 { try f.put("clicks", #"{"url":"/\#(i % 3)","ms":\#(i),"ts":\#(i * 1000)}"#) }
        _ = try f.engine.step()
        try f.load("EXPLAIN 1;")
        let text = f.engine.output.last ?? ""
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("query 1 (INSERT INTO out): RUNNING, 50 records in, 9 rows out") == true, "\(text)")
        #expect(lines.contains { $0.contains("WindowAggregateExec") && $0.hasSuffix("(25 rows in)") }, "\(text)")
        #expect(lines.contains { $0.contains("StreamSourceExec: clicks") && $0.hasSuffix("(50 records read)") }, "\(text)")
        #expect(lines.filter { $0.hasSuffix("rows in)") }.count == lines.count - 2, "every operator has its count: \(text)")
        do {
            try f.load("EXPLAIN 7;")
            Issue.record("EXPLAIN 7 ran")
        } catch let e as EngineError {
            #expect(e.diagnostics.first?.id == "plan.unknown-query" && e.diagnostics.first?.help == "running: 1", "\(e)")
        }
    }
}
