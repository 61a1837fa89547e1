import Foundation
import Testing
import SluiceCore

@Suite("sluice gen bids")
struct GenBidsTests {
    /// What the canonical generator (the benchmark's `gen_bids.py`) writes, recorded with it by hand
    /// into the repository, so that the test needs nothing beside it.
    static let reference = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Snapshots/gen_bids/reference.json").path

    static func fnv1a(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return h
    }

    /// The Swift port writes the same bytes as the reference generator, in every variant.
    @Test func matchesTheReferenceGenerator() throws {
        let doc = try JSONValue.parse(bytes: [UInt8](FileManager.default.contents(atPath: Self.reference) ?? Data()))
        let variants = doc["variants"]?.arrayValue ?? []
        #expect(variants.count == 5)
        for v in variants {
            let options = v["options"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let ours = try CLI.run(["gen", "bids", "--records", "5000"] + options)
            #expect(ours.status == 0)
            let bytes = Array(ours.stdout.utf8)
            #expect(Int64(bytes.count) == v["bytes"]?.int64Value, "\(options)")
            #expect(Int64(ours.stdout.filter { $0 == "\n" }.count) == v["lines"]?.int64Value, "\(options)")
            #expect(String(Self.fnv1a(bytes), radix: 16).leftPadded(16) == v["fnv1a64"]?.stringValue, "\(options)")
            let lines = ours.lines
            #expect(Array(lines.prefix(3)) == (v["head"]?.arrayValue?.compactMap(\.stringValue) ?? []), "\(options)")
            #expect(lines.last == v["last"]?.stringValue, "\(options)")
        }
    }

    @Test func badOptionsAreUsageErrors() throws {
        #expect(try CLI.run(["gen", "bids", "--time", "unix"]).status == 2)
        #expect(try CLI.run(["gen", "bids", "--rate", "0"]).status == 2)
        #expect(try CLI.run(["gen", "nope"]).status == 2)
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
