import Foundation
import SluiceCore
import SluiceDataflow

extension BenchCommand {
    /// `sluice bench rcf [--records N] [--columns 1,2,4] [--trees T] [--sample-size S] [--score S]`:
    /// random cut forest scoring throughput (score, then update, per record) on seeded Gaussian
    /// data with a few outliers, one thread.
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
        let score = try Self.forestScore(a)
        out.line("rcf: \(n) records, \(trees) trees, sample size \(sample), score \(score.rawValue), one thread; each record scored, then added")
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
            c.score = score
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

    /// `--score depth|displacement` (the forest's default without it).
    static func forestScore(_ a: Arguments) throws -> RandomCutForest.Score {
        guard let v = a.value("score") else { return RandomCutForest.Configuration(dimensions: 1).score }
        guard let s = RandomCutForest.Score(rawValue: v) else {
            throw UsageError("--score takes \(RandomCutForest.Score.allCases.map(\.rawValue).joined(separator: " or ")), not '\(v)'")
        }
        return s
    }
}

extension BenchCommand {
    /// `sluice bench anomalies`: each seeded shape scored by random cut forests (the shape's
    /// shingle, 100 trees, sample 256) under forest seeds 1...N, each judged by
    /// `AnomalyShapes.judge`; prints each seed's figures and their mean.
    func anomalies(_ a: Arguments) throws -> Int32 {
        let names = (a.value("shapes") ?? AnomalyShapes.Shape.allCases.map(\.rawValue).joined(separator: ",")).split(separator: ",")
        var shapes: [AnomalyShapes.Shape] = []
        for n in names {
            guard let s = AnomalyShapes.Shape(rawValue: String(n)) else {
                throw UsageError("--shapes takes \(AnomalyShapes.Shape.allCases.map(\.rawValue).joined(separator: ", ")), not '\(n)'")
            }
            shapes.append(s)
        }
        let trees = try a.int("trees") ?? 100, sample = try a.int("sample-size") ?? 256, seeds = try a.int("forest-seeds") ?? 3
        guard trees >= 1, sample >= 4, seeds >= 1 else { throw UsageError("--trees and --forest-seeds must be at least 1 and --sample-size at least 4") }
        let seed = UInt64(try a.int("seed") ?? 5)
        let score = try Self.forestScore(a)
        let dir = a.value("scores-dir")
        if let dir { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        out.line("anomalies: \(trees) trees, sample size \(sample), score \(score.rawValue), forest seeds 1-\(seeds); threshold mean + 3 sd of the scores after point 400")
        for shape in shapes {
            let series = AnomalyShapes.make(shape, seed: seed)
            var runs: [[Double]] = []
            var judged: [AnomalyShapes.Accuracy] = []
            for forestSeed in 1...seeds {
                let scores = AnomalyShapes.score(series, trees: trees, sampleSize: sample, seed: UInt64(forestSeed), score: score)
                let acc = AnomalyShapes.judge(scores, series)
                runs.append(scores)
                judged.append(acc)
                out.line("  " + shape.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
                         + String(format: "seed %d  precision %.3f (%d of %d alarms)  recall %.3f (%d of %d anomalies)  threshold %.3f",
                                  forestSeed, acc.precision, acc.trueAlarms, acc.alarms, acc.recall, acc.found, acc.anomalies, acc.threshold))
            }
            let precision = judged.map(\.precision).reduce(0, +) / Double(seeds), recall = judged.map(\.recall).reduce(0, +) / Double(seeds)
            out.line(shape.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0)
                     + String(format: "shingle %d  mean precision %.3f  mean recall %.3f", series.shingle, precision, recall))
            // FLAT_LINE, the detector for values that stop changing, judged alike (it has no seed).
            let flat = AnomalyShapes.flatLine(series)
            let fj = AnomalyShapes.judge(flat, series)
            out.line("  " + shape.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
                     + String(format: "flat line  precision %.3f (%d of %d alarms)  recall %.3f (%d of %d anomalies)",
                              fj.precision, fj.trueAlarms, fj.alarms, fj.recall, fj.found, fj.anomalies))
            out.flush()
            if let dir {
                var csv = "ts,value,anomaly" + (1...seeds).map { ",score\($0)" }.joined() + ",flat\n"
                for (i, line) in AnomalyShapes.csv(series).split(separator: "\n").dropFirst().enumerated() {
                    csv += line + runs.map { ",\($0[i])" }.joined() + ",\(flat[i])\n"
                }
                try csv.write(toFile: dir + "/\(shape.rawValue).csv", atomically: true, encoding: .utf8)
                let meta: JSONValue = ["shape": .string(shape.rawValue), "shingle": .int(Int64(series.shingle)), "trees": .int(Int64(trees)),
                                       "sample_size": .int(Int64(sample)), "score": .string(score.rawValue), "judged_from": .int(Int64(series.judgedFrom)), "seeds": .int(Int64(seeds)),
                                       "anomalies": .array(series.anomalies.map { [.int(Int64($0.lowerBound)), .int(Int64($0.upperBound))] }),
                                       "sluice": ["precision": .double(precision), "recall": .double(recall)]]
                try meta.serialized().write(toFile: dir + "/\(shape.rawValue).json", atomically: true, encoding: .utf8)
            }
        }
        return 0
    }
}

extension AnomalyShapes {
    /// The forest's score of every point (0 while the shingle fills and the forest warms up).
    static func score(_ s: Series, trees: Int = 100, sampleSize: Int = 256, seed: UInt64 = 42,
                      score: RandomCutForest.Score = RandomCutForest.Configuration(dimensions: 1).score) -> [Double] {
        var c = RandomCutForest.Configuration(dimensions: 1)
        c.score = score
        c.seed = seed
        c.trees = trees
        c.sampleSize = sampleSize
        c.shingle = s.shingle
        let forest = RandomCutForest(c)
        return s.values.map { forest.update([$0]) }
    }

    /// FLAT_LINE's score of every point (exactly equal values: the shapes' readings have two decimals).
    static func flatLine(_ s: Series) -> [Double] {
        let f = FlatLine(FlatLine.Configuration(), dimensions: 1)
        return s.values.map { f.update([$0]).score }
    }
}
