import Foundation
import SluiceCore
import Testing
@testable import SluiceDataflow

@Suite("FLAT_LINE")
struct FlatLineTests {
    @Test func runsAreCountedAndScoredAgainstTheTypicalRun() {
        let f = FlatLine(FlatLine.Configuration(), dimensions: 1)
        // Values that move: runs of 1, typical 1.
        for x in [1.0, 2, 3, 4] { #expect(f.update([x]) == (1, 1)) }
        // A value held: the run grows, and so does the score.
        #expect(f.update([4]) == (2, 2))
        #expect(f.update([4]) == (3, 3))
        // It moves again: the run of 3 ended and counts as ordinary (at most 8 rows), so the
        // typical run is (1 + 1 + 1 + 3) / 4 = 1.5.
        #expect(f.update([5]).rows == 1)
        #expect(f.typical == 1.5)
        // A stuck stretch of 40 rows scores up to 40 / 1.5 ...
        var last = (rows: Int64(0), score: 0.0)
        for _ in 0..<39 { last = f.update([5]) }
        #expect(last.rows == 40 && abs(last.score - 40 / 1.5) < 1e-12)
        // ... and when it ends it does not teach the partition that stuck is normal.
        _ = f.update([6])
        #expect(f.typical == 1.5)
    }

    @Test func toleranceLetsValuesJitterAndEveryColumnCounts() {
        let f = FlatLine(FlatLine.Configuration(tolerance: 0.1), dimensions: 2)
        #expect(f.update([10, 1]).rows == 1)
        #expect(f.update([10.05, 1]).rows == 2)
        #expect(f.update([9.98, 1.02]).rows == 3, "the run's range is 0.07 and 0.02: within 0.1")
        #expect(f.update([10.09, 1]).rows == 1, "10.09 - 9.98 > 0.1: the run's range counts, not the step")
        #expect(f.update([10.09, 5]).rows == 1, "the second column moved")
    }

    @Test func snapshotsRestoreExactlyAndDamageIsRefused() throws {
        let f = FlatLine(FlatLine.Configuration(tolerance: 0.5), dimensions: 2)
        var rng = SplitMix64(seed: 4)
        let points = (0..<300).map { i in i % 50 < 10 ? [3.0, 3.0] : [Double(rng.below(5)), Double(rng.below(5))] }
        var expected: [(rows: Int64, score: Double)] = []
        let g = FlatLine(FlatLine.Configuration(tolerance: 0.5), dimensions: 2)
        for (i, p) in points.enumerated() {
            expected.append(f.update(p))
            if i < 120 { _ = g.update(p) }
        }
        let h = FlatLine(FlatLine.Configuration(tolerance: 0.5), dimensions: 2)
        try h.restore(try JSONValue.parse(g.snapshot.serialized()))
        let rest = points[120...].map { h.update($0) }
        #expect(rest.map(\.rows) == expected[120...].map(\.rows) && rest.map(\.score) == expected[120...].map(\.score))
        guard case .object(let good) = g.snapshot else { Issue.record("not an object"); return }
        for (key, value) in [("low", JSONValue.array([1])), ("run", -1), ("ended_rows", "many")] {
            var bad = good
            bad[key] = value
            #expect(throws: SnapshotError.self) { try FlatLine(FlatLine.Configuration(), dimensions: 2).restore(.object(bad)) }
        }
    }

    /// Per partition, in event-time order, through the operator: a partition that sticks scores
    /// high, one that moves does not, and a NULL passes unscored.
    @Test func theOperatorKeepsOneRunPerPartition() {
        let op = AnomalyDetectionOperator(detector: .flatLine(FlatLine.Configuration()), columnNames: ["v"], keyCount: 1, inclusive: false)
        var rows: [[Value]] = []
        for t in 0..<20 {
            rows.append([.timestamp(Int64(t) * 1000), .string("stuck"), .double(7)])
            rows.append([.timestamp(Int64(t) * 1000), .string("moving"), .double(Double(t))])
        }
        rows.append([.timestamp(20_000), .string("moving"), .null])
        var tb = ColumnBuilder(.timestamp), kb = ColumnBuilder(.varchar), vb = ColumnBuilder(.double)
        for r in rows {
            if case .timestamp(let t) = r[0] { tb.append(int: t) }
            if case .string(let k) = r[1] { var k = k; k.withUTF8 { kb.append(utf8: UnsafeRawBufferPointer($0)) } }
            if case .double(let v) = r[2] { vb.append(double: v) } else { vb.appendNull() }
        }
        let batch = Batch(schema: Schema([Field("t", .timestamp), Field("k", .varchar), Field("v", .double)]),
                          columns: [tb.finish(), kb.finish(), vb.finish()], count: rows.count)
        #expect(op.add(batch, rows: rows).isEmpty)
        let out = op.advance(to: 21_000)
        #expect(out.count == 41)
        let stuck = out.filter { $0[1] == .string("stuck") }, moving = out.filter { $0[1] == .string("moving") }
        #expect(stuck.last![3] == .int(20) && stuck.last![4] == .double(20))
        #expect(moving.dropLast().allSatisfy { $0[3] == .int(1) && $0[4] == .double(1) })
        #expect(moving.last![3] == .null && moving.last![4] == .null)
        #expect(op.explain.contains("flat line columns=[v] keys=1 tolerance=0.0") && op.warmUp == 0)
    }
}
