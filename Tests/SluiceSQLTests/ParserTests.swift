import Testing
import SluiceCore
@testable import SluiceSQL

@Suite("Parser: statements")
struct StatementParserTests {
    @Test func createStreamWithColumnsWatermarkAndOptions() throws {
        let s = try #require(statement("""
            CREATE STREAM clicks (
              user_id VARCHAR, url VARCHAR PATH '$.page.url', latency_ms DOUBLE, n INT NOT NULL, ts TIMESTAMP,
              WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
            ) WITH (shards = 4, partition_key = 'user_id', header = true, delay = -3, mode = json, every = INTERVAL '5' MINUTES)
            """))
        guard case .createStream(let c) = s.kind else { Issue.record("wrong kind"); return }
        #expect(c.name.name == "clicks" && !c.orReplace)
        #expect(c.columns.map(\.name.name) == ["user_id", "url", "latency_ms", "n", "ts"])
        #expect(c.columns.map(\.type.type) == [.varchar, .varchar, .double, .bigint, .timestamp])
        #expect(c.columns[1].path?.value == "$.page.url")
        #expect(c.columns[3].notNull)
        #expect(c.watermark?.column.name == "ts")
        #expect(Printer.expr(c.watermark!.expression) == "ts - INTERVAL '5' SECOND")
        #expect(c.options.map(\.key.name) == ["shards", "partition_key", "header", "delay", "mode", "every"])
        #expect(c.options.map(\.value) == [.number("4"), .string("user_id"), .bool(true), .number("-3"), .name(Identifier("json")),
                                          .interval(IntervalLiteral(value: "5", unit: .minute, loc: .none))])
    }

    @Test func otherCreateStatements() throws {
        guard case .createStreamAs(let csas)? = statement("CREATE OR REPLACE STREAM pm WITH (shards = 2) AS SELECT a FROM b")?.kind else {
            Issue.record("CREATE STREAM AS"); return
        }
        #expect(csas.orReplace && csas.options.count == 1 && csas.query.items.count == 1)
        guard case .createFirehose(let fh)? = statement("CREATE FIREHOSE archive WITH (destination = 'file:out/a', compression = 'gzip')")?.kind else {
            Issue.record("FIREHOSE"); return
        }
        #expect(fh.columns.isEmpty && fh.options.count == 2)
        guard case .createTable(let t)? = statement("CREATE TABLE pages (url VARCHAR PRIMARY KEY, owner TEXT) WITH (file = 'ref/pages.csv', refresh = '10m')")?.kind else {
            Issue.record("TABLE"); return
        }
        #expect(t.columns[0].primaryKey && t.columns[1].type.type == .varchar)
        guard case .createSink(let sink)? = statement("CREATE SINK out WITH (type = 'file', path = 'out/x.jsonl')")?.kind else {
            Issue.record("SINK"); return
        }
        #expect(sink.options.map(\.key.name) == ["type", "path"])
    }

    @Test func createAlertClausesInAnyOrder() throws {
        let sql = """
            CREATE ALERT slow AS SELECT window_end, url, AVG(ms) AS avg_ms FROM HOP(c, ts, SIZE INTERVAL '5' MINUTE, ADVANCE INTERVAL '1' MINUTE)
            GROUP BY window_start, window_end, url
            NOTIFY 'stderr', 'file:out/a.jsonl' MESSAGE 'slow {url}' PER url COOLDOWN INTERVAL '10' MINUTE
            RESOLVE WHEN avg_ms < 800 SEVERITY 'critical' FIRE WHEN avg_ms > 1000
            """
        guard case .createAlert(let a)? = statement(sql)?.kind else { Issue.record("ALERT"); return }
        #expect(a.severity?.value == "critical")
        #expect(a.fireWhen.map(Printer.expr) == "avg_ms > 1000" && a.silentFor == nil)
        #expect(a.resolveWhen.map(Printer.expr) == "avg_ms < 800")
        #expect(a.per.map(\.name) == ["url"])
        #expect(a.cooldown?.millis == 600_000)
        #expect(a.notify.map(\.value) == ["stderr", "file:out/a.jsonl"])
        #expect(a.message?.value == "slow {url}")
        // FIRE WHEN SILENT FOR: silence instead of a condition; a column named silent is still a condition.
        guard case .createAlert(let q)? = statement("CREATE ALERT q AS SELECT k FROM m FIRE WHEN SILENT FOR INTERVAL '5' MINUTE PER k")?.kind,
              case .createAlert(let c)? = statement("CREATE ALERT q AS SELECT silent FROM m FIRE WHEN silent")?.kind else { Issue.record("SILENT"); return }
        #expect(q.fireWhen == nil && q.silentFor?.millis == 300_000 && q.per.map(\.name) == ["k"])
        #expect(c.silentFor == nil && c.fireWhen.map(Printer.expr) == "silent")
        // FIRE WHEN is required.
        #expect(diagnostics("CREATE ALERT x AS SELECT a FROM b MESSAGE 'm'").first?.message.contains("an alert needs FIRE WHEN") == true)
        #expect(diagnostics("CREATE ALERT x AS SELECT a FROM b FIRE WHEN a > 1 FIRE WHEN a > 2").first?.id == "syntax.duplicate-clause")
    }

    @Test func smallStatements() {
        #expect(statement("INSERT INTO out SELECT * FROM clicks")?.kind != nil)
        guard case .explain(let e)? = statement("EXPLAIN PHYSICAL SELECT 1")?.kind else { Issue.record("EXPLAIN"); return }
        #expect(e.level == .physical)
        guard case .describe(let d)? = statement("DESCRIBE \"my stream\"")?.kind else { Issue.record("DESCRIBE"); return }
        #expect(d.name == "my stream" && d.quoted)
        for t in ShowTarget.allCases {
            #expect(statement("SHOW \(t.rawValue.lowercased())")?.kind == .show(t))
        }
        guard case .drop(let dr)? = statement("DROP ALERT IF EXISTS slow")?.kind else { Issue.record("DROP"); return }
        #expect(dr.kind == .alert && dr.ifExists)
        guard case .set(let st)? = statement("SET result_mode = 'changelog'")?.kind else { Issue.record("SET"); return }
        #expect(st.name.name == "result_mode" && st.value == .string("changelog"))
    }

    @Test func scriptsSplitOnSemicolons() {
        let r = Parser.parse(";; SELECT 1; SELECT 'a;b' -- ; not an end\n; /* ; */ SELECT 3")
        #expect(r.diagnostics.isEmpty)
        #expect(r.script.statements.count == 3)
        #expect(Parser.parse("").script.statements.isEmpty)
        #expect(Parser.parse("-- only a comment\n").diagnostics.isEmpty)
    }

    @Test func statementSpansCoverTheirText() throws {
        let text = "  SELECT a FROM t;\nSHOW STREAMS;"
        let r = Parser.parse(text)
        let f = SourceFile(name: "x", text: text)
        #expect(f.text(r.script.statements[0].loc.span) == "SELECT a FROM t")
        #expect(f.text(r.script.statements[1].loc.span) == "SHOW STREAMS")
    }
}

@Suite("Parser: queries")
struct QueryParserTests {
    func query(_ sql: String) -> Query? {
        guard case .query(let q)? = statement(sql)?.kind else { return nil }
        return q
    }

    @Test func everyClause() throws {
        let q = try #require(query("SELECT DISTINCT a, b AS bee, c cee, t.*, * FROM t WHERE a > 1 GROUP BY a, b HAVING COUNT(*) > 2 EMIT CHANGES EVERY INTERVAL '10' SECOND LIMIT 5"))
        #expect(q.distinct)
        #expect(q.items.count == 5)
        guard case .expression(_, let alias, _) = q.items[2] else { Issue.record("item"); return }
        #expect(alias?.name == "cee")
        guard case .wildcard(let qual, _, _) = q.items[3] else { Issue.record("wildcard"); return }
        #expect(qual?.name == "t")
        #expect(q.groupBy.count == 2 && q.having != nil && q.limit == 5)
        #expect(q.emit == .changes(every: IntervalLiteral(value: "10", unit: .second, loc: .none)))
        #expect(query("SELECT a FROM t EMIT FINAL")?.emit == .final)
    }

    @Test func windowTableFunctions() throws {
        guard case .window(.tumble(let r, let t, let size), let alias, _)? = query("SELECT * FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) w")?.from else {
            Issue.record("TUMBLE"); return
        }
        #expect(r == .relation(name: Identifier("clicks"), alias: nil, loc: .none) && Printer.expr(t) == "ts" && size.millis == 60_000 && alias?.name == "w")
        guard case .window(.hop(_, _, let s, let a), _, _)? = query("SELECT * FROM HOP(clicks, ts, SIZE INTERVAL '5' MINUTE, ADVANCE INTERVAL '1' MINUTE)")?.from else {
            Issue.record("HOP"); return
        }
        #expect(s.millis == 300_000 && a.millis == 60_000)
        guard case .window(.session(_, let keys, _, let gap), _, _)? = query("SELECT * FROM SESSION(clicks PARTITION BY user_id, region, ts, GAP INTERVAL '30' MINUTE)")?.from else {
            Issue.record("SESSION"); return
        }
        #expect(keys.map(Printer.expr) == ["user_id", "region"] && gap.millis == 1_800_000)
        #expect(query("SELECT * FROM TUMBLE(clicks, ts, SIZE INTERVAL '1' HOUR)") != nil)
        #expect(query("SELECT * FROM TUMBLE((SELECT a, ts FROM b), ts, INTERVAL '1' HOUR)") != nil)
        // Positional HOP intervals are refused with a pointer to the named form.
        #expect(diagnostics("SELECT * FROM HOP(c, ts, INTERVAL '5' MINUTE, INTERVAL '1' MINUTE)").first?.id == "syntax.named-argument-required")
        #expect(diagnostics("SELECT * FROM SESSION(c, ts, GAP INTERVAL '5' MINUTE)").first?.message.contains("PARTITION BY") == true)
    }

    @Test func randomCutForest() throws {
        guard case .anomaly(let a, _, _)? = query("""
            SELECT * FROM RANDOM_CUT_FOREST_WITH_EXPLANATION(page_minutes, COLUMNS (hits, avg_ms), PARTITION BY url, host,
                trees => 100, sample_size => 256, shingle => 4, time_decay => 0.001)
            """)?.from else { Issue.record("RCF"); return }
        #expect(a.withExplanation)
        #expect(a.columns.map(\.name) == ["hits", "avg_ms"])
        #expect(a.partitionBy.map(Printer.expr) == ["url", "host"])
        #expect(a.parameters.map(\.name.name) == ["trees", "sample_size", "shingle", "time_decay"])
        #expect(diagnostics("SELECT * FROM RANDOM_CUT_FOREST(s, trees => 1, trees => 2)").first?.id == "syntax.duplicate-option")
    }

    @Test func joinsAndSubqueries() throws {
        guard case .join(let j)? = query("SELECT * FROM clicks c LEFT OUTER JOIN pages AS p ON c.url = p.url JOIN other o ON o.k = c.k")?.from else {
            Issue.record("join"); return
        }
        #expect(j.kind == .inner)
        guard case .join(let inner) = j.left else { Issue.record("left-deep"); return }
        #expect(inner.kind == .left)
        #expect(query("SELECT * FROM a INNER JOIN b ON a.k = b.k AND b.ts BETWEEN a.ts AND a.ts + INTERVAL '15' MINUTE") != nil)
        guard case .subquery(_, let alias, _)? = query("SELECT x FROM (SELECT a AS x FROM t) AS sub")?.from else { Issue.record("subquery"); return }
        #expect(alias?.name == "sub")
        #expect(diagnostics("SELECT * FROM a, b").first?.id == "syntax.unsupported")
        #expect(diagnostics("SELECT * FROM a JOIN b").first?.message.contains("ON") == true)
    }

    @Test func clauseWordsAreNotTakenAsAliases() throws {
        guard case .createAlert(let a)? = statement("CREATE ALERT x AS SELECT message FROM logs MESSAGE 'm' FIRE WHEN message = 'x'")?.kind else {
            Issue.record("alert"); return
        }
        guard case .relation(_, let alias, _)? = a.query.from else { Issue.record("from"); return }
        #expect(alias == nil)
        // A non-reserved keyword is an ordinary name elsewhere.
        #expect(query("SELECT message, timestamp, interval, key, size FROM logs") != nil)
    }
}

@Suite("Parser: expressions")
struct ExpressionParserTests {
    @Test(arguments: [
        ("a OR b AND c", "(a OR (b AND c))"),
        ("a AND b OR c", "((a AND b) OR c)"),
        ("NOT a AND b", "((NOT a) AND b)"),
        ("NOT a = b", "(NOT (a = b))"),
        ("NOT NOT a", "(NOT (NOT a))"),
        ("a = b IS NULL", "((a = b) IS NULL)"),
        ("a + b * c - d", "((a + (b * c)) - d)"),
        ("a - b - c", "((a - b) - c)"),
        ("a / b % c", "((a / b) % c)"),
        ("-a * b", "((-a) * b)"),
        ("- -a", "(-(-a))"),
        ("a || b || c", "((a || b) || c)"),
        ("a + b || c", "((a + b) || c)"),
        ("a BETWEEN b + 1 AND c AND d", "((a BETWEEN (b + 1) AND c) AND d)"),
        ("a NOT BETWEEN 1 AND 2", "(a NOT BETWEEN 1 AND 2)"),
        ("a NOT IN (1, 2) OR b IN (3)", "((a NOT IN (1, 2)) OR (b IN (3)))"),
        ("a LIKE 'x%' AND b NOT LIKE 'y'", "((a LIKE 'x%') AND (b NOT LIKE 'y'))"),
        ("a < b AND b <= c", "((a < b) AND (b <= c))"),
        ("a != b", "(a <> b)"),
        ("(a OR b) AND c", "((a OR b) AND c)"),
    ])
    func precedenceAndAssociativity(_ text: String, _ grouped: String) {
        #expect(grouping(text) == grouped)
    }

    @Test func specialForms() {
        #expect(Printer.expr(expr("EXTRACT(hour FROM ts)")) == "EXTRACT(HOUR FROM ts)")
        #expect(Printer.expr(expr("FLOOR(ts TO minute)")) == "FLOOR(ts TO MINUTE)")
        #expect(Printer.expr(expr("floor(x)")) == "floor(x)")
        #expect(Printer.expr(expr("SUBSTRING(s, 2, 3)")) == "SUBSTRING(s FROM 2 FOR 3)")
        #expect(Printer.expr(expr("SUBSTRING(s FROM 2)")) == "SUBSTRING(s FROM 2)")
        #expect(Printer.expr(expr("TRIM(s)")) == "TRIM(s)")
        #expect(Printer.expr(expr("TRIM(LEADING 'x' FROM s)")) == "TRIM(LEADING 'x' FROM s)")
        #expect(Printer.expr(expr("TRIM('x' FROM s)")) == "TRIM(BOTH 'x' FROM s)")
        #expect(Printer.expr(expr("CAST(a AS int)")) == "CAST(a AS BIGINT)")
        #expect(Printer.expr(expr("CAST(a AS varchar(10))")) == "CAST(a AS VARCHAR(10))")
        #expect(Printer.expr(expr("CASE WHEN a THEN 1 WHEN b THEN 2 ELSE 3 END")) == "CASE WHEN a THEN 1 WHEN b THEN 2 ELSE 3 END")
        #expect(Printer.expr(expr("CASE x WHEN 1 THEN 'one' END")) == "CASE x WHEN 1 THEN 'one' END")
        #expect(Printer.expr(expr("COUNT(*)")) == "COUNT(*)")
        #expect(Printer.expr(expr("count(DISTINCT user_id)")) == "count(DISTINCT user_id)")
        #expect(Printer.expr(expr("AVG(x) OVER (PARTITION BY k ORDER BY ts RANGE INTERVAL '1' MINUTE PRECEDING)"))
                == "AVG(x) OVER (PARTITION BY k ORDER BY ts RANGE INTERVAL '1' MINUTE PRECEDING)")
        #expect(Printer.expr(expr("SUM(x) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 10 PRECEDING AND CURRENT ROW)"))
                == "SUM(x) OVER (PARTITION BY k ORDER BY ts ROWS 10 PRECEDING)")
        #expect(Printer.expr(expr("INTERVAL '5 seconds'")) == "INTERVAL '5' SECOND")
        #expect(Printer.expr(expr("INTERVAL '1.5' hours")) == "INTERVAL '1.5' HOUR")
        #expect(Printer.expr(expr("TIMESTAMP '2024-01-01 00:00:05'")) == "TIMESTAMP '2024-01-01 00:00:05'")
        #expect(Printer.expr(expr("TO_TIMESTAMP(epoch_ms) || 'x'")) == "TO_TIMESTAMP(epoch_ms) || 'x'")
        #expect(Printer.expr(expr("a.b")) == "a.b")
        #expect(Printer.expr(expr("\"weird \"\"name\"\"\"")) == "\"weird \"\"name\"\"\"")
    }

    func expr(_ text: String) -> Expr {
        guard let s = statement("SELECT \(text)"), case .query(let q) = s.kind, case .expression(let e, _, _) = q.items[0] else {
            return Expr(.literal(.null))
        }
        return e
    }

    @Test func intervalArithmetic() {
        let e = expr("INTERVAL '250' MILLISECONDS")
        guard case .literal(.interval(let i)) = e.kind else { Issue.record("interval"); return }
        #expect(i.millis == 250)
        guard case .literal(.interval(let d)) = expr("INTERVAL '1.5' DAY").kind else { Issue.record("interval"); return }
        #expect(d.millis == 129_600_000)
    }
}
