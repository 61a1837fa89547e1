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

    /// A key's rows on one side, in arrival order, and the second the key was last filed under for expiry.
    struct Held {
        var rows: [Entry] = []
        var filed: Int64 = .min
    }
    typealias JoinRows = KeyTable<Held>

    /// Keys by the second their rows expire in, seconds ascending; new rows nearly always go to the
    /// last second or one near it.
    struct ExpiryQueue {
        var seconds: [(second: Int64, keys: [RowKey])] = []

        mutating func file(_ k: RowKey, under b: Int64) {
            var i = seconds.count
            while i > 0 && seconds[i - 1].second > b { i -= 1 }
            if i > 0 && seconds[i - 1].second == b {
                seconds[i - 1].keys.append(k)
            } else {
                seconds.insert((b, [k]), at: i)
            }
        }

        /// Takes the keys filed under seconds before `b`.
        mutating func take(before b: Int64) -> [[RowKey]] {
            var n = 0
            while n < seconds.count && seconds[n].second < b { n += 1 }
            guard n > 0 else { return [] }
            let due = seconds[..<n].map(\.keys)
            seconds.removeFirst(n)
            return due
        }
    }

    var lefts: JoinRows
    var rights: JoinRows
    /// Keys by the second their rows expire in (left: time + upper, right: time - lower), so
    /// advancing the watermark visits only the keys with rows to drop. A key is filed once per
    /// second however many of its rows expire in it.
    var leftExpiry = ExpiryQueue()
    var rightExpiry = ExpiryQueue()
    static let bucket: Int64 = 1000
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
        let seed = UInt64.random(in: .min ... .max)
        lefts = JoinRows(seed: seed, empty: Held())
        rights = JoinRows(seed: seed, empty: Held())
    }

    public var explain: String { "IntervalJoinExec: \(left ? "left" : "inner") right.time in [left.time + \(lower)ms, left.time + \(upper)ms]" }

    /// Rows held on both sides (for tests and metrics).
    public var heldRows: Int { (lefts.all + rights.all).reduce(0) { $0 + $1.1.rows.count } }

    /// A left row: returns the joined rows it makes now, or nil when it is late. NULL keys meet nothing.
    public func addLeft(key: [Value], time t: Int64, row: [Value]) -> [[Value]]? { addLeft(key: RowKey(key), time: t, row: row) }

    /// A right row: returns the joined rows it makes now, or nil when it is late.
    public func addRight(key: [Value], time t: Int64, row: [Value]) -> [[Value]]? { addRight(key: RowKey(key), time: t, row: row) }

    public func addLeft(key: RowKey, time t: Int64, row: [Value]) -> [[Value]]? {
        guard t >= leftWatermark else { return nil }
        var out: [[Value]] = []
        let nullKey = key.hasNull
        let k = nullKey ? RowKey.values([]) : key
        if !nullKey, let at = rights.find(k) {
            rights.value(at).pointee.rows.withUnsafeBufferPointer { candidates in
                for r in candidates where r.time >= t &+ lower && r.time <= t &+ upper { out.append(row + r.row) }
            }
        }
        // An inner join keeps a left row only while a right row can still arrive to meet it.
        if (!nullKey || left) && t &+ upper >= rightWatermark {
            Self.hold(Entry(time: t, seq: seq, row: row, matched: !out.isEmpty), k, expiring: t &+ upper, lefts, &leftExpiry)
            seq += 1
        } else if left && out.isEmpty {
            out.append(row + [Value](repeating: .null, count: rightWidth))
        }
        return out
    }

    public func addRight(key k: RowKey, time t: Int64, row: [Value]) -> [[Value]]? {
        guard t >= rightWatermark else { return nil }
        if k.hasNull { return [] }
        var out: [[Value]] = []
        if let at = lefts.find(k) {
            lefts.value(at).pointee.rows.withUnsafeMutableBufferPointer { candidates in
                for i in candidates.indices where t >= candidates[i].time &+ lower && t <= candidates[i].time &+ upper {
                    out.append(candidates[i].row + row)
                    candidates[i].matched = true
                }
            }
        }
        if t &- lower >= leftWatermark {
            Self.hold(Entry(time: t, seq: seq, row: row, matched: false), k, expiring: t &- lower, rights, &rightExpiry)
            seq += 1
        }
        return out
    }

    /// Keeps a row under its key and files the key under the second the row expires in.
    private static func hold(_ e: Entry, _ k: RowKey, expiring at: Int64, _ side: JoinRows, _ expiry: inout ExpiryQueue) {
        let held = side.value(side.slot(for: k))
        held.pointee.rows.append(e)
        let b = bucketOf(at)
        if held.pointee.filed != b {
            held.pointee.filed = b
            expiry.file(k, under: b)
        }
    }

    static func bucketOf(_ t: Int64) -> Int64 {
        let q = t / bucket
        return (t % bucket != 0 && t < 0) ? q - 1 : q
    }

    /// The watermark of the joined rows (their left time) at these watermarks of the two sides: no
    /// row the join emits later is older. A joined row's left time is at least the right watermark
    /// minus the upper bound; a LEFT join's unmatched row goes out once the right watermark is in
    /// a later second than its time + upper, so it is at least the start of that second minus it.
    public func joinedWatermark(left lw: Int64, right rw: Int64) -> Int64 {
        let inf = WatermarkTracker.infinity
        let fromRight: Int64
        if rw == inf {
            fromRight = inf
        } else if rw == .min {
            fromRight = .min
        } else {
            fromRight = (left ? Self.bucketOf(rw) &* Self.bucket : rw) &- max(0, upper)
        }
        return min(lw, fromRight)
    }

    /// Moves the watermarks; drops the rows nothing can meet any more and returns, for a LEFT
    /// join, the left rows that met nothing, with NULLs, in (time, arrival) order.
    public func advance(left lw: Int64, right rw: Int64) -> [[Value]] {
        leftWatermark = max(leftWatermark, lw)
        rightWatermark = max(rightWatermark, rw)
        let inf = WatermarkTracker.infinity
        var unmatched: [Entry] = []
        // A left row goes once time + upper < the right watermark; a right row once time - lower < the left one.
        Self.expire(lefts, &leftExpiry, through: rightWatermark, everything: rightWatermark == inf, offset: upper,
                    left ? { e in if !e.matched { unmatched.append(e) } } : nil)
        Self.expire(rights, &rightExpiry, through: leftWatermark, everything: leftWatermark == inf, offset: 0 &- lower, nil)
        unmatched.sort { $0.time != $1.time ? $0.time < $1.time : $0.seq < $1.seq }
        let nulls = [Value](repeating: .null, count: rightWidth)
        return unmatched.map { $0.row + nulls }
    }

    /// Drops the entries whose expiry time (left time + upper, right time - lower) falls in a
    /// second wholly before the mark's, visiting only the keys filed under those seconds. Rows
    /// whose expiry is in the mark's own second go at a later advance (nothing can meet them
    /// anyway): by the second, not by the key's history of filings, so that when a row goes
    /// depends only on the watermarks, and a run resumed from a checkpoint drops (and, for a LEFT
    /// join, emits) each row at the same record as an uninterrupted one.
    /// `offset` turns a row's time into its expiry time; `dropped`, if given, sees each row dropped.
    private static func expire(_ side: JoinRows, _ expiry: inout ExpiryQueue, through mark: Int64, everything: Bool,
                               offset: Int64, _ dropped: ((Entry) -> Void)?) {
        if everything {
            if let dropped { for (_, held) in side.all { held.rows.forEach(dropped) } }
            side.removeAll()
            expiry = ExpiryQueue()
            return
        }
        let due = bucketOf(mark)
        for keys in expiry.take(before: due) {
            for k in keys {
                // Gone already (its rows expired through another second), or filed again since.
                guard let slot = side.find(k) else { continue }
                // In place: an array taken out of the table would be copied to be changed.
                let held = side.value(slot)
                let kept = held.pointee.rows.withUnsafeMutableBufferPointer { entries -> Int in
                    var kept = 0
                    for i in entries.indices {
                        if bucketOf(entries[i].time &+ offset) < due { dropped?(entries[i]); continue }
                        if kept != i { entries.swapAt(kept, i) }
                        kept += 1
                    }
                    return kept
                }
                if kept == 0 {
                    side.remove(at: slot)
                } else {
                    held.pointee.rows.removeLast(held.pointee.rows.count - kept)
                }
            }
        }
    }

    // MARK: - Checkpoints

    public func snapshot() -> JSONValue {
        // Written key by key: the held rows can be many, and their tree is never built whole.
        func side(_ m: JoinRows) -> JSONValue {
            JSONValue.rawArray(m.all.sorted(by: { GroupKeyOrder.less($0.0.values, $1.0.values) })) { k, held in
                ["key": .array(k.values.map(\.snapshot)),
                 "rows": .array(held.rows.map { ["time": .int($0.time), "seq": .int($0.seq), "row": .array($0.row.map(\.snapshot)), "matched": .bool($0.matched)] })]
            }
        }
        return ["left": side(lefts), "right": side(rights), "seq": .int(seq),
                "left_watermark": .int(leftWatermark), "right_watermark": .int(rightWatermark)]
    }

    public func restore(_ j: JSONValue) throws(SnapshotError) {
        func side(_ v: JSONValue?) throws(SnapshotError) -> [RowKey: [Entry]] {
            var m: [RowKey: [Entry]] = [:]  // (a key twice in a damaged checkpoint: the last wins)
            for e in try Snap.array(v) {
                var key: [Value] = []
                for x in try Snap.array(e["key"]) { key.append(try Value(snapshot: x)) }
                var entries: [Entry] = []
                for r in try Snap.array(e["rows"]) {
                    var row: [Value] = []
                    for x in try Snap.array(r["row"]) { row.append(try Value(snapshot: x)) }
                    entries.append(Entry(time: try Snap.int(r["time"]), seq: try Snap.int(r["seq"]), row: row, matched: r["matched"] == .bool(true)))
                }
                m[RowKey(key)] = entries
            }
            return m
        }
        let l = try side(j["left"]), r = try side(j["right"])
        lefts.removeAll()
        rights.removeAll()
        leftExpiry = ExpiryQueue()
        rightExpiry = ExpiryQueue()
        for (k, entries) in l { for e in entries { Self.hold(e, k, expiring: e.time &+ upper, lefts, &leftExpiry) } }
        for (k, entries) in r { for e in entries { Self.hold(e, k, expiring: e.time &- lower, rights, &rightExpiry) } }
        seq = try Snap.int(j["seq"])
        leftWatermark = try Snap.int(j["left_watermark"])
        rightWatermark = try Snap.int(j["right_watermark"])
    }
}
