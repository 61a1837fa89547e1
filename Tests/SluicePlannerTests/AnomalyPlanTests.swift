import Testing
import SluiceCore
import SluiceSQL
@testable import SluicePlanner

@Suite("Planning RANDOM_CUT_FOREST")
struct AnomalyPlanTests {
    let f = Fixture()

    @Test func aForestOverAStreamAddsItsColumnsAndKeepsOnlyWhatItReads() {
        guard case .success(let plan) = f.plan("""
            SELECT url, anomaly_score FROM RANDOM_CUT_FOREST(clicks, COLUMNS (latency_ms, status), PARTITION BY url, trees => 50, shingle => 4, time_decay => 0.001)
            """) else { Issue.record("not planned"); return }
        let text = Optimizer().optimize(plan).explain
        #expect(text == """
            Project: url, anomaly_score
              AnomalyDetection: columns=[latency_ms, status] partition=[url] trees=50 sample_size=256 shingle=4 time_decay=0.001 seed=42 warm_up=65 order=ts
                Source: clicks columns=[url, latency_ms, status, ts] watermark=ts - 5s
            """, "\(text)")
        // With the explanation: a score, then attribution and direction per column, then the JSON form.
        guard case .success(let p) = f.plan("SELECT * FROM RANDOM_CUT_FOREST_WITH_EXPLANATION(clicks, COLUMNS (latency_ms, status)) AS r") else {
            Issue.record("not planned"); return
        }
        #expect(p.schema.map(\.name).suffix(6) == ["anomaly_score", "latency_ms_attribution", "latency_ms_direction", "status_attribution",
                                                    "status_direction", "anomaly_explanation"])
        #expect(p.schema.map(\.type).suffix(6) == [.double, .double, .varchar, .double, .varchar, .varchar])
        // A bound on the forests other than the default shows.
        #expect(f.explain("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status), PARTITION BY url, max_partitions => 500)")
            .contains("seed=42 max_partitions=500 warm_up=65 order=ts"))
        // The score, when one is named.
        #expect(f.explain("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status), score => 'Depth')").contains("seed=42 score=depth warm_up=65"))
        #expect(f.explain("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status), score => 'displacement')").contains("score=displacement"))
        // FLAT_LINE: the run's length and its score.
        guard case .success(let flat) = f.plan("SELECT * FROM FLAT_LINE(clicks, COLUMNS (latency_ms), PARTITION BY url, tolerance => 0.5)") else {
            Issue.record("FLAT_LINE not planned"); return
        }
        #expect(flat.schema.suffix(2).map(\.name) == ["flat_rows", "anomaly_score"] && flat.schema.suffix(2).map(\.type) == [.bigint, .double])
        #expect(f.explain("SELECT * FROM FLAT_LINE(clicks, COLUMNS (latency_ms), PARTITION BY url, tolerance => 0.5)")
            .contains("FLAT_LINE columns=[latency_ms] partition=[url] tolerance=0.5 order=ts"))
        // A stream without an event time is ordered by ROWTIME.
        #expect(f.explain("SELECT n FROM RANDOM_CUT_FOREST(raw, COLUMNS (n))").contains("order=ROWTIME"))
    }

    @Test func aWindowedSubqueryIsScoredOnItsWindowEnd() {
        let text = f.explain("""
            SELECT r.url, r.anomaly_score FROM RANDOM_CUT_FOREST(
              (SELECT window_end, url, COUNT(*) AS hits FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, url),
              COLUMNS (hits), PARTITION BY url) AS r WHERE r.anomaly_score > 3
            """)
        #expect(text.contains("AnomalyDetection: columns=[hits] partition=[url]") && text.contains("order=window_end"), "\(text)")
        #expect(text.contains("Filter: anomaly_score > 3"), "\(text)")
        // A subquery over a stream keeps the stream's event time.
        #expect(f.explain("SELECT * FROM RANDOM_CUT_FOREST((SELECT ts, latency_ms FROM clicks WHERE status = 200), COLUMNS (latency_ms))")
            .contains("order=ts"))
    }

    @Test(arguments: [
        ("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (url))", "bind.type-mismatch", "RANDOM_CUT_FOREST looks at numbers; url is VARCHAR"),
        ("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (latncy_ms))", "bind.unknown-column", "latncy_ms"),
        ("SELECT * FROM RANDOM_CUT_FOREST(clicks, PARTITION BY url)", "plan.bad-anomaly", "needs the columns it looks at"),
        ("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status, status))", "plan.bad-anomaly", "status is named twice"),
        ("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status), tress => 10)", "plan.bad-anomaly", "no parameter 'tress'"),
        ("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status), trees => 0)", "plan.bad-anomaly", "trees must be a whole number from 1 to 1000"),
        ("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status), shingle => 2.5)", "plan.bad-anomaly", "shingle must be a whole number"),
        ("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status), time_decay => 2)", "plan.bad-anomaly", "time_decay must be from 0"),
        ("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status), trees => status)", "plan.bad-anomaly", "is a number, not status"),
        ("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status), score => 'isolation')", "plan.bad-anomaly", "score is one of 'depth', 'displacement'"),
        ("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status), score => 1)", "plan.bad-anomaly", "score is one of"),
        ("SELECT * FROM FLAT_LINE(clicks, COLUMNS (status), trees => 10)", "plan.bad-anomaly", "FLAT_LINE has no parameter 'trees'"),
        ("SELECT * FROM FLAT_LINE(clicks, COLUMNS (status), tolerance => -1)", "plan.bad-anomaly", "tolerance must be 0 or more"),
        ("SELECT * FROM FLAT_LINE(clicks, PARTITION BY url)", "plan.bad-anomaly", "FLAT_LINE needs the columns it looks at"),
        ("SELECT * FROM FLAT_LINE(clicks, COLUMNS (url))", "bind.type-mismatch", "FLAT_LINE looks at numbers"),
        ("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status), PARTITION BY url, max_partitions => 0)", "plan.bad-anomaly",
         "max_partitions must be a whole number from 1 to 100000000"),
        ("SELECT * FROM RANDOM_CUT_FOREST(nope, COLUMNS (status))", "bind.unknown-stream", "unknown stream 'nope'"),
        ("SELECT * FROM RANDOM_CUT_FOREST((SELECT url, COUNT(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, url), COLUMNS (n))",
         "plan.anomaly-needs-time", "must output window_end"),
        ("SELECT * FROM RANDOM_CUT_FOREST((SELECT latency_ms FROM clicks), COLUMNS (latency_ms))", "plan.anomaly-needs-time", "must output ts"),
        ("SELECT * FROM RANDOM_CUT_FOREST((SELECT url, COUNT(*) AS n FROM clicks GROUP BY url EMIT CHANGES), COLUMNS (n))", "plan.updating-input",
         "this input is an updating result"),
    ])
    func badForestsAreRefusedWithAReason(_ sql: String, _ id: String, _ message: String) {
        let d = f.error(sql)
        #expect(d?.id == id, "\(String(describing: d))")
        #expect(d?.message.contains(message) == true, "\(String(describing: d))")
    }

    @Test func aMisspelledParameterGetsASuggestion() {
        #expect(f.error("SELECT * FROM RANDOM_CUT_FOREST(clicks, COLUMNS (status), sample_sise => 64)")?.help == "did you mean sample_size?")
    }
}
