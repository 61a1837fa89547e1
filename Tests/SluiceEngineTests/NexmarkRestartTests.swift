import Foundation
import Testing
import SluiceCore
import SluiceStreams
@testable import SluiceCLI
@testable import SluiceEngine

/// Every query of `queries/nexmark/` (issue 21: "restarts in the middle giving the same output"):
/// the generated events put into the built-in streams in bursts, the query run once straight
/// through, and once stopped and resumed from its checkpoint after every step at a small read
/// size; both runs write the same file, row for row.
@Suite("Nexmark queries across restarts")
struct NexmarkRestartTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let queries: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("queries/nexmark").path)) ?? [])
        .filter { $0.hasSuffix(".sql") }.map { String($0.dropLast(4)) }.sorted { Int($0.dropFirst())! < Int($1.dropFirst())! }

    /// 3,000 events at 200 a second (15 s of event time: several 10 s windows), as (stream, JSON).
    static let events: [(stream: String, json: String)] = {
        var g = NexmarkGenerator(seed: 42, rate: 200, baseMillis: 1_704_067_200_000)
        var line: [UInt8] = []
        return (0..<3_000).map { n -> (String, String) in
            line.removeAll(keepingCapacity: true)
            let kind = g.event(Int64(n), into: &line)
            return (kind.rawValue, String(decoding: line.prefix { $0 != 10 }, as: UTF8.self))
        }
    }()

    @Test func thereIsAQueryFileForEveryNexmarkQuery() {
        #expect(Self.queries == (0...22).map { "q\($0)" })
    }

    func run(_ name: String, pollLimit: Int, restart: Bool) throws -> String {
        let side = NSTemporaryDirectory() + "sluice-nexmark-side-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: side) }
        _ = try NexmarkGenerator.writeFiles(events: 1, seed: 42, rate: 200, baseMillis: 1_704_067_200_000, dir: side)
        let sql = try String(contentsOf: Self.root.appendingPathComponent("queries/nexmark/\(name).sql"), encoding: .utf8)
            .replacingOccurrences(of: "'out/nexmark/", with: "'$DIR/")
            .replacingOccurrences(of: "'nexmark/side_input.csv'", with: "'\(side)/side_input.csv'")
        let run = try RestartableRun(sql: sql)
        run.engine.pollLimit = pollLimit
        let declared = Set(run.engine.catalog.streamNames.map { $0.lowercased() })
        var k = 0
        for burst in stride(from: 0, to: Self.events.count, by: 150) {
            for e in Self.events[burst..<min(burst + 150, Self.events.count)] where declared.contains(e.stream) {
                k += 1
                _ = try run.store.putRecord(stream: e.stream, data: Array(e.json.utf8), partitionKey: "k\(k % 7)")
            }
            run.clock.advance(by: 1_000)
            try run.drain(restart: restart)
        }
        try run.engine.finish()
        return run.file("\(name).jsonl")
    }

    @Test(arguments: queries)
    func aQueryStoppedAndResumedAfterEveryStepWritesWhatAnUninterruptedOneWrites(_ name: String) throws {
        let straight = try run(name, pollLimit: 10_000, restart: false)
        #expect(straight != "<missing>" && !straight.isEmpty, "\(name) wrote nothing")
        let resumed = try run(name, pollLimit: 97, restart: true)
        let a = straight.split(separator: "\n"), b = resumed.split(separator: "\n")
        let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }.map { "line \($0.offset + 1): \($0.element.0) vs \($0.element.1)" }
        #expect(resumed == straight, "\(name): \(a.count) vs \(b.count) lines; \(first ?? "")")
    }
}
