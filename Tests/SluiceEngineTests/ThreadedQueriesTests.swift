import Foundation
import Testing
import SluiceCore
@testable import SluiceEngine

/// A server's engine runs each persistent query on a thread of its own (`threadedQueries`). The
/// queries then share the error stream, the event log and reference tables across threads.
@Suite("Queries on threads of their own")
struct ThreadedQueriesTests {
    static let sql = """
        CREATE STREAM clicks (url VARCHAR, ms DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH (format = 'json');
        CREATE TABLE pages (url VARCHAR, team VARCHAR) WITH (file = '$DIR/pages.jsonl', format = 'json');
        CREATE SINK windows WITH (type = 'file', path = '$DIR/windows.jsonl');
        CREATE SINK rates WITH (type = 'file', path = '$DIR/rates.jsonl');
        CREATE SINK teams WITH (type = 'file', path = '$DIR/teams.jsonl');
        INSERT INTO windows SELECT window_end, url, COUNT(*) AS n, MAX(ms) AS worst FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND)
        GROUP BY window_start, window_end, url;
        INSERT INTO rates SELECT url, 1000 / CAST(ms AS BIGINT) AS per_second FROM clicks;
        INSERT INTO teams SELECT c.url, p.team FROM clicks c JOIN pages p ON c.url = p.url;
        """

    /// What the three queries write, and the error stream, after `records` records (every 97th
    /// not JSON, every 13th with ms = 0, so a division by zero) on threads or stepped by one loop.
    static func run(threaded: Bool, records: Int) throws -> (files: [String: [String]], errors: [String], events: Int) {
        let f = try EngineFixture()
        try (0..<20).map { #"{"url":"/p\#($0)","team":"t\#($0 % 3)"}"# }.joined(separator: "\n").write(toFile: f.dir + "/pages.jsonl", atomically: true, encoding: .utf8)
        f.engine.threadedQueries = threaded
        let events = EventCount()
        f.engine.onEvent = { _ in events.add() }
        try f.load(sql)
        for i in 0..<records {
            try f.put("clicks", i % 97 == 5 ? "not json \(i)" : #"{"url":"/p\#(i % 23)","ms":\#(i % 13 == 0 ? 0 : 10 + i % 50),"ts":\#(i * 37)}"#)
        }
        if threaded {
            // The queries read on their own threads; counters and SHOW QUERIES can be read meanwhile.
            let deadline = Date().addingTimeInterval(120)
            while f.engine.counters.contains(where: { $0.recordsIn < Int64(records) }) && Date() < deadline {
                _ = f.engine.listing(.queries)
                _ = try f.engine.step()
                usleep(1000)
            }
            #expect(f.engine.counters.allSatisfy { $0.recordsIn == Int64(records) }, "\(f.engine.counters.map(\.recordsIn))")
        }
        try f.engine.runUntilEnd()
        let files = Dictionary(uniqueKeysWithValues: ["windows", "rates", "teams"].map { ($0, f.lines($0 + ".jsonl")) })
        let errors = try f.errorStream().map { "\($0["error_kind"]?.stringValue ?? "?") \($0["sequence_number"]?.stringValue ?? "-") \($0["message"]?.stringValue ?? "")" }
        return (files, errors.sorted(), events.count)
    }

    @Test func threadsGiveWhatOneLoopGives() throws {
        let loop = try Self.run(threaded: false, records: 4000)
        let threads = try Self.run(threaded: true, records: 4000)
        #expect(loop.files["windows"]!.count > 100 && loop.files["rates"]!.count > 3000 && loop.files["teams"]!.count > 2000)
        for name in ["windows", "rates", "teams"] { #expect(threads.files[name] == loop.files[name], "\(name)") }
        // Each bad record once (three queries read it), each division by zero once.
        let decode = loop.errors.filter { $0.hasPrefix("decode") }.count, eval = loop.errors.filter { $0.hasPrefix("eval") }.count
        #expect(decode == 42 && eval > 250, "\(decode) decode, \(eval) eval")
        #expect(threads.errors == loop.errors)
        #expect(threads.events == loop.events)
    }

    /// DROP QUERY ends the query's thread (it reads nothing more); stop() ends the others at a checkpoint.
    @Test func dropAndStopEndTheThreads() throws {
        let f = try EngineFixture()
        try "".write(toFile: f.dir + "/pages.jsonl", atomically: true, encoding: .utf8)
        f.engine.threadedQueries = true
        try f.load(Self.sql)
        try f.put("clicks", #"{"url":"/a","ms":5,"ts":1000}"#)
        func waitFor(_ n: Int64) {
            let deadline = Date().addingTimeInterval(60)
            while f.engine.runningQueries.contains(where: { $0.counters.recordsIn < n }) && Date() < deadline { usleep(1000) }
        }
        waitFor(1)
        try f.engine.dropQuery(2)
        try f.put("clicks", #"{"url":"/a","ms":5,"ts":2000}"#)
        waitFor(2)
        #expect(f.engine.runningQueries.map(\.id) == [1, 3])
        #expect(f.engine.runningQueries.allSatisfy { $0.counters.recordsIn == 2 })
        #expect(f.lines("rates.jsonl").count == 1, "the dropped query read no more")
        try f.engine.stop()
        #expect(FileManager.default.fileExists(atPath: f.dir + "/data/queries/query-1.json"))
        try f.put("clicks", #"{"url":"/a","ms":5,"ts":3000}"#)
        usleep(50_000)
        #expect(f.engine.counters.first?.recordsIn == 2, "stopped queries read nothing")
    }
}

/// SHOW QUERIES, /metrics and the server's stop look at a query between its steps: a query with
/// much to read lets them in at its next step, not once it has read everything (a lock is not
/// fair, and a query stepping back to back kept it: a server's SIGTERM waited minutes behind a
/// query catching up on a large stream).
@Suite("Looking at a busy query")
struct BusyQueryTests {
    @Test func aQueryWithMuchToReadLetsObserversInBetweenSteps() throws {
        let f = try EngineFixture()
        let records = 200_000
        var text = ""
        text.reserveCapacity(records * 40)
        for i in 0..<records { text += #"{"url":"/p\#(i % 23)","ms":\#(i % 50),"ts":\#(i * 10)}"# + "\n" }
        try text.write(toFile: f.dir + "/clicks.jsonl", atomically: true, encoding: .utf8)
        try f.load("""
            CREATE STREAM clicks (url VARCHAR, ms DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH (format = 'json');
            CREATE SINK windows WITH (type = 'file', path = '$DIR/windows.jsonl');
            """.replacingOccurrences(of: "$DIR", with: f.dir))
        #expect(try f.engine.loadInput(stream: "clicks", path: f.dir + "/clicks.jsonl") == records)
        f.engine.threadedQueries = true
        try f.load("INSERT INTO windows SELECT window_end, url, COUNT(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, url;")
        // Once it reads, five looks in a row, each let in at the query's next step: the query
        // is still reading.
        let deadline = Date().addingTimeInterval(60)
        while f.engine.counters[0].recordsIn == 0 && Date() < deadline { usleep(100) }
        var seen: [Int64] = []
        for _ in 0..<5 { seen.append(f.engine.counters[0].recordsIn) }
        #expect(seen.allSatisfy { $0 < Int64(records) }, "\(seen) of \(records)")
        try f.engine.stop()
    }
}

/// Events counted from several threads.
final class EventCount: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var count: Int { lock.withLock { n } }
}
