import Foundation
import Testing
import SluiceCore
import SluiceSQL
@testable import SluicePlanner
@testable import SluiceEngine

/// Issue 21, queries that feed queries: subqueries in FROM at any depth, windows over subqueries,
/// and event time flowing through them (a window's rows carry `window_time`, window_end - 1 ms).
@Suite("Composable queries")
struct ComposableQueryTests {
    static let ddl = """
        CREATE STREAM ev (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '10' SECOND) WITH (format = 'json');
        """

    /// Seeded records a few hundred milliseconds apart, out of order by less than the delay (so
    /// nothing is late and a cascade can equal the direct window).
    static func records() -> [String] {
        var rng = SplitMix64(seed: 21)
        var t: Int64 = 1_704_067_200_000
        return (0..<600).map { _ in
            t += Int64(rng.next() % 400)
            let skew = -Int64(rng.next() % 5_000)
            return #"{"k":"k\#(rng.next() % 3)","v":\#(rng.next() % 1000),"ts":\#(t + skew)}"#
        }
    }

    func run(_ inserts: String, pollLimit: Int = 10_000) throws -> EngineFixture {
        let f = try EngineFixture()
        f.engine.pollLimit = pollLimit
        try f.load(Self.ddl + "\n" + inserts)
        for r in Self.records() {
            try f.put("ev", r)
            f.clock.advance(by: 1)
        }
        try f.engine.runUntilEnd()
        return f
    }

    /// A 10 s window over 1 s windows' rows (through window_time) equals the 10 s window over the
    /// records.
    @Test func aCascadeOfWindowsEqualsTheDirectWindow() throws {
        let f = try run("""
            CREATE SINK cascade WITH (type = 'file', path = '$DIR/cascade.jsonl');
            CREATE SINK direct WITH (type = 'file', path = '$DIR/direct.jsonl');
            INSERT INTO cascade SELECT window_start, window_end, k, SUM(n) AS n, MAX(top) AS top, MIN(low) AS low
              FROM TUMBLE((SELECT window_time, k, COUNT(*) AS n, MAX(v) AS top, MIN(v) AS low
                           FROM TUMBLE(ev, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end, window_time, k),
                          window_time, INTERVAL '10' SECOND)
              GROUP BY window_start, window_end, k;
            INSERT INTO direct SELECT window_start, window_end, k, COUNT(*) AS n, MAX(v) AS top, MIN(v) AS low
              FROM TUMBLE(ev, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, k;
            """)
        #expect(f.engine.counters.allSatisfy { $0.late == 0 })
        let direct = f.lines("direct.jsonl")
        #expect(direct.count > 20)
        #expect(f.lines("cascade.jsonl") == direct)
    }

    /// A stream made by CREATE STREAM ... AS keeps the query's event time: a window's window_time
    /// (no delay), or the stream's event-time column kept as it is (its delay); so a window over
    /// the derived stream equals the direct window, and DESCRIBE says where the time comes from.
    @Test func derivedStreamsKeepTheirEventTime() throws {
        let f = try run("""
            CREATE STREAM per_second AS SELECT window_time, k, COUNT(*) AS n, MAX(v) AS top
              FROM TUMBLE(ev, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end, window_time, k;
            CREATE STREAM big AS SELECT k, v, ts AS t FROM ev WHERE v > 300;
            CREATE STREAM arrivals AS SELECT k, v FROM ev;
            CREATE SINK from_derived WITH (type = 'file', path = '$DIR/from_derived.jsonl');
            CREATE SINK direct WITH (type = 'file', path = '$DIR/direct.jsonl');
            CREATE SINK big_windows WITH (type = 'file', path = '$DIR/big_windows.jsonl');
            CREATE SINK big_direct WITH (type = 'file', path = '$DIR/big_direct.jsonl');
            INSERT INTO from_derived SELECT window_start, k, SUM(n) AS n, MAX(top) AS top
              FROM TUMBLE(per_second, window_time, INTERVAL '10' SECOND) GROUP BY window_start, window_end, k;
            INSERT INTO direct SELECT window_start, k, COUNT(*) AS n, MAX(v) AS top
              FROM TUMBLE(ev, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, k;
            INSERT INTO big_windows SELECT window_start, COUNT(*) AS n FROM TUMBLE(big, t, INTERVAL '5' SECOND) GROUP BY window_start, window_end;
            INSERT INTO big_direct SELECT window_start, COUNT(*) AS n FROM TUMBLE(ev, ts, INTERVAL '5' SECOND) WHERE v > 300 GROUP BY window_start, window_end;
            """)
        #expect(f.engine.counters.allSatisfy { $0.late == 0 }, "\(f.engine.counters.map(\.late))")
        #expect(f.lines("direct.jsonl").count > 20)
        #expect(f.lines("from_derived.jsonl") == f.lines("direct.jsonl"))
        #expect(f.lines("big_direct.jsonl").count > 5)
        #expect(f.lines("big_windows.jsonl") == f.lines("big_direct.jsonl"))
        let perSecond = f.engine.describe("per_second") ?? ""
        #expect(perSecond.contains("WATERMARK FOR window_time AS window_time - 0 ms"), "\(perSecond)")
        #expect(perSecond.contains("event time: window_time of the query's window over ev"), "\(perSecond)")
        let big = f.engine.describe("big") ?? ""
        #expect(big.contains("WATERMARK FOR t AS t - 10000 ms"), "\(big)")
        let arrivals = f.engine.describe("arrivals") ?? ""
        #expect(!arrivals.contains("WATERMARK") && arrivals.contains("processing time"), "\(arrivals)")
        // Declared streams say so too.
        #expect(f.engine.describe("ev")?.contains("-- event time: ts, declared by its WATERMARK") == true)
    }

    /// A window on ROWTIME over a stream whose event time is another column (Nexmark q12, Flink's
    /// PROCTIME()): the query runs on arrival time, so its windows close as records arrive, not at
    /// the end of the input, and their counts follow arrival, not the records' event times.
    @Test func processingTimeWindowsOverAnEventTimeStream() throws {
        let f = try EngineFixture()
        try f.load(Self.ddl + """
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            INSERT INTO out SELECT k, COUNT(*) AS n, window_start FROM TUMBLE(ev, ROWTIME, INTERVAL '10' SECOND) GROUP BY window_start, window_end, k;
            """)
        // 30 records, one a second of arrival, with event times all over the last hour.
        let t0 = f.clock.nowMillis() / 10_000 * 10_000 + 10_000
        f.clock.advance(by: t0 - f.clock.nowMillis())
        for i in 0..<30 {
            try f.put("ev", #"{"k":"k\#(i % 2)","v":\#(i),"ts":\#(1_704_067_200_000 - Int64(i * 97_000))}"#)
            f.clock.advance(by: 1000)
            _ = try f.engine.step()
        }
        try f.engine.checkpoint()
        // Arrival time is at t0 + 30 s: the windows up to t0 + 20 s have closed while running.
        let live = f.lines("out.jsonl")
        #expect(live.count == 4, "\(live)")
        #expect(live.first == #"{"k":"k0","n":5,"window_start":"\#(TimeFormat.iso8601(t0))"}"#)
        try f.engine.runUntilEnd()
        #expect(f.lines("out.jsonl").count == 6)
        #expect(f.engine.counters[0].late == 0)
    }

    /// A join without time bounds is bounded by the streams' state_ttl (event time): refused with
    /// a hint without one, planned as the bounds it implies with it; a bad ttl is refused.
    @Test func regularJoinsNeedAStateTTL() throws {
        func plan(_ ddl: String, _ sql: String) -> Result<LogicalPlan, PlanError> {
            var catalog = MemoryCatalog()
            for s in Parser.parse(ddl).script.statements {
                if case .createStream(let c) = s.kind { catalog.add(try! Planner.streamDefinition(c, span: s.loc.span)) }
            }
            let (s, _) = Parser.parseStatement(sql)
            guard case .query(let q)? = s?.kind else { return .failure(PlanError(Diagnostic(id: "test", message: "not a query", span: nil))) }
            do { return .success(try Planner(catalog: catalog).plan(q)) } catch { return .failure(error) }
        }
        let sql = "SELECT a.k, b.v FROM a JOIN b ON a.k = b.k"
        let bare = "CREATE STREAM a (k VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json'); CREATE STREAM b (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');"
        guard case .failure(let e) = plan(bare, sql) else { Issue.record("planned without bounds"); return }
        #expect(e.diagnostics.first?.id == "plan.join-interval")
        #expect(e.diagnostics.first?.help?.contains("state_ttl = '1h'") == true, "\(e.diagnostics)")
        let kept = bare.replacingOccurrences(of: "WITH (format = 'json'); CREATE STREAM b", with: "WITH (format = 'json', state_ttl = '2m'); CREATE STREAM b")
            .replacingOccurrences(of: "v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json')", with: "v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json', state_ttl = INTERVAL '30' SECOND)")
        guard case .success(let p) = plan(kept, sql) else { Issue.record("not planned with state_ttl: \(plan(kept, sql))"); return }
        // a's rows wait 2 minutes for b's, b's 30 seconds for a's: b.ts - a.ts in [-30 s, 2 min].
        #expect(p.explain.contains("right.ts in [left.ts + -30s, left.ts + 2m]"), "\(p.explain)")
        // One side's ttl and an explicit bound on the other side.
        let one = bare.replacingOccurrences(of: "v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json')", with: "v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json', state_ttl = '1m')")
        if case .failure(let e) = plan(one, sql + " AND b.ts <= a.ts + INTERVAL '5' SECOND") { Issue.record("not planned: \(e.diagnostics)") }
        // A bad ttl is refused when the file loads.
        let f = try EngineFixture()
        #expect(throws: EngineError.self) { try f.load("CREATE STREAM c (k VARCHAR) WITH (format = 'json', state_ttl = 'forever');") }
    }

    /// Views read as their queries wherever a stream name may stand: views over views, a window
    /// over a view, a join of views; the same rows as the queries written out. A view that cannot
    /// run is refused where it is written, a taken name too; DESCRIBE shows a view.
    @Test func viewsReadAsTheirQueries() throws {
        let f = try run("""
            CREATE VIEW big AS SELECT k, v, ts FROM ev WHERE v > 300;
            CREATE VIEW big_per_second AS SELECT window_time, k, COUNT(*) AS n FROM TUMBLE(big, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end, window_time, k;
            CREATE VIEW small AS SELECT k, v, ts FROM ev WHERE v < 100;
            CREATE SINK via_views WITH (type = 'file', path = '$DIR/via_views.jsonl');
            CREATE SINK written_out WITH (type = 'file', path = '$DIR/written_out.jsonl');
            CREATE SINK joined WITH (type = 'file', path = '$DIR/joined.jsonl');
            CREATE SINK joined_out WITH (type = 'file', path = '$DIR/joined_out.jsonl');
            INSERT INTO via_views SELECT window_start, k, SUM(n) AS n FROM TUMBLE(big_per_second, window_time, INTERVAL '10' SECOND) GROUP BY window_start, window_end, k;
            INSERT INTO written_out SELECT window_start, k, COUNT(*) AS n FROM TUMBLE(ev, ts, INTERVAL '10' SECOND) WHERE v > 300 GROUP BY window_start, window_end, k;
            INSERT INTO joined SELECT b.k, b.v AS big_v, s.v AS small_v FROM big AS b JOIN small AS s ON b.k = s.k AND s.ts BETWEEN b.ts AND b.ts + INTERVAL '1' SECOND;
            INSERT INTO joined_out SELECT b.k, b.v AS big_v, s.v AS small_v FROM (SELECT k, v, ts FROM ev WHERE v > 300) AS b
              JOIN (SELECT k, v, ts FROM ev WHERE v < 100) AS s ON b.k = s.k AND s.ts BETWEEN b.ts AND b.ts + INTERVAL '1' SECOND;
            """)
        #expect(f.lines("written_out.jsonl").count > 10)
        #expect(f.lines("via_views.jsonl") == f.lines("written_out.jsonl"))
        #expect(f.lines("joined.jsonl").count > 5)
        #expect(f.lines("joined.jsonl") == f.lines("joined_out.jsonl"))
        let d = f.engine.describe("big_per_second") ?? ""
        #expect(d.contains("view big_per_second") && d.contains("n  BIGINT") && d.contains("-- event time: window_time"), "\(d)")
        // Refused where written: a view that cannot run, a name taken by a stream or a view.
        for (sql, id) in [("CREATE VIEW bad AS SELECT nope FROM ev;", "bind.unknown-column"),
                          ("CREATE VIEW ev AS SELECT k FROM ev;", "plan.duplicate-name"),
                          ("CREATE OR REPLACE VIEW ev AS SELECT k FROM ev;", "plan.duplicate-name"),
                          ("CREATE VIEW big AS SELECT k FROM ev;", "plan.duplicate-name"),
                          ("CREATE STREAM big (k VARCHAR) WITH (format = 'json');", "plan.duplicate-name")] {
            do {
                try f.load(sql)
                Issue.record("loaded: \(sql)")
            } catch let e as EngineError {
                #expect(e.diagnostics.first?.id == id, "\(sql): \(e.diagnostics)")
            }
        }
        try f.load("CREATE OR REPLACE VIEW big AS SELECT k, v, ts FROM ev WHERE v > 900;")
    }

    /// A tumbling window function read without aggregation (Flink's window TVF): every row as it
    /// comes, with window_start, window_end and window_time; a window over its window_time works.
    /// HOP and SESSION rows still need an aggregate.
    @Test func rowsOfATumblingWindowFunction() throws {
        let f = try run("""
            CREATE SINK rows WITH (type = 'file', path = '$DIR/rows.jsonl');
            CREATE SINK regrouped WITH (type = 'file', path = '$DIR/regrouped.jsonl');
            CREATE SINK direct WITH (type = 'file', path = '$DIR/direct.jsonl');
            INSERT INTO rows SELECT * FROM TUMBLE(ev, ts, INTERVAL '5' SECOND) WHERE v > 900;
            INSERT INTO regrouped SELECT window_start, COUNT(*) AS n FROM TUMBLE((SELECT k, window_time FROM TUMBLE(ev, ts, INTERVAL '5' SECOND)), window_time, INTERVAL '5' SECOND) GROUP BY window_start, window_end;
            INSERT INTO direct SELECT window_start, COUNT(*) AS n FROM TUMBLE(ev, ts, INTERVAL '5' SECOND) GROUP BY window_start, window_end;
            """)
        let want = try Self.records().map { try JSONValue.parse(bytes: Array($0.utf8)) }.filter { $0["v"]!.int64Value! > 900 }.map { r -> String in
            let t = r["ts"]!.int64Value!, start = t / 5000 * 5000
            return #"{"k":"\#(r["k"]!.stringValue!)","v":\#(r["v"]!.int64Value!),"ts":"\#(TimeFormat.iso8601(t))","window_start":"\#(TimeFormat.iso8601(start))","window_end":"\#(TimeFormat.iso8601(start + 5000))","window_time":"\#(TimeFormat.iso8601(start + 4999))"}"#
        }
        #expect(want.count > 20)
        #expect(f.lines("rows.jsonl") == want)
        #expect(f.lines("regrouped.jsonl") == f.lines("direct.jsonl"))
        var catalog = MemoryCatalog()
        for s in Parser.parse(Self.ddl).script.statements {
            if case .createStream(let c) = s.kind { catalog.add(try Planner.streamDefinition(c, span: s.loc.span)) }
        }
        // SESSION's rows come when their session closes, with its bounds (windows/session_rows.slt).
        for sql in ["SELECT * FROM SESSION(ev PARTITION BY k, ts, GAP INTERVAL '1' SECOND)"] {
            guard case .query(let q)? = Parser.parseStatement(sql).0?.kind else { Issue.record("not a query: \(sql)"); continue }
            let plan = try Planner(catalog: catalog).plan(q)
            #expect(plan.schema.suffix(3).map(\.name) == ["window_start", "window_end", "window_time"], "\(sql)")
        }
    }

    /// HOP read without aggregation: each row once per window that holds it (size / advance of
    /// them, earliest first), with the window's bounds; a window over those rows' window_time counts
    /// each record once per hop, and HOP's aggregate equals the count of its rows per window.
    @Test func rowsOfAHoppingWindowFunction() throws {
        let f = try run("""
            CREATE SINK rows WITH (type = 'file', path = '$DIR/rows.jsonl');
            CREATE SINK counted WITH (type = 'file', path = '$DIR/counted.jsonl');
            CREATE SINK direct WITH (type = 'file', path = '$DIR/direct.jsonl');
            INSERT INTO rows SELECT k, v, window_start, window_end, window_time FROM HOP(ev, ts, SIZE INTERVAL '6' SECOND, ADVANCE INTERVAL '2' SECOND) WHERE v > 900;
            INSERT INTO counted SELECT window_start, window_end, COUNT(*) AS n FROM (SELECT window_start, window_end, window_time FROM HOP(ev, ts, SIZE INTERVAL '6' SECOND, ADVANCE INTERVAL '2' SECOND)) AS h
              GROUP BY window_start, window_end EMIT CHANGES;
            INSERT INTO direct SELECT window_start, window_end, COUNT(*) AS n FROM HOP(ev, ts, SIZE INTERVAL '6' SECOND, ADVANCE INTERVAL '2' SECOND) GROUP BY window_start, window_end;
            """)
        var want: [String] = []
        for r in try Self.records().map({ try JSONValue.parse(bytes: Array($0.utf8)) }) where r["v"]!.int64Value! > 900 {
            let t = r["ts"]!.int64Value!
            for start in stride(from: (t - 6000) / 2000 * 2000 + 2000, through: t, by: 2000) {
                want.append(#"{"k":"\#(r["k"]!.stringValue!)","v":\#(r["v"]!.int64Value!),"window_start":"\#(TimeFormat.iso8601(start))","window_end":"\#(TimeFormat.iso8601(start + 6000))","window_time":"\#(TimeFormat.iso8601(start + 5999))"}"#)
            }
        }
        #expect(want.count > 60)
        #expect(f.lines("rows.jsonl") == want)
        // The rows of each window, counted by an aggregate over the rows (their last count per
        // window), equal HOP's own count: no record is lost or counted twice.
        var last: [String: String] = [:]
        for line in f.lines("counted.jsonl") {
            let j = try JSONValue.parse(bytes: Array(line.utf8))
            let key = j["window_start"]!.stringValue!
            if j["op"] != .string("-U") { last[key] = #"{"window_start":"\#(key)","window_end":"\#(j["window_end"]!.stringValue!)","n":\#(j["n"]!.int64Value!)}"# }
        }
        #expect(last.values.sorted() == f.lines("direct.jsonl").sorted())
    }

    /// Subqueries in FROM, three deep, with filters and computed columns at each level; and a HOP
    /// over a subquery that renames the event-time column. The model is computed here.
    @Test func nestedSubqueriesAndAWindowOverOne() throws {
        let f = try run("""
            CREATE SINK rows WITH (type = 'file', path = '$DIR/rows.jsonl');
            CREATE SINK hop WITH (type = 'file', path = '$DIR/hop.jsonl');
            INSERT INTO rows SELECT x.k, x.w + 1 AS w FROM (SELECT k, w FROM (SELECT k, v * 2 AS w FROM ev WHERE v > 500) AS y WHERE k <> 'k1') AS x;
            INSERT INTO hop SELECT window_end, COUNT(*) AS n, SUM(w) AS w
              FROM HOP((SELECT ts AS t, v * 2 AS w FROM ev WHERE k = 'k2'), t, SIZE INTERVAL '4' SECOND, ADVANCE INTERVAL '2' SECOND)
              GROUP BY window_start, window_end;
            """)
        let parsed = try Self.records().map { try JSONValue.parse(bytes: Array($0.utf8)) }
        let rows = parsed.filter { ($0["v"]!.int64Value! > 500) && $0["k"]!.stringValue! != "k1" }
            .map { #"{"k":"\#($0["k"]!.stringValue!)","w":\#($0["v"]!.int64Value! * 2 + 1)}"# }
        #expect(f.lines("rows.jsonl") == rows)
        // HOP of 4 s every 2 s over k2's records: each window's count and sum of 2v.
        var windows: [Int64: (Int64, Int64)] = [:]
        for r in parsed where r["k"]!.stringValue! == "k2" {
            let t = r["ts"]!.int64Value!, w = r["v"]!.int64Value! * 2
            var start = (t / 2000) * 2000
            while start > t - 4000 {
                let end = start + 4000
                windows[end, default: (0, 0)].0 += 1
                windows[end, default: (0, 0)].1 += w
                start -= 2000
            }
        }
        let want = windows.keys.sorted().map { #"{"window_end":"\#(TimeFormat.iso8601($0))","n":\#(windows[$0]!.0),"w":\#(windows[$0]!.1)}"# }
        #expect(f.lines("hop.jsonl") == want)
    }

    /// Where a plan's event time is, and what a window over a subquery refuses.
    @Test func eventTimeFlowsThroughPlans() throws {
        var catalog = MemoryCatalog()
        for s in Parser.parse(Self.ddl + "CREATE STREAM raw (k VARCHAR, n BIGINT);").script.statements {
            if case .createStream(let c) = s.kind { catalog.add(try Planner.streamDefinition(c, span: s.loc.span)) }
        }
        func plan(_ sql: String) throws -> Result<LogicalPlan, PlanError> {
            let (s, d) = Parser.parseStatement(sql)
            #expect(d.isEmpty, "\(sql): \(d)")
            guard case .query(let q)? = s?.kind else { throw PlanError(Diagnostic(id: "test", message: "not a query", span: nil)) }
            do { return .success(try Planner(catalog: catalog).plan(q)) } catch { return .failure(error) }
        }
        func time(_ sql: String) throws -> String? {
            guard case .success(let p) = try plan(sql) else { Issue.record("not planned: \(sql)"); return nil }
            return Planner.eventTime(of: p).map { p.schema[$0].name }
        }
        #expect(try time("SELECT k, ts AS t FROM ev WHERE v > 1") == "t")
        #expect(try time("SELECT k, v FROM ev") == nil)
        #expect(try time("SELECT k, ROWTIME AS arrived FROM raw") == "arrived")
        #expect(try time("SELECT window_time, k, COUNT(*) AS n FROM TUMBLE(ev, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end, window_time, k") == "window_time")
        #expect(try time("SELECT window_end, k, COUNT(*) AS n FROM TUMBLE(ev, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end, k") == nil)
        #expect(try time("SELECT * FROM (SELECT ts, k FROM ev) AS s") == "ts")
        func refused(_ sql: String) throws -> String? {
            if case .failure(let e) = try plan(sql) { return e.diagnostics.first?.id }
            return nil
        }
        // A window over a subquery on a column that is not its event time.
        #expect(try refused("SELECT window_start, COUNT(*) FROM TUMBLE((SELECT window_end, COUNT(*) AS n FROM TUMBLE(ev, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end), window_end, INTERVAL '10' SECOND) GROUP BY window_start, window_end") == "plan.window-needs-watermark")
        #expect(try refused("SELECT window_start, COUNT(*) FROM TUMBLE((SELECT ts + INTERVAL '1' SECOND AS t FROM ev), t, INTERVAL '10' SECOND) GROUP BY window_start, window_end") == "plan.window-needs-watermark")
        // A subquery that emits updates into a query that does not say it emits changes; a
        // subquery that ends the query with LIMIT.
        #expect(try refused("SELECT k FROM (SELECT k, COUNT(*) AS n FROM ev GROUP BY k EMIT CHANGES) AS c") == "plan.unwindowed-aggregate-needs-emit-changes")
        #expect(try refused("SELECT k FROM (SELECT k FROM ev LIMIT 5) AS c") == "plan.unsupported")
        // A join side without event time; a window join needs equal window_time (or keys).
        #expect(try refused("SELECT a.k FROM ev AS a JOIN (SELECT k, v FROM ev) AS b ON a.k = b.k") == "plan.join-needs-time")
        #expect(try refused("SELECT a.k FROM (SELECT k, window_time FROM TUMBLE(ev, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end, window_time, k) AS a JOIN (SELECT k, window_time FROM TUMBLE(ev, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end, window_time, k) AS b ON a.window_time >= b.window_time") == "plan.join-keys")
        if case .failure(let e) = try plan("SELECT a.k FROM (SELECT k, window_time FROM TUMBLE(ev, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end, window_time, k) AS a JOIN (SELECT k, window_time FROM TUMBLE(ev, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end, window_time, k) AS b ON a.window_time = b.window_time") {
            Issue.record("a window join on window_time alone is refused: \(e.diagnostics)")
        }
        // window_time is a window's column only.
        #expect(try refused("SELECT window_time FROM ev") == "bind.unknown-column")
    }
}
