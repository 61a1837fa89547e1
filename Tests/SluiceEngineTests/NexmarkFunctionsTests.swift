import Foundation
import Testing
import SluiceCore
import SluiceSQL
@testable import SluicePlanner
@testable import SluiceEngine

/// The functions the Nexmark queries use (issue 21): MOD, HOUR, DAYOFMONTH and the other EXTRACT
/// shorthands, DATE_FORMAT, REGEXP_EXTRACT, SPLIT_INDEX / SPLIT_PART, and an aggregate's
/// FILTER (WHERE ...), run end to end, with their bad uses refused at planning.
@Suite("Nexmark's functions")
struct NexmarkFunctionsTests {
    static let ddl = """
        CREATE STREAM bid (auction BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, ts TIMESTAMP,
          WATERMARK FOR ts AS ts) WITH (format = 'json');
        """

    func run(_ query: String, _ records: [String]) throws -> [String] {
        let f = try EngineFixture()
        try f.load(Self.ddl + "\nCREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');\nINSERT INTO out " + query + ";")
        for r in records { try f.put("bid", r) }
        try f.engine.runUntilEnd()
        return f.lines("out.jsonl")
    }

    @Test func scalarFunctions() throws {
        let rows = try run("""
            SELECT MOD(auction, 123) AS m, MOD(-7, 3) AS neg, HOUR(ts) AS h, MINUTE(ts) AS mi, DAYOFMONTH(ts) AS d, MONTH(ts) AS mo, YEAR(ts) AS y,
              DATE_FORMAT(ts, 'yyyy-MM-dd') AS day, DATE_FORMAT(ts, 'HH:mm') AS hm, DATE_FORMAT(ts, 'yy/M/d h a, EEE MMM ''at'' HH''''mm') AS odd,
              REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) AS cid, REGEXP_EXTRACT(url, 'n[a-z]+k') AS whole,
              SPLIT_INDEX(url, '/', 3) AS si, SPLIT_INDEX(url, '/', 99) AS si_past, SPLIT_PART(url, '/', 4) AS sp, SPLIT_PART(url, '/', 99) AS sp_past
            FROM bid
            """, [#"{"auction":1246,"price":5,"channel":"x","url":"https://www.nexmark.com/ab/cd/item.htm?query=1&channel_id=42","ts":"2026-03-07T15:04:05.678Z"}"#,
                  #"{"auction":1000,"price":5,"channel":"x","url":"plain","ts":"2026-12-31T00:00:00Z"}"#])
        #expect(rows == [
            #"{"m":16,"neg":-1,"h":15,"mi":4,"d":7,"mo":3,"y":2026,"day":"2026-03-07","hm":"15:04","odd":"26/3/7 3 PM, Sat Mar at 15'04","cid":"42","whole":"nexmark","si":"ab","si_past":null,"sp":"ab","sp_past":""}"#,
            #"{"m":16,"neg":-1,"h":0,"mi":0,"d":31,"mo":12,"y":2026,"day":"2026-12-31","hm":"00:00","odd":"26/12/31 12 AM, Thu Dec at 00'00","cid":null,"whole":null,"si":null,"si_past":null,"sp":"","sp_past":""}"#,
        ])
    }

    /// Splitting keeps empty pieces and takes separators of several characters, leftmost first;
    /// REGEXP_EXTRACT on text beyond ASCII takes whole characters, and a pattern the byte-level
    /// engine does not cover (a lookahead) still runs.
    @Test func splittingAndExtractingEdgeCases() throws {
        let rows = try run("""
            SELECT SPLIT_INDEX(url, '/', 1) AS empty_piece, SPLIT_PART(url, '--', 2) AS two_dashes, SPLIT_INDEX(url, '', 0) AS whole,
              SPLIT_INDEX(url, '/', -1) AS negative, SPLIT_PART(url, '/', 0) AS zeroth,
              REGEXP_EXTRACT(channel, '(.)x', 1) AS before_x, REGEXP_EXTRACT(channel, 'é(?=x)') AS lookahead
            FROM bid
            """, [#"{"auction":1,"price":5,"channel":"aéx","url":"a//b--c--d","ts":1000}"#])
        #expect(rows == [#"{"empty_piece":"","two_dashes":"c","whole":"a//b--c--d","negative":null,"zeroth":"","before_x":"é","lookahead":"é"}"#])
    }

    /// FILTER (WHERE ...) aggregates only the rows for which the condition holds; COUNT(DISTINCT) too.
    @Test func aggregateFilter() throws {
        let records = [(1, 50, "Apple"), (1, 5_000, "Apple"), (2, 70, "Google"), (2, 9_000, "Google"), (3, 9_000, "Apple"), (1, 20, "x")]
            .enumerated().map { i, r in #"{"auction":\#(r.0),"price":\#(r.1),"channel":"\#(r.2)","url":"u","ts":\#(1000 + i)}"# }
        let rows = try run("""
            SELECT window_start, COUNT(*) AS n, COUNT(*) FILTER (WHERE price < 100) AS cheap,
              COUNT(DISTINCT auction) FILTER (WHERE price >= 1000) AS rich_auctions, SUM(price) FILTER (WHERE channel = 'Apple') AS apple,
              MAX(price) FILTER (WHERE channel = 'nobody') AS none, AVG(price) FILTER (WHERE auction = 2) AS avg2
            FROM TUMBLE(bid, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end
            """, records)
        #expect(rows == [#"{"window_start":"1970-01-01T00:00:00.000Z","n":6,"cheap":3,"rich_auctions":3,"apple":14050,"none":null,"avg2":4535.0}"#])
    }

    @Test func filterPrintsAndParsesBack() throws {
        let sql = "SELECT COUNT(*) FILTER (WHERE price < 100) AS cheap FROM bid"
        let (s, d) = Parser.parseStatement(sql)
        #expect(d.isEmpty)
        guard case .query(let q)? = s?.kind else { Issue.record("not a query"); return }
        #expect(Printer.inlineQuery(q).contains("COUNT(*) FILTER (WHERE price < 100)"))
        // FILTER without a parenthesis is an alias, as any non-reserved word.
        let (alias, d2) = Parser.parseStatement("SELECT price filter FROM bid")
        #expect(d2.isEmpty && alias != nil)
    }

    @Test(arguments: [
        ("SELECT DATE_FORMAT(ts, 'yyyy-QQ') FROM bid", "bind.bad-arguments"),
        ("SELECT DATE_FORMAT(ts, 'yyyy ''open') FROM bid", "bind.bad-arguments"),
        ("SELECT DATE_FORMAT(ts, channel) FROM bid", "bind.bad-arguments"),
        ("SELECT DATE_FORMAT(price, 'yyyy') FROM bid", "bind.type-mismatch"),
        ("SELECT REGEXP_EXTRACT(url, '(unclosed') FROM bid", "bind.bad-arguments"),
        ("SELECT REGEXP_EXTRACT(url, 'a(b)c', 2) FROM bid", "bind.bad-arguments"),
        ("SELECT REGEXP_EXTRACT(url, channel) FROM bid", "bind.bad-arguments"),
        ("SELECT MOD(url, 2) FROM bid", "bind.type-mismatch"),
        ("SELECT HOUR(price) FROM bid", "bind.type-mismatch"),
        ("SELECT SPLIT_INDEX(url, '/') FROM bid", "bind.bad-arguments"),
        ("SELECT LOWER(url) FILTER (WHERE price > 1) FROM bid", "bind.bad-arguments"),
        ("SELECT window_start, COUNT(*) FILTER (WHERE price) FROM TUMBLE(bid, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end", "bind.type-mismatch"),
        ("SELECT window_start, FIRST_VALUE(price) FILTER (WHERE price > 1) FROM TUMBLE(bid, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end", "plan.unsupported"),
        ("SELECT window_start, COUNT(*) FILTER (WHERE COUNT(*) > 1) FROM TUMBLE(bid, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end", "plan.aggregate-in-filter-condition"),
    ] as [(String, String)])
    func badUsesAreRefused(_ sql: String, _ id: String) throws {
        var catalog = MemoryCatalog()
        for s in Parser.parse(Self.ddl).script.statements {
            if case .createStream(let c) = s.kind { catalog.add(try Planner.streamDefinition(c, span: s.loc.span)) }
        }
        let (s, d) = Parser.parseStatement(sql)
        #expect(d.isEmpty, "\(sql): \(d)")
        guard case .query(let q)? = s?.kind else { Issue.record("not a query: \(sql)"); return }
        do {
            _ = try Planner(catalog: catalog).plan(q)
            Issue.record("planned: \(sql)")
        } catch {
            #expect(error.diagnostics.first?.id == id, "\(sql): \(error.diagnostics.map(\.description))")
        }
    }
}
