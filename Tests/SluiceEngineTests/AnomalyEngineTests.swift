import Foundation
import Testing
import SluiceCore
import SluiceSQL
import SluiceStreams
@testable import SluiceEngine

@Suite("RANDOM_CUT_FOREST in the engine")
struct AnomalyEngineTests {
    static let sql = """
        CREATE STREAM bids (auction BIGINT, bidder VARCHAR, price DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '3' SECOND)
          WITH (format = 'json');
        CREATE SINK scores WITH (type = 'file', path = '$DIR/scores.jsonl');
        CREATE SINK windows WITH (type = 'file', path = '$DIR/windows.csv', format = 'csv');
        CREATE SINK bounded WITH (type = 'file', path = '$DIR/bounded.jsonl');
        INSERT INTO scores SELECT auction, price, ts, anomaly_score, price_attribution, price_direction, anomaly_explanation
          FROM RANDOM_CUT_FOREST_WITH_EXPLANATION(bids, COLUMNS (price), PARTITION BY auction, trees => 20, sample_size => 32, shingle => 2);
        INSERT INTO windows SELECT window_end, n, top, anomaly_score
          FROM RANDOM_CUT_FOREST((SELECT window_end, COUNT(*) AS n, MAX(price) AS top FROM TUMBLE(bids, ts, INTERVAL '2' SECOND)
                                  GROUP BY window_start, window_end), COLUMNS (n, top), trees => 20, sample_size => 16, score => 'depth');
        INSERT INTO bounded SELECT auction, anomaly_score
          FROM RANDOM_CUT_FOREST(bids, COLUMNS (price), PARTITION BY auction, trees => 10, sample_size => 16, output_after => 2, max_partitions => 4);
        CREATE SINK flat WITH (type = 'file', path = '$DIR/flat.jsonl');
        INSERT INTO flat SELECT auction, ts, flat_rows, anomaly_score
          FROM FLAT_LINE(bids, COLUMNS (price), PARTITION BY auction, tolerance => 40, max_partitions => 4);
        """

    @Test(arguments: [false, true])
    func aResumedForestScoresExactlyAsAnUninterruptedOne(stopCleanly: Bool) throws {
        let records = CheckpointTests.bids(900)
        let whole = try RestartableRun(sql: Self.sql)
        for chunk in stride(from: 0, to: 900, by: 100) { try whole.put(records[chunk..<chunk + 100]) }
        try whole.engine.finish()

        let parts = try RestartableRun(sql: Self.sql)
        try parts.put(records[0..<400])
        try parts.engine.checkpoint()
        try parts.put(records[400..<550])
        if stopCleanly { try parts.engine.stop() }
        try parts.crashAndReopen()
        #expect(parts.engine.resumedQueries.count == 4)
        for chunk in stride(from: 550, to: 900, by: 50) { try parts.put(records[chunk..<min(900, chunk + 50)]) }
        try parts.engine.finish()

        let scores = whole.file("scores.jsonl").split(separator: "\n")
        #expect(scores.count == 900)
        #expect(parts.file("scores.jsonl") == whole.file("scores.jsonl"))
        #expect(parts.file("windows.csv") == whole.file("windows.csv"))
        // Six auctions through four forests: evictions before and after the restart, decided alike.
        #expect(parts.file("bounded.jsonl") == whole.file("bounded.jsonl"))
        // FLAT_LINE's runs go on across the restart alike; some prices stay within 40 for a while.
        #expect(parts.file("flat.jsonl") == whole.file("flat.jsonl"))
        #expect(whole.file("flat.jsonl").split(separator: "\n").count == 900 && whole.file("flat.jsonl").contains("\"flat_rows\":3"))
        #expect(whole.file("bounded.jsonl").split(separator: "\n").count == 900)
        #expect(whole.file("windows.csv").split(separator: "\n").count > 60)
        // The windows' forest scores by depth: never above log2(1 + sample_size), the score of a point cut off at the root.
        let windowScores = whole.file("windows.csv").split(separator: "\n").dropFirst().compactMap { Double($0.split(separator: ",").last!) }
        #expect(windowScores.count > 60 && windowScores.allSatisfy { $0 <= log2(17.0) + 1e-9 } && windowScores.contains { $0 > 1 })
        // Past the warm-up the scores are real ones, with an explanation.
        let last = try JSONValue.parse(bytes: Array(scores.last!.utf8))
        #expect((last["anomaly_score"]?.doubleValue ?? 0) > 0)
        #expect(["HIGH", "LOW"].contains(last["price_direction"]?.stringValue ?? ""))
        let explanation = try JSONValue.parse(bytes: Array((last["anomaly_explanation"]?.stringValue ?? "").utf8))
        #expect(explanation["price"]?["ATTRIBUTION_SCORE"] == last["price_attribution"])
    }

    /// Rows are scored in event-time order, whatever order they arrive in (within the watermark
    /// delay): the forest sees the same sequence, so the scores are the same.
    @Test func arrivalOrderWithinTheWatermarkDelayDoesNotChangeTheScores() throws {
        var records = CheckpointTests.bids(300).enumerated().map { i, r in
            r.replacingOccurrences(of: #""ts":\d+"#, with: "\"ts\":\(1_704_067_200_000 + Int64(i) * 200)", options: .regularExpression)
        }
        let inOrder = try RestartableRun(sql: Self.sql)
        try inOrder.put(records[0..<300])
        try inOrder.engine.finish()
        // Swap neighbours: each record arrives at most 200 ms away from its place.
        for i in stride(from: 0, to: 298, by: 2) { records.swapAt(i, i + 1) }
        let shuffled = try RestartableRun(sql: Self.sql)
        for chunk in stride(from: 0, to: 300, by: 7) { try shuffled.put(records[chunk..<min(300, chunk + 7)]) }
        try shuffled.engine.finish()
        #expect(shuffled.file("scores.jsonl") == inOrder.file("scores.jsonl"))
        #expect(inOrder.file("scores.jsonl").split(separator: "\n").count == 300)
    }

    @Test func nullsPassUnscoredAndLateRowsGoToTheErrorStream() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM m (k VARCHAR, x DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
              WITH (format = 'json', late_records = 'error_stream');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            INSERT INTO out SELECT k, x, anomaly_score FROM RANDOM_CUT_FOREST(m, COLUMNS (x), PARTITION BY k, trees => 10, sample_size => 8);
            """)
        var t: Int64 = 1_704_067_200_000
        for i in 0..<40 {
            t += 1000
            try f.put("m", #"{"k":"a","x":\#(Double(i % 5)),"ts":\#(t)}"#)
            if i == 20 { try f.put("m", #"{"k":"a","x":null,"ts":\#(t + 1)}"#) }
        }
        try f.put("m", #"{"k":"a","x":99,"ts":\#(t + 1000)}"#)
        f.clock.advance(by: 100)
        while try f.engine.step() {}
        try f.put("m", #"{"k":"a","x":1,"ts":\#(1_704_067_200_000)}"#)  // long behind the watermark
        f.clock.advance(by: 100)
        while try f.engine.step() {}
        try f.engine.finish()
        let rows = try f.lines("out.jsonl").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        #expect(rows.count == 42)
        #expect(rows[21]["x"] == .null && rows[21]["anomaly_score"] == .null, "\(rows[21])")
        #expect(rows[0]["anomaly_score"] == .double(0), "scores are 0 during the warm-up")
        let outlier = rows[41]["anomaly_score"]?.doubleValue ?? 0
        let ordinary = rows[30...40].compactMap { $0["anomaly_score"]?.doubleValue }.max() ?? 9
        #expect(outlier > 2 * ordinary, "\(outlier) vs \(ordinary)")
        let late = try f.errorStream().filter { $0["error_kind"] == "late" }
        #expect(late.count == 1 && (late.first?["message"]?.stringValue ?? "").contains("random cut forest"), "\(late)")
    }

    /// An alert over a forest is per partition by default, and its rows' time is their event time.
    @Test func anAlertOnScoresIsPerPartitionAtEventTime() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM m (k VARCHAR, x DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (format = 'json');
            CREATE ALERT odd AS SELECT k, x, ts, anomaly_score FROM RANDOM_CUT_FOREST(m, COLUMNS (x), PARTITION BY k, trees => 20, sample_size => 16)
            FIRE WHEN anomaly_score > 3 NOTIFY 'file:$DIR/alerts.jsonl';
            """)
        var t: Int64 = 1_704_067_200_000
        for i in 0..<60 {
            t += 1000
            for k in ["a", "b"] { try f.put("m", #"{"k":"\#(k)","x":\#(k == "b" && i == 50 ? 40 : Double(i % 3)),"ts":\#(t)}"#) }
        }
        f.clock.advance(by: 100)
        while try f.engine.step() {}
        try f.engine.finish()
        let alerts = try f.lines("alerts.jsonl").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        let firing = alerts.filter { $0["state"] == "FIRING" }
        #expect(firing.count == 1, "\(alerts)")
        #expect(firing.first?["k"] == "b")
        #expect(firing.first?["at"] == .string(TimeFormat.iso8601(1_704_067_200_000 + 51_000)))
    }
}
