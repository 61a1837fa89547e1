import Testing
import SluiceCore
@testable import SluiceSQL

@Suite("Diagnostics")
struct DiagnosticTests {
    func rendered(_ sql: String, name: String = "q.sql") -> String {
        let f = SourceFile(name: name, text: sql)
        return Parser.parse(sql).diagnostics.map { DiagnosticRenderer.render($0, in: f) }.joined()
    }

    @Test func renderingShowsPositionLineAndCarets() {
        #expect(rendered("SELECT a\nFROM t\nWHERE x > ;") == """
            q.sql:3:11: error[syntax.unexpected-token]: expected an expression, found ';'
              |
            3 | WHERE x > ;
              |           ^

            """)
    }

    @Test func misspeltKeywordsGetADidYouMean() {
        let cases: [(String, String)] = [
            ("SELEC a FROM t", "did you mean SELECT?"),
            ("CREATE STREM s (a INT)", "did you mean STREAM?"),
            ("SELECT a FORM t", "did you mean FROM?"),
            ("SELECT a FROM t GROUP BYY a", "did you mean BY?"),
            ("SHOW STRAEMS", "did you mean STREAMS?"),
            ("SELECT * FROM TUMBEL(c, ts, INTERVAL '1' MINUTE)", "did you mean TUMBLE?"),
        ]
        for (sql, help) in cases {
            let d = diagnostics(sql)
            #expect(d.first?.help == help, "\(sql): \(d)")
        }
    }

    @Test func reservedWordsAsNamesSayHowToQuote() {
        let d = diagnostics("SELECT a FROM select")
        #expect(d.first?.help?.contains("\"select\"") == true)
    }

    @Test func everyStatementWithAnErrorIsReported() {
        let text = """
            SELECT a FROM;
            SELECT b FROM t;
            CREATE STREAM s (a);
            SELECT 1 = 2 = 3;
            SHOW STREAMS
            """
        let r = Parser.parse(text)
        #expect(r.diagnostics.count == 3)
        #expect(r.diagnostics.map { SourceFile(name: "", text: text).location(of: $0.span!.start).line } == [1, 3, 4])
        #expect(r.script.statements.count == 2)  // the good ones still parse
    }

    @Test(arguments: [
        ("SELECT 'abc", "syntax.unterminated-string"),
        ("SELECT a FROM t WHERE a = 1 = 2", "syntax.chained-comparison"),
        ("SELECT a FROM t ORDER BY a", "syntax.unsupported"),
        ("SELECT a FROM t LIMIT 5 WHERE a > 1", "syntax.clause-order"),
        ("SELECT INTERVAL 'soon' SECOND", "syntax.bad-interval"),
        ("SELECT INTERVAL '5 fortnights'", "syntax.bad-interval"),
        ("SELECT TIMESTAMP '2024-13-01'", "syntax.bad-timestamp"),
        ("CREATE STREAM s (a INT) WITH (x = 1, X = 2)", "syntax.duplicate-option"),
        ("CREATE STREAM s (ts TIMESTAMP, WATERMARK FOR ts AS ts, WATERMARK FOR ts AS ts)", "syntax.duplicate-clause"),
        ("SELECT * FROM HOP(c, ts, INTERVAL '5' MINUTE, INTERVAL '1' MINUTE)", "syntax.named-argument-required"),
        ("SELECT * FROM GENERATE(c)", "syntax.unknown-table-function"),
        ("SELECT a SELECT b", "syntax.expected-semicolon"),
        ("SELECT 12abc", "syntax.bad-number"),
        ("SELECT a # b", "syntax.bad-character"),
    ])
    func stableIds(_ sql: String, _ id: String) {
        #expect(diagnostics(sql).first?.id == id, "\(diagnostics(sql))")
    }

    @Test func distinctOnlyWhereItMeansSomething() {
        #expect(diagnostics("SELECT FLOOR(DISTINCT ts TO MINUTE)").first?.message.contains("DISTINCT has no meaning") == true)
        #expect(diagnostics("SELECT SUBSTRING(DISTINCT s FROM 1)").first?.message.contains("DISTINCT has no meaning") == true)
        #expect(diagnostics("SELECT COUNT(DISTINCT s)").isEmpty)
    }

    @Test func lexerErrorsAreNotReportedTwice() {
        let d = diagnostics("SELECT a # b FROM t")
        #expect(d.count == 1 && d[0].id == "syntax.bad-character")
    }

    @Test func nestingIsLimited() {
        let deep = "SELECT " + String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000)
        #expect(diagnostics(deep).first?.id == "syntax.nesting-too-deep")
        let minus = "SELECT " + String(repeating: "- ", count: 10_000) + "1"
        #expect(diagnostics(minus).first?.id == "syntax.nesting-too-deep")
        let subqueries = "SELECT * FROM " + String(repeating: "(SELECT * FROM ", count: 5000) + "t" + String(repeating: ")", count: 5000)
        #expect(diagnostics(subqueries).first?.id == "syntax.nesting-too-deep")
        let ok = "SELECT " + String(repeating: "(", count: 50) + "1" + String(repeating: ")", count: 50)
        #expect(diagnostics(ok).isEmpty)
        // A run of operators builds a tree as deep as it is long (which the binder walks): it
        // counts as nesting, one level per operator.
        let chain = "SELECT " + String(repeating: "a + ", count: 50_000) + "1 FROM t"
        #expect(diagnostics(chain).first?.id == "syntax.nesting-too-deep")
        let ors = "SELECT * FROM t WHERE " + String(repeating: "a = 1 OR ", count: 300) + "a = 2"
        #expect(diagnostics(ors).first?.help?.contains("IN (...)") == true)
        let fine = "SELECT " + String(repeating: "a + ", count: 150) + "1 FROM t"
        #expect(diagnostics(fine).isEmpty)
    }

    @Test func aRunawayStringGetsAHint() {
        let d = diagnostics("SELECT 'abc FROM t;\nSELECT 'x' FROM u;")
        #expect(d.contains { $0.notes.contains { $0.message.contains("closing quote missing") } }, "\(d)")
    }

    @Test func lineAndColumnCountCharacters() {
        let f = SourceFile(name: "x", text: "é\nab\tc")
        #expect(f.location(of: 0) == (1, 1))
        #expect(f.location(of: 2) == (1, 2))
        #expect(f.location(of: 3) == (2, 1))
        #expect(f.location(of: 6) == (2, 4))
        #expect(f.line(2) == "ab\tc")
    }

    /// Other engines' window forms get Sluice's form in the help.
    @Test func foreignWindowSyntaxNamesSluicesForm() {
        for sql in ["SELECT url, COUNT(*) FROM s WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY url",
                    "SELECT url FROM s WINDOW HOPPING (SIZE 1 MINUTE, ADVANCE BY 10 SECONDS)",
                    "SELECT * FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '1' MINUTE))"] {
            let d = diagnostics(sql)
            #expect(d.first?.id == "syntax.foreign-window" && d.first?.help?.contains("FROM TUMBLE(") == true, "\(sql): \(d)")
        }
        // An alias named window is still an alias.
        #expect(diagnostics("SELECT w.a FROM s window").isEmpty)
    }

    @Test func decimalPrecisionAndScale() {
        #expect(diagnostics("CREATE STREAM s (a DECIMAL(10, 2), b NUMERIC(18), c DEC, d DECIMAL(1, 1))").isEmpty)
        let tooWide = diagnostics("CREATE STREAM s (a DECIMAL(19, 2))")
        #expect(tooWide.first?.id == "syntax.bad-type" && tooWide.first?.message.contains("1 to 18") == true, "\(tooWide)")
        #expect(diagnostics("CREATE STREAM s (a DECIMAL(5, 6))").first?.message.contains("scale (6) cannot exceed its precision (5)") == true)
        #expect(diagnostics("CREATE STREAM s (a DECIMAL(0))").first?.id == "syntax.bad-type")
        let a = Parser.parse("SELECT CAST(x AS NUMERIC(8, 3)) AS y, CAST(x AS DECIMAL) AS z FROM s")
        #expect(Printer.print(a.script) == "SELECT CAST(x AS DECIMAL(8, 3)) AS y, CAST(x AS DECIMAL) AS z\nFROM s;\n")
    }

    @Test func timestampPrecisionAndShortIntervals() {
        #expect(diagnostics("CREATE STREAM s (ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5s')").isEmpty)
        #expect(diagnostics("CREATE STREAM s (ts TIMESTAMP(12))").first?.id == "syntax.bad-type")
        let a = Parser.parse("SELECT INTERVAL '90s' AS x, INTERVAL '1.5h' AS y, INTERVAL '250ms' AS z, INTERVAL '2d' AS w FROM s")
        #expect(!a.hasErrors)
        #expect(Printer.print(a.script) == "SELECT\n  INTERVAL '90' SECOND AS x,\n  INTERVAL '1.5' HOUR AS y,\n  INTERVAL '250' MILLISECOND AS z,\n  INTERVAL '2' DAY AS w\nFROM s;\n")
        #expect(diagnostics("SELECT INTERVAL '1e30d' AS x FROM s").first?.id == "syntax.bad-interval")
        #expect(diagnostics("SELECT INTERVAL '99999999999' DAY AS x FROM s").first?.id == "syntax.bad-interval")
    }
}
