public import SluiceCore

/// A tumbling or hopping event-time window: `[start, start + size)` with `start` a multiple of
/// `advance` (tumbling: advance == size).
public struct WindowSpec: Sendable, Equatable {
    public var size: Int64
    public var advance: Int64

    public static func tumble(_ size: Int64) -> WindowSpec { WindowSpec(size: size, advance: size) }
    public static func hop(size: Int64, advance: Int64) -> WindowSpec { WindowSpec(size: size, advance: advance) }

    /// Panes: the largest slices every window is a whole number of (gcd of size and advance).
    /// A record updates one pane, however many windows it belongs to.
    public var pane: Int64 {
        var a = size, b = advance
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }
}

/// One aggregate of a query: the function and the input column it reads (nil for COUNT(*)).
public struct AggregateSpec: Sendable, Equatable {
    public var function: AggregateFunction
    public var input: Int?
    public var inputType: ColumnType?
    /// PERCENTILE's p.
    public var parameter: Double?
    /// FIRST_VALUE / LAST_VALUE outside windows: the column holding each row's event time
    /// (windows use their time column).
    public var timeInput: Int?
    /// LAG / LEAD: the value when there is no row that far (NULL by default).
    public var fallback: Value = .null
    public init(_ function: AggregateFunction, input: Int? = nil, type: ColumnType? = nil, parameter: Double? = nil, timeInput: Int? = nil) {
        self.function = function
        self.input = input
        inputType = type
        self.parameter = parameter
        self.timeInput = timeInput
    }
    public var resultType: ColumnType { function.resultType(inputType) }
}

/// Floor division (the window of a negative time is still the one that contains it).
@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// GROUP BY over TUMBLE or HOP windows with EMIT FINAL: one row per (window, group) once the
/// watermark reaches the window's end, in (window_end, group key) order. State lives per pane and
/// group, so a hopping window's cost does not grow with size/advance; a pane is dropped once every
/// window containing it has been emitted. A record whose every window has been emitted is late: it
/// is not counted and is reported back to the caller.
///
/// Owned by one query's driver (not thread-safe).
public final class WindowAggregateOperator {
    public let window: WindowSpec
    public let timeColumn: Int
    public let keyColumns: [Int]
    public let aggregates: [AggregateSpec]
    let paneSize: Int64
    /// pane start -> the groups of that pane and their states.
    var panes: [Int64: Pane] = [:]
    /// The pane the previous record went to (records mostly arrive in order).
    var lastPane: (start: Int64, pane: Pane)? = nil
    /// Windows ending at or before this have been emitted.
    public internal(set) var emittedThrough: Int64 = .min
    /// EMIT CHANGES: every record added yields the current row of each open window it belongs
    /// to (in `changes`), and closing windows yields nothing more.
    public var emitChanges = false
    /// The rows of the last `add` under EMIT CHANGES, in record order.
    public private(set) var changes: [[Value]] = []
    /// Windows closed (not EMIT CHANGES) come out as these columns of the full row, in this order:
    /// a projection that only picks columns, done as the rows are built.
    public var outputPicks: [Int]? = nil

    /// The groups of one pane: a group's states are `states[g * aggregates.count ..< (g + 1) * aggregates.count]`,
    /// updated in place. A single integer key is looked up as an integer, other keys as values.
    final class Pane {
        var intIndex = IntGroupMap()
        var valueIndex: [[Value]: Int] = [:]
        var keys: [GroupKey] = []
        /// The groups' states while they are held as `AggregateState`s (every pane but those
        /// `addIntKeyed` keeps as numbers).
        private var held: [AggregateState] = []
        /// While set, the states are plain integers (`numbers`, and `seen` for SUM, MIN and MAX:
        /// whether a value came), laid out as `states`, and updated without building an enum per
        /// row: what `addIntKeyed` does when every aggregate is COUNT, or SUM, MIN or MAX of
        /// integers (`NumericAggregate`). Anything else that changes the states turns them into
        /// `AggregateState`s for good.
        private(set) var numeric: [NumericAggregate]? = nil
        var numbers: [Int64] = []
        var seen: [Bool] = []
        /// The numbers as states, built when read and kept until the numbers change.
        private var built: [AggregateState]? = nil

        /// A group's states are `states[g * aggregates.count ..< (g + 1) * aggregates.count]`.
        var states: [AggregateState] {
            get {
                guard let kinds = numeric else { return held }
                if let b = built { return b }
                let b = NumericAggregate.states(kinds, numbers, seen)
                built = b
                return b
            }
            _modify {
                if let kinds = numeric {
                    held = built ?? NumericAggregate.states(kinds, numbers, seen)
                    numeric = nil
                    numbers = []
                    seen = []
                    built = nil
                }
                yield &held
            }
        }

        /// Keeps this pane's states as numbers (it has no group yet).
        func holdNumbers(_ kinds: [NumericAggregate]) {
            precondition(keys.isEmpty && held.isEmpty)
            numeric = kinds
        }

        /// The numbers are about to change.
        @inline(__always)
        func numbersChange() { built = nil }
        /// The integer-keyed groups in key order, sorted when a window first needs them and kept
        /// for the pane's other windows (a hopping window's pane is in size / advance of them); a
        /// new group drops it.
        var sortedInts: [(key: Int64, group: Int32)]? = nil

        func intGroupsInKeyOrder() -> [(key: Int64, group: Int32)] {
            if let s = sortedInts { return s }
            var a: [(key: Int64, group: Int32)] = []
            a.reserveCapacity(intIndex.count)
            intIndex.forEach { k, g in a.append((k, Int32(g))) }
            a.sort { $0.key < $1.key }
            sortedInts = a
            return a
        }
    }

    /// A group's key: one integer (a single BIGINT key, with nothing to allocate), or its values.
    enum GroupKey {
        case int(Int64)
        case values([Value])

        init(_ key: [Value]) {
            if key.count == 1, case .int(let k) = key[0] { self = .int(k) } else { self = .values(key) }
        }

        var values: [Value] {
            switch self {
            case .int(let k): return [.int(k)]
            case .values(let v): return v
            }
        }
    }

    /// The aggregates as numbers, when every one can be (see `Pane.numeric`).
    let numericKinds: [NumericAggregate]?

    public init(window: WindowSpec, timeColumn: Int, keyColumns: [Int], aggregates: [AggregateSpec]) {
        precondition(window.size > 0 && window.advance > 0 && window.size % window.pane == 0)
        self.window = window
        self.timeColumn = timeColumn
        self.keyColumns = keyColumns
        self.aggregates = aggregates
        paneSize = window.pane
        let kinds = aggregates.compactMap(NumericAggregate.init)
        numericKinds = kinds.count == aggregates.count && !kinds.isEmpty ? kinds : nil
    }

    /// Open state: (panes, groups across panes).
    public var stateSize: (panes: Int, entries: Int) { (panes.count, panes.values.reduce(0) { $0 + $1.keys.count }) }

    /// The end of the last window containing time `t`.
    @inline(__always)
    func lastWindowEnd(_ t: Int64) -> Int64 { floorDiv(t, window.advance) * window.advance + window.size }

    /// Whether some window of a row at `t` has closed once the watermark reaches `watermark`
    /// (its first window's end is behind it): the row must be judged after that window is
    /// emitted, so that it is left out of it (and counted late when all of its windows closed).
    public func missesWindows(_ t: Int64, at watermark: Int64) -> Bool {
        let firstEnd = (floorDiv(t &- window.size, window.advance) + 1) * window.advance + window.size
        return firstEnd <= max(emittedThrough, watermark)
    }

    @inline(__always)
    private func pane(_ start: Int64) -> Pane {
        if let l = lastPane, l.start == start { return l.pane }
        let p: Pane
        if let existing = panes[start] {
            p = existing
        } else {
            p = Pane()
            panes[start] = p
        }
        lastPane = (start, p)
        return p
    }

    /// Adds a batch; returns the rows that were late (their windows already emitted).
    @discardableResult
    public func add(_ batch: Batch) -> [Int] {
        let times = batch.columns[timeColumn]
        guard case .int(let ts) = times.storage else { return Array(0..<batch.count) }
        changes.removeAll(keepingCapacity: true)
        // A single BIGINT key column without NULLs: integer lookups, and each run of records
        // falling in one pane is aggregated a column at a time.
        if !emitChanges, keyColumns.count == 1, batch.columns[keyColumns[0]].valid == nil, batch.columns[keyColumns[0]].type == .bigint,
           case .int(let keys) = batch.columns[keyColumns[0]].storage {
            return addIntKeyed(batch, times, ts, keys)
        }
        var late: [Int] = []
        let initial = aggregates.map { AggregateState.initial($0.function, input: $0.inputType, parameter: $0.parameter) }
        let n = aggregates.count
        let inputs = aggregates.map { a in a.input.map { batch.columns[$0] } }
        let timed = initial.map(\.isTimed)
        var key: [Value] = []
        key.reserveCapacity(keyColumns.count)
        for row in 0..<batch.count {
            if times.isNull(row) { late.append(row); continue }
            let t = ts[row]
            if lastWindowEnd(t) <= emittedThrough {
                late.append(row)
                continue
            }
            let p = pane(floorDiv(t, paneSize) * paneSize)
            var g: Int
            key.removeAll(keepingCapacity: true)
            for k in keyColumns { key.append(batch.columns[k].value(row)) }
            if key.count == 1, case .int(let k) = key[0] {
                let (found, inserted) = p.intIndex.findOrInsert(k, next: p.keys.count)
                g = found
                if inserted {
                    p.keys.append(.int(k))
                    p.states.append(contentsOf: initial)
                    p.sortedInts = nil
                }
            } else if let found = p.valueIndex[key] {
                g = found
            } else {
                g = p.keys.count
                p.valueIndex[key] = g
                p.keys.append(.values(key))
                p.states.append(contentsOf: initial)
            }
            g *= n
            for i in 0..<n {
                guard let col = inputs[i] else { p.states[g + i].addRow(); continue }
                if col.isNull(row) { continue }
                if timed[i] { p.states[g + i].add(col.value(row), at: t); continue }
                switch col.storage {
                case .int(let v) where col.type.decimalScale == nil: p.states[g + i].add(int: v[row])
                case .double(let v): p.states[g + i].add(double: v[row])
                default: p.states[g + i].add(col.value(row))
                }
            }
            if emitChanges { appendChanges(t, p.keys[g / n].values) }
        }
        return late
    }

    /// Group numbers (times the aggregate count) of the rows of the current run.
    private var runGroups: [Int] = []

    /// `add` for a single non-NULL BIGINT key: rows are taken in runs that fall in one pane;
    /// each run's groups are found first, then each aggregate is fed its column over the run.
    private func addIntKeyed(_ batch: Batch, _ times: Column, _ ts: ContiguousArray<Int64>, _ keys: ContiguousArray<Int64>) -> [Int] {
        var late: [Int] = []
        let n = aggregates.count
        let count = batch.count
        if runGroups.count < count { runGroups = Array(repeating: 0, count: count) }
        let initial = aggregates.map { AggregateState.initial($0.function, input: $0.inputType, parameter: $0.parameter) }
        var row = 0
        while row < count {
            if times.isNull(row) { late.append(row); row += 1; continue }
            let t = ts[row]
            // Every time in a pane has the same last window (a pane divides the advance).
            if lastWindowEnd(t) <= emittedThrough { late.append(row); row += 1; continue }
            let start = floorDiv(t, paneSize) * paneSize
            let limit = start + paneSize
            var end = row + 1
            if let valid = times.valid {
                while end < count && valid[end] && ts[end] >= start && ts[end] < limit { end += 1 }
            } else {
                while end < count && ts[end] >= start && ts[end] < limit { end += 1 }
            }
            let p = pane(start)
            if let kinds = numericKinds, p.numeric != nil || p.keys.isEmpty, addNumbers(batch, kinds, p, keys, row, end) {
                row = end
                continue
            }
            runGroups.withUnsafeMutableBufferPointer { gs in
                for r in row..<end {
                    let (g, inserted) = p.intIndex.findOrInsert(keys[r], next: p.keys.count)
                    if inserted {
                        p.keys.append(.int(keys[r]))
                        p.states.append(contentsOf: initial)
                        p.sortedInts = nil
                    }
                    gs[r - row] = g * n
                }
            }
            let gs = runGroups
            p.states.withUnsafeMutableBufferPointer { st in
                for i in 0..<n {
                    guard let c = aggregates[i].input else {
                        for r in row..<end { st[gs[r - row] + i].addRow() }
                        continue
                    }
                    let col = batch.columns[c]
                    if initial[i].isTimed {
                        for r in row..<end where !col.isNull(r) { st[gs[r - row] + i].add(col.value(r), at: ts[r]) }
                        continue
                    }
                    switch col.storage {
                    case .int(let v) where col.type.decimalScale == nil:
                        if let valid = col.valid {
                            for r in row..<end where valid[r] { st[gs[r - row] + i].add(int: v[r]) }
                        } else {
                            for r in row..<end { st[gs[r - row] + i].add(int: v[r]) }
                        }
                    case .double(let v):
                        for r in row..<end where !col.isNull(r) { st[gs[r - row] + i].add(double: v[r]) }
                    default:
                        for r in row..<end where !col.isNull(r) { st[gs[r - row] + i].add(col.value(r)) }
                    }
                }
            }
            row = end
        }
        return late
    }

    /// `addIntKeyed`'s run `row..<end` into a pane kept as numbers (or with no group yet): false,
    /// with nothing done, when a column is not stored as integers after all.
    private func addNumbers(_ batch: Batch, _ kinds: [NumericAggregate], _ p: Pane, _ keys: ContiguousArray<Int64>, _ row: Int, _ end: Int) -> Bool {
        for k in kinds {
            switch k {
            case .sum(let c), .min(let c), .max(let c):
                guard case .int = batch.columns[c].storage else { return false }
            case .count, .countRows: break
            }
        }
        if p.numeric == nil { p.holdNumbers(kinds) }
        p.numbersChange()
        let n = kinds.count
        runGroups.withUnsafeMutableBufferPointer { gs in
            for r in row..<end {
                let (g, inserted) = p.intIndex.findOrInsert(keys[r], next: p.keys.count)
                if inserted {
                    p.keys.append(.int(keys[r]))
                    p.numbers.append(contentsOf: repeatElement(0, count: n))
                    p.seen.append(contentsOf: repeatElement(false, count: n))
                    p.sortedInts = nil
                }
                gs[r - row] = g * n
            }
        }
        let gs = runGroups
        p.numbers.withUnsafeMutableBufferPointer { num in
            p.seen.withUnsafeMutableBufferPointer { seen in
                for (i, kind) in kinds.enumerated() {
                    switch kind {
                    case .countRows:
                        for r in row..<end { num[gs[r - row] + i] &+= 1 }
                    case .count(let c):
                        let col = batch.columns[c]
                        for r in row..<end where !col.isNull(r) { num[gs[r - row] + i] &+= 1 }
                    case .sum(let c), .min(let c), .max(let c):
                        let col = batch.columns[c]
                        guard case .int(let v) = col.storage else { continue }
                        @inline(__always) func each(_ body: (Int, Int64) -> Void) {
                            if let valid = col.valid {
                                for r in row..<end where valid[r] { body(gs[r - row] + i, v[r]) }
                            } else {
                                for r in row..<end { body(gs[r - row] + i, v[r]) }
                            }
                        }
                        switch kind {
                        case .sum: each { s, x in num[s] &+= x; seen[s] = true }
                        case .min: each { s, x in if !seen[s] || x < num[s] { num[s] = x }; seen[s] = true }
                        default: each { s, x in if !seen[s] || x > num[s] { num[s] = x }; seen[s] = true }
                        }
                    }
                }
            }
        }
        return true
    }

    /// The current rows of every open window containing time `t`, for group `key`.
    private func appendChanges(_ t: Int64, _ key: [Value]) {
        let n = aggregates.count
        var start = floorDiv(t - window.size, window.advance) * window.advance + window.advance  // the first window containing t
        while start <= t {
            let end = start + window.size
            if end > emittedThrough {
                var merged: [AggregateState]? = nil
                forEachPane(start, end) { pane in
                    let g: Int?
                    if key.count == 1, case .int(let k) = key[0] { g = pane.intIndex.find(k) } else { g = pane.valueIndex[key] }
                    if let g {
                        let s = pane.states[(g * n)..<(g * n + n)]
                        merged = merged.map { zip($0, s).map { $0.merged(with: $1) } } ?? Array(s)
                    }
                }
                if let states = merged {
                    var row: [Value] = [.timestamp(start), .timestamp(end)]
                    row += key
                    for (i, a) in aggregates.enumerated() { row.append(states[i].result(a.function, as: a.resultType)) }
                    changes.append(row)
                }
            }
            start += window.advance
        }
    }

    /// Emits every window that ends at or before `watermark`: rows of
    /// `[window_start, window_end, key..., aggregate...]` in (window_end, key) order.
    public func advance(to watermark: Int64) -> [[Value]] {
        let rows = closeWindows(to: watermark)
        return emitChanges ? [] : rows
    }

    private func closeWindows(to watermark: Int64) -> [[Value]] {
        defer {
            // Windows ending by the watermark are closed even if they were empty.
            if watermark != WatermarkTracker.infinity && watermark > Int64.min / 2 {
                emittedThrough = max(emittedThrough, floorDiv(watermark - window.size, window.advance) * window.advance + window.size)
            }
            // Drop panes every window of which has been emitted.
            for p in panes.keys where lastWindowEnd(p + paneSize - 1) <= emittedThrough { panes[p] = nil }
            lastPane = nil
        }
        guard let minPane = panes.keys.min() else { return [] }
        var out: [[Value]] = []
        // The first window that contains the oldest pane and has not been emitted.
        var start = floorDiv(minPane - window.size, window.advance) * window.advance + window.advance
        if emittedThrough != .min { start = max(start, emittedThrough - window.size + window.advance) }
        let maxPane = panes.keys.max()!
        // Pane starts in order: a window with no pane is skipped to the first window that holds
        // the next pane (records far apart in event time, such as one dated in the year 10000,
        // would otherwise walk every empty window between them).
        let paneStarts = panes.count > 1 ? panes.keys.sorted() : [minPane]
        var nextPane = 0
        while start + window.size <= watermark && start <= maxPane {
            let end = start + window.size
            while nextPane < paneStarts.count && paneStarts[nextPane] < start { nextPane += 1 }
            guard nextPane < paneStarts.count else { break }
            if paneStarts[nextPane] >= end {
                start = max(start + window.advance, floorDiv(paneStarts[nextPane] - window.size, window.advance) * window.advance + window.advance)
                continue
            }
            if intKeysOnly(start, end) {
                emitIntKeyed(start, end, into: &out)
                emittedThrough = end
                start += window.advance
                continue
            }
            var groups: [[Value]: [AggregateState]] = [:]
            let n = aggregates.count
            forEachPane(start, end) { pane in
                for (gi, groupKey) in pane.keys.enumerated() {
                    let k = groupKey.values
                    let s = pane.states[(gi * n)..<(gi * n + n)]
                    if let prev = groups[k] {
                        groups[k] = zip(prev, s).map { $0.merged(with: $1) }
                    } else {
                        groups[k] = Array(s)
                    }
                }
            }
            for k in groups.keys.sorted(by: GroupKeyOrder.less) {
                let states = groups[k]!
                var row: [Value] = [.timestamp(start), .timestamp(end)]
                row += k
                for (i, a) in aggregates.enumerated() { row.append(states[i].result(a.function, as: a.resultType)) }
                out.append(outputPicks.map { $0.map { row[$0] } } ?? row)
            }
            emittedThrough = end
            start += window.advance
        }
        if watermark == WatermarkTracker.infinity {
            emittedThrough = max(emittedThrough, lastWindowEnd(maxPane + paneSize - 1))
        }
        return out
    }
}

extension WindowAggregateOperator {
    /// Whether every group of the window's panes has a single integer key (so groups merge and
    /// sort as integers).
    func intKeysOnly(_ start: Int64, _ end: Int64) -> Bool {
        guard keyColumns.count == 1 else { return false }
        var only = true
        forEachPane(start, end) { pane in if !pane.valueIndex.isEmpty { only = false } }
        return only
    }

    /// The panes of window [start, end) there are, in time order: slot by slot when the window
    /// has few slots for the panes held, else from the panes held, sorted (a window of many
    /// slots, such as a hop of 1,000 days by 42 days whose pane, their greatest common divisor,
    /// is a second, would otherwise look up 86 million slots to find a handful of panes).
    func forEachPane(_ start: Int64, _ end: Int64, _ body: (Pane) -> Void) {
        if (end - start) / paneSize <= Int64(panes.count) * 4 {
            var p = start
            while p < end {
                if let pane = panes[p] { body(pane) }
                p += paneSize
            }
        } else {
            for p in panes.keys.filter({ $0 >= start && $0 < end }).sorted() { body(panes[p]!) }
        }
    }

    /// The rows of window [start, end) whose groups are single integer keys, in key order: the
    /// panes' groups, each pane's in key order, merged as sorted lists (a key's states merge in
    /// pane order).
    func emitIntKeyed(_ start: Int64, _ end: Int64, into out: inout [[Value]]) {
        let n = aggregates.count
        var lists: [[(key: Int64, group: Int32)]] = []
        var states: [[AggregateState]] = []
        forEachPane(start, end) { pane in
            if !pane.keys.isEmpty {
                lists.append(pane.intGroupsInKeyOrder())
                states.append(pane.states)
            }
        }
        let k = lists.count
        guard k > 0 else { return }
        let picks = outputPicks ?? Array(0..<(3 + n))
        var heads = [Int](repeating: 0, count: k)
        var merged = [AggregateState](repeating: .count(0), count: n)
        out.reserveCapacity(out.count + lists[0].count)
        while true {
            // The smallest key at the lists' heads, how many panes hold it, and the last of them.
            var key = Int64.max, holders = 0, holder = 0
            for j in 0..<k where heads[j] < lists[j].count {
                let c = lists[j][heads[j]].key
                if holders == 0 || c < key {
                    key = c
                    holders = 1
                    holder = j
                } else if c == key {
                    holders += 1
                    holder = j
                }
            }
            if holders == 0 { return }
            // A key in one pane only (most, when keys come and go): its states are read where they
            // are; in several, they are merged.
            let single = holders == 1
            let base = Int(lists[holder][heads[holder]].group) * n
            if single {
                heads[holder] += 1
            } else {
                var first = true
                for j in 0..<k where heads[j] < lists[j].count && lists[j][heads[j]].key == key {
                    let g = Int(lists[j][heads[j]].group) * n
                    if first {
                        for i in 0..<n { merged[i] = states[j][g + i] }
                        first = false
                    } else {
                        for i in 0..<n { merged[i] = merged[i].merged(with: states[j][g + i]) }
                    }
                    heads[j] += 1
                }
            }
            func column(_ c: Int) -> Value {
                switch c {
                case 0: return .timestamp(start)
                case 1: return .timestamp(end)
                case 2: return .int(key)
                default:
                    let a = aggregates[c - 3]
                    return single ? states[holder][base + c - 3].result(a.function, as: a.resultType) : merged[c - 3].result(a.function, as: a.resultType)
                }
            }
            // Rows of up to five columns are written as literals, which allocate at their size in
            // one step (building one by appending costs a buffer growth per row).
            switch picks.count {
            case 2: out.append([column(picks[0]), column(picks[1])])
            case 3: out.append([column(picks[0]), column(picks[1]), column(picks[2])])
            case 4: out.append([column(picks[0]), column(picks[1]), column(picks[2]), column(picks[3])])
            case 5: out.append([column(picks[0]), column(picks[1]), column(picks[2]), column(picks[3]), column(picks[4])])
            default: out.append(picks.map(column))
            }
        }
    }
}

/// A total order on group keys for deterministic output: NULL first, then by type, then by value.
public enum GroupKeyOrder {
    public static func less(_ a: [Value], _ b: [Value]) -> Bool {
        for (x, y) in zip(a, b) {
            let c = compare(x, y)
            if c != 0 { return c < 0 }
        }
        return a.count < b.count
    }

    public static func compare(_ x: Value, _ y: Value) -> Int {
        func rank(_ v: Value) -> Int {
            switch v {
            case .null: return 0
            case .bool: return 1
            case .int, .double, .decimal: return 2
            case .string: return 3
            case .timestamp: return 4
            case .interval: return 5
            }
        }
        switch (x, y) {
        case (.bool(let a), .bool(let b)): return a == b ? 0 : (!a ? -1 : 1)
        case (.int(let a), .int(let b)), (.timestamp(let a), .timestamp(let b)), (.interval(let a), .interval(let b)):
            return a < b ? -1 : (a > b ? 1 : 0)
        case (.double(let a), .double(let b)): return a < b ? -1 : (a > b ? 1 : 0)
        case (.int(let a), .double(let b)): return Double(a) < b ? -1 : (Double(a) > b ? 1 : 0)
        case (.double(let a), .int(let b)): return a < Double(b) ? -1 : (a > Double(b) ? 1 : 0)
        case (.string(let a), .string(let b)): return a < b ? -1 : (a > b ? 1 : 0)
        case (.decimal(let a), .decimal(let b)): return Decimal64.compare(a, b)
        case (.decimal(let a), .int(let b)): return Decimal64.compare(a, Decimal64(b))
        case (.int(let a), .decimal(let b)): return Decimal64.compare(Decimal64(a), b)
        case (.decimal(let a), .double(let b)): return a.doubleValue < b ? -1 : (a.doubleValue > b ? 1 : 0)
        case (.double(let a), .decimal(let b)): return a < b.doubleValue ? -1 : (a > b.doubleValue ? 1 : 0)
        default: return rank(x) - rank(y)
        }
    }
}

/// An aggregate whose state a window can keep as one integer (and whether a value came): COUNT(*),
/// COUNT(column), and SUM, MIN and MAX of BIGINT (MIN and MAX of TIMESTAMP too). Its states are
/// those `AggregateState` keeps for it, so that they turn into each other exactly.
enum NumericAggregate: Equatable {
    case countRows
    case count(Int)
    case sum(Int), min(Int), max(Int)

    init?(_ a: AggregateSpec) {
        switch (a.function, a.input, a.inputType) {
        case (.countStar, nil, _): self = .countRows
        case (.count, let c?, _): self = .count(c)
        case (.sum, let c?, .bigint?): self = .sum(c)
        case (.min, let c?, .bigint?), (.min, let c?, .timestamp?): self = .min(c)
        case (.max, let c?, .bigint?), (.max, let c?, .timestamp?): self = .max(c)
        default: return nil
        }
    }

    /// The states of `numbers` (laid out as a pane's states).
    static func states(_ kinds: [NumericAggregate], _ numbers: [Int64], _ seen: [Bool]) -> [AggregateState] {
        var out: [AggregateState] = []
        out.reserveCapacity(numbers.count)
        let n = kinds.count
        for (j, x) in numbers.enumerated() {
            switch kinds[j % n] {
            case .countRows, .count: out.append(.count(x))
            case .sum: out.append(.sumInt(x, seen: seen[j]))
            case .min: out.append(.minInt(seen[j] ? x : nil))
            case .max: out.append(.maxInt(seen[j] ? x : nil))
            }
        }
        return out
    }
}
