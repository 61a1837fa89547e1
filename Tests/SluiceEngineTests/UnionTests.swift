import Foundation
import Testing
import SluiceCore
import SluiceSQL
import SluiceStreams
@testable import SluiceEngine

/// UNION ALL (issue 21): the rows of two or more queries as they come, in one query over all their
/// inputs, with the smallest of their watermarks; a window over a union counts every stream's
/// records, and a record behind the union's watermark is late. A join whose side is a join reads
/// three streams the same way (the operators a tree over the sources). Any read size, and a run
/// stopped and resumed after every step, write the same files.
@Suite("UNION ALL")
struct UnionTests {
    static let sql = """
        CREATE STREAM east (k VARCHAR, n BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
          WITH (shards = 2, format = 'json', late_records = 'error_stream');
        CREATE STREAM west (k VARCHAR, n BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
          WITH (shards = 2, format = 'json', late_records = 'error_stream');
        CREATE STREAM north (k VARCHAR, n BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
          WITH (shards = 2, format = 'json', late_records = 'error_stream');
        CREATE SINK both WITH (type = 'file', path = '$DIR/both.jsonl');
        CREATE SINK windows WITH (type = 'file', path = '$DIR/windows.jsonl');
        CREATE SINK three WITH (type = 'file', path = '$DIR/three.jsonl');
        CREATE SINK three_windows WITH (type = 'file', path = '$DIR/three_windows.jsonl');
        CREATE SINK joined WITH (type = 'file', path = '$DIR/joined.jsonl');
        CREATE SINK chained WITH (type = 'file', path = '$DIR/chained.jsonl');
        INSERT INTO both SELECT k, n, 'east' AS side FROM east WHERE n % 3 <> 0 UNION ALL SELECT k, n * 10, 'west' FROM west;
        INSERT INTO windows SELECT window_start, k, COUNT(*) AS records, SUM(n) AS total
          FROM TUMBLE((SELECT k, n, ts FROM east UNION ALL SELECT k, n, ts FROM west), ts, INTERVAL '2' SECOND)
          GROUP BY window_start, window_end, k;
        INSERT INTO three SELECT k, n, 'east' AS side FROM east UNION ALL SELECT k, n, 'west' FROM west UNION ALL SELECT k, n, 'north' FROM north;
        INSERT INTO three_windows SELECT window_start, COUNT(*) AS records
          FROM TUMBLE((SELECT n, ts FROM east UNION ALL SELECT n, ts FROM west UNION ALL SELECT n, ts FROM north), ts, INTERVAL '2' SECOND)
          GROUP BY window_start, window_end;
        INSERT INTO joined SELECT x.k, x.e, x.w, o.n AS o
          FROM (SELECT a.k, a.n AS e, b.n AS w, a.ts FROM east a JOIN west b ON a.k = b.k AND b.ts BETWEEN a.ts - INTERVAL '1' SECOND AND a.ts + INTERVAL '1' SECOND) x
          JOIN north o ON x.k = o.k AND o.ts BETWEEN x.ts - INTERVAL '1' SECOND AND x.ts + INTERVAL '1' SECOND;
        INSERT INTO chained SELECT a.k, a.n AS e, b.n AS w, o.n AS o
          FROM east a JOIN west b ON a.k = b.k AND b.ts BETWEEN a.ts - INTERVAL '1' SECOND AND a.ts + INTERVAL '1' SECOND
          JOIN north o ON a.k = o.k AND o.ts BETWEEN a.ts - INTERVAL '1' SECOND AND a.ts + INTERVAL '1' SECOND;
        """

    struct Put { var stream: String, shard: Int, k: String, n: Int, ts: Int64 }

    /// Seeded puts to either stream and shard, in bursts, some out of order by more than the delay.
    static func puts() -> [[Put]] {
        var rng = SplitMix64(seed: 77)
        var t: Int64 = 1_704_067_200_000
        var n = 0
        return (0..<90).map { _ in
            (0..<Int(rng.next() % 4 + 1)).map { _ in
                t += Int64(rng.next() % 600)
                let skew = rng.next() % 4 == 0 ? -Int64(rng.next() % 6_000) : 0
                n += 1
                return Put(stream: ["east", "west", "north"][Int(rng.next() % 3)], shard: Int(rng.next() % 2), k: "k\(rng.next() % 3)", n: n, ts: t + skew)
            }
        }
    }

    func run(pollLimit: Int, restart: Bool = false) throws -> (files: [String: String], late: [Int64]) {
        let run = try RestartableRun(sql: Self.sql)
        run.engine.pollLimit = pollLimit
        let ranges = HashKey.evenRanges(count: 2)
        for burst in Self.puts() {
            for p in burst {
                _ = try run.store.putRecord(stream: p.stream, data: Array(#"{"k":"\#(p.k)","n":\#(p.n),"ts":\#(p.ts)}"#.utf8), partitionKey: "k",
                                            explicitHashKey: String(ranges[p.shard].lowerBound))
            }
            run.clock.advance(by: 100)
            try run.drain(restart: restart)
        }
        try run.engine.finish()
        var files: [String: String] = [:]
        for f in ["both.jsonl", "windows.jsonl", "three.jsonl", "three_windows.jsonl", "joined.jsonl", "chained.jsonl"] { files[f] = run.file(f) }
        return (files, run.engine.counters.map(\.late))
    }

    @Test func aUnionHasBothInputsRowsAndItsWindowsCountBoth() throws {
        let (files, late) = try run(pollLimit: 10_000)
        let all = Self.puts().flatMap { $0 }
        // Every row of both queries, once.
        let want = all.compactMap { p -> String? in
            if p.stream == "east" { return p.n % 3 == 0 ? nil : #"{"k":"\#(p.k)","n":\#(p.n),"side":"east"}"# }
            return p.stream == "west" ? #"{"k":"\#(p.k)","n":\#(p.n * 10),"side":"west"}"# : nil
        }
        #expect(files["both.jsonl"]!.split(separator: "\n").map(String.init).sorted() == want.sorted())
        // The windows: every record not late for the union (its watermark is the smaller of the
        // two), counted once. The late ones are counted, and the windows hold the rest.
        #expect(late[1] > 0, "the data set has records behind the union's watermark: \(late)")
        var counted = 0
        var total = 0
        for line in files["windows.jsonl"]!.split(separator: "\n") {
            let j = try JSONValue.parse(bytes: Array(line.utf8))
            counted += Int(j["records"]!.int64Value!)
            total += Int(j["total"]!.int64Value!)
        }
        let twoStreams = all.filter { $0.stream != "north" }
        #expect(counted + Int(late[1]) == twoStreams.count)
        #expect(total <= twoStreams.map(\.n).reduce(0, +) && total > 0)
        // Three queries: every row of each, once; the window over them counts every record not late.
        #expect(files["three.jsonl"]!.split(separator: "\n").map(String.init).sorted()
                == all.map { #"{"k":"\#($0.k)","n":\#($0.n),"side":"\#($0.stream)"}"# }.sorted())
        let threeCounted = files["three_windows.jsonl"]!.split(separator: "\n").reduce(0) { sum, line in
            sum + Int((try? JSONValue.parse(bytes: Array(line.utf8)))?["records"]?.int64Value ?? 0)
        }
        #expect(late[3] > 0 && threeCounted + Int(late[3]) == all.count, "\(late)")
        // The join of a join: every row is a triple the brute force finds (a record late for a
        // join meets nothing), and most of the triples are there.
        let model = Set(all.filter { $0.stream == "east" }.flatMap { a in
            all.filter { $0.stream == "west" && $0.k == a.k && abs($0.ts - a.ts) <= 1000 }.flatMap { b in
                all.filter { $0.stream == "north" && $0.k == a.k && abs($0.ts - a.ts) <= 1000 }.map { o in
                    #"{"k":"\#(a.k)","e":\#(a.n),"w":\#(b.n),"o":\#(o.n)}"#
                }
            }
        })
        let joined = files["joined.jsonl"]!.split(separator: "\n").map(String.init)
        #expect(joined.count > 10 && Set(joined).isSubset(of: model) && Set(joined).count == joined.count, "\(joined.count) of \(model.count)")
        #expect(joined.count * 2 > model.count, "\(joined.count) of \(model.count)")
        // Written as a JOIN b ... JOIN c ..., the same join.
        #expect(files["chained.jsonl"] == files["joined.jsonl"])
    }

    @Test func anyReadSizeAndRestartsGiveTheSameRows() throws {
        let (reference, late) = try run(pollLimit: 10_000)
        for (limit, restart) in [(1, false), (7, false), (1, true), (3, true)] {
            let (files, l) = try run(pollLimit: limit, restart: restart)
            #expect(l == late, "read size \(limit), restart \(restart)")
            // The rows of the two inputs interleave by arrival, then stream, then shard: the same at any read size.
            for f in ["both.jsonl", "windows.jsonl", "three.jsonl", "three_windows.jsonl", "joined.jsonl", "chained.jsonl"] {
                #expect(files[f] == reference[f], "\(f) at read size \(limit)\(restart ? ", stopped and resumed after every step" : "")")
            }
        }
    }

    /// A union with an updating input is updating: the append-only input's rows come as inserts.
    @Test func aUnionOfChangesAndRows() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM east (k VARCHAR, n BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND);
            CREATE STREAM west (k VARCHAR, n BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND);
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            INSERT INTO out SELECT k, COUNT(*) AS c FROM east GROUP BY k UNION ALL SELECT k, n FROM west EMIT CHANGES;
            """)
        try f.put("east", #"{"k":"a","n":1,"ts":1000}"#)
        try f.put("west", #"{"k":"w","n":7,"ts":1000}"#)
        try f.put("east", #"{"k":"a","n":1,"ts":2000}"#)
        try f.engine.runUntilEnd()
        #expect(f.lines("out.jsonl").sorted() == [#"{"k":"a","c":1,"op":"+I"}"#, #"{"k":"a","c":1,"op":"-U"}"#, #"{"k":"a","c":2,"op":"+U"}"#,
                                                   #"{"k":"w","c":7,"op":"+I"}"#].sorted())
    }

    @Test(arguments: [
        ("SELECT k FROM east UNION SELECT k FROM west", "syntax.unsupported"),
        ("SELECT k FROM east LIMIT 3 UNION ALL SELECT k FROM west", "syntax.clause-order"),
        ("SELECT k FROM east EMIT CHANGES UNION ALL SELECT k FROM west", "syntax.clause-order"),
    ])
    func unionSyntaxErrors(_ sql: String, _ id: String) {
        let parsed = Parser.parse(sql + ";")
        #expect(parsed.diagnostics.first?.id == id, "\(sql): \(parsed.diagnostics.map(\.message))")
    }

    @Test(arguments: [
        ("SELECT k, n FROM east UNION ALL SELECT k FROM west", "plan.union-columns"),
        ("SELECT k, n FROM east UNION ALL SELECT k, ts FROM west", "bind.type-mismatch"),
        ("SELECT k FROM east UNION ALL SELECT k FROM west UNION ALL SELECT k, n FROM east", "plan.union-columns"),
        ("SELECT k FROM east UNION ALL SELECT k FROM west UNION ALL SELECT n FROM east", "bind.type-mismatch"),
        ("SELECT k, COUNT(*) AS c FROM east GROUP BY k UNION ALL SELECT k, n FROM west", "plan.unwindowed-aggregate-needs-emit-changes"),
    ])
    func badUnionsAreRefused(_ sql: String, _ id: String) throws {
        let f = try EngineFixture()
        do {
            try f.load("""
                CREATE STREAM east (k VARCHAR, n BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND);
                CREATE STREAM west (k VARCHAR, n BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND);
                \(sql);
                """)
            Issue.record("planned: \(sql)")
        } catch let e as EngineError {
            #expect(e.diagnostics.first?.id == id, "\(sql): \(e.diagnostics.map(\.message))")
        }
    }
}
