public import SluiceCore

/// The anomaly detectors of the `RANDOM_CUT_FOREST` family, each kept per partition.
public enum AnomalyDetector: Sendable, Equatable {
    /// `RANDOM_CUT_FOREST[_WITH_EXPLANATION]`: a random cut forest.
    case forest(RandomCutForest.Configuration, explanation: Bool)
    /// `FLAT_LINE`: how long the values have stayed put (`FlatLine`).
    case flatLine(FlatLine.Configuration)
    /// `HOTSPOTS`: the dense regions among the last points (`Hotspots`).
    case hotspots(Hotspots.Configuration)
}

/// A detector's state for one partition: it scores a point, then learns it.
protocol PartitionModel: AnyObject {
    /// Points scored so far.
    var seen: Int64 { get }
    /// Scores `point` (then learns it), appending the detector's columns to `row`.
    func score(_ point: [Double], into row: inout [Value])
    var snapshot: JSONValue { get }
    func restore(_ j: JSONValue) throws(SnapshotError)
}

/// An anomaly detector (`RANDOM_CUT_FOREST[_WITH_EXPLANATION]`, `FLAT_LINE`) over a stream: one
/// model per partition, rows scored in event-time order. A row waits until the watermark passes
/// its time (every row at or before it has then arrived; for a window's rows, whose time is the
/// window's end, until the watermark reaches it), so the order a model sees, and so its scores,
/// do not depend on how the shards' records interleave: a replay or a restart from a checkpoint
/// scores exactly the same.
///
/// Each output row is the input row followed by the detector's columns: for the forest
/// `anomaly_score` and, with the explanation, per input column its attribution (the part of the
/// score it accounts for, summed over the shingle) and direction (`HIGH` when the value is above
/// what the forest has seen, `LOW` below), then the same as a JSON object in Kinesis Data
/// Analytics' form (`anomaly_explanation`); for the flat line `flat_rows` and `anomaly_score`. A
/// row with a NULL (or NaN, or infinite, or beyond ±1e300) value in a detector column passes with
/// NULL columns; its model does not see it.
///
/// State: the rows waiting for the watermark and one model per partition (a forest's trees,
/// samples and random generators are bounded by trees × sample size, not by the stream), at most
/// `maxPartitions` models: a row of a new partition beyond them evicts the model whose last row
/// was scored longest ago (its partition starts afresh if it comes back). Rows are scored in
/// event-time order, so which model goes is decided the same way in a replay or after a restart.
///
/// Owned by one query's driver (not thread-safe).
public final class AnomalyDetectionOperator {
    public let detector: AnomalyDetector
    public let columnNames: [String]
    /// Kinesis Data Analytics' columns for a forest: the score, and with the explanation only its
    /// JSON (no attribution and direction per column).
    public let kdaColumns: Bool
    /// Rows at the watermark are complete (their time is a closed window's end).
    public let inclusive: Bool
    /// Columns of the prepared batch: `[time, keys..., forest inputs...]`.
    let keyCount: Int

    struct Pending {
        var time: Int64
        var seq: Int64
        var key: [Value]
        /// The forest's inputs, nil when one is NULL, not finite or beyond `largestValue`.
        var point: [Double]?
        var row: [Value]
    }

    struct Held {
        var model: any PartitionModel
        /// The number of the last row it scored (`scored` then).
        var lastUse: Int64
    }

    var pending: [Pending] = []
    var forests: [[Value]: Held] = [:]
    public let maxPartitions: Int
    /// Rows scored by a forest so far.
    var scored: Int64 = 0
    /// (partition, row number) per use, oldest first: the first entry whose number is still its
    /// forest's last use is the forest to evict. Stale entries are skipped; the queue is rebuilt
    /// from the forests when it grows past a few entries per forest, and the entries evictions
    /// have gone past are dropped when they are half of it.
    var uses: [(key: [Value], use: Int64)] = []
    var usesHead = 0
    /// Forests evicted to stay within `maxPartitions`.
    public private(set) var evicted: Int64 = 0
    var seq: Int64 = 0
    public private(set) var emittedThrough: Int64 = .min

    public init(detector: AnomalyDetector, columnNames: [String], keyCount: Int, inclusive: Bool, maxPartitions: Int = 10_000, kdaColumns: Bool = false) {
        precondition(maxPartitions > 0)
        self.kdaColumns = kdaColumns
        if case .forest(let c, _) = detector { precondition(c.dimensions == columnNames.count) }
        self.maxPartitions = maxPartitions
        self.detector = detector
        self.columnNames = columnNames
        self.keyCount = keyCount
        self.inclusive = inclusive
    }

    /// A random cut forest per partition.
    public convenience init(configuration: RandomCutForest.Configuration, columnNames: [String], keyCount: Int, explanation: Bool, inclusive: Bool,
                            maxPartitions: Int = 10_000) {
        self.init(detector: .forest(configuration, explanation: explanation), columnNames: columnNames, keyCount: keyCount, inclusive: inclusive,
                  maxPartitions: maxPartitions)
    }

    public var explain: String {
        switch detector {
        case .forest(let c, let explanation):
            return "AnomalyDetectionExec: random cut forest columns=[\(columnNames.joined(separator: ", "))] keys=\(keyCount) trees=\(c.trees) "
                + "sample_size=\(c.sampleSize) shingle=\(c.shingle) score=\(c.score.rawValue) max_partitions=\(maxPartitions) warm_up=\(warmUp) (score 0 before)"
                + (explanation ? " explanation" : "")
        case .flatLine(let c):
            return "AnomalyDetectionExec: flat line columns=[\(columnNames.joined(separator: ", "))] keys=\(keyCount) tolerance=\(c.tolerance) max_partitions=\(maxPartitions)"
        case .hotspots(let c):
            return "AnomalyDetectionExec: hotspots columns=[\(columnNames.joined(separator: ", "))] keys=\(keyCount) window_size=\(c.windowSize) "
                + "scan_radius=\(c.scanRadius) minimum_points=\(c.minimumPoints) max_partitions=\(maxPartitions)"
        }
    }

    /// Rows a partition's model sees before its scores are more than 0 (none for the flat line).
    public var warmUp: Int {
        guard case .forest(let c, _) = detector else { return 0 }
        return c.outputAfter ?? 1 + c.sampleSize / 4
    }
    /// Partitions whose model has not yet seen `warmUp` rows (their scores are still 0).
    public var warmingPartitions: Int { forests.values.filter { $0.model.seen < Int64(warmUp) }.count }

    /// The columns a row gets: NULL for a row its model does not see.
    private var addedColumns: Int {
        switch detector {
        case .forest(_, let explanation): return 1 + (explanation ? (kdaColumns ? 1 : 2 * columnNames.count + 1) : 0)
        case .flatLine: return 2
        case .hotspots: return 1
        }
    }

    private func makeModel() -> any PartitionModel {
        switch detector {
        case .forest(let c, let explanation): return ForestModel(RandomCutForest(c), explanation: explanation, columnNames: columnNames, kdaColumns: kdaColumns)
        case .flatLine(let c): return FlatLine(c, dimensions: columnNames.count)
        case .hotspots(let c): return Hotspots(c, dimensions: columnNames.count)
        }
    }

    /// The largest magnitude a model sees: a forest adds up its boxes' sizes, and values near
    /// the ends of Double (±1e308) would make them infinite (its cuts never separating a point:
    /// a query hung). A row with a value beyond is not seen, as one with NaN is not.
    public static let largestValue = 1e300

    /// Partitions with a forest, and rows waiting for the watermark (tests and metrics).
    public var partitions: Int { forests.count }
    public var waitingRows: Int { pending.count }

    private func isLate(_ t: Int64) -> Bool { inclusive ? t <= emittedThrough : t < emittedThrough }

    /// Adds a prepared batch and, for each of its rows, the input row it came from. Returns the
    /// late rows (NULL time, or not after what has been scored).
    public func add(_ batch: Batch, rows: [[Value]]) -> [Int] {
        var late: [Int] = []
        let times = batch.columns[0]
        let dims = columnNames.count
        for r in 0..<batch.count {
            guard case .timestamp(let t) = times.value(r), !isLate(t) else { late.append(r); continue }
            let key = (0..<keyCount).map { batch.columns[1 + $0].value(r) }
            var point: [Double]? = []
            point!.reserveCapacity(dims)
            for c in 0..<dims {
                let x: Double
                switch batch.columns[1 + keyCount + c].value(r) {
                case .int(let i): x = Double(i)
                case .double(let d): x = d
                case .decimal(let d): x = d.doubleValue
                default: x = .nan
                }
                guard x.isFinite, abs(x) <= AnomalyDetectionOperator.largestValue else { point = nil; break }
                point!.append(x)
            }
            pending.append(Pending(time: t, seq: seq, key: key, point: point, row: rows[r]))
            seq += 1
        }
        return late
    }

    /// The rows whose time is before `watermark` (at or before, for window rows), scored, in
    /// (time, arrival) order.
    public func advance(to watermark: Int64) -> [[Value]] {
        guard watermark > emittedThrough else { return [] }
        var ready: [Pending] = [], waiting: [Pending] = []
        for p in pending { if p.time < watermark || (inclusive && p.time == watermark) { ready.append(p) } else { waiting.append(p) } }
        pending = waiting
        emittedThrough = watermark
        guard !ready.isEmpty else { return [] }
        ready.sort { $0.time != $1.time ? $0.time < $1.time : $0.seq < $1.seq }
        var out: [[Value]] = []
        out.reserveCapacity(ready.count)
        for p in ready { out.append(score(p)) }
        return out
    }

    private func score(_ p: Pending) -> [Value] {
        var row = p.row
        guard let point = p.point else {
            row += [Value](repeating: .null, count: addedColumns)
            return row
        }
        use(p.key).score(point, into: &row)
        return row
    }

    /// The forest of a partition, made (evicting the one used longest ago, if the forests are at
    /// their bound) when it has none; marked as used now.
    private func use(_ key: [Value]) -> any PartitionModel {
        scored += 1
        defer {
            uses.append((key, scored))
            if uses.count - usesHead > 4 * forests.count + 1024 {
                rebuildUses()
            } else if usesHead > 1024 && usesHead > uses.count / 2 {
                uses.removeFirst(usesHead)  // the entries evictions have gone past
                usesHead = 0
            }
        }
        if let i = forests.index(forKey: key) {
            forests.values[i].lastUse = scored
            return forests.values[i].model
        }
        if forests.count >= maxPartitions {
            while usesHead < uses.count {
                let (k, n) = uses[usesHead]
                usesHead += 1
                if forests[k]?.lastUse == n {
                    forests[k] = nil
                    evicted += 1
                    break
                }
            }
        }
        let model = makeModel()
        forests[key] = Held(model: model, lastUse: scored)
        return model
    }

    /// The use queue from the forests' last uses alone.
    private func rebuildUses() {
        uses = forests.map { ($0.key, $0.value.lastUse) }.sorted { $0.use != $1.use ? $0.use < $1.use : GroupKeyOrder.less($0.key, $1.key) }
        usesHead = 0
    }

    // MARK: - Checkpoints

    public func snapshot() -> JSONValue {
        func values(_ v: [Value]) -> JSONValue { .array(v.map(\.snapshot)) }
        let waiting: [JSONValue] = pending.map {
            ["time": .int($0.time), "seq": .int($0.seq), "key": values($0.key),
             "point": $0.point.map { .array($0.map { .double($0) }) } ?? .null, "row": values($0.row)]
        }
        var parts: [JSONValue] = []
        for k in forests.keys.sorted(by: GroupKeyOrder.less) {
            parts.append(["key": values(k), "forest": forests[k]!.model.snapshot, "last_use": .int(forests[k]!.lastUse)])
        }
        return ["emitted_through": .int(emittedThrough), "seq": .int(seq), "pending": .array(waiting), "forests": .array(parts),
                "scored": .int(scored), "evicted": .int(evicted)]
    }

    public func restore(_ j: JSONValue) throws(SnapshotError) {
        func values(_ v: JSONValue?) throws(SnapshotError) -> [Value] {
            var out: [Value] = []
            for x in try Snap.array(v) { out.append(try Value(snapshot: x)) }
            return out
        }
        var waiting: [Pending] = []
        for p in try Snap.array(j["pending"]) {
            let key = try values(p["key"])
            var point: [Double]? = nil
            if let xs = p["point"]?.arrayValue {
                point = []
                for x in xs {
                    guard let d = x.doubleValue else { throw SnapshotError("a waiting row of a forest is malformed") }
                    point!.append(d)
                }
            }
            guard key.count == keyCount, point == nil || point!.count == columnNames.count else {
                throw SnapshotError("a waiting row of a forest does not match the query")
            }
            waiting.append(Pending(time: try Snap.int(p["time"]), seq: try Snap.int(p["seq"]), key: key, point: point, row: try values(p["row"])))
        }
        var restored: [[Value]: Held] = [:]
        for f in try Snap.array(j["forests"]) {
            let key = try values(f["key"])
            guard key.count == keyCount else { throw SnapshotError("a forest's partition does not match the query") }
            let forest = makeModel()
            try forest.restore(f["forest"] ?? .null)
            // (A checkpoint from before the bound has no last uses: its forests count as used at once.)
            restored[key] = Held(model: forest, lastUse: f["last_use"] == nil ? 0 : try Snap.int(f["last_use"]))
        }
        pending = waiting
        forests = restored
        scored = j["scored"] == nil ? 0 : try Snap.int(j["scored"])
        evicted = j["evicted"] == nil ? 0 : try Snap.int(j["evicted"])
        rebuildUses()
        seq = try Snap.int(j["seq"])
        emittedThrough = try Snap.int(j["emitted_through"])
    }
}

/// A random cut forest as a partition's model: `anomaly_score`, and with the explanation the
/// attribution and direction per column and the KDA-style JSON.
final class ForestModel: PartitionModel {
    let forest: RandomCutForest
    let explanation: Bool
    let columnNames: [String]
    let kdaColumns: Bool

    init(_ forest: RandomCutForest, explanation: Bool, columnNames: [String], kdaColumns: Bool = false) {
        self.forest = forest
        self.explanation = explanation
        self.columnNames = columnNames
        self.kdaColumns = kdaColumns
    }

    var seen: Int64 { forest.seen }
    var snapshot: JSONValue { forest.snapshot }
    func restore(_ j: JSONValue) throws(SnapshotError) { try forest.restore(j) }

    func score(_ point: [Double], into row: inout [Value]) {
        let dims = columnNames.count
        var attribution: [Double]? = explanation ? [] : nil
        let s = forest.update(point, attribution: &attribution)
        row.append(.double(s))
        guard explanation, let a = attribution else { return }
        var high = [Double](repeating: 0, count: dims), low = high
        // The attribution is per dimension of the shingled point (shingle × columns), high and low interleaved.
        for i in 0..<(a.count / 2) {
            high[i % dims] += a[2 * i]
            low[i % dims] += a[2 * i + 1]
        }
        var json = JSONObject()
        for c in 0..<dims {
            let total = high[c] + low[c]
            let direction: Value = total > 0 ? .string(high[c] >= low[c] ? "HIGH" : "LOW") : .null
            if !kdaColumns {
                row.append(.double(total))
                row.append(direction)
            }
            json[columnNames[c]] = ["DIRECTION": direction.isNull ? .null : .string(direction.description),
                                    "STRENGTH": .double(s > 0 ? total / s : 0), "ATTRIBUTION_SCORE": .double(total)]
        }
        row.append(.string(JSONValue.object(json).serialized()))
    }
}
