import Foundation
import Testing

@Suite("Samples and the demo")
struct SamplesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The committed sample is exactly what the seeded generator makes.
    @Test func clicksSampleMatchesItsGenerator() throws {
        let r = try CLI.run(["gen", "clicks"])
        #expect(r.status == 0)
        let committed = try String(contentsOf: Self.root.appendingPathComponent("samples/clicks.jsonl"), encoding: .utf8)
        #expect(r.stdout == committed)
        // Another seed gives other data; the same seed the same data.
        #expect(try CLI.run(["gen", "clicks", "--records", "50", "--seed", "8"]).stdout != String(committed.prefix(r.stdout.count)))
        #expect(try CLI.run(["gen", "clicks", "--records", "50", "--seed", "8"]).stdout == CLI.run(["gen", "clicks", "--records", "50", "--seed", "8"]).stdout)
    }

    /// Every other committed sample is exactly what its seeded generator makes; another seed or
    /// start gives other data.
    @Test(arguments: [("sensors", "sensors.csv"), ("payments", "payments.jsonl"), ("logs", "logs.jsonl")])
    func sampleMatchesItsGenerator(_ set: String, _ file: String) throws {
        let r = try CLI.run(["gen", set])
        #expect(r.status == 0, "\(r.stderr)")
        let committed = try String(contentsOf: Self.root.appendingPathComponent("samples/" + file), encoding: .utf8)
        #expect(r.stdout == committed, "samples/\(file) is not what `sluice gen \(set)` makes")
        #expect(try CLI.run(["gen", set, "--seed", "99"]).stdout != committed)
        let later = try CLI.run(["gen", set, "--start", "2024-06-01T12:00:00Z"]).stdout
        #expect(later.contains("2024-06-01T12:0") && !later.contains("2024-01-01T"))
    }

    @Test func demoRunsOnTheBundledSample() throws {
        let dir = TempDir()
        let r = try CLI.run(["demo", "--input", Self.root.appendingPathComponent("samples/clicks.jsonl").path, "--data-dir", dir.path + "/d"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("consumer 'demo' read 15000 records; every key in put order: yes"))
        let missing = try CLI.run(["demo", "--input", dir.path + "/none.jsonl"])
        #expect(missing.status == 2 && missing.stderr.contains("cannot read"))
    }
}
