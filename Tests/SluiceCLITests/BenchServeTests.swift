import Foundation
import Testing

@Suite("sluice bench serve")
struct BenchServeTests {
    /// The load generator puts every record through the HTTP endpoint and reads every one back
    /// (it exits 1 when a request fails or a record is missing); figures are printed, not judged.
    @Test func putsAndReadsEveryRecordOverHTTP() throws {
        let r = try CLI.run(["bench", "serve", "--records", "3000", "--connections", "3", "--shards", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.lines.contains { $0.hasPrefix("PutRecords: ") && $0.contains("(6 requests)") }, "\(r.stdout)")
        #expect(r.lines.contains { $0.hasPrefix("GetRecords: ") }, "\(r.stdout)")
    }

    @Test func badOptionsAreUsageErrors() throws {
        #expect(try CLI.run(["bench", "serve", "--records", "10"]).status == 2)
    }
}
