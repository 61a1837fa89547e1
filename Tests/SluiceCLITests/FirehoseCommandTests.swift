import Foundation
import Testing
import SluiceCore
import SluiceCodecs

@Suite("sluice firehose and alerts from the command line")
struct FirehoseCommandTests {
    @Test func createListDescribePutDelete() throws {
        let dir = TempDir()
        let data = ["--data-dir", dir.path + "/data"]
        let created = try CLI.run(["firehose", "create", "logs", "--destination", "file:" + dir.path + "/out", "--buffer-size", "2MB",
                                   "--buffer-interval", "30s", "--compression", "gzip", "--prefix", "raw/"] + data)
        #expect(created.status == 0, "\(created.stderr)")
        let d = try JSONValue.parse(bytes: Array(created.stdout.utf8))
        #expect(d["DeliveryStreamName"]?.stringValue == "logs" && d["DeliveryStreamType"]?.stringValue == "DirectPut")
        let s3 = d["Destinations"]?.arrayValue?.first?["ExtendedS3DestinationDescription"]
        #expect(s3?["BufferingHints"]?["SizeInMBs"]?.int64Value == 2 && s3?["BufferingHints"]?["IntervalInSeconds"]?.int64Value == 30)
        #expect(s3?["CompressionFormat"]?.stringValue == "GZIP" && s3?["Prefix"]?.stringValue == "raw/")

        let list = try CLI.run(["firehose", "list"] + data)
        #expect(try JSONValue.parse(bytes: Array(list.stdout.utf8))["DeliveryStreamNames"]?.arrayValue == [.string("logs")])
        let one = try CLI.run(["firehose", "put", "logs", "--data", #"{"a":1}"#] + data)
        #expect(one.status == 0 && one.stdout.contains("RecordId"))
        let many = try CLI.run(["firehose", "put", "logs"] + data, stdin: "x\ny\n\nz\n")
        #expect(many.status == 0 && many.lines.count == 3, "blank lines are not records")
        // Each put command flushes at its end: two objects, four records.
        var records: [String] = []
        let e = FileManager.default.enumerator(atPath: dir.path + "/out/raw")
        while let p = e?.nextObject() as? String {
            guard p.hasSuffix(".gz") else { continue }
            let bytes = [UInt8](FileManager.default.contents(atPath: dir.path + "/out/raw/" + p)!)
            records.append(String(decoding: Gzip.decompress(bytes)!, as: UTF8.self))
        }
        #expect(records.sorted() == ["xyz", #"{"a":1}"#])

        let describe = try CLI.run(["firehose", "describe", "logs"] + data)
        #expect(describe.status == 0 && describe.stdout.contains("DeliveryStreamDescription"))
        #expect(try CLI.run(["firehose", "delete", "logs"] + data).status == 0)
        let gone = try CLI.run(["firehose", "describe", "logs"] + data)
        #expect(gone.status == 1 && gone.stderr.contains("ResourceNotFoundException: Firehose logs under account 000000000000 not found."))
    }

    @Test(arguments: [
        (["firehose", "create", "f", "--destination", "file:x", "--buffer-size", "200MB"], "between 1MB and 128MB"),
        (["firehose", "create", "bad name", "--destination", "file:x"], "deliveryStreamName"),
        (["firehose", "put", "missing", "--data", "x"], "ResourceNotFoundException"),
        (["firehose", "frobnicate"], "unknown firehose command"),
    ])
    func badCommandsFailWithAReason(_ args: [String], _ reason: String) throws {
        let dir = TempDir()
        let r = try CLI.run(args + ["--data-dir", dir.path + "/data"])
        #expect(r.status != 0)
        #expect(r.stderr.contains(reason), "\(r.stderr)")
    }

    /// `NOTIFY 'stderr'`: under `sluice run` a notification is the log's alert line on standard
    /// error (a JSON object with `--log-format json`), once.
    @Test func alertsNotifyOnStandardError() throws {
        let dir = TempDir()
        let sql = dir.path + "/alert.sql"
        try """
            CREATE STREAM temps (sensor VARCHAR, temp DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');
            CREATE ALERT hot SEVERITY 'critical' AS SELECT window_end, sensor, MAX(temp) AS t FROM TUMBLE(temps, ts, INTERVAL '10' SECOND)
              GROUP BY window_start, window_end, sensor
            FIRE WHEN t > 50 MESSAGE '{sensor} at {t}' NOTIFY 'stderr';
            """.write(toFile: sql, atomically: true, encoding: .utf8)
        let input = dir.path + "/temps.jsonl"
        try #"{"sensor":"s1","temp":70,"ts":"2024-01-01T00:00:01Z"}"#.appending("\n").write(toFile: input, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", sql, "--input", "temps=" + input, "--until-end"])
        #expect(r.status == 0, "\(r.stderr)")
        let fired = r.stderr.split(separator: "\n").filter { $0.contains("hot FIRING") }
        #expect(fired == ["query 1 (ALERT hot): hot FIRING for sensor=s1 at 2024-01-01T00:00:10.000Z: s1 at 70.0"], "\(r.stderr)")
        let j = try CLI.run(["run", sql, "--input", "temps=" + input, "--until-end", "--log-format", "json"])
        let line = try #require(j.stderr.split(separator: "\n").first { $0.contains(#""event":"alert""#) })
        let n = try JSONValue.parse(bytes: Array(line.utf8))
        #expect(n["alert"]?.stringValue == "hot" && n["state"]?.stringValue == "FIRING" && n["message"]?.stringValue?.hasSuffix("s1 at 70.0") == true)
        #expect(j.stderr.split(separator: "\n").filter { $0.contains("FIRING") }.count == 1)
    }
}
