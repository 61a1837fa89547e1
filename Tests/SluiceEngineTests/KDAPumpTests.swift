import Foundation
import Testing
import SluiceCore
import SluiceSQL
import SluiceStreams
@testable import SluiceEngine

/// KDA's SQL (Dialect.kda) in the engine: in-application streams and pumps.
@Suite("KDA pumps")
struct KDAPumpTests {
    static let source = """
        CREATE STREAM "SOURCE_SQL_STREAM_001" ("TICKER" VARCHAR, "PRICE" DOUBLE) WITH (format = 'json');
        CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
        """

    /// A fixture with the source stream and the `out` sink, and then `code` in KDA's dialect, which must parse.
    static func fixture(_ code: String) throws -> EngineFixture {
        let f = try EngineFixture()
        try f.load(source)
        let kda = Parser.parse(code, dialect: .kda)
        #expect(kda.diagnostics.isEmpty, "\(kda.diagnostics)")
        try f.engine.load(kda.script)
        return f
    }

    /// Names fold to upper case; SELECT STREAM; a pump's columns fill the stream's by position,
    /// converted to their types (DOUBLE into INTEGER); a column list leaves the rest NULL.
    @Test func aPumpFillsItsStreamByPosition() throws {
        let f = try Self.fixture("""
            CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), doubled DOUBLE, whole INTEGER, note CHAR(8), small SMALLINT);
            CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM" (ticker, doubled, whole)
              SELECT STREAM ticker, price * 2, price FROM "SOURCE_SQL_STREAM_001" WHERE ticker <> 'SKIP';
            """)
        try f.load(#"INSERT INTO out SELECT * FROM "DESTINATION_SQL_STREAM";"#)
        for (t, p) in [("AMZN", 10.5), ("SKIP", 1.0), ("MSFT", 3.0)] { try f.put("SOURCE_SQL_STREAM_001", #"{"TICKER":"\#(t)","PRICE":\#(p)}"#) }
        f.clock.advance(by: 100)
        while try f.engine.step() {}
        f.clock.advance(by: 100)
        while try f.engine.step() {}
        #expect(f.engine.runningQueries.contains { $0.label == "PUMP STREAM_PUMP" }, "\(f.engine.runningQueries.map(\.label))")
        try f.engine.finish()
        let rows = try f.lines("out.jsonl").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        #expect(rows.count == 2, "\(rows)")
        #expect(rows.first?["TICKER"] == "AMZN" && rows.first?["DOUBLED"] == .double(21) && rows.first?["WHOLE"] == .int(11), "\(rows)")  // 10.5 rounds, as CAST does (grammar/kda.md)
        #expect(rows.first?["NOTE"] == .null && rows.first?["SMALL"] == .null)
    }

    @Test(arguments: [
        (#"CREATE PUMP p AS INSERT INTO "DESTINATION_SQL_STREAM" SELECT STREAM ticker FROM "SOURCE_SQL_STREAM_001";"#, "gives 1 column for the 2"),
        (#"CREATE PUMP p AS INSERT INTO "DESTINATION_SQL_STREAM" (nope) SELECT STREAM ticker FROM "SOURCE_SQL_STREAM_001";"#, "has no column NOPE"),
        (#"CREATE PUMP p AS INSERT INTO nowhere SELECT STREAM ticker FROM "SOURCE_SQL_STREAM_001";"#, "unknown sink or stream 'NOWHERE'"),
    ])
    func badPumpsAreRefused(_ pump: String, _ message: String) throws {
        let f = try EngineFixture()
        try f.load(Self.source)
        try f.engine.load(Parser.parse(#"CREATE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR, price DOUBLE);"#, dialect: .kda).script)
        do {
            try f.engine.load(Parser.parse(pump, dialect: .kda).script)
            Issue.record("accepted: \(pump)")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    /// A streaming GROUP BY on STEP(ROWTIME BY ...) is a tumbling window on ROWTIME: each group
    /// leaves when time passes it, its STEP value the window's start.
    @Test func stepGroupsAreTumblingWindowsOnRowtime() throws {
        let f = try Self.fixture("""
            CREATE OR REPLACE STREAM "DEST" (ticker VARCHAR(4), window_time TIMESTAMP, n INTEGER, total DOUBLE);
            CREATE OR REPLACE PUMP "AGG" AS INSERT INTO "DEST"
              SELECT STREAM ticker, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '10' SECOND), COUNT(*), SUM(price)
              FROM "SOURCE_SQL_STREAM_001"
              GROUP BY ticker, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '10' SECOND);
            """)
        try f.load(#"INSERT INTO out SELECT * FROM "DEST";"#)
        let t0 = f.clock.nowMillis()  // a multiple of 10 s
        func put(_ t: String, _ p: Double, at offset: Int64) throws {
            f.clock.set(t0 + offset)
            try f.put("SOURCE_SQL_STREAM_001", #"{"TICKER":"\#(t)","PRICE":\#(p)}"#)
            while try f.engine.step() {}
        }
        try put("AMZN", 1, at: 0)
        try put("AMZN", 2, at: 4_000)
        try put("MSFT", 5, at: 6_000)
        try put("AMZN", 7, at: 12_000)
        // The first window closed when a row of a later one came; the last closes at the end of the input.
        #expect(f.lines("out.jsonl").count == 2)
        try f.engine.finish()
        let rows = try f.lines("out.jsonl").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        let first = rows.filter { $0["WINDOW_TIME"] == .string(TimeFormat.iso8601(t0)) }
        #expect(first.count == 2, "\(rows)")
        #expect(first.first { $0["TICKER"] == "AMZN" }?["N"] == .int(2) && first.first { $0["TICKER"] == "AMZN" }?["TOTAL"] == .double(3))
        #expect(first.first { $0["TICKER"] == "MSFT" }?["N"] == .int(1))
        #expect(rows.contains { $0["WINDOW_TIME"] == .string(TimeFormat.iso8601(t0 + 10_000)) && $0["N"] == .int(1) }, "\(rows)")
    }

    /// In Sluice's own SQL, a TIMESTAMP column named ROWTIME in a query that writes a stream is the
    /// arrival of each row's record (not a column of it): a derived stream of window results keeps
    /// each window's end as its rows' ROWTIME.
    @Test func aRowtimeColumnIsTheArrivalOfTheRecordsAQueryWrites() throws {
        let f = try EngineFixture()
        try f.load(Self.source + """
            CREATE STREAM per10 AS SELECT "TICKER" AS ticker, COUNT(*) AS n, window_end AS ROWTIME
              FROM TUMBLE("SOURCE_SQL_STREAM_001", ROWTIME, INTERVAL '10' SECOND) GROUP BY window_start, window_end, "TICKER";
            INSERT INTO out SELECT ROWTIME AS t, * FROM per10;
            """)
        let t0 = f.clock.nowMillis()  // a multiple of 10 s
        for (ticker, offset) in [("A", Int64(1_000)), ("B", 3_000), ("A", 12_000), ("A", 25_000)] {
            f.clock.set(t0 + offset)
            try f.put("SOURCE_SQL_STREAM_001", #"{"TICKER":"\#(ticker)","PRICE":1}"#)
            f.clock.advance(by: 1)
            while try f.engine.step() {}
        }
        f.clock.advance(by: 1)
        while try f.engine.step() {}
        let rows = try f.lines("out.jsonl").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        #expect(rows.map { $0["t"]?.stringValue ?? "?" } == [TimeFormat.iso8601(t0 + 10_000), TimeFormat.iso8601(t0 + 10_000), TimeFormat.iso8601(t0 + 20_000)], "\(rows)")
        #expect(rows.allSatisfy { $0.objectValue?.keys.sorted() == ["n", "t", "ticker"] }, "ROWTIME is not a column of the records: \(rows)")
    }

    /// KDA's function library, on the reference's own examples: POSITION, OVERLAY, INITCAP,
    /// REGEX_REPLACE, SIMILAR TO, CHAR_TO_TIMESTAMP / TIMESTAMP_TO_CHAR, UNIX_TIMESTAMP, TSDIFF,
    /// STEP, MONOTONIC, TRIM and SUBSTRING in their standard forms.
    @Test(arguments: [
        ("POSITION('findme' IN '1234findmeXXX')", "5"), ("POSITION('findme' IN '1234not-hereXXX')", "0"), ("POSITION('' IN ticker)", "1"),
        ("OVERLAY('12345' PLACING 'foo' FROM 1)", "foo45"), ("OVERLAY('12345' PLACING 'foo' FROM 0)", "foo345"),
        ("OVERLAY('12345' PLACING 'foo' FROM -2)", "foo12345"), ("OVERLAY('12345' PLACING 'foo' FROM 4)", "123foo"),
        ("OVERLAY('12345' PLACING 'foo' FROM 17)", "12345foo"), ("OVERLAY('12345' PLACING 'foo' FROM 2 FOR 0)", "1foo2345"),
        ("OVERLAY('12345' PLACING 'foo' FROM 2 FOR 2)", "1foo45"), ("OVERLAY('12345' PLACING 'foo' FROM 2 FOR 9)", "1foo"),
        ("INITCAP('Each FIRST lEtTeR is cAPITALIZED')", "Each First Letter Is Capitalized"),
        ("REGEX_REPLACE('TECHNOLOGY and TECHNOLOGY', 'TECHNOLOGY', 'IT', 1, 0)", "IT and IT"),
        ("REGEX_REPLACE('a1b2c3', '[0-9]', '#', 1, 2)", "a1b#c3"), ("REGEX_REPLACE('a1b2c3', '([a-z])([0-9])', '$2$1', 3, 0)", "a12b3c"),
        ("REGEX_REPLACE('abc', 'b', 'x', 9, 0)", "abc"),
        ("CASE WHEN 'abbbbb' SIMILAR TO 'ab{3,6}' THEN 'T' ELSE 'F' END", "T"), ("CASE WHEN 'abbbbbbbb' SIMILAR TO 'ab{3,6}' THEN 'T' ELSE 'F' END", "F"),
        ("CASE WHEN 'amy' SIMILAR TO 'amy|fred' THEN 'T' ELSE 'F' END", "T"), ("CASE WHEN 'mike' NOT SIMILAR TO 'amy|fred' THEN 'T' ELSE 'F' END", "T"),
        ("CASE WHEN 'cd' SIMILAR TO '[a-e]d' THEN 'T' ELSE 'F' END", "T"), ("CASE WHEN '' SIMILAR TO '(ab)?' THEN 'T' ELSE 'F' END", "T"),
        ("CASE WHEN 'a(b{3})' SIMILAR TO 'a\\(b\\{3\\}\\)' ESCAPE '\\' THEN 'T' ELSE 'F' END", "T"),
        ("CASE WHEN 'a.c' SIMILAR TO 'a_c%' THEN 'T' ELSE 'F' END", "T"),
        ("CHAR_TO_TIMESTAMP('yyyy-MM-dd', '2009-09-16 03:15:24')", "2009-09-16T00:00:00.000Z"),
        ("CHAR_TO_TIMESTAMP('MM/dd/yy hh:mm:ss', '09/16/11 03:15:24')", "2011-09-16T03:15:24.000Z"),
        ("CHAR_TO_TIMESTAMP('yyyy-hh-mm', '2009-09-16 03:15:24')", "2009-01-01T09:16:00.000Z"),
        ("CHAR_TO_TIMESTAMP('MMM dd, yyyy', 'March 7, 2010')", "2010-03-07T00:00:00.000Z"), ("CHAR_TO_TIMESTAMP('M-d', '2-8')", "1970-02-08T00:00:00.000Z"),
        ("CHAR_TO_TIMESTAMP('yyyy hh', '2009-09-16 03:15:24')", "(no row: the row is an error, as in KDA)"),
        ("TIMESTAMP_TO_CHAR('yyyy-MM-dd HH:mm:ss', TIMESTAMP '2016-09-23 04:29:26')", "2016-09-23 04:29:26"),
        ("TIMESTAMP_TO_CHAR('yyyy', CAST(NULL AS TIMESTAMP))", "null"),
        ("UNIX_TIMESTAMP(TIMESTAMP '1970-01-01 00:01:00')", "60000"), ("TSDIFF(TIMESTAMP '2020-01-01 00:00:05', TIMESTAMP '2020-01-01 00:00:00')", "5000"),
        ("TSDIFF(5000, 2000)", "3000"), ("STEP(TIMESTAMP '2004-09-30 13:48:23' BY INTERVAL '10' SECOND)", "2004-09-30T13:48:20.000Z"),
        ("STEP(TIMESTAMP '2004-09-30 13:48:23' BY INTERVAL '2' HOUR)", "2004-09-30T12:00:00.000Z"), ("STEP(23 BY 5)", "20"), ("STEP(-3 BY 5)", "-5"),
        ("FLOOR(TIMESTAMP '2004-09-30 13:48:23' TO HOUR)", "2004-09-30T13:00:00.000Z"), ("FLOOR(TIMESTAMP '2004-09-30 13:48:23' TO MINUTE)", "2004-09-30T13:48:00.000Z"),
        ("FLOOR(TIMESTAMP '2004-09-30 13:48:23' TO DAY)", "2004-09-30T00:00:00.000Z"), ("FLOOR(TIMESTAMP '2004-09-30 13:48:23' TO YEAR)", "2004-01-01T00:00:00.000Z"),
        ("FLOOR(TIMESTAMP '2004-09-30 13:48:23' TO MONTH)", "2004-09-01T00:00:00.000Z"), ("FLOOR(TIMESTAMP '1969-03-05 01:00:00' TO YEAR)", "1969-01-01T00:00:00.000Z"),
        ("FLOOR(-3 * 3.1)", "-10"), ("FLOOR(5.2)", "5"),
        ("MONOTONIC(price)", "2.5"), ("TRIM(LEADING 'x' FROM 'xxxTrim frontxxx')", "Trim frontxxx"), ("SUBSTRING('hello' FROM 2 FOR 3)", "ell"),
    ])
    func kdaFunctionsGiveTheReferencesResults(_ expression: String, _ expected: String) throws {
        let f = try Self.fixture("""
            CREATE OR REPLACE STREAM "DEST" (v VARCHAR(64));
            CREATE OR REPLACE PUMP "F" AS INSERT INTO "DEST" SELECT STREAM CAST(\(expression) AS VARCHAR(64)) FROM "SOURCE_SQL_STREAM_001";
            """)
        try f.load(#"INSERT INTO out SELECT * FROM "DEST";"#)
        try f.put("SOURCE_SQL_STREAM_001", #"{"TICKER":"AMZN","PRICE":2.5}"#)
        f.clock.advance(by: 100)
        while try f.engine.step() {}
        try f.engine.finish()
        let rows = try f.lines("out.jsonl").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        if expected.hasPrefix("(no row") {
            #expect(rows.isEmpty, "\(expression): \(rows)")
        } else {
            #expect(rows.first?["V"]?.stringValue == expected, "\(expression): \(rows)")
        }
    }

    /// KDA's column log parsers: VARIABLE_COLUMN_LOG_PARSE (fields between delimiters, typed by a
    /// description or COLUMN1..n) and FIXED_COLUMN_LOG_PARSE (fields at places from 0), read as
    /// t.row.field.
    @Test func columnLogParsersGiveTheirFields() throws {
        let f = try Self.fixture("""
            CREATE OR REPLACE STREAM "DEST" (sym VARCHAR(4), qty INTEGER, third VARCHAR(8), fsym VARCHAR(4), fqty INTEGER);
            CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
              SELECT STREAM t.v.SYM, t.v.QTY, t.n.COLUMN3, t.f.SYM, t.f.QTY
              FROM (SELECT STREAM VARIABLE_COLUMN_LOG_PARSE(ticker, 'sym TYPE VARCHAR(4), qty TYPE INTEGER', ',') AS v,
                           VARIABLE_COLUMN_LOG_PARSE(ticker, 3, ',') AS n,
                           FIXED_COLUMN_LOG_PARSE(ticker, 'sym TYPE VARCHAR(4) START 0 FOR 4, qty TYPE INTEGER START 5 FOR 2') AS f
                    FROM "SOURCE_SQL_STREAM_001") AS t;
            """)
        try f.load(#"INSERT INTO out SELECT * FROM "DEST";"#)
        try f.put("SOURCE_SQL_STREAM_001", #"{"TICKER":"AMZN,12,extra","PRICE":1}"#)
        f.clock.advance(by: 100)
        while try f.engine.step() {}
        try f.engine.finish()
        let rows = try f.lines("out.jsonl").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        #expect(rows.first?.serialized() == #"{"SYM":"AMZN","QTY":12,"THIRD":"extra","FSYM":"AMZN","FQTY":12}"#, "\(rows)")
    }

    /// KDA's TABLE(RANDOM_CUT_FOREST(CURSOR(...), trees, sample, timeDecay, shingle)): every numeric
    /// column of the cursor, AWS's depth score (about 1 for ordinary rows), KDA's output columns,
    /// filled into the stream by position; the explanation form adds ANOMALY_EXPLANATION only.
    @Test func aCursorForestScoresOnKDAsScale() throws {
        let f = try Self.fixture("""
            CREATE OR REPLACE STREAM "DEST" (ticker VARCHAR(4), price DOUBLE, anomaly_score DOUBLE);
            CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
              SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 50, 64, 100000, 1));
            CREATE OR REPLACE STREAM "EXPLAINED" (ticker VARCHAR(4), price DOUBLE, anomaly_score DOUBLE, anomaly_explanation VARCHAR(512));
            CREATE OR REPLACE PUMP "Q" AS INSERT INTO "EXPLAINED"
              SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM ticker, price FROM "SOURCE_SQL_STREAM_001"), 50, 64, 100000, 1, true));
            """)
        try f.load(#"INSERT INTO out SELECT * FROM "DEST"; CREATE SINK ex WITH (type = 'file', path = '$DIR/ex.jsonl'); INSERT INTO ex SELECT * FROM "EXPLAINED";"#)
        var rng = SplitMix64(seed: 3)
        for i in 0..<300 {
            let price = i == 250 ? 60.0 : 10 + Double(rng.below(100)) / 50
            try f.put("SOURCE_SQL_STREAM_001", #"{"TICKER":"AMZN","PRICE":\#(price)}"#)
            if i % 25 == 0 { f.clock.advance(by: 10); while try f.engine.step() {} }
        }
        f.clock.advance(by: 10)
        while try f.engine.step() {}
        try f.engine.finish()
        let rows = try f.lines("out.jsonl").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        #expect(rows.count == 300, "\(rows.count)")
        let scores = rows.compactMap { $0["ANOMALY_SCORE"]?.doubleValue }
        let outlier = rows.first { $0["PRICE"] == .double(60) }?["ANOMALY_SCORE"]?.doubleValue ?? 0
        let ordinary = scores.suffix(40).filter { $0 < outlier }
        let mean = ordinary.reduce(0, +) / Double(max(1, ordinary.count))
        #expect(mean > 0.4 && mean < 1.5 && outlier > 3, "ordinary \(mean), outlier \(outlier)")
        #expect(outlier <= log2(65.0) + 1e-9, "the depth score is at most log2(1 + sample size)")
        let explained = try f.lines("ex.jsonl").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        let last = try #require(explained.last)
        #expect(last.objectValue?.keys == ["TICKER", "PRICE", "ANOMALY_SCORE", "ANOMALY_EXPLANATION"])
        let json = try JSONValue.parse(bytes: Array((last["ANOMALY_EXPLANATION"]?.stringValue ?? "").utf8))
        #expect(json["PRICE"]?["ATTRIBUTION_SCORE"] != nil, "\(json)")
    }

    /// A named WINDOW (defined after the clauses that use it), ordered by ROWTIME when it says no ORDER BY.
    @Test func namedWindowsAreTheirDefinitions() throws {
        let f = try Self.fixture("""
            CREATE OR REPLACE STREAM "AVGS" (ticker VARCHAR(4), avg_price DOUBLE, top DOUBLE);
            CREATE OR REPLACE PUMP "W" AS INSERT INTO "AVGS"
              SELECT STREAM ticker, AVG(price) OVER w1, MAX(price) OVER w1 FROM "SOURCE_SQL_STREAM_001"
              WINDOW w1 AS (PARTITION BY ticker ROWS 2 PRECEDING);
            """)
        try f.load(#"INSERT INTO out SELECT * FROM "AVGS";"#)
        for (k, p) in [1.0, 2, 3, 4].enumerated() {
            f.clock.advance(by: 1000)
            try f.put("SOURCE_SQL_STREAM_001", #"{"TICKER":"\#(k == 2 ? "MSFT" : "AMZN")","PRICE":\#(p)}"#)
            while try f.engine.step() {}
        }
        try f.engine.finish()
        let rows = try f.lines("out.jsonl").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        let amzn = rows.filter { $0["TICKER"] == "AMZN" }
        #expect(amzn.map { $0["AVG_PRICE"] } == [.double(1), .double(1.5), .double(7.0 / 3)], "\(rows)")
        #expect(amzn.map { $0["TOP"] } == [.double(1), .double(2), .double(4)])
        // An unknown window name is refused where it is used.
        let bad = Parser.parse(#"SELECT STREAM AVG(price) OVER w9 FROM s WINDOW w1 AS (ROWS 2 PRECEDING);"#, dialect: .kda)
        #expect(bad.diagnostics.contains { $0.message.contains("no WINDOW named W9") }, "\(bad.diagnostics)")
    }
}
