public import SluiceCore

/// What the pipeline needs of a window operator: records in, final rows out as the watermark
/// passes, and its state for checkpoints. TUMBLE/HOP and SESSION operators both provide it.
public protocol WindowedAggregation: AnyObject {
    /// Adds a batch of `[time, keys..., aggregate inputs...]`; returns the late rows.
    func add(_ batch: Batch) -> [Int]
    /// Rows `[window_start, window_end, keys..., aggregates...]` of the windows closed by `watermark`.
    func advance(to watermark: Int64) -> [[Value]]
    var emitChanges: Bool { get set }
    var changes: [[Value]] { get }
    /// Windows ending at or before this have been emitted.
    var emittedThrough: Int64 { get }
    func snapshot() -> JSONValue
    func restore(_ j: JSONValue) throws(SnapshotError)
    /// For EXPLAIN PHYSICAL.
    var explain: String { get }
}

extension WindowAggregateOperator: WindowedAggregation {
    public var explain: String {
        "WindowAggregateExec: size=\(window.size)ms advance=\(window.advance)ms pane=\(window.pane)ms keys=\(keyColumns.count) aggregates=[\(aggregates.map(\.function.rawValue).joined(separator: ", "))]"
    }
}

/// SESSION windows (DIALECT.md §4): per key, records less than `gap` apart belong to one session
/// `[first, last + gap)`. A record whose own `[t, t + gap)` overlaps sessions merges them (their
/// aggregates merge), so an out-of-order record that bridges two sessions joins them. A session
/// closes when the watermark reaches its end and is emitted once: a record that would reopen or
/// extend an emitted session, or whose own session would already be closed, is late.
///
/// With `rowColumns` (SESSION's rows, `SELECT * FROM SESSION(...)` without aggregates), a session
/// keeps its records' rows instead of aggregates, and a closed session gives each of them, in
/// (time, arrival) order, with `window_start`, `window_end` and `window_time` after its columns.
///
/// With `fixed` it is a STAGGER window (Kinesis Data Analytics' stagger window) instead: per key,
/// a record that falls in no open window opens one, `[t, t + gap)` (`gap` is the window's size),
/// which takes the key's records until it ends and never grows or merges.
///
/// Owned by one query's driver (not thread-safe).
public final class SessionWindowOperator: WindowedAggregation {
    public let gap: Int64
    public let fixed: Bool
    public let timeColumn: Int
    public let keyColumns: [Int]
    public let aggregates: [AggregateSpec]
    public var emitChanges = false
    public private(set) var changes: [[Value]] = []

    struct Session: Equatable {
        var start: Int64
        var last: Int64
        var states: [AggregateState]
        var end: Int64 { fixed ? start &+ gap : last &+ gap }
        let gap: Int64
        var fixed = false
        /// Rows mode: the session's rows, as they came.
        var rows: [HeldRow] = []
    }

    struct HeldRow: Equatable {
        var time: Int64
        var seq: Int64
        var row: [Value]
    }

    /// Rows mode: the columns of a prepared batch that make a row.
    public let rowColumns: Range<Int>?
    var seq: Int64 = 0

    /// Open sessions per key, ordered by start and never overlapping.
    var sessions = KeyTable<[Session]>(empty: [])
    /// Per key, the end of its last emitted session (until the watermark makes it irrelevant).
    var closedThrough = KeyTable<Int64>(empty: .min)
    public private(set) var emittedThrough: Int64 = .min

    public init(gap: Int64, timeColumn: Int, keyColumns: [Int], aggregates: [AggregateSpec], rowColumns: Range<Int>? = nil, fixed: Bool = false) {
        precondition(gap > 0)
        self.gap = gap
        self.fixed = fixed
        self.timeColumn = timeColumn
        self.keyColumns = keyColumns
        self.aggregates = aggregates
        self.rowColumns = rowColumns
    }

    public var explain: String {
        let (name, size) = fixed ? ("Stagger", "size") : ("Session", "gap")
        if rowColumns != nil { return "\(name)RowsExec: \(size)=\(gap)ms keys=\(keyColumns.count)" }
        return "\(name)WindowExec: \(size)=\(gap)ms keys=\(keyColumns.count) aggregates=[\(aggregates.map(\.function.rawValue).joined(separator: ", "))]"
    }

    /// Open sessions across keys.
    public var openSessions: Int { sessions.all.reduce(0) { $0 + $1.1.count } }

    public func add(_ batch: Batch) -> [Int] {
        var late: [Int] = []
        let times = batch.columns[timeColumn]
        guard case .int(let ts) = times.storage else { return Array(0..<batch.count) }
        let initial = aggregates.map { AggregateState.initial($0.function, input: $0.inputType, parameter: $0.parameter) }
        let inputs = aggregates.map { a in a.input.map { batch.columns[$0] } }
        // A single BIGINT key without NULLs: integer keys read straight from the column.
        var intKeys: ContiguousArray<Int64>? = nil
        if keyColumns.count == 1, batch.columns[keyColumns[0]].valid == nil, batch.columns[keyColumns[0]].type == .bigint,
           case .int(let k) = batch.columns[keyColumns[0]].storage {
            intKeys = k
        }
        for row in 0..<batch.count {
            if times.isNull(row) { late.append(row); continue }
            let t = ts[row]
            let key = intKeys.map { RowKey.one($0[row]) } ?? RowKey(keyColumns.map { batch.columns[$0].value(row) })
            if let c = closedThrough.find(key), t < closedThrough.value(c).pointee {
                late.append(row)  // it would reopen a session already emitted
                continue
            }
            // Changed where it lies in the table, so that it is not copied.
            let slot = sessions.slot(for: key)
            let list = sessions.value(slot)
            func feed(_ s: inout Session) {
                if let rc = rowColumns {
                    s.rows.append(HeldRow(time: t, seq: seq, row: rc.map { batch.columns[$0].value(row) }))
                    seq += 1
                }
                feed(&s.states)
            }
            func feed(_ states: inout [AggregateState]) {
                for i in aggregates.indices {
                    guard let col = inputs[i] else { states[i].addRow(); continue }
                    if col.isNull(row) { continue }
                    let v = col.value(row)
                    if states[i].isTimed { states[i].add(v, at: t) } else { states[i].add(v) }
                }
            }
            // A stagger window takes the records in it and never grows.
            if fixed, let i = list.pointee.lastIndex(where: { $0.start <= t && t < $0.end }) {
                feed(&list.pointee[i])
                continue
            }
            // The common case: the record falls into one open session, updated in place.
            if !fixed, let i = list.pointee.lastIndex(where: { $0.start < t &+ gap && t < $0.end }) {
                var s = list.pointee.remove(at: i)
                feed(&s)
                s.start = min(s.start, t)
                s.last = max(s.last, t)
                // Grown, it may now reach its neighbours: merge them too.
                while let j = list.pointee.firstIndex(where: { $0.start < s.end && s.start < $0.end }) {
                    let o = list.pointee.remove(at: j)
                    s.start = min(s.start, o.start)
                    s.last = max(s.last, o.last)
                    s.states = zip(o.states, s.states).map { $0.merged(with: $1) }
                    s.rows += o.rows
                }
                let at = list.pointee.firstIndex { $0.start > s.start } ?? list.pointee.count
                list.pointee.insert(s, at: at)
                continue
            }
            var s = Session(start: t, last: t, states: initial, gap: gap, fixed: fixed)
            feed(&s)
            // Late when its own session has already ended by the watermark.
            if s.end <= emittedThrough {
                late.append(row)
                if list.pointee.isEmpty { sessions.remove(at: slot) }
                continue
            }
            let at = list.pointee.firstIndex { $0.start > s.start } ?? list.pointee.count
            list.pointee.insert(s, at: at)
        }
        return late
    }

    public func advance(to watermark: Int64) -> [[Value]] {
        guard watermark > emittedThrough else { return [] }
        var closed: [(end: Int64, key: RowKey, session: Session)] = []
        sessions.removeAll { key, list in
            guard list.contains(where: { $0.end <= watermark }) else { return false }
            var open: [Session] = []
            for s in list {
                if s.end <= watermark { closed.append((s.end, key, s)) } else { open.append(s) }
            }
            list = open
            return open.isEmpty
        }
        emittedThrough = watermark
        closed.sort { $0.end != $1.end ? $0.end < $1.end : GroupKeyOrder.less($0.key.values, $1.key.values) }
        var rows: [[Value]] = []
        for c in closed {
            let through = closedThrough.value(closedThrough.slot(for: c.key))
            through.pointee = max(through.pointee, c.end)
            if rowColumns != nil {
                let bounds: [Value] = [.timestamp(c.session.start), .timestamp(c.session.end), .timestamp(c.session.end &- 1)]
                for h in c.session.rows.sorted(by: { $0.time != $1.time ? $0.time < $1.time : $0.seq < $1.seq }) { rows.append(h.row + bounds) }
                continue
            }
            var row: [Value] = [.timestamp(c.session.start), .timestamp(c.session.end)]
            row += c.key.values
            for (i, a) in aggregates.enumerated() { row.append(c.session.states[i].result(a.function, as: a.resultType)) }
            rows.append(row)
        }
        // A key's emitted sessions matter only while a record could still reach them.
        if watermark != WatermarkTracker.infinity { closedThrough.removeAll { _, end in end &+ gap <= watermark } } else { closedThrough.removeAll() }
        return rows
    }

    public func snapshot() -> JSONValue {
        var keys: [JSONValue] = []
        for (k, sessions) in sessions.all.sorted(by: { GroupKeyOrder.less($0.0.values, $1.0.values) }) {
            let list: [JSONValue] = sessions.map { s in
                var o: JSONObject = ["start": .int(s.start), "last": .int(s.last), "states": .array(s.states.map(\.snapshot))]
                if rowColumns != nil {
                    o["rows"] = .array(s.rows.map { .array([.int($0.time), .int($0.seq), .array($0.row.map(\.snapshot))]) })
                }
                return .object(o)
            }
            keys.append(["key": .array(k.values.map(\.snapshot)), "sessions": .array(list)])
        }
        let closed: [JSONValue] = closedThrough.all.sorted(by: { GroupKeyOrder.less($0.0.values, $1.0.values) }).map {
            ["key": .array($0.0.values.map(\.snapshot)), "end": .int($0.1)]
        }
        return ["emitted_through": .int(emittedThrough), "keys": .array(keys), "closed": .array(closed), "seq": .int(seq)]
    }

    public func restore(_ j: JSONValue) throws(SnapshotError) {
        func key(_ v: JSONValue?) throws(SnapshotError) -> RowKey {
            var k: [Value] = []
            for x in try Snap.array(v) { k.append(try Value(snapshot: x)) }
            guard k.count == keyColumns.count else { throw SnapshotError("a session key has \(k.count) values, the query has \(keyColumns.count)") }
            return RowKey(k)
        }
        let restored = KeyTable<[Session]>(empty: [])
        for e in try Snap.array(j["keys"]) {
            var list: [Session] = []
            for sj in try Snap.array(e["sessions"]) {
                var states: [AggregateState] = []
                for st in try Snap.array(sj["states"]) { states.append(try AggregateState(snapshot: st)) }
                guard states.count == aggregates.count else { throw SnapshotError("a session's states do not match the query's aggregates") }
                var s = Session(start: try Snap.int(sj["start"]), last: try Snap.int(sj["last"]), states: states, gap: gap, fixed: fixed)
                if rowColumns != nil {
                    for rj in try Snap.array(sj["rows"]) {
                        let parts = try Snap.array(rj)
                        guard parts.count == 3 else { throw SnapshotError("a session's row is malformed") }
                        var row: [Value] = []
                        for x in try Snap.array(parts[2]) { row.append(try Value(snapshot: x)) }
                        s.rows.append(HeldRow(time: try Snap.int(parts[0]), seq: try Snap.int(parts[1]), row: row))
                    }
                }
                list.append(s)
            }
            restored.value(restored.slot(for: try key(e["key"]))).pointee = list
        }
        let closed = KeyTable<Int64>(empty: .min)
        for e in try Snap.array(j["closed"]) { closed.value(closed.slot(for: try key(e["key"]))).pointee = try Snap.int(e["end"]) }
        sessions = restored
        closedThrough = closed
        emittedThrough = try Snap.int(j["emitted_through"])
        seq = j["seq"]?.int64Value ?? 0
    }
}
