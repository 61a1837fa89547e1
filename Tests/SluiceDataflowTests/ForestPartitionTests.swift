import Testing
import SluiceCore
@testable import SluiceDataflow

/// RANDOM_CUT_FOREST keeps at most `max_partitions` forests: a new partition beyond them evicts the
/// forest used longest ago.
@Suite("Forests per partition")
struct ForestPartitionTests {
    static let configuration = RandomCutForest.Configuration(dimensions: 1, trees: 10, sampleSize: 16, outputAfter: 3)

    func op(_ max: Int) -> AnomalyDetectionOperator {
        AnomalyDetectionOperator(configuration: Self.configuration, columnNames: ["x"], keyCount: 1, explanation: false, inclusive: false, maxPartitions: max)
    }

    /// Rows (time, key, x) through the operator, one at a time, each scored at once; the scores.
    func scores(_ o: AnomalyDetectionOperator, _ rows: [(Int64, Int64, Double)]) -> [Double] {
        var out: [Double] = []
        for (t, k, x) in rows {
            var tb = ColumnBuilder(.timestamp), kb = ColumnBuilder(.bigint), xb = ColumnBuilder(.double)
            tb.append(int: t); kb.append(int: k); xb.append(double: x)
            let b = Batch(schema: Schema([Field("t", .timestamp), Field("k", .bigint), Field("x", .double)]),
                          columns: [tb.finish(), kb.finish(), xb.finish()], count: 1)
            #expect(o.add(b, rows: [[.int(k)]]).isEmpty)
            for r in o.advance(to: t + 1) { if case .double(let s) = r.last! { out.append(s) } }
        }
        return out
    }

    /// Values near the ends of Double (±1e308) made a box's size infinite and the forest's cut
    /// never separated a point: a query hung. Beyond ±1e300 a row passes with a NULL score, as one
    /// with NaN does, and the forest goes on with the rest; at ±1e300 it is scored.
    @Test func valuesNearTheEndsOfDoubleAreNotSeen() {
        let o = op(3)
        var out: [Value] = []
        let values: [Double] = [1e308, -1e308, 1, 1e300, -1e300, 2, 1e301, .nan, 3, 1e308, -1e308, 4, 5, 6, 7]
        for (i, x) in values.enumerated() {
            var tb = ColumnBuilder(.timestamp), kb = ColumnBuilder(.bigint), xb = ColumnBuilder(.double)
            tb.append(int: Int64(i)); kb.append(int: 1); xb.append(double: x)
            let b = Batch(schema: Schema([Field("t", .timestamp), Field("k", .bigint), Field("x", .double)]),
                          columns: [tb.finish(), kb.finish(), xb.finish()], count: 1)
            #expect(o.add(b, rows: [[.int(1)]]).isEmpty)
            for r in o.advance(to: Int64(i) + 1) { out.append(r.last!) }
        }
        #expect(out.count == values.count)
        for (x, score) in zip(values, out) {
            if x.isNaN || abs(x) > 1e300 { #expect(score == .null, "\(x)") } else { #expect(score != .null, "\(x)") }
        }
        #expect(out.last.map { if case .double(let s) = $0 { return s.isFinite && s > 0 }; return false } == true)
    }

    @Test func theForestUsedLongestAgoMakesRoomAndItsPartitionStartsAfresh() {
        let o = op(3)
        var rows: [(Int64, Int64, Double)] = []
        for k: Int64 in [1, 2, 3] { for i in 0..<4 { rows.append((Int64(rows.count), k, Double(i * 7 % 5))) } }
        rows.append((12, 1, 2))  // 1 is used again: 2 is now the one used longest ago
        let first = scores(o, rows)
        #expect(first[7] > 0)  // partition 2's forest was warm
        #expect(o.partitions == 3 && o.evicted == 0)
        _ = scores(o, [(13, 4, 1)])  // a fourth partition: 2's forest goes
        #expect(o.partitions == 3 && o.evicted == 1)
        // 2 comes back (3's forest goes): it starts afresh, scoring as a new forest would.
        let back: [Double] = [4, 1, 3, 0, 2, 9]
        let again = scores(o, back.enumerated().map { (14 + Int64($0.offset), 2, $0.element) })
        let fresh = RandomCutForest(Self.configuration)
        #expect(again == back.map { fresh.update([$0]) })
        #expect(again[0] == 0)
        #expect(o.partitions == 3 && o.evicted == 2)
        #expect(o.forests[[.int(3)]] == nil && o.forests[[.int(1)]] != nil && o.forests[[.int(4)]] != nil)
        // 1 kept its forest: it goes on from its five rows.
        #expect(scores(o, [(20, 1, 3)])[0] > 0)
    }

    /// Many partitions through a small bound, with a snapshot taken half way and restored: the
    /// restored operator evicts the same forests and scores exactly as the uninterrupted one.
    @Test func evictionsSurviveASnapshot() throws {
        var rng = SplitMix64(seed: 3)
        var rows: [(Int64, Int64, Double)] = []
        for i in 0..<3000 {
            // Twelve partitions through eight forests: a forest often lives long enough to warm
            // up, so which one goes changes later scores.
            let k = Int64(rng.below(12))
            rows.append((Int64(i), k, Double(rng.below(100)) + (rng.below(200) == 0 ? 500 : 0)))
        }
        let whole = op(8)
        let all = scores(whole, rows)
        #expect(whole.partitions == 8 && whole.evicted > 100)
        #expect(all.filter { $0 > 0 }.count > 800)  // a third of the rows are scored by warm forests

        let first = op(8)
        var parts = scores(first, Array(rows[0..<1500]))
        let restored = op(8)
        try restored.restore(JSONValue.parse(first.snapshot().serialized()))
        #expect(restored.snapshot() == first.snapshot())
        parts += scores(restored, Array(rows[1500...]))
        #expect(parts == all)
        #expect(restored.evicted == whole.evicted)
        // The use queue stays a few entries per forest however many rows go by.
        #expect(whole.uses.count - whole.usesHead <= 4 * whole.partitions + 1024 && whole.uses.count <= 2 * (4 * 8 + 1024) + 2)
    }

    /// Without a bound worth reaching, nothing is evicted and every partition keeps its forest.
    @Test func theDefaultBoundKeepsEveryForestOfAFewThousandPartitions() {
        let o = AnomalyDetectionOperator(configuration: Self.configuration, columnNames: ["x"], keyCount: 1, explanation: false, inclusive: false)
        #expect(o.maxPartitions == 10_000)
        _ = scores(o, (0..<3000).map { (Int64($0), Int64($0), 1.0) })
        #expect(o.partitions == 3000 && o.evicted == 0)
    }
}
