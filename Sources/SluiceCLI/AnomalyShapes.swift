import Foundation
import SluiceCore

/// Seeded time series with planted anomalies of known shape, to measure how well a detector finds
/// them (`sluice gen shapes`, `sluice bench anomalies`, the accuracy tests, the peers' script).
struct AnomalyShapes {
    enum Shape: String, CaseIterable {
        /// A seasonal signal whose level jumps up or down and stays there.
        case levelShift = "level-shift"
        /// Single readings far off the signal.
        case spikes
        /// A wave whose period drifts slowly (80 to 120 points); in some stretches it stops or doubles.
        case seasonalDrift = "seasonal-drift"
        /// A noisy signal that, in some stretches, repeats one reading exactly.
        case stuck
        /// Several anomalies close together: bursts of three to five spikes a few points apart,
        /// each spike an anomaly of its own.
        case bursts
        /// A noisy seasonal signal whose amplitude, for a while, grows to two or three times its
        /// size or falls to a third of it.
        case amplitude
        /// A level that, in some stretches, climbs or falls slowly (a ramp over 80 points) and
        /// stays where it arrives: the start of each ramp is the anomaly.
        case ramp
    }

    struct Series {
        var shape: Shape
        var values: [Double]
        /// The planted anomalies, as point ranges.
        var anomalies: [Range<Int>]
        /// The shingle the shape is scored with (the same for every detector).
        var shingle: Int
        /// Points before this are the warm-up: no anomaly is planted there and none is judged.
        var judgedFrom: Int

        func label(_ i: Int) -> Bool { anomalies.contains { $0.contains(i) } }
    }

    static let points = 3000

    static func gaussian(_ rng: inout SplitMix64) -> Double {
        let u = max(rng.unit(), 1e-12), v = rng.unit()
        return sqrt(-2 * log(u)) * cos(2 * .pi * v)
    }

    /// `count` anomaly starts in `from..<to`, at least `gap` apart, sorted.
    static func positions(_ count: Int, from: Int, to: Int, gap: Int, _ rng: inout SplitMix64) -> [Int] {
        var out: [Int] = []
        while out.count < count {
            let p = from + rng.below(to - from)
            if out.allSatisfy({ abs($0 - p) >= gap }) { out.append(p) }
        }
        return out.sorted()
    }

    /// `count` anomaly starts in `from..<to`, one in each of `count` equal slots, at least `gap`
    /// apart (a slot is at least `gap` long): never stuck looking for room.
    static func spread(_ count: Int, from: Int, to: Int, gap: Int, _ rng: inout SplitMix64) -> [Int] {
        let slot = (to - from) / count
        precondition(slot >= gap, "slots shorter than the gap")
        return (0..<count).map { k in from + k * slot + rng.below(slot - gap + 1) }
    }

    static func make(_ shape: Shape, seed: UInt64 = 5) -> Series {
        var rng = SplitMix64(seed: seed &+ UInt64(Shape.allCases.firstIndex(of: shape)!) &* 1_000_003)
        let n = points, from = 400
        var v = [Double](repeating: 0, count: n)
        var anomalies: [Range<Int>] = []
        let shingle: Int
        switch shape {
        case .levelShift:
            shingle = 4
            let shifts = positions(6, from: from, to: n - 100, gap: 300, &rng)
            var level = 10.0
            var next = 0
            for i in 0..<n {
                if next < shifts.count && i == shifts[next] {
                    let size = 3 + 2 * rng.unit()
                    level += next % 2 == 0 ? size : -size
                    anomalies.append(i..<(i + 10))
                    next += 1
                }
                v[i] = level + 2 * sin(2 * .pi * Double(i) / 120) + 0.5 * gaussian(&rng)
            }
        case .spikes:
            shingle = 1
            let at = positions(12, from: from, to: n - 10, gap: 100, &rng)
            for i in 0..<n { v[i] = 10 + 2 * sin(2 * .pi * Double(i) / 90) + 0.5 * gaussian(&rng) }
            for (k, p) in at.enumerated() {
                v[p] += (k % 2 == 0 ? 1 : -1) * (4 + 3 * rng.unit())
                anomalies.append(p..<(p + 1))
            }
        case .seasonalDrift:
            shingle = 8
            let at = positions(6, from: from, to: n - 40, gap: 250, &rng)
            var phase = 0.0
            var next = 0, left = 0, kind = 0, held = 0.0
            for i in 0..<n {
                phase += 2 * .pi / (80 + 40 * Double(i) / Double(n))
                var wave = 4 * sin(phase)
                if next < at.count && i == at[next] {
                    anomalies.append(i..<(i + 20))
                    left = 20
                    kind = next % 2
                    held = wave
                    next += 1
                }
                if left > 0 {
                    wave = kind == 0 ? held : 2 * wave  // the wave stops, or doubles
                    left -= 1
                }
                v[i] = 10 + wave + 0.3 * gaussian(&rng)
            }
        case .stuck:
            shingle = 4
            let at = positions(6, from: from, to: n - 50, gap: 250, &rng)
            var next = 0, left = 0, held = 0.0
            for i in 0..<n {
                let x = 20 + 3 * sin(2 * .pi * Double(i) / 300) + 0.8 * gaussian(&rng)
                if next < at.count && i == at[next] {
                    anomalies.append(i..<(i + 30))
                    left = 30
                    held = (x * 100).rounded() / 100
                    next += 1
                }
                if left > 0 { v[i] = held; left -= 1 } else { v[i] = (x * 100).rounded() / 100 }
            }
        case .bursts:
            shingle = 1
            let at = spread(6, from: from, to: n - 40, gap: 300, &rng)
            for i in 0..<n { v[i] = 10 + 2 * sin(2 * .pi * Double(i) / 90) + 0.5 * gaussian(&rng) }
            for (k, p) in at.enumerated() {
                // Three to five spikes, 3 to 6 points apart, one way or the other.
                var q = p
                for _ in 0..<(3 + rng.below(3)) {
                    v[q] += (k % 2 == 0 ? 1 : -1) * (4 + 3 * rng.unit())
                    anomalies.append(q..<(q + 1))
                    q += 3 + rng.below(4)
                }
            }
        case .amplitude:
            shingle = 8
            let at = spread(6, from: from, to: n - 100, gap: 350, &rng)
            var next = 0, left = 0, scale = 1.0
            for i in 0..<n {
                if next < at.count && i == at[next] {
                    anomalies.append(i..<(i + 60))
                    left = 60
                    scale = [2.5, 0.3, 3.0, 0.35, 2.0, 0.4][next % 6]
                    next += 1
                }
                let gain = left > 0 ? scale : 1.0
                if left > 0 { left -= 1 }
                v[i] = 10 + gain * 3 * sin(2 * .pi * Double(i) / 60) + 0.6 * gaussian(&rng)
            }
        case .ramp:
            shingle = 8
            let at = spread(6, from: from, to: n - 120, gap: 350, &rng)
            var level = 10.0, next = 0, left = 0, step = 0.0
            for i in 0..<n {
                if next < at.count && i == at[next] {
                    // The first 40 of the ramp's 80 points are the anomaly: later the signal is
                    // simply at a new level that is climbing on.
                    anomalies.append(i..<(i + 40))
                    left = 80
                    step = (next % 2 == 0 ? 1 : -1) * (5 + 2 * rng.unit()) / 80
                    next += 1
                }
                if left > 0 { level += step; left -= 1 }
                v[i] = level + 1.5 * sin(2 * .pi * Double(i) / 100) + 0.4 * gaussian(&rng)
            }
        }
        if shape != .stuck { v = v.map { ($0 * 1000).rounded() / 1000 } }
        return Series(shape: shape, values: v, anomalies: anomalies, shingle: shingle, judgedFrom: from)
    }

    /// The series as CSV: `ts` (one point a second from 2024-01-01), `value`, `anomaly` (0 or 1).
    static func csv(_ s: Series) -> String {
        var out = "ts,value,anomaly\n"
        for (i, x) in s.values.enumerated() {
            out += "\(TimeFormat.iso8601(1_704_067_200_000 + Int64(i) * 1000)),\(x),\(s.label(i) ? 1 : 0)\n"
        }
        return out
    }

    // MARK: - Judging a detector

    struct Accuracy: Equatable {
        var threshold: Double
        var alarms: Int
        var trueAlarms: Int
        var found: Int
        var anomalies: Int
        var precision: Double { alarms == 0 ? 1 : Double(trueAlarms) / Double(alarms) }
        var recall: Double { Double(found) / Double(anomalies) }
    }

    /// How well `scores` (one per point; higher is more anomalous) find the planted anomalies,
    /// the same way for every detector (Tests/peers/rcf_peers.py does the same in Python):
    /// - only points from `judgedFrom` on count; the threshold is the mean plus 3 standard
    ///   deviations of those points' scores, and a point above it is flagged;
    /// - flagged points less than shingle + 3 apart form one alarm;
    /// - an anomaly is found, and an alarm is true, when the alarm overlaps the anomaly's points
    ///   or the shingle + 2 points after them (a shingle still holds the anomaly for a while).
    static func judge(_ scores: [Double], _ s: Series) -> Accuracy {
        let judged = Array(scores[s.judgedFrom...])
        let mean = judged.reduce(0, +) / Double(judged.count)
        let sd = (judged.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(judged.count)).squareRoot()
        let threshold = mean + 3 * sd
        var alarms: [ClosedRange<Int>] = []
        for i in s.judgedFrom..<scores.count where scores[i] > threshold {
            if let last = alarms.last, i - last.upperBound < s.shingle + 3 {
                alarms[alarms.count - 1] = last.lowerBound...i
            } else {
                alarms.append(i...i)
            }
        }
        let windows = s.anomalies.map { $0.lowerBound...($0.upperBound + s.shingle + 1) }
        let trueAlarms = alarms.filter { a in windows.contains { $0.overlaps(a) } }.count
        let found = windows.filter { w in alarms.contains { $0.overlaps(w) } }.count
        return Accuracy(threshold: threshold, alarms: alarms.count, trueAlarms: trueAlarms, found: found, anomalies: s.anomalies.count)
    }
}
