import Testing
import SluiceCore
@testable import SluiceDataflow

@Suite("Sketches")
struct SketchTests {
    /// APPROX_COUNT_DISTINCT is exact up to 1,024 values and within 2.5% (about three standard
    /// errors of 0.81%) beyond, on seeded integers and strings, whole and merged from parts.
    @Test(arguments: [1, 1_000, 1_024, 1_025, 5_000, 20_000, 100_000, 400_000, 2_000_000])
    func distinctCountsAreWithinTheBound(_ n: Int) {
        var rng = SplitMix64(seed: UInt64(n))
        var whole = HyperLogLog(), parts = [HyperLogLog](repeating: HyperLogLog(), count: 4)
        var strings = HyperLogLog()
        for i in 0..<n {
            let v = Value.int(Int64(bitPattern: rng.next()))
            whole.add(v)
            whole.add(v)  // repeats do not count
            parts[i % 4].add(v)
            if n <= 100_000 { strings.add(.string("user-\(i)")) }
        }
        let merged = parts.dropFirst().reduce(parts[0]) { $0.merged(with: $1) }
        func relError(_ e: Int64) -> Double { abs(Double(e) - Double(n)) / Double(n) }
        if n <= HyperLogLog.exactLimit {
            #expect(whole.estimate == Int64(n) && merged.estimate == Int64(n))
        }
        #expect(relError(whole.estimate) <= 0.025, "estimate \(whole.estimate) for \(n)")
        #expect(relError(merged.estimate) <= 0.025, "merged estimate \(merged.estimate) for \(n)")
        #expect(merged == whole, "merging parts gives the sketch of the whole")
        if n <= 100_000 { #expect(relError(strings.estimate) <= 0.025, "strings: \(strings.estimate) for \(n)") }
    }

    /// PERCENTILE's value for p has a rank within 1% of p on seeded uniform, normal and skewed data,
    /// whole and merged from ten parts; memory stays at a few hundred centroids.
    @Test(arguments: ["uniform", "normal", "skewed"])
    func percentilesAreWithinTheRankBound(_ shape: String) {
        var rng = SplitMix64(seed: 99)
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        let n = 100_000
        var values: [Double] = []
        for _ in 0..<n {
            switch shape {
            case "uniform": values.append(uniform() * 1000)
            case "normal": values.append((0..<12).reduce(0) { s, _ in s + uniform() } - 6)
            default: values.append(-cLog(1 - uniform()) * 50)  // exponential: a long right tail
            }
        }
        var whole = TDigest()
        var parts = [TDigest](repeating: TDigest(), count: 10)
        for (i, v) in values.enumerated() {
            whole.add(v)
            parts[i % 10].add(v)
        }
        let merged = parts.dropFirst().reduce(parts[0]) { $0.merged(with: $1) }
        let sorted = values.sorted()
        func rank(_ x: Double) -> Double {
            var lo = 0, hi = sorted.count
            while lo < hi { let mid = (lo + hi) / 2; if sorted[mid] < x { lo = mid + 1 } else { hi = mid } }
            return Double(lo) / Double(n)
        }
        for p in [0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999] {
            let w = whole.quantile(p)!, m = merged.quantile(p)!
            #expect(abs(rank(w) - p) <= 0.01, "\(shape) p=\(p): \(w) has rank \(rank(w))")
            #expect(abs(rank(m) - p) <= 0.01, "\(shape) p=\(p) merged: \(m) has rank \(rank(m))")
        }
        #expect(whole.quantile(0) == sorted.first && whole.quantile(1) == sorted.last)
        #expect(whole.parts.means.count <= 100 && merged.parts.means.count <= 100, "\(whole.parts.means.count) centroids")
    }
}
