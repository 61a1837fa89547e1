import Foundation
import Testing
import SluiceCore
import SluiceSQL
import SluiceStreams
@testable import SluiceEngine

/// `FIRE WHEN SILENT FOR d`: a key that sends nothing for `d` fires; its next row resolves it.
@Suite("Alerts on silence")
struct SilenceAlertTests {
    static let sql = """
        CREATE STREAM bids (auction BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (format = 'json');
        CREATE ALERT quiet AS SELECT auction, ts FROM bids
        FIRE WHEN SILENT FOR INTERVAL '10' SECOND
        PER auction
        NOTIFY 'file:$DIR/quiet.jsonl';
        """

    static let start: Int64 = 1_704_067_200_000

    /// A row a second for auctions 1, 2 and 3 over a minute; 2 sends nothing from 21 s to 39 s,
    /// 3 nothing after 45 s.
    static let records: [String] = (0..<60).flatMap { s -> [String] in
        [1, 2, 3].filter { a in !(a == 2 && s > 20 && s < 40) && !(a == 3 && s > 45) }
            .map { #"{"auction":\#($0),"ts":\#(start + Int64(s) * 1000)}"# }
    }

    func notifications(_ run: RestartableRun) throws -> [String] {
        try run.file("quiet.jsonl").split(separator: "\n").map { line in
            let n = try JSONValue.parse(bytes: Array(line.utf8))
            return "\(n["state"]!.stringValue!) \(n["auction"]!.int64Value!) \(n["at"]!.stringValue!)"
        }
    }

    /// Every gap of 10 s gives one FIRING at the last row plus 10 s and one RESOLVED at the next
    /// row, whether the rows come a second at a time (the watermark shows the silence) or all in
    /// one read (the row after the gap does), and across a crash and restart.
    @Test func silentKeysFireAtTheirLastRowPlusTheDurationHoweverRowsAreBatched() throws {
        let expected = ["FIRING 2 \(TimeFormat.iso8601(Self.start + 30_000))", "RESOLVED 2 \(TimeFormat.iso8601(Self.start + 40_000))",
                        "FIRING 3 \(TimeFormat.iso8601(Self.start + 55_000))"]
        let perSecond = try RestartableRun(sql: Self.sql)
        var i = 0
        while i < Self.records.count {
            let n = Self.records[i...].prefix { $0.contains("\"ts\":\(Self.start + Int64((i / 3)) * 1000)") }.count
            try perSecond.put(Self.records[i..<(i + max(1, n))])
            i += max(1, n)
        }
        try perSecond.engine.finish()
        let got = try notifications(perSecond)
        #expect(got == expected, "\(got)")

        let atOnce = try RestartableRun(sql: Self.sql)
        try atOnce.put(Self.records[...])
        try atOnce.engine.finish()
        let once = try notifications(atOnce)
        #expect(once.sorted() == expected.sorted(), "\(once)")

        // A checkpoint while 3 is silent but not yet for 10 s, a crash after more rows: 3 still
        // fires once, and 2's notifications are not repeated.
        let parts = try RestartableRun(sql: Self.sql)
        let cut = Self.records.firstIndex { $0.contains("\"ts\":\(Self.start + 48_000)") }!
        try parts.put(Self.records[..<cut])
        try parts.engine.checkpoint()
        try parts.put(Self.records[cut..<(cut + 10)])
        try parts.crashAndReopen()
        try parts.put(Self.records[(cut + 10)...])
        try parts.engine.finish()
        let resumed = try notifications(parts)
        #expect(resumed.sorted() == expected.sorted(), "\(resumed)")
    }

    /// Without an event time in the alert's rows, silence is measured on processing time.
    @Test func withoutAnEventTimeSilenceIsProcessingTime() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM m (k VARCHAR) WITH (format = 'json');
            CREATE ALERT gone AS SELECT k FROM m FIRE WHEN SILENT FOR INTERVAL '10' SECOND PER k MESSAGE '{k} went quiet'
            NOTIFY 'file:$DIR/gone.jsonl';
            """)
        let t0 = f.clock.nowMillis()
        for k in ["a", "b"] { try f.put("m", #"{"k":"\#(k)"}"#) }
        while try f.engine.step() {}
        f.clock.advance(by: 6_000)
        try f.put("m", #"{"k":"a"}"#)
        while try f.engine.step() {}
        #expect(f.lines("gone.jsonl").isEmpty)
        f.clock.advance(by: 5_000)
        _ = try f.engine.step()
        let fired = try f.lines("gone.jsonl").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        #expect(fired.count == 1 && fired[0]["k"] == "b" && fired[0]["state"] == "FIRING" && fired[0]["message"] == "b went quiet", "\(fired)")
        #expect(fired.first?["at"] == .string(TimeFormat.iso8601(t0 + 10_000)))
        try f.put("m", #"{"k":"b"}"#)
        while try f.engine.step() {}
        #expect(f.lines("gone.jsonl").count == 2 && f.lines("gone.jsonl")[1].contains("RESOLVED"))
    }

    @Test func aSilenceAlertRefusesResolveWhen() throws {
        let f = try EngineFixture()
        #expect(throws: EngineError.self) {
            try f.load("""
                CREATE STREAM m (k VARCHAR) WITH (format = 'json');
                CREATE ALERT gone AS SELECT k FROM m FIRE WHEN SILENT FOR INTERVAL '10' SECOND RESOLVE WHEN k = 'x' PER k;
                """)
        }
    }
}
