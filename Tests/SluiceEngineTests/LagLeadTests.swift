import Foundation
import Testing
import SluiceCore
import SluiceSQL
import SluiceStreams
@testable import SluiceEngine

/// LAG and LEAD over OVER windows (issue 21): the value of the row `offset` before (after) the
/// current one in its partition, in event-time order, else the default. LEAD's rows wait for the
/// rows after them (or the end of input). Against a model, at any read size and across restarts.
@Suite("LAG and LEAD")
struct LagLeadTests {
    static let sql = """
        CREATE STREAM ev (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
          WITH (shards = 2, format = 'json');
        CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
        INSERT INTO out SELECT k, v,
          LAG(v) OVER (PARTITION BY k ORDER BY ts) AS prev,
          LAG(v, 2, -1) OVER (PARTITION BY k ORDER BY ts) AS prev2,
          LEAD(v) OVER (PARTITION BY k ORDER BY ts) AS next,
          LEAD(v, 3, 0) OVER (PARTITION BY k ORDER BY ts) AS next3
        FROM ev;
        """

    struct Event { var k: String, v: Int64, ts: Int64 }

    /// Seeded events with distinct times, shuffled within less than the watermark's delay.
    static func events() -> [[Event]] {
        var rng = SplitMix64(seed: 33)
        var t: Int64 = 1_704_067_200_000
        var all: [Event] = []
        for _ in 0..<150 {
            t += Int64(rng.next() % 200 + 1)
            all.append(Event(k: "k\(rng.next() % 4)", v: Int64(rng.next() % 1000), ts: t))
        }
        // Swap neighbours now and then: out of order by less than a second.
        for i in stride(from: 1, to: all.count, by: 7) { all.swapAt(i - 1, i) }
        return stride(from: 0, to: all.count, by: 3).map { Array(all[$0..<min(all.count, $0 + 3)]) }
    }

    func run(pollLimit: Int, restart: Bool = false) throws -> String {
        let run = try RestartableRun(sql: Self.sql)
        run.engine.pollLimit = pollLimit
        let ranges = HashKey.evenRanges(count: 2)
        for (i, burst) in Self.events().enumerated() {
            for (j, e) in burst.enumerated() {
                _ = try run.store.putRecord(stream: "ev", data: Array(#"{"k":"\#(e.k)","v":\#(e.v),"ts":\#(e.ts)}"#.utf8), partitionKey: "k",
                                            explicitHashKey: String(ranges[(i + j) % 2].lowerBound))
            }
            run.clock.advance(by: 100)
            try run.drain(restart: restart)
        }
        try run.engine.finish()
        return run.file("out.jsonl")
    }

    @Test func lagAndLeadReadTheRowsBeforeAndAfter() throws {
        let got = try run(pollLimit: 10_000).split(separator: "\n").map(String.init)
        var want: [String] = []
        for (k, es) in Dictionary(grouping: Self.events().flatMap { $0 }, by: \.k) {
            let rows = es.sorted { $0.ts < $1.ts }
            for (i, e) in rows.enumerated() {
                func at(_ j: Int) -> Int64? { rows.indices.contains(j) ? rows[j].v : nil }
                let prev = at(i - 1).map(String.init) ?? "null"
                want.append(#"{"k":"\#(k)","v":\#(e.v),"prev":\#(prev),"prev2":\#(at(i - 2) ?? -1),"next":\#(at(i + 1).map(String.init) ?? "null"),"next3":\#(at(i + 3) ?? 0)}"#)
            }
        }
        #expect(got.count == 150)
        #expect(got.sorted() == want.sorted())
    }

    @Test func anyReadSizeAndRestartsGiveTheSameRows() throws {
        let reference = try run(pollLimit: 10_000)
        for (limit, restart) in [(1, false), (1, true), (4, true)] {
            let got = try run(pollLimit: limit, restart: restart)
            let (a, b) = (reference.split(separator: "\n"), got.split(separator: "\n"))
            let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }.map { "line \($0.offset + 1): \($0.element.0) vs \($0.element.1)" }
            #expect(got == reference, "read size \(limit), restart \(restart): \(a.count) vs \(b.count) lines; \(first ?? "")")
        }
    }

    @Test(arguments: [
        ("SELECT LAG(v) OVER (PARTITION BY k ORDER BY ts ROWS 2 PRECEDING) FROM ev", "plan.over-frame"),
        ("SELECT LAG(v, 0) OVER (PARTITION BY k ORDER BY ts) FROM ev", "bind.bad-arguments"),
        ("SELECT LAG(v, 1, 'x') OVER (PARTITION BY k ORDER BY ts) FROM ev", "bind.type-mismatch"),
        ("SELECT LEAD(v, 1, v) OVER (PARTITION BY k ORDER BY ts) FROM ev", "bind.bad-arguments"),
        ("SELECT LEAD() OVER (PARTITION BY k ORDER BY ts) FROM ev", "bind.bad-arguments"),
        ("SELECT LAG(v) OVER (PARTITION BY k) FROM ev", "plan.over-order"),
    ])
    func badCallsAreRefused(_ sql: String, _ id: String) throws {
        let f = try EngineFixture()
        do {
            try f.load("CREATE STREAM ev (k VARCHAR, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND);\n" + sql + ";")
            Issue.record("planned: \(sql)")
        } catch let e as EngineError {
            #expect(e.diagnostics.first?.id == id, "\(sql): \(e.diagnostics.map(\.message))")
        }
    }
}
