import Testing
import SluiceCore
import SluiceSQL
@testable import SluicePlanner

/// GROUP BY a monotonic expression of the stream's time (FLOOR(t TO unit), KDA's STEP(t BY ...))
/// without EMIT is a tumbling window.
@Suite("Monotonic GROUP BY")
struct MonotonicGroupByTests {
    let f = Fixture()

    func same(_ a: String, _ b: String) -> Bool {
        guard case .success(let x) = f.plan(a), case .success(let y) = f.plan(b) else { return false }
        return x.explain == y.explain && x.schema.map(\.type) == y.schema.map(\.type)
    }

    @Test func floorToAUnitIsATumblingWindow() {
        #expect(same("SELECT url, FLOOR(ts TO MINUTE) AS minute, COUNT(*) AS n FROM clicks GROUP BY url, FLOOR(ts TO MINUTE)",
                     "SELECT url, window_start AS minute, COUNT(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, url"))
        guard case .success(let p) = f.plan("SELECT url, FLOOR(ts TO MINUTE) AS minute, COUNT(*) AS n FROM clicks GROUP BY url, FLOOR(ts TO MINUTE)") else {
            Issue.record("not planned"); return
        }
        #expect(p.schema.map(\.name) == ["url", "minute", "n"])
        // With EMIT CHANGES it stays an updating aggregate, as before.
        #expect(f.explain("SELECT url, COUNT(*) AS n FROM clicks GROUP BY url, FLOOR(ts TO MINUTE) EMIT CHANGES").contains("Aggregate"))
        #expect(!f.explain("SELECT url, COUNT(*) AS n FROM clicks GROUP BY url, FLOOR(ts TO MINUTE) EMIT CHANGES").contains("WindowAggregate"))
    }

    @Test func kdasStepAndRowtimeReadAsTheWindow() {
        let (s, d) = Parser.parse("""
            SELECT STREAM url, STEP(clicks.ROWTIME BY INTERVAL '10' SECOND) AS t, ROWTIME, COUNT(*) AS n
            FROM clicks GROUP BY url, STEP(clicks.ROWTIME BY INTERVAL '10' SECOND)
            """, dialect: .kda).script.statements.first.map { ($0, [Diagnostic]()) } ?? (nil, [])
        #expect(d.isEmpty)
        guard case .query(let q)? = s?.kind else { Issue.record("not a query"); return }
        let plan = try? Planner(catalog: f.catalog).plan(q)
        #expect(plan?.schema.map(\.name) == ["URL", "T", "ROWTIME", "N"], "\(String(describing: plan?.schema))")
        #expect(plan?.explain.contains("tumble(size=10s)") == true && plan?.explain.contains("time=ROWTIME") == true, "\(plan?.explain ?? "")")
    }

    @Test func otherFormsAreLeftAlone() {
        // Two monotonic keys, or FLOOR to a month, are not a window: refused as before.
        #expect(f.error("SELECT COUNT(*) AS n FROM clicks GROUP BY FLOOR(ts TO MINUTE), FLOOR(ts TO HOUR)")?.id == "plan.unwindowed-aggregate-needs-emit-changes")
        #expect(f.error("SELECT COUNT(*) AS n FROM clicks GROUP BY FLOOR(ts TO MONTH)") != nil)
    }
}
