public import SluiceCore

/// An interval join of two streams (`a JOIN b ON a.k = b.k AND b.ts BETWEEN a.ts + lower AND
/// a.ts + upper`), inner or LEFT. Each side's rows wait, by key, for rows of the other side that
/// can still match: a left row at `t` meets right rows in `[t + lower, t + upper]`, so it is kept
/// until the right side's watermark passes `t + upper` (a LEFT join then emits it with NULLs if
/// it met nothing); a right row at `t` is kept until the left side's watermark passes
/// `t - lower`. A row older than its own side's watermark is late (what it could have met may be
/// gone). Joined rows are the left row's columns, then the right row's.
///
/// Owned by one query's driver (not thread-safe).
public final class IntervalJoinOperator {
    public let lower: Int64
    public let upper: Int64
    public let left: Bool
    public let rightWidth: Int

    struct Entry {
        var time: Int64
        var seq: Int64
        var row: [Value]
        var matched: Bool
    }

    var lefts: [[Value]: [Entry]] = [:]
    var rights: [[Value]: [Entry]] = [:]
    var seq: Int64 = 0
    /// The watermarks of each side as last advanced.
    public private(set) var leftWatermark: Int64 = .min
    public private(set) var rightWatermark: Int64 = .min

    public init(lower: Int64, upper: Int64, left: Bool, rightWidth: Int) {
        precondition(lower <= upper)
        self.lower = lower
        self.upper = upper
        self.left = left
        self.rightWidth = rightWidth
    }

    public var explain: String { "IntervalJoinExec: \(left ? "left" : "inner") right.time in [left.time + \(lower)ms, left.time + \(upper)ms]" }

    /// Rows held on both sides (for tests and metrics).
    public var heldRows: Int { lefts.values.reduce(0) { $0 + $1.count } + rights.values.reduce(0) { $0 + $1.count } }

    /// A left row: returns the joined rows it makes now, or nil when it is late. NULL keys meet nothing.
    public func addLeft(key: [Value], time t: Int64, row: [Value]) -> [[Value]]? {
        guard t >= leftWatermark else { return nil }
        var out: [[Value]] = []
        let nullKey = key.contains(.null)
        if !nullKey, let candidates = rights[key] {
            for r in candidates where r.time >= t &+ lower && r.time <= t &+ upper { out.append(row + r.row) }
        }
        // An inner join keeps a left row only while a right row can still arrive to meet it.
        if (!nullKey || left) && t &+ upper >= rightWatermark {
            lefts[nullKey ? [] : key, default: []].append(Entry(time: t, seq: seq, row: row, matched: !out.isEmpty))
            seq += 1
        } else if left && out.isEmpty {
            out.append(row + [Value](repeating: .null, count: rightWidth))
        }
        return out
    }

    /// A right row: returns the joined rows it makes now, or nil when it is late.
    public func addRight(key: [Value], time t: Int64, row: [Value]) -> [[Value]]? {
        guard t >= rightWatermark else { return nil }
        if key.contains(.null) { return [] }
        var out: [[Value]] = []
        if var candidates = lefts[key] {
            for i in candidates.indices where t >= candidates[i].time &+ lower && t <= candidates[i].time &+ upper {
                out.append(candidates[i].row + row)
                candidates[i].matched = true
            }
            lefts[key] = candidates
        }
        if t &- lower >= leftWatermark {
            rights[key, default: []].append(Entry(time: t, seq: seq, row: row, matched: false))
            seq += 1
        }
        return out
    }

    /// Moves the watermarks; drops the rows nothing can meet any more and returns, for a LEFT
    /// join, the left rows that met nothing, with NULLs, in (time, arrival) order.
    public func advance(left lw: Int64, right rw: Int64) -> [[Value]] {
        leftWatermark = max(leftWatermark, lw)
        rightWatermark = max(rightWatermark, rw)
        var unmatched: [Entry] = []
        for (k, entries) in lefts {
            let keep = entries.filter { $0.time &+ upper >= rightWatermark && rightWatermark != WatermarkTracker.infinity }
            if keep.count != entries.count {
                if left { unmatched += entries.filter { !$0.matched && !($0.time &+ upper >= rightWatermark && rightWatermark != WatermarkTracker.infinity) } }
                lefts[k] = keep.isEmpty ? nil : keep
            }
        }
        for (k, entries) in rights {
            let keep = entries.filter { $0.time &- lower >= leftWatermark && leftWatermark != WatermarkTracker.infinity }
            if keep.count != entries.count { rights[k] = keep.isEmpty ? nil : keep }
        }
        unmatched.sort { $0.time != $1.time ? $0.time < $1.time : $0.seq < $1.seq }
        let nulls = [Value](repeating: .null, count: rightWidth)
        return unmatched.map { $0.row + nulls }
    }

    // MARK: - Checkpoints

    public func snapshot() -> JSONValue {
        func side(_ m: [[Value]: [Entry]]) -> JSONValue {
            .array(m.keys.sorted(by: GroupKeyOrder.less).map { k in
                ["key": .array(k.map(\.snapshot)),
                 "rows": .array(m[k]!.map { ["time": .int($0.time), "seq": .int($0.seq), "row": .array($0.row.map(\.snapshot)), "matched": .bool($0.matched)] })]
            })
        }
        return ["left": side(lefts), "right": side(rights), "seq": .int(seq),
                "left_watermark": .int(leftWatermark), "right_watermark": .int(rightWatermark)]
    }

    public func restore(_ j: JSONValue) throws(SnapshotError) {
        func side(_ v: JSONValue?) throws(SnapshotError) -> [[Value]: [Entry]] {
            var m: [[Value]: [Entry]] = [:]
            for e in try Snap.array(v) {
                var key: [Value] = []
                for x in try Snap.array(e["key"]) { key.append(try Value(snapshot: x)) }
                var entries: [Entry] = []
                for r in try Snap.array(e["rows"]) {
                    var row: [Value] = []
                    for x in try Snap.array(r["row"]) { row.append(try Value(snapshot: x)) }
                    entries.append(Entry(time: try Snap.int(r["time"]), seq: try Snap.int(r["seq"]), row: row, matched: r["matched"] == .bool(true)))
                }
                m[key] = entries
            }
            return m
        }
        lefts = try side(j["left"])
        rights = try side(j["right"])
        seq = try Snap.int(j["seq"])
        leftWatermark = try Snap.int(j["left_watermark"])
        rightWatermark = try Snap.int(j["right_watermark"])
    }
}
