import Testing
import SluiceCore
import SluiceSQL
@testable import SluicePlanner

@Suite("Optimizer")
struct OptimizerTests {
    let f = Fixture()

    /// A folder for tests: integer arithmetic and comparisons of literals.
    static let fold: Optimizer.Fold = { e in
        switch e {
        case .arithmetic("+", .literal(.int(let a), _), .literal(.int(let b), _), _): return .int(a + b)
        case .arithmetic("*", .literal(.int(let a), _), .literal(.int(let b), _), _): return .int(a * b)
        case .compare("=", .literal(let a, _), .literal(let b, _)): return .bool(a == b)
        default: return nil
        }
    }

    func optimized(_ sql: String) -> String {
        guard case .success(let p) = f.plan(sql) else { return "no plan" }
        return Optimizer(fold: Self.fold).optimize(p).explain
    }

    @Test func filtersGoIntoTheSourceAndOnlyUsedColumnsAreDecoded() {
        #expect(optimized("SELECT user_id FROM clicks WHERE status >= 500") == """
            Project: user_id
              Source: clicks columns=[user_id, status] watermark=ts - 5s filter=status >= 500
            """)
    }

    @Test func streamConditionsGoBelowALookupJoinAndOverWindowsReadOnlyWhatTheyUse() {
        let g = Fixture("""
            CREATE STREAM clicks (user_id VARCHAR, url VARCHAR, latency_ms DOUBLE, status BIGINT, ts TIMESTAMP,
              WATERMARK FOR ts AS ts - INTERVAL '5' SECOND);
            CREATE TABLE pages (url VARCHAR PRIMARY KEY, owner VARCHAR, tier BIGINT) WITH (file = 'pages.csv');
            """)
        guard case .success(let p) = g.plan("""
            SELECT c.url, owner, AVG(latency_ms) OVER (PARTITION BY owner ORDER BY ts RANGE INTERVAL '1' MINUTE PRECEDING) AS a
            FROM clicks c LEFT JOIN pages p ON c.url = p.url AND p.tier < 3 WHERE status = 200 AND owner IS NOT NULL
            """) else { Issue.record("no plan"); return }
        #expect(Optimizer(fold: Self.fold).optimize(p).explain == """
            Project: url, owner, AVG(latency_ms) AS a
              OverWindow: partition=[owner] range=1m aggs=[AVG(latency_ms)] order=ts
                Filter: owner IS NOT NULL
                  LookupJoin: left pages on [url = pages.url] and tier < 3
                    Source: clicks columns=[url, latency_ms, status, ts] watermark=ts - 5s filter=status = 200
            """)
    }

    @Test func windowedAggregatesReadOnlyWhatTheyUse() {
        #expect(optimized("""
            SELECT window_start, url, MAX(latency_ms) AS m FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND)
            WHERE status = 200 GROUP BY window_start, window_end, url HAVING COUNT(*) > 1
            """) == """
            Project: window_start, url, MAX(latency_ms) AS m
              Filter: COUNT(*) > 1
                WindowAggregate: tumble(size=10s) time=ts keys=[url] aggs=[MAX(latency_ms), COUNT(*)] emit=final
                  Source: clicks columns=[url, latency_ms, status, ts] watermark=ts - 5s filter=status = 200
            """)
    }

    @Test func constantsFold() {
        #expect(optimized("SELECT status + (1 + 2) * 3 AS x FROM clicks WHERE 1 = 1 AND status > 2 * 100") == """
            Project: (status + 9) AS x
              Source: clicks columns=[status] watermark=ts - 5s filter=status > 200
            """)
        // An always-true filter disappears.
        #expect(optimized("SELECT user_id FROM clicks WHERE 2 = 2") == """
            Project: user_id
              Source: clicks columns=[user_id] watermark=ts - 5s
            """)
    }

    @Test func columnIndexesStayRightAfterPruning() throws {
        guard case .success(let p) = f.plan("SELECT ts, user_id, status FROM clicks WHERE latency_ms > 1") else { Issue.record("plan"); return }
        let o = Optimizer().optimize(p)
        guard case .project(.source(let s), let exprs, _) = o else { Issue.record("shape: \(o.explain)"); return }
        for e in exprs {
            guard case .column(let i, let name, _) = e else { continue }
            #expect(s.columns[i].name == name)
        }
        #expect(s.predicate.map { $0.columns.map { s.columns[$0].name } } == ["latency_ms"])
    }
}
