import Foundation
import Testing

/// `sluice bench queries` (its replay source: `sluice run --input` end to end) and `sluice bench
/// parallel`: figures are printed, not judged; what is judged is that every source and every
/// copy computes the same result.
@Suite("sluice bench queries and parallel")
struct BenchQueriesTests {
    @Test func theReplaySourceGivesTheChecksumsOfTheOthers() throws {
        let r = try CLI.run(["bench", "queries", "--records", "3000", "--queries", "c,f", "--sources", "file,stream,replay"])
        #expect(r.status == 0, "\(r.stderr)")
        for q in ["(c)", "(f)"] {
            let rows = r.lines.filter { $0.hasPrefix(q) }
            #expect(rows.count == 3 && rows.contains { $0.contains(" replay ") }, "\(r.stdout)")
            let sums = Set(rows.map { $0.components(separatedBy: "rows=").last ?? "" })
            #expect(sums.count == 1 && sums.first?.isEmpty == false, "\(q) differs between sources: \(rows)")
        }
        let bad = try CLI.run(["bench", "queries", "--records", "10", "--sources", "nope"])
        #expect(bad.status == 2 && bad.stderr.contains("unknown source 'nope' (known: file, stream, replay)"), "\(bad.stderr)")
        #expect(try CLI.run(["bench", "queries", "--records", "10", "--duckdb-threads", "0"]).status == 2)
    }

    @Test func parallelRunsEveryCopyOverEveryRecord() throws {
        let r = try CLI.run(["bench", "parallel", "--records", "3000", "--queries", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.lines.contains { $0.hasPrefix("2       one each") } && r.lines.contains { $0.hasPrefix("2       one for all (a loop)") }, "\(r.stdout)")
        #expect(try CLI.run(["bench", "parallel", "--query", "f"]).status == 2)
    }
}
