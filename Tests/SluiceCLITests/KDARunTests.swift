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

    /// The tickers application with other code.
    static func withCode(_ code: String) -> String {
        let original = app()
        let start = original.range(of: #""ApplicationCode": "#)!.upperBound, end = original.range(of: ",\n \"Inputs\"")!.lowerBound
        return original.replacingCharacters(in: start..<end, with: JSONValue.string(code).serialized())
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

    /// A CSV input whose RecordRowDelimiter is not a newline: each record (a line of the file)
    /// holds several rows between delimiters, each a row of the in-application stream.
    @Test func csvRowsPartAtTheirRowDelimiter() throws {
        let code = """
            CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (sensor VARCHAR(8), reading DOUBLE);
            CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM" SELECT STREAM sensor, reading * 2 FROM "READINGS_001";
            """
        let app = """
            {"ApplicationName": "sensors", "ApplicationCode": \(JSONValue.string(code).serialized()),
              "Inputs": [{"NamePrefix": "READINGS",
                "InputSchema": {"RecordFormat": {"RecordFormatType": "CSV", "MappingParameters": {"CSVMappingParameters": {"RecordRowDelimiter": "|", "RecordColumnDelimiter": ";"}}},
                  "RecordEncoding": "UTF-8", "RecordColumns": [{"Name": "SENSOR", "SqlType": "VARCHAR(8)"}, {"Name": "READING", "SqlType": "DOUBLE"}]}}]}
            """
        let dir = TempDir()
        try app.write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        try "s1;1.5|s2;4|\ns3;2.5\ns4;x|s5;1\n".write(toFile: dir.path + "/in.csv", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "app.json", "--input", "READINGS=in.csv", "--output", "DESTINATION_SQL_STREAM=out.jsonl", "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try Self.rows(dir.path + "/out.jsonl").map { "\($0["SENSOR"]?.stringValue ?? "?") \($0["READING"]?.doubleValue ?? -1)" }
        // s4's reading is no number: that row is bad (the error stream has it), the rest of its record goes on.
        #expect(rows == ["s1 3.0", "s2 8.0", "s3 5.0", "s5 2.0"], "\(rows)")
    }

    /// A KDA application with the given code over one JSON input of TICKER, PRICE and two times.
    static func timedApp(_ code: String) -> String {
        """
        {"ApplicationName": "timed", "ApplicationCode": \(JSONValue.string(code).serialized()),
         "Inputs": [{"NamePrefix": "SOURCE_SQL_STREAM",
           "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON", "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
             "RecordColumns": [{"Name": "TICKER", "Mapping": "$.ticker", "SqlType": "VARCHAR(4)"}, {"Name": "PRICE", "Mapping": "$.price", "SqlType": "DOUBLE"}]}}]}
        """
    }

    static let timedRecords = """
        {"ticker": "A", "price": 1, "ts": "2025-03-01T10:00:01Z", "sent": "2025-03-01T10:00:00.500Z"}
        {"ticker": "B", "price": 2, "ts": "2025-03-01T10:00:04Z", "sent": "2025-03-01T10:00:03Z"}
        {"ticker": "A", "price": 3, "ts": "2025-03-01T10:00:12Z", "sent": "2025-03-01T10:00:11Z"}
        {"ticker": "A", "price": 4, "ts": 1740823235000, "sent": "2025-03-01T10:00:34Z"}

        """

    static func rows(_ path: String) throws -> [JSONValue] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(bytes: Array($0.utf8)) }
    }

    /// With --arrival-field each record's ROWTIME is its recorded time (ISO-8601 or epoch ms), so a
    /// replay is deterministic: a STEP group's row carries the ROWTIME at which it closed (the end
    /// of its interval, also for the last groups, which the end of the input closes), a second
    /// pump copies the ROWTIME of the rows it reads, and APPROXIMATE_ARRIVAL_TIME is ROWTIME.
    @Test func rowtimeComesFromTheRecordsAndFlowsThroughPumps() throws {
        let code = """
            CREATE OR REPLACE STREAM "PER_10S" (ticker VARCHAR(4), window_start TIMESTAMP, n INTEGER, total DOUBLE);
            CREATE OR REPLACE PUMP "AGG" AS INSERT INTO "PER_10S"
              SELECT STREAM ticker, STEP(s.ROWTIME BY INTERVAL '10' SECOND), COUNT(*), SUM(price) FROM "SOURCE_SQL_STREAM_001" AS s
              GROUP BY ticker, STEP(s.ROWTIME BY INTERVAL '10' SECOND);
            CREATE OR REPLACE STREAM "BIG" (ticker VARCHAR(4), total DOUBLE);
            CREATE OR REPLACE PUMP "COPY" AS INSERT INTO "BIG" SELECT STREAM ticker, total FROM "PER_10S" WHERE total > 2;
            CREATE OR REPLACE STREAM "ARRIVALS" (ticker VARCHAR(4), arrived TIMESTAMP);
            CREATE OR REPLACE PUMP "ARR" AS INSERT INTO "ARRIVALS" SELECT STREAM ticker, APPROXIMATE_ARRIVAL_TIME FROM "SOURCE_SQL_STREAM_001";
            """
        let dir = TempDir()
        try Self.timedApp(code).write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        try Self.timedRecords.write(toFile: dir.path + "/in.jsonl", atomically: true, encoding: .utf8)
        for run in 1...2 {
            let r = try CLI.run(["run", "app.json", "--input", "SOURCE_SQL_STREAM=in.jsonl", "--arrival-field", "ts", "--output", "PER_10S=agg\(run).jsonl",
                                 "--output", "BIG=big\(run).jsonl", "--output", "ARRIVALS=arr\(run).jsonl", "--until-end"], cwd: dir.path)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let agg = try Self.rows(dir.path + "/agg1.jsonl")
        let summary = agg.map { "\($0["ROWTIME"]?.stringValue ?? "?") \($0["TICKER"]?.stringValue ?? "?") \($0["N"]?.int64Value ?? -1)" }.sorted()
        #expect(summary == ["2025-03-01T10:00:10.000Z A 1", "2025-03-01T10:00:10.000Z B 1", "2025-03-01T10:00:20.000Z A 1", "2025-03-01T10:00:40.000Z A 1"], "\(agg)")
        let big = try Self.rows(dir.path + "/big1.jsonl")
        #expect(big.map { "\($0["ROWTIME"]?.stringValue ?? "?") \($0["TOTAL"]?.doubleValue ?? 0)" } == ["2025-03-01T10:00:20.000Z 3.0", "2025-03-01T10:00:40.000Z 4.0"], "\(big)")
        let arrivals = try Self.rows(dir.path + "/arr1.jsonl")
        #expect(arrivals.map { $0["ARRIVED"] } == arrivals.map { $0["ROWTIME"] } && arrivals.count == 4, "\(arrivals)")
        #expect(arrivals.first?["ROWTIME"] == "2025-03-01T10:00:01.000Z" && arrivals.last?["ROWTIME"] == "2025-03-01T10:00:35.000Z", "\(arrivals)")
        // The same replay gives the same rows.
        for name in ["agg", "big", "arr"] {
            #expect(try String(contentsOfFile: dir.path + "/\(name)1.jsonl", encoding: .utf8) == String(contentsOfFile: dir.path + "/\(name)2.jsonl", encoding: .utf8))
        }
    }

    /// --approximate-arrival-field gives APPROXIMATE_ARRIVAL_TIME apart from ROWTIME.
    @Test func approximateArrivalTimeCanDifferFromRowtime() throws {
        let code = """
            CREATE OR REPLACE STREAM "ARRIVALS" (ticker VARCHAR(4), arrived TIMESTAMP, lag_ms BIGINT);
            CREATE OR REPLACE PUMP "ARR" AS INSERT INTO "ARRIVALS"
              SELECT STREAM ticker, APPROXIMATE_ARRIVAL_TIME, TSDIFF(ROWTIME, APPROXIMATE_ARRIVAL_TIME) FROM "SOURCE_SQL_STREAM_001";
            """
        let dir = TempDir()
        try Self.timedApp(code).write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        try Self.timedRecords.write(toFile: dir.path + "/in.jsonl", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "app.json", "--input", "SOURCE_SQL_STREAM=in.jsonl", "--arrival-field", "ts", "--approximate-arrival-field", "sent",
                             "--output", "ARRIVALS=arr.jsonl", "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try Self.rows(dir.path + "/arr.jsonl")
        #expect(rows.map { $0["ARRIVED"]?.stringValue ?? "?" } == ["2025-03-01T10:00:00.500Z", "2025-03-01T10:00:03.000Z", "2025-03-01T10:00:11.000Z", "2025-03-01T10:00:34.000Z"], "\(rows)")
        #expect(rows.map { $0["LAG_MS"] } == [.int(500), .int(1000), .int(1000), .int(1000)], "\(rows)")
    }

    /// The shell command standing in for a Lambda function: it keeps each event in events.jsonl
    /// and answers Ok for every record, or DeliveryFailed for all on a first attempt with `flaky`.
    static func lambdaCommand(flaky: Bool = false) -> String {
        let result = flaky ? #"$(case "$event" in *'"retryHint":0'*) echo DeliveryFailed;; *) echo Ok;; esac)"# : "Ok"
        return #"event=$(cat); printf '%s\n' "$event" >> events.jsonl; printf '{"records":['; sep=''; "#
            + #"for id in $(printf '%s' "$event" | grep -o '"recordId": *"[^"]*"' | sed 's/"recordId": *//'); do "#
            + #"printf '%s{"recordId":%s,"result":"%s"}' "$sep" "$id" "\#(result)"; sep=','; done; printf ']}'"#
    }

    /// A described application with reference data from S3 (--s3-dir as bucket/key), joined by the
    /// pump, and its output to a Firehose delivery stream (delivered under --s3-dir) and to a
    /// Lambda function (a local command taking Lambda's event on stdin).
    @Test func referenceDataFirehoseAndLambdaOutputsRun() throws {
        let code = """
            CREATE OR REPLACE STREAM "ENRICHED" (ticker VARCHAR(4), company VARCHAR(32), price DOUBLE);
            CREATE OR REPLACE PUMP "JOIN_PUMP" AS INSERT INTO "ENRICHED"
              SELECT STREAM s.ticker, c.company, s.price FROM "SOURCE_SQL_STREAM_001" AS s JOIN "COMPANIES" AS c ON s.ticker = c.ticker;
            """
        func app(lambdaName: String) -> String {
            """
            {"ApplicationDetail": {"ApplicationName": "enrich", "ApplicationCode": \(JSONValue.string(code).serialized()),
              "InputDescriptions": [{"NamePrefix": "SOURCE_SQL_STREAM", "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON"},
                "RecordColumns": [{"Name": "TICKER", "Mapping": "$.ticker", "SqlType": "VARCHAR(4)"}, {"Name": "PRICE", "Mapping": "$.price", "SqlType": "DOUBLE"}]}}],
              "ReferenceDataSourceDescriptions": [{"TableName": "COMPANIES",
                "S3ReferenceDataSourceDescription": {"BucketARN": "arn:aws:s3:::ref-bucket", "FileKey": "data/companies.csv", "ReferenceRoleARN": "r"},
                "ReferenceSchema": {"RecordFormat": {"RecordFormatType": "CSV", "MappingParameters": {"CSVMappingParameters": {"RecordRowDelimiter": "\\n", "RecordColumnDelimiter": ","}}},
                  "RecordColumns": [{"Name": "TICKER", "SqlType": "VARCHAR(4)"}, {"Name": "COMPANY", "SqlType": "VARCHAR(32)"}]}}],
              "OutputDescriptions": [
                {"Name": "ENRICHED", "KinesisFirehoseOutputDescription": {"ResourceARN": "arn:aws:firehose:us-east-1:1:deliverystream/enriched-archive", "RoleARN": "r"},
                 "DestinationSchema": {"RecordFormatType": "JSON"}},
                {"Name": "ENRICHED", "LambdaOutputDescription": {"ResourceARN": "arn:aws:lambda:us-east-1:1:function:\(lambdaName)", "RoleARN": "r"},
                 "DestinationSchema": {"RecordFormatType": "CSV"}}]}}
            """
        }
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path + "/s3/ref-bucket/data", withIntermediateDirectories: true)
        try "AMZN,Amazon\nMSFT,Microsoft\n".write(toFile: dir.path + "/s3/ref-bucket/data/companies.csv", atomically: true, encoding: .utf8)
        try #"{"ticker": "AMZN", "price": 10}\#n{"ticker": "XOM", "price": 20}\#n{"ticker": "MSFT", "price": 30}\#n"#.write(toFile: dir.path + "/in.jsonl", atomically: true, encoding: .utf8)
        try app(lambdaName: "notify").write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "app.json", "--input", "SOURCE_SQL_STREAM=in.jsonl", "--s3-dir", "s3", "--lambda", "notify=" + Self.lambdaCommand(flaky: true),
                             "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        // The firehose delivered the enriched rows, one JSON object per line, under s3/enriched-archive/YYYY/MM/dd/HH/.
        let archive = dir.path + "/s3/enriched-archive"
        let objects = (FileManager.default.enumerator(atPath: archive)?.allObjects as? [String] ?? []).filter { $0.contains("enriched-archive-1-") }
        let delivered = try objects.map { try String(contentsOfFile: archive + "/" + $0, encoding: .utf8) }.joined()
        #expect(delivered == #"{"TICKER":"AMZN","COMPANY":"Amazon","PRICE":10.0}\#n{"TICKER":"MSFT","COMPANY":"Microsoft","PRICE":30.0}\#n"#, "\(objects) \(delivered)")
        // The Lambda command got the rows as CSV, was told DeliveryFailed the first time, and got them again with retryHint 1.
        let events = try Self.rows(dir.path + "/events.jsonl")
        #expect(events.count == 2, "\(events)")
        let retried = try #require(events.last)
        #expect(retried["applicationArn"]?.stringValue?.hasSuffix("application/enrich") == true)
        let records = retried["records"]?.arrayValue ?? []
        #expect(records.map { $0["lambdaDeliveryRecordMetadata"]?["retryHint"] } == [.int(1), .int(1)])
        #expect(records.compactMap { $0["data"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } } == ["AMZN,Amazon,10.0", "MSFT,Microsoft,30.0"], "\(records)")

        // A command that fails stops the run with its reason; a Lambda output without a command is refused.
        let failing = try CLI.run(["run", "app.json", "--input", "SOURCE_SQL_STREAM=in.jsonl", "--s3-dir", "s3", "--lambda", "notify=echo 'no such table' >&2; exit 3", "--until-end"], cwd: dir.path)
        #expect(failing.status != 0)
        #expect(failing.stderr.contains("the Lambda output command `echo 'no such table' >&2; exit 3` did not take 2 records after 4 attempts: it exited with status 3: no such table"), "\(failing.stderr)")
        let missing = try CLI.run(["run", "app.json", "--input", "SOURCE_SQL_STREAM=in.jsonl", "--s3-dir", "s3", "--until-end"], cwd: dir.path)
        #expect(missing.status != 0 && missing.stderr.contains("give --lambda notify=COMMAND"), "\(missing.stderr)")
        let noS3 = try CLI.run(["run", "app.json", "--input", "SOURCE_SQL_STREAM=in.jsonl", "--until-end"], cwd: dir.path)
        #expect(noS3.status != 0 && noS3.stderr.contains("give --s3-dir DIR, with the object at DIR/ref-bucket/data/companies.csv"), "\(noS3.stderr)")
    }

    /// error_stream has KDA's columns: a record that does not fit the schema and a row whose
    /// expression fails are there with ERROR_NAME, DATA_ROWTIME, DATA_ROW (hex) and PUMP_NAME.
    @Test func errorStreamHasKDAsColumns() throws {
        let code = """
            CREATE OR REPLACE STREAM "DEST" (ticker VARCHAR(4), day TIMESTAMP);
            CREATE OR REPLACE PUMP "DATE_PUMP" AS INSERT INTO "DEST"
              SELECT STREAM ticker, CHAR_TO_TIMESTAMP('yyyy-MM-dd', 'bad') FROM "SOURCE_SQL_STREAM_001" WHERE price > 1;
            CREATE OR REPLACE STREAM "ERRORS" (name VARCHAR(32), pump VARCHAR(32), data_rowtime TIMESTAMP, data_row VARCHAR(200), message VARCHAR(500));
            CREATE OR REPLACE PUMP "ERROR_PUMP" AS INSERT INTO "ERRORS"
              SELECT STREAM ERROR_NAME, PUMP_NAME, DATA_ROWTIME, DATA_ROW, MESSAGE FROM error_stream;
            """
        let dir = TempDir()
        try Self.timedApp(code).write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        let lines = [#"{"ticker": "A", "price": 2, "ts": "2025-03-01T10:00:01Z"}"#, #"{"ticker": "B", "price": "#, #"{"ticker": "C", "price": 0.5, "ts": "2025-03-01T10:00:03Z"}"#]
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir.path + "/in.jsonl", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "app.json", "--input", "SOURCE_SQL_STREAM=in.jsonl", "--arrival-field", "ts", "--output", "ERRORS=errors.jsonl", "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try Self.rows(dir.path + "/errors.jsonl")
        let byName = Dictionary(grouping: rows) { $0["NAME"]?.stringValue ?? "?" }
        let parse = try #require(byName["ParseError"]?.first, "\(rows)")
        #expect(parse["DATA_ROW"]?.stringValue == Array(lines[1].utf8).map { String(format: "%02x", $0) }.joined(), "\(parse)")
        let eval = try #require(byName["ExpressionError"]?.first, "\(rows)")
        #expect(eval["PUMP"] == "DATE_PUMP" && eval["DATA_ROWTIME"] == "2025-03-01T10:00:01.000Z", "\(eval)")
        #expect(eval["MESSAGE"]?.stringValue?.contains("'bad' does not fit the format 'yyyy-MM-dd'") == true, "\(eval)")
    }

    /// Without --input, an input reads the stream its ARN names: under `sluice serve APP.json`
    /// producers put into it through the Kinesis API (here `sluice stream put`, which goes through
    /// the server) and the application's Kinesis stream output fills as they do.
    @Test func serveRunsAnApplicationOverTheStreamsItsInputsName() throws {
        let dir = TempDir()
        try Self.app().write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        let data = dir.path + "/data"
        let server = try ServeProcess(dataDir: data, extra: [dir.path + "/app.json"])
        let put = try CLI.run(["stream", "put", "stock-ticker", "--key-field", "TICKER_SYMBOL", "--data-dir", data], stdin: Self.records)
        #expect(put.status == 0, "\(put.stderr)")
        var stored: [String] = []
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && stored.count < 2 {
            let read = try CLI.run(["stream", "get", "tech-changes", "--shard-id", "shardId-000000000000", "--iterator-type", "TRIM_HORIZON", "--data-dir", data])
            stored = read.stdout.split(separator: "\n").compactMap { line in
                (try? JSONValue.parse(bytes: Array(line.utf8)))?["Data"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
            }
            if stored.count < 2 { usleep(100_000) }
        }
        #expect(server.terminate() == 0, "\(server.stderr)")
        #expect(stored.count == 2 && stored[0].contains("AMZN") && stored[1].contains("MSFT"), "\(stored) \(server.stderr)")
    }

    /// InputParallelism 2 (the suite's input-parallelism app): every record goes into exactly one
    /// of SOURCE_SQL_STREAM_001 and _002, by its shard (the MD5 of its partition key, its number
    /// in the file: 6, 9 and 11 hash into the lower half of the range, shard 0, which feeds _001).
    @Test func inputParallelismSharesTheRecordsOutByShard() throws {
        let app = KDAAppSuiteTests.suite.appendingPathComponent("input-parallelism")
        let dir = TempDir()
        let r = try CLI.run(["run", app.appendingPathComponent("app.json").path, "--input", "SOURCE_SQL_STREAM=" + app.appendingPathComponent("input.jsonl").path,
                             "--arrival-field", "rt", "--output", "SOURCE_SQL_STREAM_001=a.jsonl", "--output", "SOURCE_SQL_STREAM_002=b.jsonl", "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        let first = try Self.rows(dir.path + "/a.jsonl").compactMap { $0["TICKER"]?.stringValue }
        let second = try Self.rows(dir.path + "/b.jsonl").compactMap { $0["TICKER"]?.stringValue }
        #expect(first == ["G", "J", "L"], "\(first)")
        #expect(second == ["A", "B", "C", "D", "E", "F", "H", "I", "K"], "\(second)")
    }

    /// KDA's streaming ORDER BY: the rows of each group of a STEP GROUP BY, which leave together,
    /// in the order of the other keys (here the fewest trades first, where key order would put A first).
    @Test func orderByOrdersEachGroupsRows() throws {
        let code = """
            CREATE OR REPLACE STREAM "DEST" (ticker VARCHAR(4), trades INTEGER, minute TIMESTAMP);
            CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
              SELECT STREAM ticker, COUNT(*) AS trades, STEP(s.ROWTIME BY INTERVAL '1' MINUTE) FROM "SOURCE_SQL_STREAM_001" AS s
              GROUP BY ticker, STEP(s.ROWTIME BY INTERVAL '1' MINUTE)
              ORDER BY STEP(s.ROWTIME BY INTERVAL '1' MINUTE), trades ASC;
            """
        let dir = TempDir()
        try Self.timedApp(code).write(toFile: dir.path + "/app.json", atomically: true, encoding: .utf8)
        try Self.timedRecords.write(toFile: dir.path + "/in.jsonl", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "app.json", "--input", "SOURCE_SQL_STREAM=in.jsonl", "--arrival-field", "ts", "--output", "DEST=out.jsonl", "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try Self.rows(dir.path + "/out.jsonl")
        #expect(rows.map { "\($0["ROWTIME"]?.stringValue ?? "?") \($0["TICKER"]?.stringValue ?? "?") \($0["TRADES"]?.int64Value ?? -1)" }
                == ["2025-03-01T10:01:00.000Z B 1", "2025-03-01T10:01:00.000Z A 3"], "\(rows)")
    }

    @Test(arguments: [
        (app(output: #""LambdaOutput": {"ResourceARN": "arn:aws:lambda:us-east-1:1:function:notify", "RoleARN": "r"}"#), ["--input", "SOURCE_SQL_STREAM=in.jsonl"],
         "goes to the Lambda function notify"),
        (app(mapping: "$.prices[0]"), ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "Inputs[0].InputSchema.RecordColumns[3].Mapping: the JSONPath '$.prices[0]' cannot be mapped"),
        (app(mapping: "$.prices[0:]"), ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "'$.prices[0:]' gives the whole array as its JSON text, which a REAL column cannot hold"),
        (app(mapping: "$.days[0:].prices[0:].p"), ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "steps into arrays within arrays"),
        (app(mapping: "$.prices[0:].p").replacingOccurrences(of: "$.quote.CHANGE", with: "$.changes[0:].c"), ["--input", "SOURCE_SQL_STREAM=in.jsonl"],
         "makes rows of $.prices[0:], and RecordColumns[2] of $.changes[0:]"),
        (app(), ["--input", "TRADES=in.jsonl"], "the application's inputs make SOURCE_SQL_STREAM_001"),
        (#"{"ApplicationName": "a", "Inputs": [{"NamePrefix": "S"}]}"#, [String](), "Inputs[0]: InputSchema is missing"),
        (#"{"ApplicationName": "a", "ApplicationCode": "CREATE PUMP p AS INSERT INTO nowhere SELECT STREAM 1 FROM x;"}"#, [String](), "unknown"),
        (withCode(#"CREATE STREAM "D" (t VARCHAR(4), n INTEGER); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM ticker_symbol, COUNT(*) FROM "SOURCE_SQL_STREAM_001" GROUP BY ticker_symbol;"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "a streaming GROUP BY needs a monotonic key"),
        (withCode(#"CREATE STREAM "D" (t VARCHAR(4), s DOUBLE); CREATE TABLE "REF" (t VARCHAR(4), p DOUBLE) WITH (file = 'in.jsonl'); "#
                  + #"CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM "REF")));"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "REF is a reference table, whose rows do not arrive"),
        (withCode(#"CREATE STREAM "D" (t VARCHAR(4)); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM ticker_symbol FROM "SOURCE_SQL_STREAM_001" AS a JOIN "SOURCE_SQL_STREAM_001" AS b ON a.ticker_symbol = b.ticker_symbol WINDOWED BY STAGGER (PARTITION BY a.ticker_symbol RANGE INTERVAL '1' MINUTE);"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "WINDOWED BY STAGGER reads one stream"),
        (withCode(#"CREATE STREAM "D" (p DOUBLE, r INTEGER); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM * FROM TABLE(GROUP_RANK(CURSOR(SELECT STREAM price FROM "SOURCE_SQL_STREAM_001"), 'PRICE', 'groupRank', 'up', 'asc', 5, 0));"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "sortOrder is 'asc' or 'desc', not 'up'"),
        (withCode(#"CREATE STREAM "D" (p DOUBLE, r INTEGER); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM * FROM TABLE(GROUP_RANK(CURSOR(SELECT STREAM price FROM "SOURCE_SQL_STREAM_001"), 'COST', 'groupRank', 'desc', 'asc', 5, 0));"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "COST"),
        (withCode(#"CREATE STREAM "D" (p DOUBLE, h VARCHAR(100)); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM * FROM TABLE(HOTSPOTS(CURSOR(SELECT STREAM price FROM "SOURCE_SQL_STREAM_001"), 10, 0.1, 50));"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "minimum_points (50) is at most window_size (10)"),
        (withCode(#"CREATE STREAM "D" (x VARCHAR(8)); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM FAST_REGEX_LOG_PARSE(sector, '(.*&.)') FROM "SOURCE_SQL_STREAM_001";"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "FAST_REGEX_LOG_PARSE: '(.*&.)': intersection (&) is not read"),
        (withCode(#"CREATE STREAM "D" (p DOUBLE); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM EXP_AVG(price, INTERVAL '10' SECOND) FROM "SOURCE_SQL_STREAM_001";"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "EXP_AVG is an analytic function: it needs OVER"),
        (withCode(#"CREATE STREAM "D" (t VARCHAR(4)); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM a.ticker_symbol FROM "SOURCE_SQL_STREAM_001" AS a, "SOURCE_SQL_STREAM_001" AS b;"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "a comma join's condition is its WHERE"),
        (withCode(#"CREATE STREAM "D" (t VARCHAR(4)); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM a.ticker_symbol FROM "SOURCE_SQL_STREAM_001" AS a, "SOURCE_SQL_STREAM_001" AS b, "SOURCE_SQL_STREAM_001" AS c WHERE a.ROWTIME = b.ROWTIME;"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "a comma join reads two relations"),
        (withCode(#"CREATE STREAM "D" (t VARCHAR(4)); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM ticker_symbol FROM "SOURCE_SQL_STREAM_001" ORDER BY ticker_symbol;"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "a streaming ORDER BY begins with ROWTIME, FLOOR(ROWTIME TO unit) or STEP(ROWTIME BY INTERVAL ...)"),
        (withCode(#"CREATE STREAM "D" (t VARCHAR(4)); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM ticker_symbol FROM "SOURCE_SQL_STREAM_001" ORDER BY ROWTIME, ticker_symbol WITHIN INTERVAL '1' SECOND;"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "ORDER BY ... WITHIN (re-sorting rows that come out of order) is not run"),
        (withCode(#"CREATE STREAM "D" (x VARCHAR(8)); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM a.sector FROM "SOURCE_SQL_STREAM_001" OVER (ROWS 2 PRECEDING) AS a JOIN "SOURCE_SQL_STREAM_001" AS b ON a.sector = b.sector;"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "a stream's window in a KDA join is RANGE INTERVAL ... PRECEDING"),
        (withCode(#"CREATE STREAM "D" (x VARCHAR(8)); CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM a.sector FROM "SOURCE_SQL_STREAM_001" OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a;"#),
         ["--input", "SOURCE_SQL_STREAM=in.jsonl"], "a window on a FROM stream belongs to KDA's windowed join"),
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
