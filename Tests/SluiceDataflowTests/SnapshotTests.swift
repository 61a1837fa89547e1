import Testing
import SluiceCore
@testable import SluiceDataflow

@Suite("Operator snapshots")
struct SnapshotTests {
    @Test func everyValueAndStateSurvivesJSONBitForBit() throws {
        let values: [Value] = [.null, .bool(true), .int(.min), .int(.max), .double(.nan), .double(-.infinity), .double(0.1 + 0.2),
                               .double(-0.0), .string("tab\t\"é\""), .timestamp(-1), .interval(86_400_000)]
        for v in values {
            let text = v.snapshot.serialized()
            let back = try Value(snapshot: JSONValue.parse(text))
            if case .double(let d) = v, case .double(let e) = back { #expect(d.bitPattern == e.bitPattern) } else { #expect(back == v) }
        }
        let states: [AggregateState] = [.count(7), .sumInt(-3, seen: true), .sumDouble(.infinity, seen: true), .moments(n: 3, mean: 1.0 / 3, m2: 2e-300),
                                        .minInt(nil), .maxInt(42), .minDouble(-0.5), .maxDouble(nil), .minString("a"), .maxString(nil),
                                        .distinct([.int(1), .string("x"), .null])]
        for s in states {
            #expect(try AggregateState(snapshot: JSONValue.parse(s.snapshot.serialized())) == s)
        }
        // Sketches: an exact and a register HyperLogLog come back equal; a t-digest comes back
        // as it was, its buffer of unfolded values included, so that a restored run computes
        // exactly what the uninterrupted one does (compressing early changes later answers).
        var small = AggregateState.initial(.approxCountDistinct, input: .bigint), big = small
        var digest = AggregateState.initial(.percentile, input: .double, parameter: 0.9)
        for i in 0..<50 { small.add(int: Int64(i)) }
        for i in 0..<5_000 { big.add(int: Int64(i) * 7919); digest.add(double: Double(i % 977) * 1.5) }
        for s in [small, big] { #expect(try AggregateState(snapshot: JSONValue.parse(s.snapshot.serialized())) == s) }
        let back = try AggregateState(snapshot: JSONValue.parse(digest.snapshot.serialized()))
        #expect(back.result(.percentile) == digest.result(.percentile))
        #expect(small.result(.approxCountDistinct) == .int(50))
        #expect(back == digest)
        if case .digest(let a0, _) = back, case .digest(let b0, _) = digest {
            var a = a0, b = b0
            for i in 0..<1_234 { a.add(Double((i * 31) % 1013) * 0.7); b.add(Double((i * 31) % 1013) * 0.7) }
            for q in stride(from: 0.0, through: 1.0, by: 0.01) { #expect(a.quantile(q) == b.quantile(q)) }
        }
        #expect(throws: SnapshotError.self) { try AggregateState(snapshot: ["median", 1]) }
        #expect(throws: SnapshotError.self) { try Value(snapshot: ["q", 1]) }
    }

    /// A hopping window operator snapshotted half way and restored into a new operator emits
    /// exactly what the original emits.
    @Test func aRestoredWindowOperatorContinuesLikeTheOriginal() throws {
        func make() -> WindowAggregateOperator {
            WindowAggregateOperator(window: .hop(size: 10_000, advance: 2_000), timeColumn: 0, keyColumns: [1],
                                    aggregates: [AggregateSpec(.countStar), AggregateSpec(.max, input: 2, type: .double),
                                                 AggregateSpec(.countDistinct, input: 3, type: .varchar)])
        }
        let schema = Schema([Field("t", .timestamp), Field("k", .bigint), Field("v", .double), Field("s", .varchar)])
        var rng = SplitMix64(seed: 11)
        func batch(_ from: Int64) -> Batch {
            var b = schema.fields.map { ColumnBuilder($0.type, capacity: 100) }
            for i in 0..<100 {
                _ = b[0].append(.timestamp(from + Int64(i) * 97 + Int64(rng.next() % 500)))
                _ = b[1].append(rng.next() % 7 == 0 ? .null : .int(Int64(rng.next() % 5)))
                _ = b[2].append(.double(Double(rng.next() % 1000) / 7))
                _ = b[3].append(.string("s\(rng.next() % 4)"))
            }
            return Batch(schema: schema, columns: b.indices.map { b[$0].finish() }, count: 100)
        }
        let original = make()
        original.add(batch(0))
        _ = original.advance(to: 6_000)
        let restored = make()
        try restored.restore(JSONValue.parse(original.snapshot().serialized()))
        #expect(restored.stateSize == original.stateSize)
        let next = batch(9_000)
        #expect(original.add(next) == restored.add(next))
        #expect(original.advance(to: 15_000) == restored.advance(to: 15_000))
        #expect(original.advance(to: WatermarkTracker.infinity) == restored.advance(to: WatermarkTracker.infinity))
    }

    @Test func aWatermarkTrackerKeepsItsShardsAndWatermark() throws {
        var w = WatermarkTracker(delayMillis: 1_000, idleTimeoutMillis: 5_000)
        w.addShard("a", now: 0); w.addShard("b", now: 0)
        w.observe(shard: "a", maxEventTime: 10_000, now: 1)
        w.observe(shard: "b", maxEventTime: 4_000, now: 1)
        w.finishShard("b")
        #expect(w.watermark(now: 2) == 9_000)
        var r = WatermarkTracker(delayMillis: 1_000, idleTimeoutMillis: 5_000)
        try r.restore(JSONValue.parse(w.snapshot().serialized()), now: 100)
        #expect(r.value == 9_000)
        r.observe(shard: "a", maxEventTime: 12_000, now: 101)
        #expect(r.watermark(now: 101) == 11_000)
    }
}
