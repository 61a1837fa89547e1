import Foundation
import Testing
import SluiceCore
import SluiceSQL
import SluiceStreams
@testable import SluiceEngine

/// Updating results flow as changelogs (issue 21): an aggregate over an aggregate's changes,
/// Top-N (ROW_NUMBER, RANK, DENSE_RANK), dedup and a Top-N per window. Each sink's changelog,
/// applied, leaves what a model computes from the records; every -U and -D takes back a row that
/// was there; any read size, and a run stopped and resumed after every step, write the same files.
@Suite("Changelogs: updating aggregates, Top-N and dedup")
struct ChangelogTests {
    static let sql = """
        CREATE STREAM ev (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
          WITH (shards = 2, format = 'json');
        CREATE SINK nested WITH (type = 'file', path = '$DIR/nested.jsonl');
        CREATE SINK top2 WITH (type = 'file', path = '$DIR/top2.jsonl');
        CREATE SINK ranked WITH (type = 'file', path = '$DIR/ranked.jsonl');
        CREATE SINK dense WITH (type = 'file', path = '$DIR/dense.jsonl');
        CREATE SINK latest WITH (type = 'file', path = '$DIR/latest.jsonl');
        CREATE SINK windowed WITH (type = 'file', path = '$DIR/windowed.jsonl');
        CREATE SINK forgetful WITH (type = 'file', path = '$DIR/forgetful.jsonl');
        CREATE SINK forgetful_counts WITH (type = 'file', path = '$DIR/forgetful_counts.jsonl');
        CREATE STREAM short_lived (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
          WITH (shards = 2, format = 'json', state_ttl = '1s');
        INSERT INTO nested SELECT n, COUNT(*) AS keys, SUM(total) AS s, MAX(total) AS top
          FROM (SELECT k, COUNT(*) AS n, SUM(v) AS total FROM ev GROUP BY k) AS c GROUP BY n EMIT CHANGES;
        INSERT INTO top2 SELECT * FROM (SELECT k, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) AS rn FROM ev) AS t
          WHERE rn <= 2 EMIT CHANGES;
        INSERT INTO ranked SELECT k, v, r FROM (SELECT k, v, RANK() OVER (PARTITION BY k ORDER BY v) AS r FROM ev) AS t
          WHERE r <= 3 EMIT CHANGES;
        INSERT INTO dense SELECT k, v, r FROM (SELECT k, v, DENSE_RANK() OVER (PARTITION BY k ORDER BY v) AS r FROM ev) AS t
          WHERE r < 3 EMIT CHANGES;
        INSERT INTO latest SELECT k, v FROM (SELECT k, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts DESC) AS rn FROM ev) AS t
          WHERE rn = 1 EMIT CHANGES;
        INSERT INTO windowed SELECT * FROM (
          SELECT window_start, k, n, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n DESC, k) AS rn
          FROM (SELECT window_start, window_end, k, COUNT(*) AS n FROM TUMBLE(ev, ts, INTERVAL '2' SECOND) GROUP BY window_start, window_end, k) AS w
        ) AS t WHERE rn <= 2;
        INSERT INTO forgetful SELECT k, v FROM (SELECT k, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) AS rn FROM short_lived) AS t
          WHERE rn = 1 EMIT CHANGES;
        INSERT INTO forgetful_counts SELECT k, COUNT(*) AS n FROM short_lived GROUP BY k EMIT CHANGES;
        """

    struct Event { var k: String, v: Int64, ts: Int64 }

    /// Seeded events in bursts, in event-time order within the watermark's delay (none is late);
    /// values from a small range, so ranks tie.
    static func events() -> [[Event]] {
        var rng = SplitMix64(seed: 21)
        var t: Int64 = 1_704_067_200_000
        return (0..<60).map { _ in
            (0..<Int(rng.next() % 4 + 1)).map { _ in
                t += Int64(rng.next() % 300 + 1)
                return Event(k: "k\(rng.next() % 5)", v: Int64(rng.next() % 12), ts: t)
            }
        }
    }

    static let files = ["nested.jsonl", "top2.jsonl", "ranked.jsonl", "dense.jsonl", "latest.jsonl", "windowed.jsonl", "forgetful.jsonl", "forgetful_counts.jsonl"]

    func run(pollLimit: Int, restart: Bool = false) throws -> [String: String] {
        let run = try RestartableRun(sql: Self.sql)
        run.engine.pollLimit = pollLimit
        let ranges = HashKey.evenRanges(count: 2)
        for (i, burst) in Self.events().enumerated() {
            for (j, e) in burst.enumerated() {
                for stream in ["ev", "short_lived"] {
                    _ = try run.store.putRecord(stream: stream, data: Array(#"{"k":"\#(e.k)","v":\#(e.v),"ts":\#(e.ts)}"#.utf8), partitionKey: "k",
                                                explicitHashKey: String(ranges[(i + j) % 2].lowerBound))
                }
            }
            run.clock.advance(by: 100)
            try run.drain(restart: restart)
        }
        try run.engine.finish()
        return Dictionary(uniqueKeysWithValues: Self.files.map { ($0, run.file($0)) })
    }

    /// The changelog applied: the rows left, as sorted JSON lines without `op`.
    static func applied(_ name: String, _ text: String) -> [String] {
        var rows: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            guard let j = try? JSONValue.parse(bytes: Array(line.utf8)), var o = j.objectValue, case .string(let op)? = o["op"] else {
                Issue.record("\(name): a line without its change kind: \(line)")
                return []
            }
            o["op"] = nil
            let row = JSONValue.object(o).serialized()
            if op == "+I" || op == "+U" {
                rows[row, default: 0] += 1
            } else if let n = rows[row], n > 0 {
                rows[row] = n - 1
            } else {
                Issue.record("\(name): \(op) takes back a row that is not there: \(row)")
            }
        }
        return rows.flatMap { Array(repeating: $0.key, count: $0.value) }.sorted()
    }

    static func json(_ fields: [(String, JSONValue)]) -> String {
        var o = JSONObject()
        for (k, v) in fields { o[k] = v }
        return JSONValue.object(o).serialized()
    }

    @Test func changelogsLeaveWhatTheModelComputes() throws {
        let files = try run(pollLimit: 10_000)
        let all = Self.events().flatMap { $0 }
        let byKey = Dictionary(grouping: all, by: \.k)
        // Counts per key, then per count: how many keys, their totals' sum and largest.
        var perCount: [Int64: [Int64]] = [:]
        for (_, es) in byKey { perCount[Int64(es.count), default: []].append(es.map(\.v).reduce(0, +)) }
        let nested = perCount.map { n, totals in Self.json([("n", .int(n)), ("keys", .int(Int64(totals.count))), ("s", .int(totals.reduce(0, +))), ("top", .int(totals.max()!))]) }
        #expect(Self.applied("nested", files["nested.jsonl"]!) == nested.sorted())
        #expect(files["nested.jsonl"]!.contains(#""op":"-D""#), "a count that no key has any more is withdrawn")
        // ROW_NUMBER <= 2 by v DESC; RANK <= 3 by v (ties share a rank: more rows may stay);
        // DENSE_RANK < 3 (the rows of the two smallest values).
        var top2: [String] = [], ranked: [String] = [], dense: [String] = [], latest: [String] = []
        for (k, es) in byKey {
            for (i, v) in es.map(\.v).sorted(by: >).prefix(2).enumerated() { top2.append(Self.json([("k", .string(k)), ("v", .int(v)), ("rn", .int(Int64(i + 1)))])) }
            let asc = es.map(\.v).sorted()
            for v in asc {
                let rank = Int64(asc.filter { $0 < v }.count + 1)
                if rank <= 3 { ranked.append(Self.json([("k", .string(k)), ("v", .int(v)), ("r", .int(rank))])) }
                let denseRank = Int64(Set(asc.filter { $0 < v }).count + 1)
                if denseRank < 3 { dense.append(Self.json([("k", .string(k)), ("v", .int(v)), ("r", .int(denseRank))])) }
            }
            let last = es.max { $0.ts < $1.ts }!
            latest.append(Self.json([("k", .string(k)), ("v", .int(last.v))]))
        }
        #expect(Self.applied("top2", files["top2.jsonl"]!) == top2.sorted())
        #expect(Self.applied("ranked", files["ranked.jsonl"]!) == ranked.sorted())
        #expect(Self.applied("dense", files["dense.jsonl"]!) == dense.sorted())
        #expect(Self.applied("latest", files["latest.jsonl"]!) == latest.sorted())
        for f in ["top2.jsonl", "ranked.jsonl"] {
            #expect(files[f]!.contains(#""op":"-U""#) && files[f]!.contains(#""op":"-D""#), "\(f): ranks move and rows leave")
        }
        #expect(!files["latest.jsonl"]!.contains(#""op":"-U""#), "dedup without the rank output: rows come and go, never update")
        // Per window of 2 s: the two keys with the most events (ties: the smaller key), once, as the window closes.
        var windows: [Int64: [String: Int64]] = [:]
        for e in all { windows[e.ts - e.ts % 2000, default: [:]][e.k, default: 0] += 1 }
        var windowed: [String] = []
        for (start, counts) in windows {
            let best = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(2)
            for (i, (k, n)) in best.enumerated() {
                windowed.append(Self.json([("window_start", .string(TimeFormat.iso8601(start))), ("k", .string(k)), ("n", .int(n)), ("rn", .int(Int64(i + 1)))]))
            }
        }
        let got = files["windowed.jsonl"]!.split(separator: "\n").map(String.init)
        #expect(got.sorted() == windowed.sorted())
        #expect(!files["windowed.jsonl"]!.contains(#""op""#), "a Top-N per window is append-only")
        // With a 1 s state TTL, keys idle that long start afresh: more rows come in than the
        // kept-forever Top-1 would let through (its changelog stays well formed).
        let forgetful = files["forgetful.jsonl"]!.split(separator: "\n")
        #expect(forgetful.filter { $0.contains(#""op":"+I""#) }.count > forgetful.filter { $0.contains(#""op":"-D""#) }.count + 5)
        // The counts of a key forgotten start again at 1 (+I): fewer than all its events at the end.
        let counts = files["forgetful_counts.jsonl"]!.split(separator: "\n")
        #expect(counts.filter { $0.contains(#""n":1,"op":"+I""#) }.count > 5)
    }

    @Test func anyReadSizeAndRestartsWriteTheSameChangelogs() throws {
        let reference = try run(pollLimit: 10_000)
        for (limit, restart) in [(1, false), (3, false), (1, true), (3, true)] {
            let files = try run(pollLimit: limit, restart: restart)
            for f in Self.files {
                #expect(files[f] == reference[f], "\(f) at read size \(limit)\(restart ? ", stopped and resumed after every step" : "")")
            }
        }
    }

    /// What cannot run is refused with a reason, before anything runs.
    @Test(arguments: [
        ("SELECT * FROM (SELECT k, ROW_NUMBER() OVER (PARTITION BY k) AS rn FROM ev) AS t WHERE rn <= 2 EMIT CHANGES", "plan.rank-order"),
        ("SELECT * FROM (SELECT k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v) AS rn FROM ev) AS t EMIT CHANGES", "plan.rank-needs-limit"),
        ("SELECT k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v) AS rn FROM ev EMIT CHANGES", "plan.rank-needs-limit"),
        ("SELECT * FROM (SELECT k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v) AS rn FROM ev) AS t WHERE rn <= 2", "plan.updating-needs-emit-changes"),
        ("SELECT * FROM (SELECT k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v) + 1 AS rn FROM ev) AS t WHERE rn <= 2 EMIT CHANGES", "plan.rank-position"),
        ("SELECT * FROM (SELECT k, ROW_NUMBER(v) OVER (PARTITION BY k ORDER BY v) AS rn FROM ev) AS t WHERE rn <= 2 EMIT CHANGES", "bind.bad-arguments"),
        ("SELECT * FROM (SELECT k, RANK() OVER (PARTITION BY k ORDER BY v ROWS 3 PRECEDING) AS rn FROM ev) AS t WHERE rn <= 2 EMIT CHANGES", "plan.over-frame"),
        ("SELECT window_start, COUNT(*) FROM TUMBLE((SELECT k, COUNT(*) AS n FROM ev GROUP BY k), ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end", "plan.updating-input"),
        ("SELECT n, APPROX_COUNT_DISTINCT(k) FROM (SELECT k, COUNT(*) AS n FROM ev GROUP BY k) AS c GROUP BY n EMIT CHANGES", "plan.updating-input"),
        ("SELECT * FROM (SELECT k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY n) AS rn FROM (SELECT k, COUNT(*) AS n FROM ev GROUP BY k) AS c) AS t WHERE rn <= 1 EMIT CHANGES", "plan.updating-input"),
        ("SELECT a.k FROM ev AS a JOIN (SELECT k, COUNT(*) AS n FROM ev GROUP BY k) AS c ON a.k = c.k EMIT CHANGES", "plan.updating-input"),
        ("SELECT k, COUNT(*) AS op FROM ev GROUP BY k EMIT CHANGES", "plan.duplicate-column"),
    ])
    func badUpdatingQueriesAreRefused(_ sql: String, _ id: String) throws {
        let f = try EngineFixture()
        do {
            try f.load("CREATE STREAM ev (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND);\n" + sql + ";")
            Issue.record("planned: \(sql)")
        } catch let e as EngineError {
            #expect(e.diagnostics.first?.id == id, "\(sql): \(e.diagnostics.map(\.message))")
            #expect(e.diagnostics.first?.help != nil || id == "bind.bad-arguments" || id == "plan.duplicate-column", "\(sql): a refusal says what to do")
        }
    }

    /// A Top-N over a stream with state_ttl forgets a partition idle for that long (of event
    /// time): its rows stand as emitted, and a later row starts it afresh. Without it, the
    /// partition's best row is kept forever.
    @Test func aTopNForgetsPartitionsIdleForTheStateTTL() throws {
        func rows(ttl: Bool) throws -> [String] {
            let f = try EngineFixture()
            try f.load("""
                CREATE STREAM ev (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)\(ttl ? " WITH (state_ttl = '5s')" : "");
                CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
                INSERT INTO out SELECT k, v FROM (SELECT k, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) AS rn FROM ev) AS t
                  WHERE rn = 1 EMIT CHANGES;
                """)
            for (k, v, ts) in [("a", 10, 0), ("b", 1, 1_000), ("b", 2, 9_000), ("a", 5, 12_000)] {
                try f.put("ev", #"{"k":"\#(k)","v":\#(v),"ts":\#(1_704_067_200_000 + ts)}"#)
                while try f.engine.step() {}
            }
            try f.engine.runUntilEnd()
            return f.lines("out.jsonl")
        }
        #expect(try rows(ttl: false) == [#"{"k":"a","v":10,"op":"+I"}"#, #"{"k":"b","v":1,"op":"+I"}"#,
                                        #"{"k":"b","v":1,"op":"-D"}"#, #"{"k":"b","v":2,"op":"+I"}"#])
        // By 9 s (watermark 8 s) a, last touched at 0 s, has been idle for more than 5 s.
        #expect(try rows(ttl: true) == [#"{"k":"a","v":10,"op":"+I"}"#, #"{"k":"b","v":1,"op":"+I"}"#,
                                       #"{"k":"b","v":1,"op":"-D"}"#, #"{"k":"b","v":2,"op":"+I"}"#, #"{"k":"a","v":5,"op":"+I"}"#])
    }

    /// An aggregate without a window over a stream with state_ttl forgets a group idle for that
    /// long: its last row stands, and the group's next row starts a new count (+I).
    @Test func anAggregateForgetsGroupsIdleForTheStateTTL() throws {
        func rows(ttl: Bool) throws -> [String] {
            let f = try EngineFixture()
            try f.load("""
                CREATE STREAM ev (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)\(ttl ? " WITH (state_ttl = '5s')" : "");
                CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
                INSERT INTO out SELECT k, COUNT(*) AS n FROM ev GROUP BY k EMIT CHANGES;
                """)
            for (k, ts) in [("a", 0), ("b", 1_000), ("b", 9_000), ("a", 12_000)] {
                try f.put("ev", #"{"k":"\#(k)","v":1,"ts":\#(1_704_067_200_000 + ts)}"#)
                while try f.engine.step() {}
            }
            try f.engine.runUntilEnd()
            return f.lines("out.jsonl")
        }
        #expect(try rows(ttl: false).last == #"{"k":"a","n":2,"op":"+U"}"#)
        // By 9 s (watermark 8 s) a, last touched at 0 s, has been idle for more than 5 s; b was touched at 1 s.
        #expect(try rows(ttl: true) == [#"{"k":"a","n":1,"op":"+I"}"#, #"{"k":"b","n":1,"op":"+I"}"#,
                                       #"{"k":"b","n":1,"op":"-U"}"#, #"{"k":"b","n":2,"op":"+U"}"#, #"{"k":"a","n":1,"op":"+I"}"#])
    }

    /// A key is forgotten by the watermark the records before its row left, at any read size: a
    /// record that moves the watermark past a key's TTL, read in one batch with the key's next
    /// row, still comes first.
    @Test func forgettingDoesNotDependOnTheReadSize() throws {
        func rows(pollLimit: Int) throws -> [String] {
            let f = try EngineFixture()
            f.engine.pollLimit = pollLimit
            try f.load("""
                CREATE STREAM ev (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (state_ttl = '5s');
                CREATE SINK counts WITH (type = 'file', path = '$DIR/counts.jsonl');
                CREATE SINK tops WITH (type = 'file', path = '$DIR/tops.jsonl');
                INSERT INTO counts SELECT k, COUNT(*) AS n FROM ev GROUP BY k EMIT CHANGES;
                INSERT INTO tops SELECT k, v FROM (SELECT k, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) AS rn FROM ev) AS t WHERE rn = 1 EMIT CHANGES;
                """)
            try f.put("ev", #"{"k":"a","v":9,"ts":1704067200000}"#)
            while try f.engine.step() {}
            // Read together: b at 7 s moves the watermark to 6 s, past a's 0 s + 5 s; then a.
            try f.put("ev", #"{"k":"b","v":1,"ts":1704067207000}"#)
            try f.put("ev", #"{"k":"a","v":2,"ts":1704067207100}"#)
            while try f.engine.step() {}
            try f.engine.runUntilEnd()
            return f.lines("counts.jsonl") + f.lines("tops.jsonl")
        }
        let want = [#"{"k":"a","n":1,"op":"+I"}"#, #"{"k":"b","n":1,"op":"+I"}"#, #"{"k":"a","n":1,"op":"+I"}"#,
                    #"{"k":"a","v":9,"op":"+I"}"#, #"{"k":"b","v":1,"op":"+I"}"#, #"{"k":"a","v":2,"op":"+I"}"#]
        #expect(try rows(pollLimit: 1) == want)
        #expect(try rows(pollLimit: 10_000) == want)
    }

    /// A changelog into a declared stream needs an op column to say each record's kind.
    @Test func aStreamWithoutAnOpColumnCannotTakeChanges() throws {
        let f = try EngineFixture()
        let ddl = "CREATE STREAM ev (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND);\n"
        do {
            try f.load(ddl + "CREATE STREAM totals (k VARCHAR, n BIGINT);\nINSERT INTO totals SELECT k, COUNT(*) AS n FROM ev GROUP BY k EMIT CHANGES;")
            Issue.record("loaded")
        } catch let e as EngineError {
            #expect(e.diagnostics.map(\.id) == ["plan.sink-takes-no-changes"])
        }
        let g = try EngineFixture()
        try g.load(ddl + "CREATE STREAM totals (k VARCHAR, n BIGINT, op VARCHAR);\nINSERT INTO totals SELECT k, COUNT(*) AS n FROM ev GROUP BY k EMIT CHANGES;\n"
                   + "CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');\nINSERT INTO out SELECT k, n, op FROM totals;")
        try g.put("ev", #"{"k":"a","v":1,"ts":1}"#)
        try g.put("ev", #"{"k":"a","v":1,"ts":2}"#)
        try g.engine.runUntilEnd()
        #expect(g.lines("out.jsonl") == [#"{"k":"a","n":1,"op":"+I"}"#, #"{"k":"a","n":1,"op":"-U"}"#, #"{"k":"a","n":2,"op":"+U"}"#])
    }
}
