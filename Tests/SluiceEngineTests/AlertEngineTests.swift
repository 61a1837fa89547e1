import Foundation
import Testing
import SluiceCore
import SluiceSQL
import SluiceStreams
@testable import SluiceEngine
import SluiceTestSupport

@Suite("Alerts in query files")
struct AlertEngineTests {
    /// A notification is one JSON object in the alarm file: alert, severity, state, at, the
    /// query's columns and the message with {column} filled in.
    @Test func notificationsGoToAnAlarmFile() throws {
        let f = try EngineFixture()
        try f.load(clicksDDL + """
            CREATE ALERT slow SEVERITY 'critical' AS
              SELECT window_end, url, AVG(ms) AS avg_ms FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, url
            FIRE WHEN avg_ms > 1000 PER url MESSAGE '{url} takes {avg_ms} ms' NOTIFY 'file:$DIR/alerts.jsonl';
            """)
        try f.put("clicks", #"{"url":"/a","ms":1500,"ts":1704067200000}"#)
        try f.put("clicks", #"{"url":"/b","ms":10,"ts":1704067201000}"#)
        try f.put("clicks", #"{"url":"/a","ms":10,"ts":1704067260000}"#)
        try f.engine.runUntilEnd()
        let lines = f.lines("alerts.jsonl")
        #expect(lines == [
            #"{"alert":"slow","severity":"critical","state":"FIRING","at":"2024-01-01T00:01:00.000Z","window_end":"2024-01-01T00:01:00.000Z","url":"/a","avg_ms":1500.0,"message":"/a takes 1500.0 ms"}"#,
            #"{"alert":"slow","severity":"critical","state":"RESOLVED","at":"2024-01-01T00:02:00.000Z","window_end":"2024-01-01T00:02:00.000Z","url":"/a","avg_ms":10.0,"message":"/a takes 10.0 ms"}"#,
        ])
    }

    /// Notifications are POSTed to a webhook (the local listener fails the first attempt), in
    /// order, and the run does not wait on them beyond the sink's close.
    @Test func notificationsArePostedToAWebhook() throws {
        let server = try TestHTTPListener(statuses: [500])
        let f = try EngineFixture()
        try f.load(clicksDDL + """
            CREATE ALERT slow AS SELECT url, ms FROM clicks FIRE WHEN ms > 100 PER url
            NOTIFY 'webhook:http://127.0.0.1:\(server.port)/hooks/slow';
            """)
        try f.put("clicks", #"{"url":"/a","ms":150,"ts":1704067200000}"#)
        try f.put("clicks", #"{"url":"/a","ms":50,"ts":1704067200001}"#)
        try f.engine.runUntilEnd()
        let bodies = server.bodies.map { try? JSONValue.parse(bytes: Array($0.utf8)) }
        #expect(bodies.map { $0?["state"]?.stringValue } == ["FIRING", "RESOLVED"])
        #expect(bodies.map { $0?["ms"]?.doubleValue } == [150, 50])
        #expect(server.requests == 3, "the first POST failed and was retried")
        #expect(throws: EngineError.self) {
            try f.load("CREATE ALERT b AS SELECT url, ms FROM clicks FIRE WHEN ms > 1 NOTIFY 'webhook:https://example.com/x';")
        }
    }

    /// SHOW ALERTS lists each alert and its FIRING keys with since when, including keys restored
    /// from a checkpoint when the same file runs again over the same data directory.
    @Test func showAlertsListsFiringKeysAcrossARestart() throws {
        let sql = """
            CREATE STREAM bids (auction BIGINT, bidder VARCHAR, price DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');
            CREATE ALERT pricey SEVERITY 'page' AS
              SELECT window_end, auction, MAX(price) AS top FROM TUMBLE(bids, ts, INTERVAL '1' SECOND)
              GROUP BY window_start, window_end, auction
            FIRE WHEN top > 100 NOTIFY 'file:$DIR/alerts.jsonl';
            """
        let run = try RestartableRun(sql: sql)
        try run.put([#"{"auction":7,"price":150,"ts":1704067200100}"#, #"{"auction":8,"price":5,"ts":1704067200200}"#,
                     #"{"auction":9,"price":500,"ts":1704067201100}"#])
        try run.engine.load(Parser.parse("SHOW ALERTS;").script)
        #expect(run.engine.output.last == "pricey (page): 1 FIRING\n  auction=7 FIRING since 2024-01-01T00:00:01.000Z")
        try run.engine.stop()
        try run.crashAndReopen()
        try run.engine.load(Parser.parse("SHOW ALERTS;").script)
        #expect(run.engine.output.last == "pricey (page): 1 FIRING\n  auction=7 FIRING since 2024-01-01T00:00:01.000Z")
        #expect(run.file("alerts.jsonl").split(separator: "\n").count == 1)
    }
}
