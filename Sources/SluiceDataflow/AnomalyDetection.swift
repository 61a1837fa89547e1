public import SluiceCore

/// `RANDOM_CUT_FOREST[_WITH_EXPLANATION]` over a stream: one random cut forest per partition,
/// rows scored in event-time order. A row waits until the watermark passes its time (every row at
/// or before it has then arrived; for a window's rows, whose time is the window's end, until the
/// watermark reaches it), so the order a forest sees, and so its scores, do not depend on how the
/// shards' records interleave: a replay or a restart from a checkpoint scores exactly the same.
///
/// Each output row is the input row followed by `anomaly_score` and, with the explanation, per
/// input column its attribution (the part of the score it accounts for, summed over the shingle)
/// and direction (`HIGH` when the value is above what the forest has seen, `LOW` below), then
/// the same as a JSON object in Kinesis Data Analytics' form (`anomaly_explanation`). A row with a
/// NULL (or NaN, or infinite) value in a forest column passes with NULL score; its forest does not
/// see it.
///
/// State: the rows waiting for the watermark and one forest per partition (trees, samples and
/// random generators: bounded by trees × sample size, not by the stream), at most `maxPartitions`
/// forests: a row of a new partition beyond them evicts the forest whose last row was scored
/// longest ago (its partition starts afresh if it comes back). Rows are scored in event-time
/// order, so which forest goes is decided the same way in a replay or after a restart.
///
/// Owned by one query's driver (not thread-safe).
public final class AnomalyDetectionOperator {
    public let configuration: RandomCutForest.Configuration
    public let columnNames: [String]
    public let explanation: Bool
    /// Rows at the watermark are complete (their time is a closed window's end).
    public let inclusive: Bool
    /// Columns of the prepared batch: `[time, keys..., forest inputs...]`.
    let keyCount: Int

    struct Pending {
        var time: Int64
        var seq: Int64
        var key: [Value]
        /// The forest's inputs, nil when one is NULL or not finite.
        var point: [Double]?
        var row: [Value]
    }

    struct Held {
        var forest: RandomCutForest
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

    public init(configuration: RandomCutForest.Configuration, columnNames: [String], keyCount: Int, explanation: Bool, inclusive: Bool,
                maxPartitions: Int = 10_000) {
        precondition(configuration.dimensions == columnNames.count && maxPartitions > 0)
        self.maxPartitions = maxPartitions
        self.configuration = configuration
        self.columnNames = columnNames
        self.keyCount = keyCount
        self.explanation = explanation
        self.inclusive = inclusive
    }

    public var explain: String {
        let c = configuration
        return "AnomalyDetectionExec: random cut forest columns=[\(columnNames.joined(separator: ", "))] keys=\(keyCount) trees=\(c.trees) "
            + "sample_size=\(c.sampleSize) shingle=\(c.shingle) max_partitions=\(maxPartitions) warm_up=\(warmUp) (score 0 before)" + (explanation ? " explanation" : "")
    }

    /// Rows a partition's forest sees before its scores are more than 0.
    public var warmUp: Int { configuration.outputAfter ?? 1 + configuration.sampleSize / 4 }
    /// Partitions whose forest has not yet seen `warmUp` rows (their scores are still 0).
    public var warmingPartitions: Int { forests.values.filter { $0.forest.seen < Int64(warmUp) }.count }

    /// Partitions with a forest, and rows waiting for the watermark (tests and metrics).
    public var partitions: Int { forests.count }
    public var waitingRows: Int { pending.count }

    private func isLate(_ t: Int64) -> Bool { inclusive ? t <= emittedThrough : t < emittedThrough }

    /// Adds a prepared batch and, for each of its rows, the input row it came from. Returns the
    /// late rows (NULL time, or not after what has been scored).
    public func add(_ batch: Batch, rows: [[Value]]) -> [Int] {
        var late: [Int] = []
        let times = batch.columns[0]
        let dims = configuration.dimensions
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
                guard x.isFinite else { point = nil; break }
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
        let dims = configuration.dimensions
        guard let point = p.point else {
            row.append(.null)
            if explanation { row += [Value](repeating: .null, count: 2 * dims + 1) }
            return row
        }
        let forest = use(p.key)
        var attribution: [Double]? = explanation ? [] : nil
        let s = forest.update(point, attribution: &attribution)
        row.append(.double(s))
        guard explanation, let a = attribution else { return row }
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
            row.append(.double(total))
            row.append(direction)
            json[columnNames[c]] = ["DIRECTION": direction.isNull ? .null : .string(direction.description),
                                    "STRENGTH": .double(s > 0 ? total / s : 0), "ATTRIBUTION_SCORE": .double(total)]
        }
        row.append(.string(JSONValue.object(json).serialized()))
        return row
    }

    /// The forest of a partition, made (evicting the one used longest ago, if the forests are at
    /// their bound) when it has none; marked as used now.
    private func use(_ key: [Value]) -> RandomCutForest {
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
            return forests.values[i].forest
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
        let forest = RandomCutForest(configuration)
        forests[key] = Held(forest: forest, lastUse: scored)
        return forest
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
            parts.append(["key": values(k), "forest": forests[k]!.forest.snapshot, "last_use": .int(forests[k]!.lastUse)])
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
            guard key.count == keyCount, point == nil || point!.count == configuration.dimensions else {
                throw SnapshotError("a waiting row of a forest does not match the query")
            }
            waiting.append(Pending(time: try Snap.int(p["time"]), seq: try Snap.int(p["seq"]), key: key, point: point, row: try values(p["row"])))
        }
        var restored: [[Value]: Held] = [:]
        for f in try Snap.array(j["forests"]) {
            let key = try values(f["key"])
            guard key.count == keyCount else { throw SnapshotError("a forest's partition does not match the query") }
            let forest = RandomCutForest(configuration)
            try forest.restore(f["forest"] ?? .null)
            // (A checkpoint from before the bound has no last uses: its forests count as used at once.)
            restored[key] = Held(forest: forest, lastUse: f["last_use"] == nil ? 0 : try Snap.int(f["last_use"]))
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
