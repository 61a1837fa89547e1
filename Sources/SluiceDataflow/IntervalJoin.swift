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

    /// A join key: one or two integers without an array (the common cases), else the values.
    enum Key: Hashable {
        case one(Int64)
        case two(Int64, Int64)
        case values([Value])
        init(_ v: [Value]) {
            if v.count == 1, case .int(let a) = v[0] { self = .one(a); return }
            if v.count == 2, case .int(let a) = v[0], case .int(let b) = v[1] { self = .two(a, b); return }
            self = .values(v)
        }
        var values: [Value] {
            switch self {
            case .one(let a): return [.int(a)]
            case .two(let a, let b): return [.int(a), .int(b)]
            case .values(let v): return v
            }
        }

        /// One word into the hasher for the integer keys (their case is told by equality).
        func hash(into h: inout Hasher) {
            switch self {
            case .one(let a): h.combine(a)
            case .two(let a, let b): h.combine(UInt64(bitPattern: a) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bitPattern: b))
            case .values(let v): h.combine(v)
            }
        }
    }

    var lefts: [Key: [Entry]] = [:]
    var rights: [Key: [Entry]] = [:]
    /// Keys by the second their rows expire in (left: time + upper, right: time - lower), so
    /// advancing the watermark visits only the keys with rows to drop.
    var leftExpiry: [Int64: [Key]] = [:]
    var rightExpiry: [Int64: [Key]] = [:]
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
    }

    public var explain: String { "IntervalJoinExec: \(left ? "left" : "inner") right.time in [left.time + \(lower)ms, left.time + \(upper)ms]" }

    /// Rows held on both sides (for tests and metrics).
    public var heldRows: Int { lefts.values.reduce(0) { $0 + $1.count } + rights.values.reduce(0) { $0 + $1.count } }

    /// A left row: returns the joined rows it makes now, or nil when it is late. NULL keys meet nothing.
    public func addLeft(key: [Value], time t: Int64, row: [Value]) -> [[Value]]? {
        guard t >= leftWatermark else { return nil }
        var out: [[Value]] = []
        let nullKey = key.contains(.null)
        let k = nullKey ? Key.values([]) : Key(key)
        if !nullKey, let candidates = rights[k] {
            for r in candidates where r.time >= t &+ lower && r.time <= t &+ upper { out.append(row + r.row) }
        }
        // An inner join keeps a left row only while a right row can still arrive to meet it.
        if (!nullKey || left) && t &+ upper >= rightWatermark {
            lefts[k, default: []].append(Entry(time: t, seq: seq, row: row, matched: !out.isEmpty))
            leftExpiry[Self.bucketOf(t &+ upper), default: []].append(k)
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
        let k = Key(key)
        var out: [[Value]] = []
        if let at = lefts.index(forKey: k) {
            lefts.values[at].withUnsafeMutableBufferPointer { candidates in
                for i in candidates.indices where t >= candidates[i].time &+ lower && t <= candidates[i].time &+ upper {
                    out.append(candidates[i].row + row)
                    candidates[i].matched = true
                }
            }
        }
        if t &- lower >= leftWatermark {
            rights[k, default: []].append(Entry(time: t, seq: seq, row: row, matched: false))
            rightExpiry[Self.bucketOf(t &- lower), default: []].append(k)
            seq += 1
        }
        return out
    }

    static func bucketOf(_ t: Int64) -> Int64 {
        let q = t / bucket
        return (t % bucket != 0 && t < 0) ? q - 1 : q
    }

    /// Moves the watermarks; drops the rows nothing can meet any more and returns, for a LEFT
    /// join, the left rows that met nothing, with NULLs, in (time, arrival) order.
    public func advance(left lw: Int64, right rw: Int64) -> [[Value]] {
        leftWatermark = max(leftWatermark, lw)
        rightWatermark = max(rightWatermark, rw)
        let inf = WatermarkTracker.infinity
        var unmatched: [Entry] = []
        // A left row goes once time + upper < the right watermark; a right row once time - lower < the left one.
        let (lo, hi) = (lower, upper)
        Self.expire(&lefts, &leftExpiry, through: rightWatermark, everything: rightWatermark == inf, at: { $0.time &+ hi }) { e in
            if left && !e.matched { unmatched.append(e) }
        }
        Self.expire(&rights, &rightExpiry, through: leftWatermark, everything: leftWatermark == inf, at: { $0.time &- lo }) { _ in }
        unmatched.sort { $0.time != $1.time ? $0.time < $1.time : $0.seq < $1.seq }
        let nulls = [Value](repeating: .null, count: rightWidth)
        return unmatched.map { $0.row + nulls }
    }

    /// Drops the entries whose expiry time (`at`: left time + upper, right time - lower) is before
    /// `mark`, visiting only the keys filed under the seconds wholly before the mark's. (Rows of
    /// the mark's own second go at a later advance: until then nothing can meet them anyway.)
    private static func expire(_ side: inout [Key: [Entry]], _ expiry: inout [Int64: [Key]], through mark: Int64, everything: Bool,
                               at: (Entry) -> Int64, _ dropped: (Entry) -> Void) {
        if everything {
            for entries in side.values { entries.forEach(dropped) }
            side = [:]
            expiry = [:]
            return
        }
        let current = bucketOf(mark)
        let due = expiry.keys.filter { $0 < current }
        guard !due.isEmpty else { return }
        var visited = Set<Key>()
        for b in due {
            for k in expiry.removeValue(forKey: b)! where visited.insert(k).inserted {
                guard let slot = side.index(forKey: k) else { continue }
                // In place: an array taken out of the dictionary would be copied to be changed.
                let kept = side.values[slot].withUnsafeMutableBufferPointer { entries -> Int in
                    var kept = 0
                    for i in entries.indices {
                        if at(entries[i]) < mark { dropped(entries[i]); continue }
                        if kept != i { entries.swapAt(kept, i) }
                        kept += 1
                    }
                    return kept
                }
                if kept == 0 {
                    side.remove(at: slot)
                } else {
                    side.values[slot].removeLast(side.values[slot].count - kept)
                }
            }
        }
    }

    // MARK: - Checkpoints

    public func snapshot() -> JSONValue {
        func side(_ m: [Key: [Entry]]) -> JSONValue {
            .array(m.keys.sorted(by: { GroupKeyOrder.less($0.values, $1.values) }).map { k in
                ["key": .array(k.values.map(\.snapshot)),
                 "rows": .array(m[k]!.map { ["time": .int($0.time), "seq": .int($0.seq), "row": .array($0.row.map(\.snapshot)), "matched": .bool($0.matched)] })]
            })
        }
        return ["left": side(lefts), "right": side(rights), "seq": .int(seq),
                "left_watermark": .int(leftWatermark), "right_watermark": .int(rightWatermark)]
    }

    public func restore(_ j: JSONValue) throws(SnapshotError) {
        func side(_ v: JSONValue?) throws(SnapshotError) -> [Key: [Entry]] {
            var m: [Key: [Entry]] = [:]
            for e in try Snap.array(v) {
                var key: [Value] = []
                for x in try Snap.array(e["key"]) { key.append(try Value(snapshot: x)) }
                var entries: [Entry] = []
                for r in try Snap.array(e["rows"]) {
                    var row: [Value] = []
                    for x in try Snap.array(r["row"]) { row.append(try Value(snapshot: x)) }
                    entries.append(Entry(time: try Snap.int(r["time"]), seq: try Snap.int(r["seq"]), row: row, matched: r["matched"] == .bool(true)))
                }
                m[Key(key)] = entries
            }
            return m
        }
        lefts = try side(j["left"])
        rights = try side(j["right"])
        leftExpiry = [:]
        rightExpiry = [:]
        for (k, entries) in lefts { for e in entries { leftExpiry[Self.bucketOf(e.time &+ upper), default: []].append(k) } }
        for (k, entries) in rights { for e in entries { rightExpiry[Self.bucketOf(e.time &- lower), default: []].append(k) } }
        seq = try Snap.int(j["seq"])
        leftWatermark = try Snap.int(j["left_watermark"])
        rightWatermark = try Snap.int(j["right_watermark"])
    }
}
