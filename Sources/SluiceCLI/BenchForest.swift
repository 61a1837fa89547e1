import Foundation
import SluiceCore
import SluiceDataflow

extension BenchCommand {
    /// `sluice bench rcf [--records N] [--columns 1,2,4] [--trees T] [--sample-size S]`: random cut
    /// forest scoring throughput (score, then update, per record) on seeded Gaussian data with a
    /// few outliers, one thread.
    func rcf(_ a: Arguments) throws -> Int32 {
        #if DEBUG
        err.line("warning: this is a debug build; build with 'swift build -c release' for meaningful figures")
        #endif
        let n = try a.int("records") ?? 20_000
        let trees = try a.int("trees") ?? 100
        let sample = try a.int("sample-size") ?? 256
        let columns = try (a.value("columns") ?? "1,2,4").split(separator: ",").map { s -> Int in
            guard let c = Int(s), c >= 1 else { throw UsageError("--columns takes numbers like 1,2,4, not '\(s)'") }
            return c
        }
        guard n >= 1, trees >= 1, sample >= 2 else { throw UsageError("--records, --trees and --sample-size must be positive") }
        out.line("rcf: \(n) records, \(trees) trees, sample size \(sample), one thread; each record scored, then added")
        for d in columns {
            var rng = SplitMix64(seed: 11)
            let data: [[Double]] = (0..<n).map { i in
                (0..<d).map { _ in
                    let u = max(rng.unit(), 1e-12), v = rng.unit()
                    return sqrt(-2 * log(u)) * cos(2 * .pi * v) + (i % 1000 == 999 ? 8 : 0)
                }
            }
            var c = RandomCutForest.Configuration(dimensions: d)
            c.trees = trees
            c.sampleSize = sample
            let forest = RandomCutForest(c)
            var sum = 0.0
            let watch = Stopwatch()
            for p in data { sum += forest.update(p) }
            let secs = watch.elapsedSeconds
            out.line(String(format: "columns=%d  %.0f records/s  (%.2f s, mean score %.3f)", d, Double(n) / secs, secs, sum / Double(n)))
            out.flush()
        }
        return 0
    }
}
