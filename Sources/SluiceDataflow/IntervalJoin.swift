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

    /// A held row as checkpoints and a LEFT join's NULL rows see it.
    struct Entry {
        var time: Int64
        var seq: Int64
        var row: [Value]
        var matched: Bool
    }

    /// Rows of one side whose expiry times (left: time + upper, right: time - lower) fall in one
    /// span of `span` ms. Its rows lie side by side in arrays (no allocation per row), and its key
    /// table maps a key to the key's newest row here, each row naming the one of the same key
    /// before it. When the watermark passes the span, the part goes whole: expiry visits no key.
    struct Meta {
        var time: Int64
        var seq: Int64
        var previous: Int32
        var matched: Bool
    }

    final class Part {
        /// The span's number: its rows expire in [number * span, (number + 1) * span).
        var number: Int64
        /// Where the span starts and ends (ms), for telling which part a time falls in without dividing.
        var start: Int64
        var end: Int64
        /// Values per row (a side's rows are all alike).
        var width: Int
        let keys: KeyTable<Int32>
        /// Each row's time, arrival, the row of its key before it here (or -1), and whether it met a row.
        var rows: [Meta] = []
        /// The rows' values, `width` per row.
        let values = PackedRows()

        /// Keeps a row here as its key's newest; returns its number here.
        @inline(__always) func add<R: JoinRow>(_ k: RowKey, _ h: UInt64, time t: Int64, seq: Int64, row: R, matched: Bool) -> Int32 {
            let index = Int32(rows.count)
            let (at, made) = keys.slot(for: k, hash: h)
            let slot = keys.value(at)
            rows.append(Meta(time: t, seq: seq, previous: made ? -1 : slot.pointee, matched: matched))
            slot.pointee = index
            row.append(to: values)
            return index
        }

        init(number: Int64, span: Int64, width: Int, seed: UInt64, capacity: Int) {
            self.number = number
            start = number &* span
            end = start &+ span
            self.width = width
            keys = KeyTable(seed: seed, empty: -1, capacity: capacity)
        }

        /// Empties the part for another span, keeping the room it has.
        func reuse(number: Int64, span: Int64, width: Int) {
            self.number = number
            start = number &* span
            end = start &+ span
            self.width = width
            keys.clear()
            rows.removeAll(keepingCapacity: true)
            values.removeAll()
        }
    }

    /// Items by the second they fall due in, seconds ascending; new items nearly always go to the
    /// last second or one near it. A LEFT join's left rows wait in one for the advance that passes
    /// their expiry second, which gives those that met nothing.
    struct SecondQueue<T> {
        var seconds: [(second: Int64, items: [T])] = []

        mutating func file(_ x: T, under b: Int64) {
            var i = seconds.count
            while i > 0 && seconds[i - 1].second > b { i -= 1 }
            if i > 0 && seconds[i - 1].second == b {
                seconds[i - 1].items.append(x)
            } else {
                seconds.insert((b, [x]), at: i)
            }
        }

        /// Takes what was filed under seconds before `b`.
        mutating func take(before b: Int64) -> [[T]] {
            var n = 0
            while n < seconds.count && seconds[n].second < b { n += 1 }
            guard n > 0 else { return [] }
            let due = seconds[..<n].map(\.items)
            seconds.removeFirst(n)
            return due
        }
    }

    /// One side's held rows, in parts by when they expire, oldest first.
    struct Side {
        /// A row's expiry time is its time plus this (left: upper, right: -lower).
        let offset: Int64
        var parts: [Part] = []
        /// A part that went, kept to be the next new one (parts come and go at the same pace).
        var spare: Part? = nil
        /// Rows expiring in a second before this one are gone (nothing can meet them), though
        /// their part may still hold them until the whole span passes.
        var due: Int64 = .min
        /// For a LEFT join's left side: (part, row) by the second the row expires in.
        var pending = SecondQueue<(part: Int64, row: Int32)>()

        init(offset: Int64) {
            self.offset = offset
        }
    }

    var lefts: Side
    var rights: Side
    /// The span of a part: a second, or for wide bounds half their width in whole seconds, so a
    /// probe looks into at most three or four parts and a row outlives its expiry by at most the span.
    let span: Int64
    static let bucket: Int64 = 1000
    let seed = UInt64.random(in: .min ... .max)
    var seq: Int64 = 0
    /// The watermarks of each side as last advanced.
    public private(set) var leftWatermark: Int64 = .min
    public private(set) var rightWatermark: Int64 = .min
    /// Matches of the row being added: (seq, part, row), put in arrival order before they go out.
    private var found: [(seq: Int64, part: Part, row: Int32)] = []

    public init(lower: Int64, upper: Int64, left: Bool, rightWidth: Int) {
        precondition(lower <= upper)
        self.lower = lower
        self.upper = upper
        self.left = left
        self.rightWidth = rightWidth
        let width = upper &- lower
        span = width >= 4 * Self.bucket ? (width / 2 / Self.bucket) * Self.bucket : Self.bucket
        lefts = Side(offset: upper)
        rights = Side(offset: 0 &- lower)
    }

    public var explain: String { "IntervalJoinExec: \(left ? "left" : "inner") right.time in [left.time + \(lower)ms, left.time + \(upper)ms]" }

    /// Rows held on both sides (for tests and metrics): those not yet gone, though their part may
    /// still keep them.
    public var heldRows: Int {
        var n = 0
        for side in [lefts, rights] {
            for p in side.parts { n += p.rows.reduce(0) { $0 + (Self.bucketOf($1.time &+ side.offset) >= side.due ? 1 : 0) } }
        }
        return n
    }

    /// A left row: returns the joined rows it makes now, or nil when it is late. NULL keys meet nothing.
    public func addLeft(key: [Value], time t: Int64, row: [Value]) -> [[Value]]? { addLeft(key: RowKey(key), time: t, row: row) }

    /// A right row: returns the joined rows it makes now, or nil when it is late.
    public func addRight(key: [Value], time t: Int64, row: [Value]) -> [[Value]]? { addRight(key: RowKey(key), time: t, row: row) }

    public func addLeft(key: RowKey, time t: Int64, row: [Value]) -> [[Value]]? {
        var out: [[Value]] = []
        return addLeft(key: key, time: t, row: RowValues(row), into: &out) ? out : nil
    }

    public func addRight(key: RowKey, time t: Int64, row: [Value]) -> [[Value]]? {
        var out: [[Value]] = []
        return addRight(key: key, time: t, row: RowValues(row), into: &out) ? out : nil
    }

    /// A left row (from an array or a batch): appends the joined rows it makes now to `out`;
    /// false when it is late. NULL keys meet nothing.
    public func addLeft<R: JoinRow>(key: RowKey, time t: Int64, row: R, into out: inout [[Value]]) -> Bool {
        guard t >= leftWatermark else { return false }
        let nullKey = key.hasNull
        let k = nullKey ? RowKey.values([]) : key
        let h = k.hash(seed: seed)
        var met = false
        if !nullKey {
            find(k, h, in: rights, from: t &+ lower, through: t &+ upper)
            if !found.isEmpty {
                met = true
                for f in found {
                    var joined = row.values
                    let width = f.part.width, base = Int(f.row) * width
                    joined.reserveCapacity(joined.count + width)
                    for c in base..<(base + width) { joined.append(f.part.values.value(c)) }
                    out.append(joined)
                }
                found.removeAll(keepingCapacity: true)
            }
        }
        // An inner join keeps a left row only while a right row can still arrive to meet it.
        if (!nullKey || left) && t &+ upper >= rightWatermark {
            let at = Self.hold(k, h, time: t, seq: seq, row: row, matched: met, &lefts, seed: seed, span: span)
            if left { lefts.pending.file(at, under: Self.bucketOf(t &+ upper)) }
            seq += 1
        } else if left && !met {
            out.append(row.values + [Value](repeating: .null, count: rightWidth))
        }
        return true
    }

    /// A right row (from an array or a batch): appends the joined rows it makes now to `out`;
    /// false when it is late.
    public func addRight<R: JoinRow>(key k: RowKey, time t: Int64, row: R, into out: inout [[Value]]) -> Bool {
        guard t >= rightWatermark else { return false }
        if k.hasNull { return true }
        let h = k.hash(seed: seed)
        find(k, h, in: lefts, from: t &- upper, through: t &- lower)
        if !found.isEmpty {
            for f in found {
                out.append(Self.row(f.part, Int(f.row)) + row.values)
                f.part.rows[Int(f.row)].matched = true
            }
            found.removeAll(keepingCapacity: true)
        }
        if t &- lower >= leftWatermark {
            _ = Self.hold(k, h, time: t, seq: seq, row: row, matched: false, &rights, seed: seed, span: span)
            seq += 1
        }
        return true
    }

    /// Fills `found` with the rows of `side` under key `k` (hash `h`) whose times lie in
    /// [from, through], in arrival order. They can only lie in the parts whose spans meet the
    /// expiry times of such rows.
    private func find(_ k: RowKey, _ h: UInt64, in side: Side, from: Int64, through: Int64) {
        let first = from &+ side.offset, last = through &+ side.offset
        for p in side.parts where p.end > first && p.start <= last {
            guard let at = p.keys.find(k, hash: h) else { continue }
            var i = p.keys.value(at).pointee
            p.rows.withUnsafeBufferPointer { rows in
                while i >= 0 {
                    let r = rows[Int(i)]
                    if r.time >= from && r.time <= through { found.append((r.seq, p, i)) }
                    i = r.previous
                }
            }
        }
        if found.count > 1 { found.sort { $0.seq < $1.seq } }
    }

    /// Keeps a row in the part of its expiry time, as its key's newest there; returns where.
    private static func hold<R: JoinRow>(_ k: RowKey, _ h: UInt64, time t: Int64, seq: Int64, row: R, matched: Bool,
                                         _ side: inout Side, seed: UInt64, span: Int64) -> (part: Int64, row: Int32) {
        let x = t &+ side.offset
        var i = side.parts.count
        while i > 0 && side.parts[i - 1].start > x { i -= 1 }
        if i > 0 && side.parts[i - 1].end > x {
            return (side.parts[i - 1].number, side.parts[i - 1].add(k, h, time: t, seq: seq, row: row, matched: matched))
        }
        let number = floorDiv(x, span)
        let part: Part
        if let spare = side.spare {
            side.spare = nil
            spare.reuse(number: number, span: span, width: row.count)
            part = spare
        } else {
            // A new span is about as busy as the last one: start at its size rather than grow to it.
            part = Part(number: number, span: span, width: row.count, seed: seed, capacity: side.parts.last?.keys.capacity ?? 16)
        }
        side.parts.insert(part, at: i)
        return (number, part.add(k, h, time: t, seq: seq, row: row, matched: matched))
    }

    static func bucketOf(_ t: Int64) -> Int64 { floorDiv(t, bucket) }

    static func floorDiv(_ t: Int64, _ d: Int64) -> Int64 {
        let q = t / d
        return (t % d != 0 && t < 0) ? q - 1 : q
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
    ///
    /// A left row goes once its time + upper lies in a second wholly before the right watermark's,
    /// a right row once its time - lower lies in one before the left watermark's: by the second,
    /// so that when a row goes depends only on the watermarks, and a run resumed from a
    /// checkpoint drops (and, for a LEFT join, emits) each row at the same record as an
    /// uninterrupted one. A part goes when its whole span has gone.
    public func advance(left lw: Int64, right rw: Int64) -> [[Value]] {
        leftWatermark = max(leftWatermark, lw)
        rightWatermark = max(rightWatermark, rw)
        var unmatched = Self.move(&lefts, to: rightWatermark, span: span, unmatched: left)
        _ = Self.move(&rights, to: leftWatermark, span: span, unmatched: false)
        unmatched.sort { $0.time != $1.time ? $0.time < $1.time : $0.seq < $1.seq }
        let nulls = [Value](repeating: .null, count: rightWidth)
        return unmatched.map { $0.row + nulls }
    }

    /// Moves a side's due second to the other side's watermark (+infinity: past every second) and
    /// drops the parts wholly before it; with `unmatched` (a LEFT join's left side), returns the
    /// rows now due that met nothing.
    private static func move(_ side: inout Side, to mark: Int64, span: Int64, unmatched: Bool) -> [Entry] {
        let due = mark == WatermarkTracker.infinity ? Int64.max : bucketOf(mark)
        guard due > side.due else { return [] }
        side.due = due
        var out: [Entry] = []
        if unmatched {
            for items in side.pending.take(before: due) {
                var p: Part? = nil
                for (number, i) in items {
                    if p?.number != number { p = side.parts.first { $0.number == number } }
                    guard let p, !p.rows[Int(i)].matched else { continue }
                    out.append(Entry(time: p.rows[Int(i)].time, seq: p.rows[Int(i)].seq, row: row(p, Int(i)), matched: false))
                }
            }
        }
        drop(&side, span: span)
        return out
    }

    /// The parts of `side` whose whole span lies before its due second.
    private static func drop(_ side: inout Side, span: Int64) {
        let spanSeconds = span / bucket
        var n = 0
        while n < side.parts.count && (side.parts[n].number &+ 1) &* spanSeconds <= side.due { n += 1 }
        guard n > 0 else { return }
        // The last one to go is kept for the next new span; the others are emptied here, where
        // the key table's type is known (its deinit would empty it slot by slot through generic code).
        for p in side.parts[..<(n - 1)] { p.keys.clear() }
        side.spare = side.parts[n - 1]
        side.parts.removeFirst(n)
    }

    /// Row `i` of a part, as an array.
    static func row(_ p: Part, _ i: Int) -> [Value] { p.values.values((i * p.width)..<((i + 1) * p.width)) }

    /// Every row of a side not yet gone, by key, in arrival order.
    private static func held(_ side: Side) -> [RowKey: [Entry]] {
        var byKey: [RowKey: [Entry]] = [:]
        for p in side.parts {
            for slot in p.keys.occupied {
                var i = p.keys.value(slot).pointee
                var entries: [Entry] = []
                while i >= 0 {
                    let m = p.rows[Int(i)]
                    if bucketOf(m.time &+ side.offset) >= side.due {
                        entries.append(Entry(time: m.time, seq: m.seq, row: row(p, Int(i)), matched: m.matched))
                    }
                    i = m.previous
                }
                if !entries.isEmpty { byKey[p.keys.key(slot), default: []] += entries }
            }
        }
        return byKey.mapValues { $0.sorted { $0.seq < $1.seq } }
    }

    // MARK: - Checkpoints

    public func snapshot() -> JSONValue {
        // Written key by key: the held rows can be many, and their tree is never built whole.
        func side(_ s: Side) -> JSONValue {
            JSONValue.rawArray(Self.held(s).sorted(by: { GroupKeyOrder.less($0.key.values, $1.key.values) })) { k, entries in
                ["key": .array(k.values.map(\.snapshot)),
                 "rows": .array(entries.map { ["time": .int($0.time), "seq": .int($0.seq), "row": .array($0.row.map(\.snapshot)), "matched": .bool($0.matched)] })]
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
        let lw = try Snap.int(j["left_watermark"]), rw = try Snap.int(j["right_watermark"])
        lefts = Side(offset: upper)
        rights = Side(offset: 0 &- lower)
        lefts.due = rw == .min ? .min : Self.bucketOf(rw)
        rights.due = lw == .min ? .min : Self.bucketOf(lw)
        // Each side's rows in arrival order, so that every part's rows and chains are too.
        for (k, e) in l.flatMap({ k, es in es.map { (k, $0) } }).sorted(by: { $0.1.seq < $1.1.seq }) {
            let at = Self.hold(k, k.hash(seed: seed), time: e.time, seq: e.seq, row: RowValues(e.row), matched: e.matched, &lefts, seed: seed, span: span)
            if left { lefts.pending.file(at, under: Self.bucketOf(e.time &+ upper)) }
        }
        for (k, e) in r.flatMap({ k, es in es.map { (k, $0) } }).sorted(by: { $0.1.seq < $1.1.seq }) {
            _ = Self.hold(k, k.hash(seed: seed), time: e.time, seq: e.seq, row: RowValues(e.row), matched: e.matched, &rights, seed: seed, span: span)
        }
        seq = try Snap.int(j["seq"])
        leftWatermark = lw
        rightWatermark = rw
    }
}

/// A row the join takes: its values appended to the join's store, or as an array.
public protocol JoinRow {
    var count: Int { get }
    func append(to values: PackedRows)
    var values: [Value] { get }
}

/// A row as an array of values.
public struct RowValues: JoinRow {
    public let values: [Value]
    public init(_ values: [Value]) { self.values = values }
    public var count: Int { values.count }
    @inline(__always) public func append(to out: PackedRows) { for v in values { out.append(v) } }
}

/// Row `row` of a batch's values laid out row after row (`Batch.rowMajorValues()`): no array is
/// built for it unless it is joined.
public struct FlatRow: JoinRow {
    public let all: UnsafeBufferPointer<Value>
    public let row: Int
    public let count: Int
    public init(_ all: UnsafeBufferPointer<Value>, width: Int, row: Int) {
        self.all = all
        self.count = width
        self.row = row
    }
    @inline(__always) public func append(to out: PackedRows) {
        out.reserve(count)
        for i in (row * count)..<((row + 1) * count) { out.appendReserved(all[i]) }
    }
    public var values: [Value] { Array(all[(row * count)..<((row + 1) * count)]) }
}
