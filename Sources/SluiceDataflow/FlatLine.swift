public import SluiceCore

/// `FLAT_LINE`: a partition's values that stop changing (a stuck sensor, a frozen gauge, a feed
/// that repeats its last reading), which a random cut forest cannot see: a repeated value is the
/// likeliest value there is.
///
/// A run is the rows in a row whose values stay within `tolerance` of one another (every
/// column's largest minus smallest value over the run at most the tolerance; 0: exactly equal).
/// Each row gets `flat_rows`, the length of the run it ends (1 for a value that moved), and
/// `anomaly_score`, that length over the partition's typical run: the mean length of its
/// ordinary runs that have ended (1 before any has; a run longer than 8 rows and 4 times the
/// typical one is not ordinary and does not count, so a stuck stretch does not teach the
/// partition that stuck is normal). A noisy sensor scores 1 on every row; one that sends the
/// same reading 30 times scores up to 30. State per partition: a few numbers.
public final class FlatLine: PartitionModel {
    public struct Configuration: Sendable, Equatable {
        /// How far values may move and still count as not changing.
        public var tolerance: Double = 0
        public init(tolerance: Double = 0) { self.tolerance = tolerance }
    }

    let configuration: Configuration
    private(set) var seen: Int64 = 0
    /// The current run: its length and each column's smallest and largest value.
    private(set) var run: Int64 = 0
    private var low: [Double], high: [Double]
    /// Ordinary runs that ended, and their rows.
    private var endedRuns: Int64 = 0, endedRows: Int64 = 0

    public init(_ c: Configuration, dimensions: Int) {
        configuration = c
        low = [Double](repeating: 0, count: dimensions)
        high = low
    }

    /// The typical run's length: the mean of the ordinary runs that ended, at least 1.
    var typical: Double { endedRuns == 0 ? 1 : max(1, Double(endedRows) / Double(endedRuns)) }

    func score(_ point: [Double], into row: inout [Value]) {
        let (rows, score) = update(point)
        row.append(.int(rows))
        row.append(.double(score))
    }

    /// Scores a point, then learns it: the length of the run it ends, and that over the typical run's.
    public func update(_ point: [Double]) -> (rows: Int64, score: Double) {
        precondition(point.count == low.count)
        var stays = run > 0
        if stays {
            for i in point.indices where max(high[i], point[i]) - min(low[i], point[i]) > configuration.tolerance {
                stays = false
                break
            }
        }
        if stays {
            run += 1
            for i in point.indices {
                low[i] = min(low[i], point[i])
                high[i] = max(high[i], point[i])
            }
        } else {
            if run > 0 && Double(run) <= max(8, 4 * typical) {
                endedRuns += 1
                endedRows += run
            }
            run = 1
            low = point
            high = point
        }
        seen += 1
        return (run, Double(run) / typical)
    }

    var snapshot: JSONValue {
        ["seen": .int(seen), "run": .int(run), "low": .array(low.map { .double($0) }), "high": .array(high.map { .double($0) }),
         "ended_runs": .int(endedRuns), "ended_rows": .int(endedRows)]
    }

    func restore(_ j: JSONValue) throws(SnapshotError) {
        func doubles(_ v: JSONValue?) throws(SnapshotError) -> [Double] {
            var out: [Double] = []
            for x in try Snap.array(v) {
                guard let d = x.doubleValue else { throw SnapshotError("a flat line's state holds a value that is not a number") }
                out.append(d)
            }
            guard out.count == low.count else { throw SnapshotError("a flat line's state has another number of columns") }
            return out
        }
        let l = try doubles(j["low"]), h = try doubles(j["high"])
        let s = try Snap.int(j["seen"]), r = try Snap.int(j["run"]), er = try Snap.int(j["ended_runs"]), rows = try Snap.int(j["ended_rows"])
        guard s >= 0, r >= 0, er >= 0, rows >= er else { throw SnapshotError("a flat line's state holds counts out of range") }
        (seen, run, low, high, endedRuns, endedRows) = (s, r, l, h, er, rows)
    }
}
