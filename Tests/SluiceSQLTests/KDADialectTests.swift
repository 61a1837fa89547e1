import SluiceCore
import Testing
@testable import SluiceSQL

/// Kinesis Data Analytics' SQL (Dialect.kda) parses into Sluice's statements (grammar/kda.md).
@Suite("KDA dialect")
struct KDADialectTests {
    func statements(_ sql: String, _ dialect: Dialect = .kda) -> ([Statement], [Diagnostic]) {
        let r = Parser.parse(sql, dialect: dialect)
        return (r.script.statements, r.diagnostics)
    }

    @Test func unquotedNamesFoldToUpperCaseAndQuotedOnesStay() throws {
        let (s, d) = statements(#"CREATE OR REPLACE STREAM "dest" (ticker VARCHAR(4), "Price" REAL, n SMALLINT, c CHAR(3), t TINYINT);"#)
        #expect(d.isEmpty, "\(d)")
        guard case .createStream(let c)? = s.first?.kind else { Issue.record("not a stream"); return }
        #expect(c.name.name == "dest" && c.name.quoted)
        #expect(c.columns.map(\.name.name) == ["TICKER", "Price", "N", "C", "T"])
        #expect(c.columns.map(\.type.type) == [.varchar, .double, .bigint, .varchar, .bigint])
        #expect(c.columns[0].type.length == 4 && c.columns[3].type.length == 3)
        // Sluice's own SQL keeps names as written.
        guard case .createStream(let own)? = statements("CREATE STREAM s (ticker VARCHAR);", .sluice).0.first?.kind else { Issue.record("own"); return }
        #expect(own.columns[0].name.name == "ticker")
    }

    @Test func pumpsAreNamedInsertsWhoseColumnsGoByPosition() throws {
        let (s, d) = statements("""
            CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM" (ticker, avg_price)
            SELECT STREAM ticker_symbol, AVG(price) OVER (PARTITION BY ticker_symbol ROWS 5 PRECEDING) FROM "SOURCE_SQL_STREAM_001";
            CREATE PUMP p2 AS INSERT INTO out SELECT a FROM src;
            """)
        #expect(d.isEmpty, "\(d)")
        guard s.count == 2, case .insert(let p)? = s.first?.kind, case .insert(let q)? = s.last?.kind else { Issue.record("\(s)"); return }
        #expect(p.pump?.name == "STREAM_PUMP" && p.orReplace && p.byPosition && p.columns.map(\.name) == ["TICKER", "AVG_PRICE"])
        #expect(p.target.name == "DESTINATION_SQL_STREAM")
        #expect(q.pump?.name == "P2" && !q.orReplace && q.columns.isEmpty, "SELECT without STREAM is accepted in a pump")
        // The printer writes the pump back.
        #expect(Printer.print(s[0]).hasPrefix(#"CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM" (TICKER, AVG_PRICE)"#))
    }

    @Test func selectStreamIsAContinuousQuery() {
        let (s, d) = statements(#"SELECT STREAM * FROM "SOURCE_SQL_STREAM_001" WHERE price > 10;"#)
        #expect(d.isEmpty && s.count == 1, "\(d)")
        // A column named stream is still a column.
        #expect(statements("SELECT stream, x FROM s;").1.isEmpty)
    }

    @Test(arguments: [
        ("CREATE PUMP p INSERT INTO s SELECT a FROM t;", "after the pump's name"),
        ("CREATE PUMP p AS SELECT a FROM t;", "INSERT INTO"),
        ("SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST(s, 100));", "CURSOR(SELECT STREAM ...)"),
        ("SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM a FROM s), 'many'));", "numberOfTrees is a positive number"),
        ("SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM a FROM s), 1, 2, 3, 4, 5));", "at most 4 parameters"),
        ("SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM a FROM s), 1, 2, 3, 4, 5));", "directionality is TRUE or FALSE"),
    ])
    func badKDAIsRefusedWithAReason(_ sql: String, _ message: String) {
        let d = statements(sql).1
        #expect(d.contains { $0.message.contains(message) || ($0.help ?? "").contains(message) }, "\(d.map(\.message))")
    }

    /// KDA's forest: positional parameters become Sluice's named ones (timeDecay counts rows), scored by depth.
    @Test func aCursorForestReadsAsTheForestWithNamedParameters() {
        let (s, d) = statements("SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM src), 50, 128, 1000, 2)) AS r;")
        #expect(d.isEmpty, "\(d)")
        guard case .query(let q)? = s.first?.kind, case .anomaly(let f, let alias, _)? = q.from else { Issue.record("\(s)"); return }
        #expect(f.kda && !f.withExplanation && f.columns.isEmpty && alias?.name == "R")
        #expect(f.parameters.map(\.name.name) == ["trees", "sample_size", "time_decay", "shingle", "score"])
        #expect(f.parameters.map { Printer.expr($0.value) } == ["50", "128", "0.001", "2", "'depth'"])
    }

    /// PUMP, SELECT STREAM and KDA's types are KDA's: Sluice's own SQL reads them as it always has.
    /// DATE and TIME are TIMESTAMPs that keep a part (both dialects); VARBINARY and BINARY are
    /// VARCHAR (KDA's).
    @Test func dateTimeAndBinaryTypes() throws {
        let (s, d) = statements("CREATE STREAM s (d DATE, t TIME, b VARBINARY(8), c BINARY);")
        #expect(d.isEmpty, "\(d)")
        guard case .createStream(let c)? = s.first?.kind else { Issue.record("not a stream"); return }
        #expect(c.columns.map(\.type.type) == [.timestamp, .timestamp, .varchar, .varchar])
        #expect(c.columns.map(\.type.part) == [.date, .time, nil, nil])
        #expect(c.columns[2].type.length == 8)
        #expect(Printer.type(c.columns[0].type) == "DATE" && Printer.type(c.columns[1].type) == "TIME")
        #expect(statements("CREATE STREAM s (d DATE, t TIME);", .sluice).1.isEmpty)
        // DESCRIPTION, of a column or of the stream, is documentation: read and left.
        let (described, dd) = statements("CREATE OR REPLACE STREAM s (a VARCHAR(4) NOT NULL DESCRIPTION 'the symbol', b INTEGER DESCRIPTION 'how many') DESCRIPTION 'trades';")
        #expect(dd.isEmpty, "\(dd)")
        if case .createStream(let c)? = described.first?.kind { #expect(c.columns.map(\.name.name) == ["A", "B"] && c.columns[0].notNull) } else { Issue.record("not a stream") }
        #expect(!statements("CREATE STREAM s (a VARCHAR DESCRIPTION 'x');", .sluice).1.isEmpty)
        #expect(!statements("CREATE STREAM s (b VARBINARY);", .sluice).1.isEmpty)
    }

    @Test func sluicesOwnSQLIsUnchanged() {
        #expect(!statements("CREATE PUMP p AS INSERT INTO s SELECT a FROM t;", .sluice).1.isEmpty)
        #expect(!statements("CREATE STREAM s (n SMALLINT);", .sluice).1.isEmpty)
    }

    /// FAST_REGEX_LOG_PARSE's patterns (the automaton syntax) become lazy regular expressions: each
    /// group as short as the rest allows, `"..."` and `\c` literal, `@` any string, `#` nothing.
    @Test func fastRegexPatternsMatchLazily() throws {
        func groups(_ pattern: String, _ text: String) throws -> [String?] {
            let regex = try Regex("^(?:" + Parser.fastRegex(pattern) + ")$")
            guard let m = try regex.wholeMatch(in: text) else { return [] }
            return (1..<m.output.count).map { m.output[$0].substring.map(String.init) }
        }
        // Lazy: the first group ends at the first '_' (REGEX_LOG_PARSE's greedy (.*) takes "a_b").
        #expect(try groups("(.*)_(.*)", "a_b_c") == ["a", "b_c"])
        #expect(try groups(#"@"[.]"(@)"#, "x[.]y[.]z") == ["y[.]z"])
        #expect(try groups(#"(\d+)-(d)"#, "dd-d") == ["dd", "d"])  // \d is the letter d
        #expect(try groups("([0-9]{2,3})([a-z]?)(@)", "1234") == ["12", "", "34"])
        #expect(try groups("(a|b)#", "a") == [])  // # matches nothing
        #expect(try groups("(x$)", "x$") == ["x$"])  // $ is an ordinary character
        for (bad, why) in [("a&b", "intersection"), ("~a", "complement"), ("<1-5>", "number ranges"), ("[ab", "not closed"), ("\"ab", "not closed")] {
            #expect(throws: FastRegexError.self, "\(bad)") { try Parser.fastRegex(bad) }
            do { _ = try Parser.fastRegex(bad) } catch { #expect(error.message.contains(why), "\(bad): \(error.message)") }
        }
        // In a select item: a field per group, named by the item's alias.
        let (s, d) = statements(#"SELECT STREAM FAST_REGEX_LOG_PARSER(line, '(@) (@)') AS r, SYS_LOG_PARSE(line) AS y FROM s;"#)
        #expect(d.isEmpty, "\(d)")
        guard case .query(let q)? = s.first?.kind else { Issue.record("not a query"); return }
        #expect(q.items.compactMap { if case .expression(_, let a?, _) = $0 { return a.name } else { return nil } } == ["R.COLUMN1", "R.COLUMN2", "Y.COLUMN1", "Y.COLUMN2"])
    }
}
