import Foundation
import Testing

@Suite("sluice run: stop and resume")
struct RunResumeTests {
    /// SIGINT stops a long-running `sluice run` at a checkpoint with its window still open; the
    /// same file run again over the same data directory continues it, and the sink file holds each
    /// row once.
    @Test func interruptedRunContinuesWhereItStopped() throws {
        let dir = TempDir()
        let sql = """
            CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');
            CREATE SINK out WITH (type = 'file', path = '\(dir.path)/out.jsonl');
            INSERT INTO out SELECT url, window_end, COUNT(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, url;
            """
        try sql.write(toFile: dir.path + "/q.sql", atomically: true, encoding: .utf8)
        try "{\"url\":\"/a\",\"ts\":1000}\n{\"url\":\"/a\",\"ts\":12000}\n{\"url\":\"/b\",\"ts\":15000}\n"
            .write(toFile: dir.path + "/in1.jsonl", atomically: true, encoding: .utf8)
        try "{\"url\":\"/b\",\"ts\":17000}\n{\"url\":\"/a\",\"ts\":25000}\n".write(toFile: dir.path + "/in2.jsonl", atomically: true, encoding: .utf8)

        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.executable)
        p.arguments = ["run", dir.path + "/q.sql", "--data-dir", dir.path + "/data", "--input", "clicks=" + dir.path + "/in1.jsonl"]
        var env = ProcessInfo.processInfo.environment
        env["SLUICE_DATA_DIR"] = nil
        p.environment = env
        FileManager.default.createFile(atPath: dir.path + "/err1", contents: nil)
        let errFile = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.path + "/err1"))
        p.standardError = errFile
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Once the input is loaded the query is running; stop it.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !((try? String(contentsOfFile: dir.path + "/err1", encoding: .utf8)) ?? "").contains("loaded 3 records") {
            usleep(50_000)
        }
        usleep(300_000)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        try errFile.close()
        let err1 = try String(contentsOfFile: dir.path + "/err1", encoding: .utf8)
        #expect(p.terminationStatus == 0, "\(err1)")
        #expect(err1.contains("stopped at a checkpoint"))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/data/queries/query-1.json"))

        let second = try CLI.run(["run", dir.path + "/q.sql", "--data-dir", dir.path + "/data", "--input", "clicks=" + dir.path + "/in2.jsonl", "--until-end"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("query 1 (INSERT INTO out): resumed from its checkpoint"))
        #expect(try String(contentsOfFile: dir.path + "/out.jsonl", encoding: .utf8) == """
            {"url":"/a","window_end":"1970-01-01T00:00:10.000Z","n":1}
            {"url":"/a","window_end":"1970-01-01T00:00:20.000Z","n":1}
            {"url":"/b","window_end":"1970-01-01T00:00:20.000Z","n":2}
            {"url":"/a","window_end":"1970-01-01T00:00:30.000Z","n":1}

            """)
        // The run ended its input: the next one starts over.
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/data/queries/query-1.json"))
    }
}
