import Foundation
import Testing

@Suite("sluice gen bids")
struct GenBidsTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/bench/gen_bids.py").path

    /// The Swift port writes the same bytes as the reference generator, in every variant.
    @Test(arguments: [[String](), ["--time", "iso"], ["--format", "csv"], ["--format", "csv", "--time", "iso"], ["--seed", "7", "--rate", "333"]])
    func matchesTheReferenceGenerator(_ options: [String]) throws {
        guard FileManager.default.fileExists(atPath: Self.script) else {
            Issue.record("\(Self.script) is not there to compare with")
            return
        }
        let ours = try CLI.run(["gen", "bids", "--records", "5000"] + options)
        #expect(ours.status == 0)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.script, "--n", "5000"] + options.map { $0 == "--records" ? "--n" : $0 }
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let theirs = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(ours.stdout == String(decoding: theirs, as: UTF8.self))
        #expect(ours.lines.count == 5000 + (options.contains("csv") ? 1 : 0))
    }

    @Test func badOptionsAreUsageErrors() throws {
        #expect(try CLI.run(["gen", "bids", "--time", "unix"]).status == 2)
        #expect(try CLI.run(["gen", "bids", "--rate", "0"]).status == 2)
        #expect(try CLI.run(["gen", "nope"]).status == 2)
    }
}
