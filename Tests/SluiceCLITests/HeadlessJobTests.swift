import Foundation
import SluiceCore
import Testing

/// Headless jobs: `--dry-run`, `--log-format json`, `--state-dir`, and restarts after a clean stop
/// and after `kill -9` that leave the sink exactly as an uninterrupted run does.
@Suite("sluice run: headless jobs")
struct HeadlessJobTests {
    static let query = """
        CREATE STREAM clicks (
          user_id VARCHAR, url VARCHAR PATH '$.page.url', latency_ms DOUBLE, ts TIMESTAMP,
          WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
        ) WITH (shards = 2, partition_key = 'user_id', format = 'json');
        CREATE SINK out WITH (type = 'file', path = 'OUT', format = 'json');
        INSERT INTO out
        SELECT window_end, url, COUNT(*) AS hits, ROUND(AVG(latency_ms), 1) AS avg_ms
        FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND)
        GROUP BY window_start, window_end, url;
        """

    /// A query file writing to `out` inside `dir`.
    static func write(_ dir: TempDir, _ out: String) throws -> String {
        let path = dir.path + "/q-\(out).sql"
        try query.replacingOccurrences(of: "OUT", with: dir.path + "/" + out).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func dryRunPrintsThePlansAndTouchesNothing() throws {
        let dir = TempDir()
        let q = try Self.write(dir, "out.jsonl")
        let r = try CLI.run(["run", q, "--dry-run", "--data-dir", dir.path + "/data"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("query 1 (INSERT INTO out) -> file \(dir.path)/out.jsonl"))
        #expect(r.stdout.contains("WindowAggregate") && r.stdout.contains("StreamSourceExec: clicks decode=json"))
        #expect(r.stdout.hasSuffix("1 query planned; nothing was run\n"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/data"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/out.jsonl"))
        // A bad file is reported as `sluice check` reports it, with nothing planned.
        try "CREATE STREAM s (a BIGINT) WITH (format = 'json');\nSELECT b FROM s;\n".write(toFile: dir.path + "/bad.sql", atomically: true, encoding: .utf8)
        let bad = try CLI.run(["run", dir.path + "/bad.sql", "--dry-run"])
        #expect(bad.status == 1 && bad.stderr.contains("bad.sql:2:") && bad.stdout.isEmpty, "\(bad.stderr)")
    }

    /// A sink's path of one non-ASCII character, relative to where the run starts, is a file
    /// like any other (such a path made the engine trap on Foundation's path functions).
    @Test func aSinkPathOfOneNonASCIICharacterIsAFile() throws {
        let dir = TempDir()
        let input = dir.path + "/clicks.jsonl"
        try (0..<20).map { #"{"user_id":"u\#($0 % 3)","page":{"url":"/p"},"latency_ms":\#($0),"ts":\#($0 * 1000)}"# }
            .joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        for (path, rolling) in [("é", ""), ("日", ", roll_size = '1KB'")] {
            try Self.query.replacingOccurrences(of: "path = 'OUT'", with: "path = '\(path)'\(rolling)")
                .write(toFile: dir.path + "/q.sql", atomically: true, encoding: .utf8)
            let r = try CLI.run(["run", "q.sql", "--input", "clicks=clicks.jsonl", "--until-end"], cwd: dir.path)
            #expect(r.status == 0, "\(path): \(r.stderr)")
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            #expect(files.contains { $0.hasPrefix(path) }, "\(path): \(files)")
        }
    }

    @Test func jsonLogsHaveALineperEvent() throws {
        let dir = TempDir()
        let q = try Self.write(dir, "out.jsonl")
        let r = try CLI.run(["run", q, "--input", "clicks=" + SamplesTests.root.appendingPathComponent("samples/clicks.jsonl").path,
                             "--until-end", "--log-format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let events = r.stderr.split(separator: "\n").map { try? JSONValue.parse(String($0)) }
        #expect(!events.isEmpty && events.allSatisfy { $0 != nil }, "every line is a JSON object: \(r.stderr)")
        let kinds = events.compactMap { $0?["event"]?.stringValue }
        #expect(kinds == ["start", "input", "summary"], "\(kinds)")
        #expect(events.last??["records_in"]?.int64Value == 15_000)
        #expect(events.allSatisfy { $0?["ts"]?.stringValue?.hasSuffix("Z") == true })
        let badFormat = try CLI.run(["run", q, "--log-format", "xml"])
        #expect(badFormat.status != 0 && badFormat.stderr.contains("--log-format takes plain or json"))
    }

    /// An alert without MESSAGE still says what fired it, and NOTIFY 'stderr' under `sluice run`
    /// is the log's alert line, once per transition (not that and a JSON copy).
    @Test func anAlertOnStderrIsOneLineWithADefaultMessage() throws {
        let dir = TempDir()
        let sql = """
            CREATE STREAM clicks (url VARCHAR, ms DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');
            CREATE ALERT slow
            AS SELECT window_end, url, AVG(ms) AS avg_ms FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, url
            FIRE WHEN avg_ms > 100 RESOLVE WHEN avg_ms <= 100 PER url
            NOTIFY 'stderr';
            """
        try sql.write(toFile: dir.path + "/a.sql", atomically: true, encoding: .utf8)
        let input = (0..<30).map { i in #"{"url":"/a","ms":\#(i >= 10 && i < 20 ? 500 : 10),"ts":\#(i * 1000)}"# }.joined(separator: "\n") + "\n"
        try input.write(toFile: dir.path + "/in.jsonl", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", dir.path + "/a.sql", "--input", "clicks=" + dir.path + "/in.jsonl", "--until-end"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n").filter { $0.contains("slow") && ($0.contains("FIRING") || $0.contains("RESOLVED") || $0.contains("\"state\"")) }
        #expect(lines.count == 2, "\(r.stderr)")
        #expect(lines.first?.contains("slow FIRING for url=/a at 1970-01-01T00:00:20.000Z: window_end=1970-01-01T00:00:20.000Z, avg_ms=500.0") == true, "\(lines)")
        #expect(!r.stderr.contains("{\"alert\""), "no JSON copy of the notification")
    }

    /// Over a named data directory, --input adds to the stream and says so; --fresh starts afresh.
    @Test func inputAppendsWithAWarningAndFreshStartsAfresh() throws {
        let dir = TempDir()
        let q = try Self.write(dir, "out.jsonl")
        let input = "clicks=" + SamplesTests.root.appendingPathComponent("samples/clicks.jsonl").path
        let data = ["--data-dir", dir.path + "/data"]
        let first = try CLI.run(["run", q, "--input", input, "--until-end"] + data)
        #expect(first.status == 0 && !first.stderr.contains("warning"), "\(first.stderr)")
        let once = try String(contentsOfFile: dir.path + "/out.jsonl", encoding: .utf8)
        let second = try CLI.run(["run", q, "--input", input, "--until-end"] + data)
        #expect(second.stderr.contains("warning: stream clicks already holds 15000 records"), "\(second.stderr)")
        #expect(second.stderr.contains("--fresh"))
        let fresh = try CLI.run(["run", q, "--input", input, "--until-end", "--fresh"] + data)
        #expect(fresh.status == 0 && !fresh.stderr.contains("warning"), "\(fresh.stderr)")
        #expect(fresh.stderr.contains("15000 records in"), "\(fresh.stderr)")
        #expect(try String(contentsOfFile: dir.path + "/out.jsonl", encoding: .utf8) == once)
    }

    /// A run whose rows all fail says why at the end (the most frequent reasons, each with a
    /// count and an example record), and a CSV file loaded into a JSON stream gets a hint.
    @Test func theSummarySaysWhyRecordsFailed() throws {
        let dir = TempDir()
        try """
            CREATE STREAM pays (merchant VARCHAR, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');
            CREATE SINK out WITH (type = 'file', path = '\(dir.path)/out.jsonl');
            INSERT INTO out SELECT CAST(merchant AS BIGINT) AS m FROM pays;
            """.write(toFile: dir.path + "/q.sql", atomically: true, encoding: .utf8)
        try (0..<50).map { #"{"merchant":"m-\#($0)","amount":1,"ts":\#($0)}"# }.joined(separator: "\n").write(toFile: dir.path + "/in.jsonl", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", dir.path + "/q.sql", "--input", "pays=" + dir.path + "/in.jsonl", "--until-end"])
        #expect(r.status == 0)
        #expect(r.stderr.contains("50 records in, 0 rows out, 50 bad, 0 late"), "\(r.stderr)")
        #expect(r.stderr.contains(#"50 eval: cannot cast '…' to BIGINT; e.g. {"merchant":"m-0","amount":1,"ts":0}"#), "\(r.stderr)")
        try (["merchant,amount,ts"] + (0..<20).map { "m-\($0),1.5,\($0)" }).joined(separator: "\n").write(toFile: dir.path + "/in.csv", atomically: true, encoding: .utf8)
        let csv = try CLI.run(["run", dir.path + "/q.sql", "--input", "pays=" + dir.path + "/in.csv", "--until-end"])
        #expect(csv.stderr.contains("hint: the records look like CSV, not JSON"), "\(csv.stderr)")
    }

    /// `--input` loads on a thread of its own while the queries read (they take checkpoints before
    /// the load ends), and what they make is what they make from the same stored records read
    /// after the load: over four shards, a projection (rows in the order records meet) and a
    /// window with late records (judged in that order) give byte-identical files.
    @Test func queriesReadWhileTheInputLoadsInTheOrderOfALoadBeforeThem() throws {
        let dir = TempDir()
        let input = dir.path + "/clicks.jsonl"
        // Every seventh click comes 300 ms behind the others.
        try (0..<150_000).map { i in #"{"user_id":"u\#(i % 97)","page":{"url":"/p\#(i % 13)"},"latency_ms":1,"ts":\#(i * 5 - (i % 7 == 0 ? 300 : 0))}"# }
            .joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        func file(_ tag: String) throws -> String {
            let path = dir.path + "/q-\(tag).sql"
            try """
                CREATE STREAM clicks (user_id VARCHAR, url VARCHAR PATH '$.page.url', latency_ms DOUBLE, ts TIMESTAMP,
                  WATERMARK FOR ts AS ts) WITH (shards = 4, partition_key = 'user_id', format = 'json');
                CREATE SINK rows_\(tag) WITH (type = 'file', path = '\(dir.path)/rows-\(tag).jsonl', format = 'json');
                CREATE SINK windows_\(tag) WITH (type = 'file', path = '\(dir.path)/windows-\(tag).jsonl', format = 'json');
                INSERT INTO rows_\(tag) SELECT user_id, url, ts FROM clicks;
                INSERT INTO windows_\(tag) SELECT window_end, url, COUNT(*) AS hits FROM TUMBLE(clicks, ts, INTERVAL '1' SECOND)
                GROUP BY window_start, window_end, url;
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let data = ["--data-dir", dir.path + "/data"]
        let during = try CLI.run(["run", try file("during"), "--input", "clicks=" + input, "--until-end", "--log-format", "json",
                                  "--checkpoint-interval", "0.001"] + data)
        #expect(during.status == 0, "\(during.stderr)")
        let events = during.stderr.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }.compactMap { $0["event"]?.stringValue }
        let loaded = events.firstIndex(of: "input") ?? 0
        #expect(events[..<loaded].contains("checkpoint"), "the queries read while the input loaded: \(events)")
        // The same records, read after they were all stored (another query file: fresh checkpoints).
        let after = try CLI.run(["run", try file("after"), "--until-end"] + data)
        #expect(after.status == 0, "\(after.stderr)")
        #expect(after.stderr.contains("150000 records in"), "\(after.stderr)")
        let late = during.stderr.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }.filter { $0["event"]?.stringValue == "summary" }.map { $0["late"]?.int64Value ?? 0 }
        #expect(late.contains { $0 > 0 }, "some records are late, so the order they meet in matters: \(late)")
        for kind in ["rows", "windows"] {
            let a = try String(contentsOfFile: dir.path + "/\(kind)-during.jsonl", encoding: .utf8)
            let b = try String(contentsOfFile: dir.path + "/\(kind)-after.jsonl", encoding: .utf8)
            #expect(a.split(separator: "\n").count > 1000 && a == b, "\(kind): the output differs")
        }
    }

    /// A file of large records loads in puts of at most 5 MB (500 records of 20 KB would be 10).
    @Test func largeRecordsLoadInPutsOfAtMostFiveMegabytes() throws {
        let dir = TempDir()
        let pad = String(repeating: "x", count: 20_000)
        try (0..<600).map { #"{"url":"/\#($0 % 7)","ms":1,"pad":"\#(pad)","ts":\#($0)}"# }.joined(separator: "\n")
            .write(toFile: dir.path + "/big.jsonl", atomically: true, encoding: .utf8)
        try """
            CREATE STREAM clicks (url VARCHAR, ms DOUBLE, ts TIMESTAMP) WITH (format = 'json');
            CREATE SINK out WITH (type = 'file', path = '\(dir.path)/out.jsonl');
            INSERT INTO out SELECT url FROM clicks;
            """.write(toFile: dir.path + "/q.sql", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", dir.path + "/q.sql", "--input", "clicks=" + dir.path + "/big.jsonl", "--until-end"])
        #expect(r.status == 0 && r.stderr.contains("loaded 600 records"), "\(r.stderr)")
        #expect(((try? String(contentsOfFile: dir.path + "/out.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count == 600)
    }

    /// The same query over the same input three ways: uninterrupted; stopped with SIGTERM and
    /// restarted; killed with SIGKILL after its first checkpoint and restarted. The sink files are
    /// identical, so nothing was lost and nothing written twice.
    @Test func restartsAfterAStopAndAKillMatchAnUninterruptedRun() throws {
        let dir = TempDir()
        let input = dir.path + "/clicks.jsonl"
        let gen = try CLI.run(["gen", "clicks", "--records", "40000"])
        try gen.stdout.write(toFile: input, atomically: true, encoding: .utf8)

        let whole = try CLI.run(["run", try Self.write(dir, "whole.jsonl"), "--input", "clicks=" + input, "--until-end"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let expected = try String(contentsOfFile: dir.path + "/whole.jsonl", encoding: .utf8)
        #expect(expected.split(separator: "\n").count > 1000)
        let total = 40_000
        let declaration = dir.path + "/clicks.sql"
        try String(Self.query.prefix { $0 != ";" } + ";\n").write(toFile: declaration, atomically: true, encoding: .utf8)

        for (name, sig) in [("term", SIGTERM), ("kill", SIGKILL)] {
            let q = try Self.write(dir, name + ".jsonl")
            let data = dir.path + "/data-" + name, state = dir.path + "/state-" + name
            let errPath = dir.path + "/err-" + name
            FileManager.default.createFile(atPath: errPath, contents: nil)
            let errFile = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.executable)
            // The input is stored first (a query reading while it loads could keep up with it).
            let stored = try CLI.run(["run", declaration, "--data-dir", data, "--input", "clicks=" + input, "--until-end"])
            #expect(stored.status == 0, "\(stored.stderr)")
            p.arguments = ["run", q, "--data-dir", data, "--state-dir", state, "--checkpoint-interval", "0.02", "--log-format", "json"]
            p.standardError = errFile
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            // Stop it once it has taken its first checkpoint, part of the way through.
            let deadline = Date().addingTimeInterval(120)
            var log = ""
            while Date() < deadline {
                log = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
                if log.contains("\"event\":\"checkpoint\"") { break }
                usleep(5_000)
            }
            kill(p.processIdentifier, sig)
            p.waitUntilExit()
            try errFile.close()
            // The stop came part of the way through (in a debug build a few thousand records a second go through).
            let checkpoints = log.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }.filter { $0["event"]?.stringValue == "checkpoint" }
            #expect(!checkpoints.isEmpty, "\(name): no checkpoint was logged: \(log)")
            #expect((checkpoints.last?["records_in"]?.int64Value ?? 0) < Int64(total), "\(name): stopped only after the end of the input")
            if sig == SIGTERM {
                #expect(p.terminationStatus == 0)
                #expect(((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "").contains("\"event\":\"stop\""))
            } else {
                #expect(p.terminationReason == .uncaughtSignal)
            }
            #expect(FileManager.default.fileExists(atPath: state + "/query-1.json"), "\(name): the checkpoint is in --state-dir")
            #expect(!FileManager.default.fileExists(atPath: data + "/queries"), "\(name): and not in the data directory")
            let again = try CLI.run(["run", q, "--data-dir", data, "--state-dir", state, "--until-end"])
            #expect(again.status == 0, "\(name): \(again.stderr)")
            #expect(again.stderr.contains("resumed from its checkpoint"), "\(name): \(again.stderr)")
            let got = try String(contentsOfFile: dir.path + "/" + name + ".jsonl", encoding: .utf8)
            #expect(got == expected, "\(name): the restarted run's output differs from the uninterrupted run's")
        }
    }
}
