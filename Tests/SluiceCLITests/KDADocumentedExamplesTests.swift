import Foundation
import SluiceCore
import Testing
@testable import SluiceCLI

/// The examples of the Kinesis Data Analytics SQL documentation whose outputs it gives in text,
/// run through `sluice run APP.json` with each record's ROWTIME from its `rt` field (so the
/// documented arrival times are replayed exactly). Inputs and outputs are the documentation's;
/// the application code is written from its description.
@Suite("KDA documented examples")
struct KDADocumentedExamplesTests {
    /// Runs `code` over one JSON input (the columns given as name, type, JSON path), with ROWTIME
    /// from each record's `rt`, and returns the rows of DESTINATION_SQL_STREAM.
    static func run(_ code: String, columns: [(String, String)], records: [String]) throws -> [JSONValue] {
        let cols = columns.map { #"{"Name": "\#($0.0)", "Mapping": "$.\#($0.0)", "SqlType": "\#($0.1)"}"# }.joined(separator: ", ")
        let app = """
            {"ApplicationName": "example", "ApplicationCode": \(JSONValue.string(code).serialized()),
             "Inputs": [{"NamePrefix": "SOURCE_SQL_STREAM", "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON"}, "RecordColumns": [\(cols)]}}]}
            """
        let dir = TempDir()
        try app.write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        try (records.joined(separator: "\n") + "\n").write(toFile: dir.path + "/in.jsonl", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "app.json", "--input", "SOURCE_SQL_STREAM=in.jsonl", "--arrival-field", "rt",
                             "--output", "DESTINATION_SQL_STREAM=out.jsonl", "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        return try String(contentsOfFile: dir.path + "/out.jsonl", encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(bytes: Array($0.utf8)) }
    }

    static func text(_ rows: [JSONValue], _ columns: [String]) -> [String] {
        rows.map { r in columns.map { c in r[c].map { v in v.stringValue ?? v.serialized() } ?? "?" }.joined(separator: " ") }
    }

    /// Developer Guide, "Stagger Windows": (ROWTIME, EVENT_TIME, TICKER) rows (11:00:20, 11:00:10),
    /// (11:00:30, 11:00:20), (11:01:05, 11:00:55), (11:01:15, 11:01:05), all AMZN, give (11:01:20,
    /// 11:00:00, 3) and (11:02:15, 11:01:00, 1); the tumbling version on the same page gives
    /// (11:01:00, 11:00:00, 2), (11:02:00, 11:00:00, 1), (11:02:00, 11:01:00, 1).
    static let staggerInput = [("11:00:20", "11:00:10"), ("11:00:30", "11:00:20"), ("11:01:05", "11:00:55"), ("11:01:15", "11:01:05")].map {
        #"{"rt": "2018-08-01T\#($0.0)Z", "EVENT_TIME": "2018-08-01T\#($0.1)Z", "TICKER_SYMBOL": "AMZN"}"#
    }
    static let staggerColumns = [("EVENT_TIME", "TIMESTAMP"), ("TICKER_SYMBOL", "VARCHAR(4)")]

    /// The page's count per ticker and minute of event time, grouped as `grouping` says.
    static func staggerExample(_ grouping: String) throws -> [String] {
        let rows = try run("""
            CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), event_time TIMESTAMP, ticker_count DOUBLE);
            CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
              SELECT STREAM TICKER_SYMBOL, FLOOR(EVENT_TIME TO MINUTE), COUNT(TICKER_SYMBOL) AS ticker_count
              FROM "SOURCE_SQL_STREAM_001"
              \(grouping);
            """, columns: staggerColumns, records: staggerInput)
        return text(rows, ["ROWTIME", "EVENT_TIME", "TICKER_SYMBOL", "TICKER_COUNT"])
    }

    @Test func staggerWindowsOpenPerKeyAtTheirFirstRow() throws {
        #expect(try Self.staggerExample("WINDOWED BY STAGGER (PARTITION BY FLOOR(EVENT_TIME TO MINUTE), TICKER_SYMBOL RANGE INTERVAL '1' MINUTE)") == [
            "2018-08-01T11:01:20.000Z 2018-08-01T11:00:00.000Z AMZN 3.0",
            "2018-08-01T11:02:15.000Z 2018-08-01T11:01:00.000Z AMZN 1.0",
        ])
    }

    @Test func theTumblingVersionOfTheStaggerExample() throws {
        #expect(try Self.staggerExample(#"GROUP BY ticker_symbol, FLOOR(EVENT_TIME TO MINUTE), STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE)"#).sorted() == [
            "2018-08-01T11:01:00.000Z 2018-08-01T11:00:00.000Z AMZN 2.0",
            "2018-08-01T11:02:00.000Z 2018-08-01T11:00:00.000Z AMZN 1.0",
            "2018-08-01T11:02:00.000Z 2018-08-01T11:01:00.000Z AMZN 1.0",
        ])
    }

    /// SQL Reference, "Aggregate Functions": WEATHERSTREAM grouped by FLOOR(ROWTIME TO DAY) gives
    /// (11-01, 2, 71) and (11-02, 2, 56); (11-03, 1, 36) comes when time passes 11-04 (here, at the
    /// end of the replay). With CITY as a key too, SUM / COUNT is an integer average per city.
    static let weather = [
        ("2018-11-01T01:00", "Denver", 29), ("2018-11-01T01:00", "Anchorage", 2), ("2018-11-01T06:00", "Miami", 65),
        ("2018-11-01T07:00", "Denver", 32), ("2018-11-01T09:00", "Anchorage", 9), ("2018-11-01T13:00", "Denver", 50),
        ("2018-11-01T17:00", "Anchorage", 10), ("2018-11-01T18:00", "Miami", 71), ("2018-11-01T19:00", "Denver", 43),
        ("2018-11-02T01:00", "Anchorage", 4), ("2018-11-02T01:00", "Denver", 39), ("2018-11-02T07:00", "Denver", 46),
        ("2018-11-02T09:00", "Anchorage", 3), ("2018-11-02T13:00", "Denver", 56), ("2018-11-02T17:00", "Anchorage", 2),
        ("2018-11-02T19:00", "Denver", 50), ("2018-11-03T01:00", "Denver", 36), ("2018-11-03T01:00", "Anchorage", 1),
    ].map { #"{"rt": "\#($0.0):00Z", "CITY": "\#($0.1)", "TEMP": \#($0.2)}"# }

    @Test func dailyMinimumAndMaximumTemperatures() throws {
        let columns = [("CITY", "VARCHAR(20)"), ("TEMP", "INTEGER")]
        let rows = try Self.run("""
            CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (floor_day TIMESTAMP, min_temp INTEGER, max_temp INTEGER);
            CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
              SELECT STREAM FLOOR(WEATHERSTREAM.ROWTIME TO DAY) AS FLOOR_DAY, MIN(TEMP), MAX(TEMP)
              FROM "SOURCE_SQL_STREAM_001" AS WEATHERSTREAM
              GROUP BY FLOOR(WEATHERSTREAM.ROWTIME TO DAY);
            """, columns: columns, records: Self.weather)
        #expect(Self.text(rows, ["FLOOR_DAY", "MIN_TEMP", "MAX_TEMP"]) == [
            "2018-11-01T00:00:00.000Z 2 71", "2018-11-02T00:00:00.000Z 2 56", "2018-11-03T00:00:00.000Z 1 36",
        ], "\(rows)")
        let perCity = try Self.run("""
            CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (floor_day TIMESTAMP, city VARCHAR(20), min_temp INTEGER, max_temp INTEGER, avg_temp INTEGER);
            CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
              SELECT STREAM FLOOR(WEATHERSTREAM.ROWTIME TO DAY) AS FLOOR_DAY, CITY, MIN(TEMP), MAX(TEMP), SUM(TEMP) / COUNT(TEMP)
              FROM "SOURCE_SQL_STREAM_001" AS WEATHERSTREAM
              GROUP BY FLOOR(WEATHERSTREAM.ROWTIME TO DAY), CITY;
            """, columns: columns, records: Self.weather)
        #expect(Array(Self.text(perCity, ["FLOOR_DAY", "CITY", "MIN_TEMP", "MAX_TEMP", "AVG_TEMP"]).sorted().prefix(5)) == [
            "2018-11-01T00:00:00.000Z Anchorage 2 10 7", "2018-11-01T00:00:00.000Z Denver 29 50 38", "2018-11-01T00:00:00.000Z Miami 65 71 68",
            "2018-11-02T00:00:00.000Z Anchorage 2 4 3", "2018-11-02T00:00:00.000Z Denver 39 56 47",
        ], "\(perCity)")
    }

    /// SQL Reference, "JOIN clause": ORDERS (10:00:00 101, 10:00:20 102, 10:00:30 103, 10:00:40 104,
    /// 10:00:45 100) and SHIPMENTS (10:00:00 100, 10:00:45 104, 10:00:50 105) joined on the order id
    /// with a one-minute window on orders, on both sides, and as a LEFT JOIN: a matched row has the
    /// later of its two ROWTIMEs, an order that met nothing leaves when its window has passed.
    static func joined(_ from: String) throws -> [String] {
        let code = """
            CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (orderid INTEGER, shipment_time TIMESTAMP, order_time TIMESTAMP);
            CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
              SELECT STREAM o.orderid, s.ROWTIME, o.ROWTIME FROM \(from);
            """
        let input = { (prefix: String) in
            #"{"NamePrefix": "\#(prefix)", "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON"}, "RecordColumns": [{"Name": "ORDERID", "Mapping": "$.orderid", "SqlType": "INTEGER"}]}}"#
        }
        let app = #"{"ApplicationName": "joins", "ApplicationCode": \#(JSONValue.string(code).serialized()), "Inputs": [\#(input("ORDERS")), \#(input("SHIPMENTS"))]}"#
        let dir = TempDir()
        try app.write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        func records(_ rows: [(String, Int)]) -> String { rows.map { #"{"rt": "2018-11-01T\#($0.0)Z", "orderid": \#($0.1)}"# }.joined(separator: "\n") + "\n" }
        try records([("10:00:00", 101), ("10:00:20", 102), ("10:00:30", 103), ("10:00:40", 104), ("10:00:45", 100)]).write(toFile: dir.path + "/orders.jsonl", atomically: true, encoding: .utf8)
        try records([("10:00:00", 100), ("10:00:45", 104), ("10:00:50", 105)]).write(toFile: dir.path + "/shipments.jsonl", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "app.json", "--input", "ORDERS=orders.jsonl", "--input", "SHIPMENTS=shipments.jsonl", "--arrival-field", "rt",
                             "--output", "DESTINATION_SQL_STREAM=out.jsonl", "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try String(contentsOfFile: dir.path + "/out.jsonl", encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        func t(_ v: JSONValue?) -> String { v?.stringValue.map { String($0.dropFirst(11).prefix(8)) } ?? "null" }
        return rows.map { "\(t($0["ROWTIME"])) \($0["ORDERID"]?.int64Value ?? -1) \(t($0["SHIPMENT_TIME"])) \(t($0["ORDER_TIME"]))" }.sorted()
    }

    @Test func windowedJoinsMatchTheReference() throws {
        #expect(try Self.joined(#""ORDERS_001" OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS o JOIN "SHIPMENTS_001" AS s ON o.orderid = s.orderid"#)
                == ["10:00:45 104 10:00:45 10:00:40"])
        #expect(try Self.joined(#""ORDERS_001" OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS o JOIN "SHIPMENTS_001" OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS s ON o.orderid = s.orderid"#)
                == ["10:00:45 100 10:00:00 10:00:45", "10:00:45 104 10:00:45 10:00:40"])
        // The reference's table also lists order 104 a second time, unmatched, at 10:01:40, after
        // it matched: Sluice emits an order without a match only when it met none (grammar/kda.md).
        #expect(try Self.joined(#""ORDERS_001" OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS o LEFT JOIN "SHIPMENTS_001" AS s ON o.orderid = s.orderid"#)
                == ["10:00:45 104 10:00:45 10:00:40", "10:01:00 101 null 10:00:00", "10:01:20 102 null 10:00:20", "10:01:30 103 null 10:00:30", "10:01:45 100 null 10:00:45"])
    }
}
