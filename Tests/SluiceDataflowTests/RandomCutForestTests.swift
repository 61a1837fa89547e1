import Foundation
import SluiceCore
import Testing
@testable import SluiceDataflow

@Suite("Random cut forest")
struct RandomCutForestTests {
    static func gaussian(_ rng: inout SplitMix64) -> Double {
        let u = max(rng.unit(), 1e-12), v = rng.unit()
        return sqrt(-2 * log(u)) * cos(2 * Double.pi * v)
    }

    @Test func treesKeepTheirInvariantsThroughInsertsAndDeletes() {
        var rng = SplitMix64(seed: 3)
        let tree = RandomCutTree(dimensions: 3, seed: 9)
        var held: [[Double]] = []
        for step in 0..<3000 {
            if held.count > 200 || (held.count > 0 && rng.below(3) == 0) {
                let i = rng.below(held.count)
                #expect(tree.delete(held[i]))
                held.remove(at: i)
            } else {
                // Some duplicates, some points on a grid (equal coordinates), most continuous.
                let p: [Double] = rng.below(10) == 0 && !held.isEmpty ? held[rng.below(held.count)]
                    : rng.below(5) == 0 ? [Double(rng.below(4)), Double(rng.below(4)), 1] : [Self.gaussian(&rng), Self.gaussian(&rng), Self.gaussian(&rng)]
                tree.insert(p)
                held.append(p)
            }
            if step % 50 == 0 {
                #expect(tree.check() == nil, "\(tree.check() ?? "")")
                #expect(tree.treeMass == held.count)
            }
        }
        #expect(!tree.delete([99, 99, 99]), "a point the tree does not hold")
        for p in held { #expect(tree.delete(p)) }
        #expect(tree.treeMass == 0 && tree.root == -1)
    }

    /// A tree's score is the collusive displacement q would have once inserted, in expectation over
    /// the random cut that inserts it: copies of one tree, each inserting q with its own random
    /// draws, average to the score. Outside the sample, on its edge, inside it, and on a sampled
    /// point (q joins its leaf).
    @Test func theScoreIsTheExpectedDisplacementOfInsertingThePoint() throws {
        var rng = SplitMix64(seed: 5)
        let tree = RandomCutTree(dimensions: 2, seed: 11)
        var points: [[Double]] = []
        for _ in 0..<40 { points.append([Self.gaussian(&rng), Self.gaussian(&rng)]) }
        points.append(points[3])
        for p in points { tree.insert(p) }
        for q in [[6.0, 0.5], [2.2, -1.9], [0.1, 0.2], points[7]] {
            let expected = tree.score(q, attribution: &Self.noAttribution)
            let mean = try Self.meanOverInsertions(of: q, into: tree) { try #require($0.displacement(ofHeld: q)) }
            #expect(abs(mean - expected) <= 0.04 * expected, "q \(q): score \(expected), mean displacement \(mean)")
        }
    }

    static nonisolated(unsafe) var noAttribution: [Double]? = nil

    /// `measure` of copies of `tree` after each inserted q with its own random draws, averaged
    /// over 8,000 copies: what a score defined in expectation over the inserting cut should be.
    static func meanOverInsertions(of q: [Double], into tree: RandomCutTree, _ measure: (RandomCutTree) throws -> Double) throws -> Double {
        var written = ForestBytes()
        tree.write(to: &written)
        var total = 0.0
        let copies = 8_000
        for i in 0..<copies {
            let copy = RandomCutTree(dimensions: tree.dim, seed: 0)
            var reader = ForestBytesReader(bytes: written.bytes)
            try copy.read(from: &reader, sampleSize: 64)
            copy.rng = SplitMix64(seed: UInt64(i) &* 7919 &+ 1)
            copy.insert(q)
            total += try measure(copy)
        }
        return total / Double(copies)
    }

    @Test func outliersScoreHighAndScoresAreDeterministic() {
        func run(seed: UInt64) -> ([Double], Double, [Double]) {
            var c = RandomCutForest.Configuration(dimensions: 2)
            c.trees = 50
            c.seed = seed
            let f = RandomCutForest(c)
            var rng = SplitMix64(seed: 1)
            var scores: [Double] = []
            for _ in 0..<1500 { scores.append(f.update([Self.gaussian(&rng), Self.gaussian(&rng)])) }
            var attribution: [Double]? = []
            let outlier = f.update([9, 0.5], attribution: &attribution)
            return (scores, outlier, attribution!)
        }
        let (scores, outlier, attribution) = run(seed: 42)
        let warmed = Array(scores.dropFirst(500))
        let mean = warmed.reduce(0, +) / Double(warmed.count)
        #expect(scores.prefix(64).allSatisfy { $0 == 0 }, "no scores before output_after (1 + 256/4 points)")
        #expect(mean > 1 && mean < 10, "ordinary points displace a few points: \(mean)")
        #expect(outlier > 100, "an outlier is cut off from most of the sample of 256: \(outlier) vs \(mean)")
        // The attribution: high and low per dimension, summing to the score; the outlier is high in x.
        #expect(abs(attribution.reduce(0, +) - outlier) < 1e-9 * max(1, outlier))
        #expect(attribution[0] > 0.6 * outlier && attribution[1] < 0.05 * outlier, "\(attribution)")
        let again = run(seed: 42)
        #expect(again.0 == scores && again.1 == outlier, "the same seed gives the same scores")
        #expect(run(seed: 7).0 != scores)
    }

    /// The forest walks four trees down at once; its score is still the mean of the trees' own,
    /// term for term (10 trees: two groups of four and two alone), with and without explanation.
    @Test func batchedWalksScoreAsTreeByTree() {
        let c = RandomCutForest.Configuration(dimensions: 3, trees: 10, outputAfter: 1)
        let f = RandomCutForest(c)
        var rng = SplitMix64(seed: 8)
        for step in 0..<600 {
            let x = [Self.gaussian(&rng), Self.gaussian(&rng), step % 50 == 0 ? 12 : Self.gaussian(&rng)]
            var none: [Double]? = nil
            let each = f.trees.reduce(0.0) { $0 + $1.score(x, attribution: &none) } / 10
            if step % 2 == 0 {
                #expect(f.update(x) == each, "step \(step)")
            } else {
                var attribution: [Double]? = []
                let s = f.update(x, attribution: &attribution)
                #expect(abs(s - each) <= 1e-12 * max(1, each), "step \(step)")
            }
        }
    }

    @Test func samplesStayBoundedAndFavourRecentPoints() {
        var c = RandomCutForest.Configuration(dimensions: 1, trees: 10, sampleSize: 64)
        c.timeDecay = 1.0 / 64
        let f = RandomCutForest(c)
        for i in 0..<5000 { _ = f.update([Double(i)]) }
        for (t, s) in zip(f.trees, f.samplers) {
            #expect(s.heap.count == 64 && t.treeMass == 64)
            #expect(t.check() == nil)
            // With λ = 1/64 the sample is mostly from the last few hundred points.
            let median = s.heap.map { $0.point[0] }.sorted()[32]
            #expect(median > 4500, "median sampled index \(median)")
        }
    }

    @Test func shinglesJoinConsecutivePoints() {
        let c = RandomCutForest.Configuration(dimensions: 1, trees: 20, shingle: 4, outputAfter: 1)
        let f = RandomCutForest(c)
        var scores: [Double] = []
        // A repeating pattern, then a break in it that no single value would show.
        for i in 0..<2000 { scores.append(f.update([Double(i % 8)])) }
        #expect(scores.prefix(4).allSatisfy { $0 == 0 }, "nothing to score before the first full shingle")
        #expect(f.trees[0].dim == 4)
        let normal = scores.suffix(200).reduce(0, +) / 200
        _ = f.update([0]); _ = f.update([1])
        let broken = f.update([7])  // ... 0, 1, 7 instead of 0, 1, 2
        #expect(broken > 2 * normal, "\(broken) vs \(normal)")
    }

    /// A forest restored from a snapshot (through its JSON text) scores the rest of the stream
    /// exactly as the forest that went on; a snapshot of other parameters is refused.
    @Test func aRestoredForestScoresExactlyAsAnUninterruptedOne() throws {
        let c = RandomCutForest.Configuration(dimensions: 2, trees: 20, sampleSize: 64, shingle: 2)
        var rng = SplitMix64(seed: 5)
        let points = (0..<1200).map { _ in [Self.gaussian(&rng), Self.gaussian(&rng)] }
        let whole = RandomCutForest(c)
        let first = RandomCutForest(c)
        var expected: [Double] = []
        for (i, p) in points.enumerated() {
            expected.append(whole.update(p))
            if i < 700 { _ = first.update(p) }
        }
        let text = first.snapshot.serialized()
        let restored = RandomCutForest(c)
        try restored.restore(try JSONValue.parse(text))
        var got: [Double] = []
        for p in points[700...] { got.append(restored.update(p)) }
        #expect(got == Array(expected[700...]))
        var other = c
        other.trees = 21
        #expect(throws: SnapshotError.self) { try RandomCutForest(other).restore(try JSONValue.parse(text)) }
        #expect(text.count < 20 * 24_000, "packed arrays: under 24 KB a tree of 64 four-dimensional points: \(text.count) bytes")
        // The snapshot is kept until the forest changes, and a restored forest's is the one it read.
        #expect(first.snapshot.serialized() == text && restored.snapshot != first.snapshot)
    }

    /// A damaged forest state is refused with a reason, never a crash: cut short, with bytes left
    /// over, of another version, not base64, or with single bytes changed anywhere (those the
    /// checks cannot tell from real state, a sample weight say, restore to a forest that runs).
    @Test func damagedStatesAreRefusedOrHarmless() throws {
        let c = RandomCutForest.Configuration(dimensions: 2, trees: 4, sampleSize: 16, shingle: 2)
        var rng = SplitMix64(seed: 9)
        let f = RandomCutForest(c)
        for _ in 0..<200 { _ = f.update([Self.gaussian(&rng), Self.gaussian(&rng)]) }
        let snap = f.snapshot
        let bytes = [UInt8](Data(base64Encoded: snap["state"]!.stringValue!)!)
        func state(_ b: [UInt8]) -> JSONValue { ["config": snap["config"]!, "state": .string(Data(b).base64EncodedString())] }
        #expect(throws: Never.self) { try RandomCutForest(c).restore(state(bytes)) }
        #expect(throws: SnapshotError.self) { try RandomCutForest(c).restore(state(Array(bytes.dropLast(3)))) }
        #expect(throws: SnapshotError.self) { try RandomCutForest(c).restore(state(bytes + [0])) }
        #expect(throws: SnapshotError.self) { try RandomCutForest(c).restore(state([2, 0, 0, 0] + bytes.dropFirst(4))) }
        #expect(throws: SnapshotError.self) { try RandomCutForest(c).restore(["config": snap["config"]!, "state": "not base64!"]) }
        var refused = 0
        for k in 0..<600 {
            var b = bytes
            let at = Int(rng.below(b.count))
            b[at] = b[at] &+ UInt8(1 + k % 255)
            let g = RandomCutForest(c)
            do {
                try g.restore(state(b))
                for _ in 0..<50 { _ = g.update([Self.gaussian(&rng), Self.gaussian(&rng)]) }
            } catch {
                refused += 1
            }
        }
        #expect(refused > 100, "most damage is caught: \(refused) of 600")
    }
}

extension RandomCutForest.Configuration {
    /// A test forest's parameters in one expression (the rest as the defaults).
    init(dimensions: Int, trees: Int, sampleSize: Int = 256, shingle: Int = 1, outputAfter: Int? = nil) {
        self.init(dimensions: dimensions)
        self.trees = trees
        self.sampleSize = sampleSize
        self.shingle = shingle
        self.outputAfter = outputAfter
    }
}
