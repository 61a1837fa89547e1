import Foundation
import SluiceCore
import Testing
@testable import SluiceCLI

/// `sluice run APP.json`: a Kinesis Data Analytics application runs as it is described.
@Suite("sluice run APP.json")
struct KDARunTests {
    /// A CreateApplication request: one JSON input, a pump that filters and converts into
    /// DESTINATION_SQL_STREAM (columns by position), a Kinesis stream output.
    static func app(output: String = #""KinesisStreamsOutput": {"ResourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/tech-changes", "RoleARN": "r"}"#,
                    mapping: String = "$.PRICE") -> String {
        let code = """
            CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), change_pct DOUBLE, price INTEGER);
            CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
              SELECT STREAM ticker_symbol, change / price * 100, price FROM "SOURCE_SQL_STREAM_001" WHERE sector = 'TECHNOLOGY';
            """
        return """
            {"ApplicationName": "tickers", "ApplicationCode": \(JSONValue.string(code).serialized()),
             "Inputs": [{"NamePrefix": "SOURCE_SQL_STREAM",
               "KinesisStreamsInput": {"ResourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/stock-ticker", "RoleARN": "r"},
               "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON", "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
                 "RecordColumns": [{"Name": "TICKER_SYMBOL", "Mapping": "$.TICKER_SYMBOL", "SqlType": "VARCHAR(4)"},
                                   {"Name": "SECTOR", "Mapping": "$.SECTOR", "SqlType": "VARCHAR(16)"},
                                   {"Name": "CHANGE", "Mapping": "$.quote.CHANGE", "SqlType": "REAL"},
                                   {"Name": "PRICE", "Mapping": "\(mapping)", "SqlType": "REAL"}]}}],
             "Outputs": [{"Name": "DESTINATION_SQL_STREAM", "DestinationSchema": {"RecordFormatType": "JSON"}, \(output)}]}
            """
    }

    static let records = """
        {"TICKER_SYMBOL": "AMZN", "SECTOR": "TECHNOLOGY", "quote": {"CHANGE": 2.5}, "PRICE": 50.0}
        {"TICKER_SYMBOL": "XOM", "SECTOR": "ENERGY", "quote": {"CHANGE": -1.0}, "PRICE": 80.0}
        {"TICKER_SYMBOL": "MSFT", "SECTOR": "TECHNOLOGY", "quote": {"CHANGE": -3.0}, "PRICE": 120.0}

        """

    @Test func anApplicationRunsFromItsDescription() throws {
        let dir = TempDir()
        try Self.app().write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        try Self.records.write(toFile: dir.path + "/in.jsonl", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "app.json", "--input", "SOURCE_SQL_STREAM=in.jsonl", "--output", "DESTINATION_SQL_STREAM=out.jsonl",
                             "--data-dir", "data", "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("PUMP STREAM_PUMP") && r.stderr.contains("CREATE STREAM tech-changes"), "\(r.stderr)")
        let rows = try String(contentsOfFile: dir.path + "/out.jsonl", encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        #expect(rows.count == 2)
        #expect(rows.map { $0["TICKER_SYMBOL"] } == ["AMZN", "MSFT"])
        #expect(rows.map { $0["CHANGE_PCT"] } == [.double(5), .double(-2.5)] && rows.map { $0["PRICE"] } == [.int(50), .int(120)])
        #expect(rows.allSatisfy { $0["ROWTIME"]?.stringValue.flatMap(TimeFormat.parseISO8601) != nil }, "each row with its ROWTIME")
        // The Kinesis stream output is a stream of the store holding the same rows.
        let read = try CLI.run(["stream", "get", "tech-changes", "--shard-id", "shardId-000000000000", "--iterator-type", "TRIM_HORIZON", "--data-dir", "data"], cwd: dir.path)
        let stored = try read.stdout.split(separator: "\n").map { line -> String in
            let data = try JSONValue.parse(bytes: Array(line.utf8))["Data"]?.stringValue ?? ""
            return String(decoding: Data(base64Encoded: data) ?? Data(), as: UTF8.self)
        }
        #expect(stored.count == 2 && stored[0].contains("AMZN") && stored[1].contains("MSFT"), "\(stored) \(read.stderr)")
    }

    /// The describe-application form with a CSV input (columns by position, ';' between them),
    /// two in-application streams from InputParallelism, and a STEP aggregate.
    @Test func aDescribedApplicationWithACSVInputRuns() throws {
        let code = """
            CREATE OR REPLACE STREAM "TOTALS" (sensor VARCHAR(8), readings INTEGER, total DOUBLE);
            CREATE OR REPLACE PUMP "SUM_PUMP" AS INSERT INTO "TOTALS"
              SELECT STREAM sensor, COUNT(*), SUM(reading) FROM "READINGS_001"
              GROUP BY sensor, STEP("READINGS_001".ROWTIME BY INTERVAL '1' HOUR);
            """
        let app = """
            {"ApplicationDetail": {"ApplicationName": "sensors", "ApplicationCode": \(JSONValue.string(code).serialized()),
              "InputDescriptions": [{"NamePrefix": "READINGS", "InAppStreamNames": ["READINGS_001", "READINGS_002"], "InputParallelism": {"Count": 2},
                "InputSchema": {"RecordFormat": {"RecordFormatType": "CSV", "MappingParameters": {"CSVMappingParameters": {"RecordRowDelimiter": "\\n", "RecordColumnDelimiter": ";"}}},
                  "RecordEncoding": "UTF-8", "RecordColumns": [{"Name": "SENSOR", "SqlType": "VARCHAR(8)"}, {"Name": "READING", "SqlType": "DOUBLE"}]}}],
              "OutputDescriptions": [], "ReferenceDataSourceDescriptions": []}}
            """
        let dir = TempDir()
        try app.write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        try "s1;1.5\ns2;4\ns1;2.5\n".write(toFile: dir.path + "/in.csv", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "app.json", "--input", "READINGS_001=in.csv", "--output", "TOTALS=out.jsonl", "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try String(contentsOfFile: dir.path + "/out.jsonl", encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        let s1 = rows.first { $0["SENSOR"] == "s1" }
        #expect(rows.count == 2 && s1?["READINGS"] == .int(2) && s1?["TOTAL"] == .double(4), "\(rows)")
    }

    @Test(arguments: [
        (app(output: #""LambdaOutput": {"ResourceARN": "arn:aws:lambda:us-east-1:1:function:notify", "RoleARN": "r"}"#), ["--input", "SOURCE_SQL_STREAM=in.jsonl"],
         "goes to the Lambda function notify"),
        (app(mapping: "$.prices[0]"), ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "Inputs[0].InputSchema.RecordColumns[3].Mapping: the JSONPath '$.prices[0]' cannot be mapped"),
        (app(), ["--input", "TRADES=in.jsonl"], "the application's inputs make SOURCE_SQL_STREAM_001"),
        (#"{"ApplicationName": "a", "Inputs": [{"NamePrefix": "S"}]}"#, [String](), "Inputs[0]: InputSchema is missing"),
        (#"{"ApplicationName": "a", "ApplicationCode": "CREATE PUMP p AS INSERT INTO nowhere SELECT STREAM 1 FROM x;"}"#, [String](), "unknown"),
    ])
    func badApplicationsAreRefusedWithAReason(_ app: String, _ args: [String], _ message: String) throws {
        let dir = TempDir()
        try app.write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        try Self.records.write(toFile: dir.path + "/in.jsonl", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "app.json", "--data-dir", "data", "--until-end"] + args, cwd: dir.path)
        #expect(r.status != 0)
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }
}
