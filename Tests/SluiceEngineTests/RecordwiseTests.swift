import Foundation
import Testing
import SluiceCore
import SluiceSQL
import SluiceStreams
@testable import SluiceEngine

/// Issue 20: results do not depend on how records are batched. Each record meets the watermark
/// the records before it left (the records of a stream's shards meet in the order they arrived,
/// then by shard), so a query gives the same rows, late counts and error_stream at any read size,
/// and a run stopped and resumed between records gives what an uninterrupted one gives.
@Suite("Per-record watermark and lateness")
struct RecordwiseTests {
    static let sql = """
        CREATE STREAM ev (k VARCHAR, v DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
          WITH (shards = 3, format = 'json', late_records = 'error_stream');
        CREATE SINK tumbling WITH (type = 'file', path = '$DIR/tumbling.jsonl');
        CREATE SINK hopping WITH (type = 'file', path = '$DIR/hopping.jsonl');
        CREATE SINK sessions WITH (type = 'file', path = '$DIR/sessions.jsonl');
        CREATE SINK overs WITH (type = 'file', path = '$DIR/over.jsonl');
        CREATE SINK errs WITH (type = 'file', path = '$DIR/errs.jsonl');
        CREATE SINK cascade WITH (type = 'file', path = '$DIR/cascade.jsonl');
        CREATE SINK nested WITH (type = 'file', path = '$DIR/nested.jsonl');
        INSERT INTO tumbling SELECT window_end, k, COUNT(*) AS n, SUM(v) AS s FROM TUMBLE(ev, ts, INTERVAL '5' SECOND) GROUP BY window_start, window_end, k;
        INSERT INTO hopping SELECT window_end, COUNT(*) AS n FROM HOP(ev, ts, SIZE INTERVAL '6' SECOND, ADVANCE INTERVAL '2' SECOND) GROUP BY window_start, window_end;
        INSERT INTO sessions SELECT window_start, window_end, k, COUNT(*) AS n FROM SESSION(ev PARTITION BY k, ts, GAP INTERVAL '3' SECOND) GROUP BY window_start, window_end, k;
        INSERT INTO overs SELECT ts, k, v, SUM(v) OVER (PARTITION BY k ORDER BY ts RANGE INTERVAL '10' SECOND PRECEDING) AS s10 FROM ev;
        INSERT INTO errs SELECT error_kind, data FROM error_stream;
        INSERT INTO cascade SELECT window_end, k, SUM(n) AS n, MAX(top) AS top
          FROM TUMBLE((SELECT window_time, k, COUNT(*) AS n, MAX(v) AS top FROM TUMBLE(ev, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end, window_time, k),
                      window_time, INTERVAL '5' SECOND)
          GROUP BY window_start, window_end, k;
        INSERT INTO nested SELECT window_end, COUNT(*) AS n, SUM(w) AS w
          FROM HOP((SELECT ts AS t, v * 2 AS w FROM (SELECT * FROM ev WHERE v > 20) AS big WHERE k <> 'k3'), t, SIZE INTERVAL '6' SECOND, ADVANCE INTERVAL '3' SECOND)
          GROUP BY window_start, window_end;
        """

    /// Seeded records, in bursts (records of one put share an arrival), often out of order by
    /// more than the watermark's delay, over three shards.
    static func records() -> [[(key: String, json: String)]] {
        var rng = SplitMix64(seed: 20)
        var bursts: [[(String, String)]] = []
        var t: Int64 = 1_704_067_200_000
        for _ in 0..<60 {
            var burst: [(String, String)] = []
            for _ in 0..<Int(rng.next() % 6 + 1) {
                t += Int64(rng.next() % 900)
                let skew = rng.next() % 4 == 0 ? -Int64(rng.next() % 8_000) : 0
                let k = "k\(rng.next() % 4)"
                burst.append((k, #"{"k":"\#(k)","v":\#(rng.next() % 100),"ts":\#(t + skew)}"#))
            }
            bursts.append(burst)
        }
        return bursts
    }

    /// Runs the file over the records with reads of at most `pollLimit` records per shard: each
    /// burst read as it is put (`upFront` false), or every burst put first, 100 ms apart (or in
    /// the same millisecond with `sameMillisecond`), and then read; with `restart`, the run is
    /// stopped and resumed after every step (records held back or not). The sinks and counters.
    func run(pollLimit: Int, upFront: Bool = false, sameMillisecond: Bool = false, restart: Bool = false) throws -> ([String: String], [Int64]) {
        let run = try RestartableRun(sql: Self.sql)
        run.engine.pollLimit = pollLimit
        func steps() throws {
            while try run.engine.step() {
                if restart {
                    try run.engine.stop()
                    try run.crashAndReopen()
                    run.engine.pollLimit = pollLimit
                }
            }
        }
        for burst in Self.records() {
            _ = try run.store.putRecords(stream: "ev", records: burst.map { PutRecordsRequestEntry(data: Array($0.json.utf8), partitionKey: $0.key) })
            if !sameMillisecond { run.clock.advance(by: 100) }
            if !upFront { try steps() }
        }
        if upFront {
            run.clock.advance(by: 100)
            try steps()
        }
        try run.engine.finish()
        var files: [String: String] = [:]
        for f in ["tumbling.jsonl", "hopping.jsonl", "sessions.jsonl", "over.jsonl", "cascade.jsonl", "nested.jsonl"] { files[f] = run.file(f) }
        // error_stream is written by five queries as each meets a late record: its contents, not
        // their interleaving (which follows how the queries' steps take turns), are compared.
        files["errs.jsonl"] = run.file("errs.jsonl").split(separator: "\n").sorted().joined(separator: "\n")
        return (files, run.engine.counters.map(\.late))
    }

    @Test func anyReadSizeGivesTheSameRowsLateRecordsAndErrors() throws {
        let (reference, late) = try run(pollLimit: 10_000)
        #expect(late.reduce(0, +) > 10, "the data set has late records: \(late)")
        #expect(reference["errs.jsonl"]!.split(separator: "\n").count > 10)
        for f in ["tumbling.jsonl", "hopping.jsonl", "sessions.jsonl", "over.jsonl", "cascade.jsonl", "nested.jsonl"] { #expect(reference[f]!.split(separator: "\n").count > 5, "\(f)") }
        for (limit, upFront) in [(1, false), (7, false), (1, true), (7, true), (10_000, true)] {
            let same = false
            let (files, l) = try run(pollLimit: limit, upFront: upFront)
            #expect(l == late, "read size \(limit), up front \(upFront), same ms \(same)")
            for (name, text) in reference.sorted(by: { $0.key < $1.key }) {
                let a = text.split(separator: "\n"), b = (files[name] ?? "").split(separator: "\n")
                let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }.map { "line \($0.offset + 1): \($0.element.0) vs \($0.element.1)" }
                #expect(files[name] == text, "\(name) at read size \(limit), up front \(upFront), same ms \(same): \(a.count) vs \(b.count) lines; \(first ?? "")")
            }
        }
    }

    /// Every record put in one millisecond (a frozen clock): they meet by shard, then in
    /// sequence; read one at a time or all at once, the same.
    @Test func recordsOfOneMillisecondMeetByShard() throws {
        let (reference, late) = try run(pollLimit: 10_000, upFront: true, sameMillisecond: true)
        for limit in [1, 2, 7] {
            let (files, l) = try run(pollLimit: limit, upFront: true, sameMillisecond: true)
            #expect(l == late, "read size \(limit)")
            for (name, text) in reference.sorted(by: { $0.key < $1.key }) { #expect(files[name] == text, "\(name) at read size \(limit)") }
        }
    }

    /// Two shards, one millisecond: shard 0's records (10 s, 30 s) meet before shard 1's (15 s),
    /// and shard 1, which had produced nothing yet, held the watermark back (the stream's
    /// watermark is the minimum over its shards): 15 s is not late, read a record at a time or whole.
    @Test func aShardThatProducedNothingHoldsTheWatermarkAtAnyReadSize() throws {
        for limit in [10_000, 1] {
            let f = try EngineFixture()
            f.engine.pollLimit = limit
            try f.load("""
                CREATE STREAM s (ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (shards = 2, format = 'json', late_records = 'error_stream');
                CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
                INSERT INTO out SELECT window_end, COUNT(*) AS n FROM TUMBLE(s, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end;
                """)
            try f.put("s", #"{"ts":10000}"#, shard: 0, of: 2)
            try f.put("s", #"{"ts":30000}"#, shard: 0, of: 2)
            try f.put("s", #"{"ts":15000}"#, shard: 1, of: 2)
            try f.engine.runUntilEnd()
            #expect(f.engine.counters[0].late == 0, "read size \(limit)")
            #expect(f.lines("out.jsonl") == [#"{"window_end":"1970-01-01T00:00:20.000Z","n":2}"#, #"{"window_end":"1970-01-01T00:00:40.000Z","n":1}"#], "read size \(limit)")
        }
    }

    @Test func stoppingAndResumingBetweenRecordsChangesNothing() throws {
        let (reference, late) = try run(pollLimit: 10_000)
        let (files, l) = try run(pollLimit: 3, upFront: true, restart: true)
        #expect(l.reduce(0, +) == late.reduce(0, +))
        for (name, text) in reference.sorted(by: { $0.key < $1.key }) { #expect(files[name] == text, "\(name)") }
    }

    /// The issue's case: one shard, no delay; records at 1 s, 15 s, 2 s. The window [0 s, 10 s)
    /// holds one record and the third is late, read in one batch or one by one.
    @Test func theDocumentedAnswerInOneBatch() throws {
        for limit in [10_000, 1] {
            let f = try EngineFixture()
            f.engine.pollLimit = limit
            try f.load("""
                CREATE STREAM s (ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '0' SECOND) WITH (shards = 1, format = 'json', late_records = 'error_stream');
                CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
                INSERT INTO out SELECT window_start, window_end, COUNT(*) AS n FROM TUMBLE(s, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end;
                """)
            for t in [1000, 15000, 2000] { try f.put("s", #"{"ts":\#(t)}"#) }
            try f.engine.runUntilEnd()
            #expect(f.lines("out.jsonl") == [#"{"window_start":"1970-01-01T00:00:00.000Z","window_end":"1970-01-01T00:00:10.000Z","n":1}"#,
                                             #"{"window_start":"1970-01-01T00:00:10.000Z","window_end":"1970-01-01T00:00:20.000Z","n":1}"#], "read size \(limit)")
            #expect(f.engine.counters[0].late == 1, "read size \(limit)")
            #expect(try f.errorStream().filter { $0["error_kind"] == "late" }.count == 1)
        }
    }
    /// bad_records = 'fail' over two shards: the records that arrived before the bad one go
    /// through in arrival order (shard 1's 2 s before shard 0's bad record), the ones after it
    /// (shard 1's 4 s) do not, whichever shard is read first.
    @Test func failStopsAtTheBadRecordInArrivalOrder() throws {
        for (badShard, limit) in [(0, 10_000), (1, 10_000), (0, 1)] {
            let good = 1 - badShard
            let f = try EngineFixture()
            f.engine.pollLimit = limit
            try f.load("""
                CREATE STREAM s (n BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (shards = 2, format = 'json', bad_records = 'fail');
                CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
                INSERT INTO out SELECT n FROM s;
                """)
            try f.put("s", #"{"n":1,"ts":1000}"#, shard: badShard, of: 2)
            f.clock.advance(by: 1)
            try f.put("s", #"{"n":2,"ts":2000}"#, shard: good, of: 2)
            f.clock.advance(by: 1)
            try f.put("s", #"{"n":"#, shard: badShard, of: 2)
            f.clock.advance(by: 1)
            try f.put("s", #"{"n":4,"ts":4000}"#, shard: good, of: 2)
            f.clock.advance(by: 1)
            #expect(throws: EngineError.self) { try f.engine.runUntilEnd() }
            #expect(f.lines("out.jsonl") == [#"{"n":1}"#, #"{"n":2}"#], "bad record in shard \(badShard), read size \(limit)")
        }
    }
}
