import Foundation
import SluiceCore
import Testing
@testable import SluiceDataflow

/// `score => 'depth'`: randomcutforest-by-aws's anomaly score (Kinesis Data Analytics').
@Suite("Random cut forest: the depth score")
struct DepthScoreTests {
    static func gaussian(_ rng: inout SplitMix64) -> Double { RandomCutForestTests.gaussian(&rng) }

    /// Unrolled, the score is 1 / (the depth of q's leaf once inserted), in expectation over the
    /// random cut that inserts it, times log2(1 + points): copies of one tree, each inserting q
    /// with its own random draws, average to it. Outside the sample, on its edge and inside it.
    @Test func theScoreIsTheExpectedInverseDepthOfInsertingThePoint() throws {
        var rng = SplitMix64(seed: 5)
        let tree = RandomCutTree(dimensions: 2, seed: 11)
        var points: [[Double]] = []
        for _ in 0..<40 { points.append([Self.gaussian(&rng), Self.gaussian(&rng)]) }
        for p in points { tree.insert(p) }
        let scale = log2(1 + Double(tree.treeMass))
        for q in [[6.0, 0.5], [2.2, -1.9], [0.1, 0.2]] {
            var none: [Double]? = nil
            let expected = tree.score(q, .depth, attribution: &none)
            let mean = try scale * RandomCutForestTests.meanOverInsertions(of: q, into: tree) { 1 / Double(try #require($0.depth(ofHeld: q))) }
            #expect(abs(mean - expected) <= 0.03 * expected, "q \(q): score \(expected), mean scaled inverse depth \(mean)")
        }
    }

    /// Two points 0 and 10 (one copy of 10 more): the cut between them is the root, both leaves
    /// at depth 1, three points in all (scale log2 4 = 2). Worked by hand from the definition.
    @Test func smallTreesScoreAsWorkedByHand() {
        let tree = RandomCutTree(dimensions: 1, seed: 3)
        for x in [0.0, 10, 10] { tree.insert([x]) }
        var none: [Double]? = nil
        // 20: its leaf (10) at depth 1 gives 1/2; the root's box [0, 10] grown to [0, 20] is
        // cut off with p = 1/2 at depth 0 (1/1): 1/2 · 1/2 + 1/2 · 1 = 3/4, times 2.
        #expect(abs(tree.score([20], .depth, attribution: &none) - 1.5) < 1e-12)
        // 5: inside the root's box, so only its leaf counts: 1/2, times 2.
        #expect(abs(tree.score([5], .depth, attribution: &none) - 1.0) < 1e-12)
        // 10, held twice: seen at depth 1 with mass 2, 1 / (1 + log2 3), damped by 1 - 2 / (2 · 3).
        let seen = (1 - 2.0 / 6) / (1 + log2(3.0)) * 2
        #expect(abs(tree.score([10], .depth, attribution: &none) - seen) < 1e-12)
        #expect(tree.score([10], .depth, attribution: &none) < tree.score([5], .depth, attribution: &none), "a seen point scores below an unseen one")
    }

    /// On a steady stream ordinary points score about 1 (AWS's scale, what KDA thresholds were
    /// written for) and a far outlier several times that; the attribution adds up to the score
    /// and names the dimension and side; the same seed gives the same scores.
    @Test func ordinaryPointsScoreAboutOneAndOutliersHigh() {
        func run(seed: UInt64) -> ([Double], Double, [Double]) {
            var c = RandomCutForest.Configuration(dimensions: 2, trees: 50)
            c.seed = seed
            c.score = .depth
            let f = RandomCutForest(c)
            var rng = SplitMix64(seed: 1)
            var scores: [Double] = []
            for _ in 0..<1500 { scores.append(f.update([Self.gaussian(&rng), Self.gaussian(&rng)])) }
            var attribution: [Double]? = []
            let outlier = f.update([0.5, -9], attribution: &attribution)
            return (scores, outlier, attribution!)
        }
        let (scores, outlier, attribution) = run(seed: 42)
        let warmed = Array(scores.dropFirst(500))
        let mean = warmed.reduce(0, +) / Double(warmed.count)
        #expect(scores.prefix(64).allSatisfy { $0 == 0 }, "no scores before output_after")
        #expect(mean > 0.5 && mean < 1.3, "ordinary points: \(mean)")
        #expect(outlier > 3 * mean, "\(outlier) vs \(mean)")
        #expect(abs(attribution.reduce(0, +) - outlier) < 1e-9 * outlier, "the parts add up to the score")
        #expect(attribution[3] > 0.6 * outlier && attribution[0] + attribution[1] < 0.2 * outlier, "low in y: \(attribution)")
        let again = run(seed: 42)
        #expect(again.0 == scores && again.1 == outlier)
    }

    /// The forest walks four trees down at once; its depth score is the mean of the trees' own.
    @Test func batchedWalksScoreAsTreeByTree() {
        var c = RandomCutForest.Configuration(dimensions: 3, trees: 10, outputAfter: 1)
        c.score = .depth
        let f = RandomCutForest(c)
        var rng = SplitMix64(seed: 8)
        for step in 0..<600 {
            let x = [Self.gaussian(&rng), Self.gaussian(&rng), step % 50 == 0 ? 12 : Self.gaussian(&rng)]
            var none: [Double]? = nil
            let each = f.trees.reduce(0.0) { $0 + $1.score(x, .depth, attribution: &none) } / 10
            var attribution: [Double]? = step % 2 == 0 ? nil : []
            let s = f.update(x, attribution: &attribution)
            #expect(abs(s - each) <= 1e-12 * max(1, each), "step \(step)")
            if let a = attribution { #expect(abs(a.reduce(0, +) - s) <= 1e-9 * max(1, s), "step \(step)") }
        }
    }

    /// A depth forest restores from its own snapshot and scores on exactly; a displacement
    /// forest's snapshot (another score) is refused, and the other way round.
    @Test func snapshotsKeepTheScore() throws {
        var c = RandomCutForest.Configuration(dimensions: 2, trees: 8, sampleSize: 32)
        c.score = .depth
        var rng = SplitMix64(seed: 2)
        let points = (0..<400).map { _ in [Self.gaussian(&rng), Self.gaussian(&rng)] }
        let whole = RandomCutForest(c), first = RandomCutForest(c)
        var expected: [Double] = []
        for (i, p) in points.enumerated() {
            expected.append(whole.update(p))
            if i < 250 { _ = first.update(p) }
        }
        let restored = RandomCutForest(c)
        try restored.restore(first.snapshot)
        #expect(points[250...].map { restored.update($0) } == Array(expected[250...]))
        var other = c
        other.score = .displacement
        #expect(throws: SnapshotError.self) { try RandomCutForest(other).restore(first.snapshot) }
        #expect(throws: SnapshotError.self) { try RandomCutForest(c).restore(RandomCutForest(other).snapshot) }
    }
}
