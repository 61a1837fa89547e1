import Testing
import SluiceCore
import SluiceSQL
@testable import SluicePlanner

/// A catalog declared in SQL, and queries planned against it.
struct Fixture {
    var catalog = MemoryCatalog()

    init(_ ddl: String = """
        CREATE STREAM clicks (user_id VARCHAR, url VARCHAR PATH '$.page.url', latency_ms DOUBLE, status BIGINT, ts TIMESTAMP,
          WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH (shards = 4, format = 'json');
        CREATE STREAM raw (line VARCHAR, n BIGINT, at TIMESTAMP);
        """) {
        for s in Parser.parse(ddl).script.statements {
            if case .createStream(let c) = s.kind { catalog.add(try! Planner.streamDefinition(c, span: s.loc.span)) }
            if case .createTable(let c) = s.kind { catalog.add(try! Planner.tableDefinition(c, span: s.loc.span)) }
        }
    }

    func plan(_ sql: String) -> Result<LogicalPlan, PlanError> {
        let (s, d) = Parser.parseStatement(sql)
        guard case .query(let q)? = s?.kind else { fatalError("not a query: \(d)") }
        do { return .success(try Planner(catalog: catalog).plan(q)) } catch { return .failure(error) }
    }

    func explain(_ sql: String) -> String {
        switch plan(sql) {
        case .success(let p): return p.explain
        case .failure(let e): return "error: \(e.diagnostics.map(\.description).joined(separator: "; "))"
        }
    }

    func error(_ sql: String) -> Diagnostic? {
        if case .failure(let e) = plan(sql) { return e.diagnostics.first }
        return nil
    }
}

@Suite("Planner")
struct PlannerTests {
    let f = Fixture()

    @Test func streamDefinitionsFromDDL() throws {
        let s = try #require(f.catalog.stream(named: "CLICKS"))
        #expect(s.columns.map(\.name) == ["user_id", "url", "latency_ms", "status", "ts"])
        #expect(s.column("URL")?.path == ["page", "url"])
        #expect(s.watermark?.column == "ts" && s.watermark?.delayMillis == 5000)
        #expect(s.options["shards"] == .number("4"))
    }

    @Test func filterAndProject() {
        #expect(f.explain("SELECT user_id, latency_ms / 1000 AS secs FROM clicks WHERE status >= 500 AND url LIKE '/api/%'") == """
            Project: user_id, (latency_ms / 1000) AS secs
              Filter: (status >= 500 AND url LIKE '/api/%')
                Source: clicks columns=[user_id, url, latency_ms, status, ts, ROWTIME, SHARD_ID] watermark=ts - 5s
            """)
        #expect(f.explain("SELECT * FROM clicks LIMIT 10") == """
            Limit: 10
              Project: user_id, url, latency_ms, status, ts
                Source: clicks columns=[user_id, url, latency_ms, status, ts, ROWTIME, SHARD_ID] watermark=ts - 5s
            """)
        // EXCLUDE leaves columns out of *, matched as references are (unquoted: any case).
        #expect(f.explain("SELECT * EXCLUDE (URL, \"status\") FROM clicks c") == """
            Project: user_id, latency_ms, ts
              Source: clicks columns=[user_id, url, latency_ms, status, ts, ROWTIME, SHARD_ID] watermark=ts - 5s
            """)
    }

    @Test func tumblingAggregate() {
        #expect(f.explain("""
            SELECT window_start, window_end, url, COUNT(*) AS hits, AVG(latency_ms) AS avg_ms
            FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) WHERE latency_ms >= 0
            GROUP BY window_start, window_end, url HAVING AVG(latency_ms) > 500
            """) == """
            Project: window_start, window_end, url, COUNT(*) AS hits, AVG(latency_ms) AS avg_ms
              Filter: AVG(latency_ms) > 500
                WindowAggregate: tumble(size=1m) time=ts keys=[url] aggs=[COUNT(*), AVG(latency_ms)] emit=final
                  Filter: latency_ms >= 0
                    Source: clicks columns=[user_id, url, latency_ms, status, ts, ROWTIME, SHARD_ID] watermark=ts - 5s
            """)
    }

    @Test func hoppingAggregateWithExpressionKeys() {
        #expect(f.explain("""
            SELECT window_end, LOWER(url) AS u, status / 100 AS class, COUNT(DISTINCT user_id), MAX(ts)
            FROM HOP(clicks, ts, SIZE INTERVAL '5' MINUTE, ADVANCE INTERVAL '1' MINUTE)
            GROUP BY window_start, window_end, LOWER(url), status / 100
            """) == """
            Project: window_end, LOWER(url) AS u, (status / 100) AS class, COUNT(DISTINCT user_id), MAX(ts)
              WindowAggregate: hop(size=5m, advance=1m) time=ts keys=[LOWER(url), (status / 100)] aggs=[COUNT(DISTINCT user_id), MAX(ts)] emit=final
                Source: clicks columns=[user_id, url, latency_ms, status, ts, ROWTIME, SHARD_ID] watermark=ts - 5s
            """)
    }

    /// A HOP puts each record in size / advance windows, a row each: beyond 100,000 (a thousand
    /// days by seconds) the query is refused rather than run for hours; a day by seconds runs.
    @Test func aHopOfTooManyWindowsPerRecordIsRefused() {
        let d = f.error("SELECT window_end, COUNT(*) FROM HOP(clicks, ts, SIZE INTERVAL '1000' DAY, ADVANCE INTERVAL '1' SECOND) GROUP BY window_start, window_end")
        #expect(d?.id == "plan.bad-window")
        #expect(d?.message == "a record would be in 86400000 windows of this HOP (its size over its advance); at most 100000")
        #expect(d?.help == "a larger ADVANCE, or a smaller SIZE")
        #expect(f.error("SELECT window_end, COUNT(*) FROM HOP(clicks, ts, SIZE INTERVAL '1' DAY, ADVANCE INTERVAL '1' SECOND) GROUP BY window_start, window_end") == nil)
        #expect(f.error("SELECT * FROM HOP(clicks, ts, SIZE INTERVAL '100001' SECOND, ADVANCE INTERVAL '1' SECOND)")?.id == "plan.bad-window")
    }

    @Test func unwindowedAggregateNeedsEmitChanges() {
        let d = f.error("SELECT url, COUNT(*) FROM clicks GROUP BY url")
        #expect(d?.id == "plan.unwindowed-aggregate-needs-emit-changes")
        #expect(d?.help?.contains("EMIT CHANGES") == true)
        #expect(f.explain("SELECT url, COUNT(*) AS n FROM clicks GROUP BY url EMIT CHANGES EVERY INTERVAL '10' SECOND") == """
            Project: url, COUNT(*) AS n, op
              Aggregate: keys=[url] aggs=[COUNT(*)] emit=changes every 10s
                Source: clicks columns=[user_id, url, latency_ms, status, ts, ROWTIME, SHARD_ID] watermark=ts - 5s
            """)
    }

    @Test func windowsNeedAWatermarkColumn() {
        let d = f.error("SELECT window_end, COUNT(*) FROM TUMBLE(raw, at, INTERVAL '1' MINUTE) GROUP BY window_start, window_end")
        #expect(d?.id == "plan.window-needs-watermark")
        #expect(d?.help?.contains("WATERMARK FOR at") == true)
        #expect(d?.notes.first?.message == "raw is declared here")
        // ROWTIME is processing time: always allowed.
        #expect(f.error("SELECT window_end, COUNT(*) FROM TUMBLE(raw, ROWTIME, INTERVAL '1' MINUTE) GROUP BY window_start, window_end") == nil)
        #expect(f.error("SELECT window_end, COUNT(*) FROM TUMBLE(clicks, latency_ms, INTERVAL '1' MINUTE) GROUP BY window_start, window_end")?.id
                == "bind.type-mismatch")
    }

    @Test(arguments: [
        ("SELECT usr_id FROM clicks", "bind.unknown-column", "did you mean 'user_id'?"),
        ("SELECT * EXCLUDE (\"URL\") FROM clicks", "bind.unknown-column", "the columns it gives: user_id, url, latency_ms, status, ts"),
        ("SELECT * FROM clickz", "bind.unknown-stream", "did you mean 'clicks'?"),
        ("SELECT url, COUNT(*) FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) GROUP BY url", "plan.window-group-by", nil),
        ("SELECT user_id, COUNT(*) FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, url", "plan.not-grouped", nil),
        ("SELECT a FROM clicks WHERE COUNT(*) > 1", "plan.aggregate-in-where", nil),
        ("SELECT url FROM clicks WHERE url", "bind.type-mismatch", nil),
        ("SELECT url + 1 FROM clicks", "bind.type-mismatch", nil),
        ("SELECT SUM(url) FROM clicks GROUP BY status EMIT CHANGES", "bind.type-mismatch", nil),
        ("SELECT lowr(url) FROM clicks", "bind.unknown-function", "did you mean LOWER?"),
        ("SELECT SUBSTRING(url) FROM clicks", "bind.bad-arguments", nil),
        ("SELECT url, url FROM clicks", "bind.duplicate-column", nil),
        ("SELECT url FROM clicks EMIT FINAL", "plan.emit-final-needs-window", nil),
        ("SELECT ts FROM clicks WHERE ts > 'yesterday'", "bind.bad-timestamp", nil),
        ("SELECT c.url FROM clicks AS c JOIN raw AS r ON c.url = r.line", "plan.join-interval", "add r.ROWTIME BETWEEN c.ts AND c.ts + INTERVAL '15' MINUTE, or say how long each stream's rows are kept: WITH (state_ttl = '1h') in CREATE STREAM clicks and raw"),
        ("SELECT 1", "plan.unsupported", nil),
    ] as [(String, String, String?)])
    func rejectedWithAStableId(_ sql: String, _ id: String, _ help: String?) {
        let d = f.error(sql)
        #expect(d?.id == id, "\(sql): \(String(describing: d))")
        if let h = help { #expect(d?.help == h) }
        #expect(d?.span != nil)
    }

    @Test func typesFollowTheRules() throws {
        guard case .project(_, let exprs, _) = try f.plan("""
            SELECT status + 1, status / 2.0e0, ts - INTERVAL '1' HOUR, ts - ts, CAST(status AS VARCHAR), url || '!', EXTRACT(HOUR FROM ts),
                   FLOOR(ts TO MINUTE), DATE_TRUNC('hour', ts), COALESCE(latency_ms, 0), ts > '2024-01-01T00:00:00Z'
            FROM clicks
            """).get() else { Issue.record("not a project"); return }
        #expect(exprs.map(\.type) == [.bigint, .double, .timestamp, .interval, .varchar, .varchar, .bigint, .timestamp, .timestamp, .double, .boolean])
    }

    @Test func badStreamDeclarations() {
        func ddlError(_ sql: String) -> String? {
            guard case .createStream(let c)? = Parser.parseStatement(sql).0?.kind else { return "no parse" }
            do { _ = try Planner.streamDefinition(c); return nil } catch { return error.diagnostics.first?.id }
        }
        #expect(ddlError("CREATE STREAM s (a BIGINT, A DOUBLE)") == "bind.duplicate-column")
        #expect(ddlError("CREATE STREAM s (a BIGINT, WATERMARK FOR a AS a)") == "bind.type-mismatch")
        #expect(ddlError("CREATE STREAM s (ts TIMESTAMP, WATERMARK FOR t AS t)") == "bind.unknown-column")
        #expect(ddlError("CREATE STREAM s (ts TIMESTAMP, WATERMARK FOR ts AS ts + INTERVAL '1' SECOND)") == "plan.unsupported")
        #expect(ddlError("CREATE STREAM s (a VARCHAR PATH 'x..y')") == "bind.bad-path")
        #expect(ddlError("CREATE STREAM s (rowtime TIMESTAMP)") == "bind.reserved-column")
        #expect(ddlError("CREATE STREAM s (ts TIMESTAMP, WATERMARK FOR ts AS ts)") == nil)
    }
}
