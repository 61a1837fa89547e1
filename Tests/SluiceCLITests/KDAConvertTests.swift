import Foundation
import SluiceCore
import Testing
@testable import SluiceCLI

/// `sluice kda convert APP.json`: the application in Sluice's own SQL, which runs and gives the
/// same rows (ROWTIME included) as the application itself.
@Suite("sluice kda convert")
struct KDAConvertTests {
    static let code = """
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), event_time TIMESTAMP, ticker_count DOUBLE);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
          SELECT STREAM TICKER_SYMBOL, FLOOR(EVENT_TIME TO MINUTE), COUNT(TICKER_SYMBOL) AS ticker_count
          FROM "SOURCE_SQL_STREAM_001"
          WINDOWED BY STAGGER (PARTITION BY FLOOR(EVENT_TIME TO MINUTE), TICKER_SYMBOL RANGE INTERVAL '1' MINUTE);
        CREATE OR REPLACE STREAM "TUMBLES" (ticker_symbol VARCHAR(4), minute_start TIMESTAMP, n INTEGER, avg_price DOUBLE);
        CREATE OR REPLACE PUMP "T" AS INSERT INTO "TUMBLES"
          SELECT STREAM ticker_symbol, STEP(s.ROWTIME BY INTERVAL '1' MINUTE), COUNT(*), AVG(price) FROM "SOURCE_SQL_STREAM_001" AS s
          GROUP BY ticker_symbol, STEP(s.ROWTIME BY INTERVAL '1' MINUTE);
        CREATE OR REPLACE STREAM "SCORED" (ticker_symbol VARCHAR(4), price DOUBLE, anomaly_score DOUBLE);
        CREATE OR REPLACE PUMP "R" AS INSERT INTO "SCORED"
          SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM ticker_symbol, price FROM "SOURCE_SQL_STREAM_001"), 20, 16, 100000, 1));
        CREATE OR REPLACE STREAM "MOVING" (ticker_symbol VARCHAR(4), whole_price INTEGER, avg3 DOUBLE, note VARCHAR(8), label VARCHAR(16));
        CREATE OR REPLACE PUMP "M" AS INSERT INTO "MOVING" (ticker_symbol, whole_price, avg3, label)
          SELECT STREAM ticker_symbol, price, AVG(price) OVER w, INITCAP(LOWER(ticker_symbol)) || '-' || TIMESTAMP_TO_CHAR('HH:mm', ROWTIME)
          FROM "SOURCE_SQL_STREAM_001" WHERE price > 10.5
          WINDOW w AS (PARTITION BY ticker_symbol ROWS 2 PRECEDING);
        """
    static let streams = ["DESTINATION_SQL_STREAM", "TUMBLES", "SCORED", "MOVING"]

    @Test func theConvertedApplicationGivesTheSameRows() throws {
        let dir = TempDir()
        let app = """
            {"ApplicationName": "conv", "ApplicationCode": \(JSONValue.string(Self.code).serialized()),
             "Inputs": [{"NamePrefix": "SOURCE_SQL_STREAM", "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON"}, "RecordColumns": [
               {"Name": "EVENT_TIME", "Mapping": "$.EVENT_TIME", "SqlType": "TIMESTAMP"}, {"Name": "TICKER_SYMBOL", "Mapping": "$.TICKER_SYMBOL", "SqlType": "VARCHAR(4)"},
               {"Name": "PRICE", "Mapping": "$.PRICE", "SqlType": "DOUBLE"}]}}],
             "Outputs": [{"Name": "TUMBLES", "KinesisStreamsOutput": {"ResourceARN": "arn:aws:kinesis:us-east-1:1:stream/tumbles", "RoleARN": "r"},
               "DestinationSchema": {"RecordFormatType": "JSON"}}]}
            """
        try app.write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        var rng = SplitMix64(seed: 11)
        var t = 0, lines: [String] = []
        for i in 0..<200 {
            t += 1 + Int(rng.below(4))
            func at(_ s: Int) -> String { String(format: "2024-05-01T10:%02d:%02dZ", s / 60, s % 60) }
            let price = i == 150 ? 90.0 : 10 + Double(rng.below(200)) / 100
            lines.append(#"{"rt": "\#(at(t))", "EVENT_TIME": "\#(at(max(0, t - 3)))", "TICKER_SYMBOL": "\#(["AMZN", "MSFT", "XOM"][Int(rng.below(3))])", "PRICE": \#(price)}"#)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir.path + "/in.jsonl", atomically: true, encoding: .utf8)

        let converted = try CLI.run(["kda", "convert", "app.json"], cwd: dir.path)
        #expect(converted.status == 0, "\(converted.stderr)")
        let sql = converted.stdout
        // Sluice's own forms, none of KDA's.
        for form in ["FROM STAGGER(", "FROM TUMBLE(", "COLUMNS (\"PRICE\")", "score => 'depth'", "AS \"ROWTIME\"", "CAST(PRICE AS BIGINT) AS \"WHOLE_PRICE\""] {
            #expect(sql.contains(form), "\(form) in:\n\(sql)")
        }
        for kda in ["PUMP", "SELECT STREAM", "STEP(", "WINDOWED BY", "CURSOR("] { #expect(!sql.contains(kda), "\(kda) in:\n\(sql)") }
        var sinks = ""
        for (k, s) in Self.streams.enumerated() {
            sinks += "CREATE SINK o\(k) WITH (type = 'file', path = 'b\(k).jsonl');\nINSERT INTO o\(k) SELECT ROWTIME, * FROM \"\(s)\";\n"
        }
        try (sql + sinks).write(toFile: dir.path + "/conv.sql", atomically: true, encoding: .utf8)

        let original = try CLI.run(["run", "app.json", "--input", "SOURCE_SQL_STREAM=in.jsonl", "--arrival-field", "rt", "--until-end"]
                                   + Self.streams.enumerated().flatMap { ["--output", "\($1)=a\($0).jsonl"] }, cwd: dir.path)
        #expect(original.status == 0, "\(original.stderr)")
        let rerun = try CLI.run(["run", "conv.sql", "--input", "SOURCE_SQL_STREAM_001=in.jsonl", "--arrival-field", "rt", "--until-end"], cwd: dir.path)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        for k in Self.streams.indices {
            let a = try String(contentsOfFile: dir.path + "/a\(k).jsonl", encoding: .utf8)
            let b = try String(contentsOfFile: dir.path + "/b\(k).jsonl", encoding: .utf8)
            #expect(!a.isEmpty && a == b, "\(Self.streams[k]):\n\(a.prefix(400))\nvs\n\(b.prefix(400))")
        }
    }

    @Test func aBadCommandLineIsRefused() throws {
        let r = try CLI.run(["kda", "translate", "app.json"])
        #expect(r.status == 2 && r.stderr.contains("unknown kda subcommand 'translate'"), "\(r.stderr)")
    }
}
