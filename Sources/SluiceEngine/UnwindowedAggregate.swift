import SluiceCore
import SluiceDataflow

/// GROUP BY without a window: an updating result. Each input row changes its group's row, which
/// goes out as a change: `+I` for a group's first row, `-U` (the row before) and `+U` (the row
/// after) for an update, `-D` when an updating input withdraws a group's last row; an update that
/// leaves the row as it was emits nothing (as Flink does). EMIT CHANGES EVERY emits a group's
/// change at most once per interval of processing time, from the row last emitted to the row now.
/// Output: the keys, the aggregates, the change kind.
final class UnwindowedAggregate {
    let keys: Int
    let aggregates: [AggregateSpec]
    let everyMillis: Int64?
    /// The input column holding each row's change kind, when the input is itself updating.
    let changeInput: Int?
    /// Groups of an append-only input.
    fileprivate var groups: [[Value]: [AggregateState]] = [:]
    /// Groups of an updating input: the rows they hold and states that can withdraw values.
    fileprivate var retracting: [[Value]: RetractGroup] = [:]
    /// EMIT CHANGES EVERY: the groups with a change held back, when each last emitted, and the row
    /// it emitted (what the next change withdraws).
    fileprivate var pending: Set<[Value]> = []
    fileprivate var lastEmit: [[Value]: Int64] = [:]
    fileprivate var shown: [[Value]: [Value]] = [:]
    /// With a state TTL: the input column of each row's event time, and the groups by when it
    /// last touched them.
    let timeInput: Int?
    fileprivate var idle: IdleKeys<[Value]>?

    struct RetractGroup {
        var rows: Int64
        var states: [RetractableState]
    }

    init(keys: Int, aggregates: [AggregateSpec], everyMillis: Int64?, changeInput: Int? = nil, stateTTL: (timeInput: Int, millis: Int64)? = nil) {
        self.keys = keys
        self.aggregates = aggregates
        self.everyMillis = everyMillis
        self.changeInput = changeInput
        timeInput = stateTTL?.timeInput
        idle = stateTTL.map { IdleKeys(ttl: $0.millis) }
    }

    var stateTTL: Int64? { idle?.ttl }

    /// Forgets the groups idle for the state TTL at `watermark`: their rows stand as emitted, and
    /// a later row starts the group afresh (+I).
    func expire(at watermark: Int64) {
        guard idle != nil else { return }
        for k in idle!.expire(at: watermark) {
            groups[k] = nil
            retracting[k] = nil
            pending.remove(k)
            lastEmit[k] = nil
            shown[k] = nil
        }
    }

    /// The group's row now (keys and results), nil when it holds nothing.
    private func current(_ k: [Value]) -> [Value]? {
        if changeInput != nil {
            guard let g = retracting[k] else { return nil }
            return k + aggregates.indices.map { g.states[$0].result(as: aggregates[$0].resultType) }
        }
        return groups[k].map { row(k, $0) }
    }

    private func row(_ k: [Value], _ states: [AggregateState]) -> [Value] {
        k + aggregates.indices.map { states[$0].result(aggregates[$0].function, as: aggregates[$0].resultType) }
    }

    /// The change from `old` to `new` (either nil: the group had or has no row) onto `out`.
    private static func change(_ old: [Value]?, _ new: [Value]?, _ out: inout [[Value]]) {
        switch (old, new) {
        case (nil, let n?): out.append(n + [ChangeKind.insert.value])
        case (let o?, nil): out.append(o + [ChangeKind.delete.value])
        case (let o?, let n?) where o != n:
            out.append(o + [ChangeKind.updateBefore.value])
            out.append(n + [ChangeKind.updateAfter.value])
        default: break
        }
    }

    func add(_ b: Batch, now: Int64) -> [[Value]] {
        if changeInput != nil { return addChanges(b, now: now) }
        var out: [[Value]] = []
        let initial = aggregates.map { AggregateState.initial($0.function, input: $0.inputType, parameter: $0.parameter) }
        // The group of the row before, with its state in hand: a run of rows of one group (every
        // row, without GROUP BY) looks the group up once, not once per row.
        var currentKey: [Value]? = nil
        var states: [AggregateState] = []
        var existed = false
        // EMIT CHANGES EVERY: the first row of a run is offered; the rows after it, at the same
        // processing time, find the group emitted now or waiting, and wait (nothing to look up per
        // row): the run's group is marked waiting when the run ends.
        let every = everyMillis ?? 0
        var runWaits = false
        func endRun() {
            guard let c = currentKey else { return }
            groups[c] = states
            if runWaits { pending.insert(c) }
            runWaits = false
        }
        for r in 0..<b.count {
            let k = (0..<keys).map { b.columns[$0].value(r) }
            var first = false
            if k != currentKey {
                endRun()
                currentKey = k
                first = true
                if let s = groups[k] { states = s; existed = true } else { states = initial; existed = false }
            }
            if let tc = timeInput, case .timestamp(let t) = b.columns[tc].value(r) { idle?.touch(k, at: t) }
            let old = existed && everyMillis == nil ? row(k, states) : nil
            for (i, a) in aggregates.enumerated() {
                guard let c = a.input else { states[i].addRow(); continue }
                if let tc = a.timeInput, case .timestamp(let t) = b.columns[tc].value(r) {
                    states[i].add(b.columns[c].value(r), at: t)
                } else {
                    states[i].add(b.columns[c].value(r))
                }
            }
            existed = true
            if everyMillis != nil {
                if first || every <= 0 {
                    groups[k] = states
                    offer(k, now: now, &out)
                } else {
                    runWaits = true
                }
            } else {
                UnwindowedAggregate.change(old, row(k, states), &out)
            }
        }
        endRun()
        return out
    }

    /// Rows of an updating input: `+I` and `+U` add to their group, `-U` and `-D` withdraw. An
    /// update of one group's row (`-U` then `+U` of the same key, as an aggregate below emits
    /// them) is one change here, not a withdrawal that empties the group and an insert after it.
    private func addChanges(_ b: Batch, now: Int64) -> [[Value]] {
        var out: [[Value]] = []
        let opColumn = changeInput!
        func key(_ r: Int) -> [Value] { (0..<keys).map { b.columns[$0].value(r) } }
        func kind(_ r: Int) -> ChangeKind? { ChangeKind(b.columns[opColumn].value(r)) }
        var r = 0
        while r < b.count {
            let k = key(r)
            let old = everyMillis == nil ? current(k) : nil
            var g = retracting[k] ?? RetractGroup(rows: 0, states: aggregates.map { RetractableState($0.function) })
            let last = kind(r) == .updateBefore && r + 1 < b.count && kind(r + 1) == .updateAfter && key(r + 1) == k ? r + 1 : r
            for row in r...last {
                let sign: Int64 = kind(row)?.retracts == true ? -1 : 1
                for (i, a) in aggregates.enumerated() {
                    g.states[i].apply(a.input.map { b.columns[$0].value(row) } ?? .null, sign: sign)
                }
                g.rows += sign
            }
            r = last + 1
            retracting[k] = g.rows > 0 ? g : nil
            if everyMillis != nil {
                offer(k, now: now, &out)
            } else {
                UnwindowedAggregate.change(old, current(k), &out)
            }
        }
        return out
    }

    /// EMIT CHANGES EVERY: the group's change goes out now, or waits for its interval to pass.
    private func offer(_ k: [Value], now: Int64, _ out: inout [[Value]]) {
        if let last = lastEmit[k], now - last < everyMillis! {
            pending.insert(k)
            return
        }
        emitShown(k, now: now, &out)
    }

    private func emitShown(_ k: [Value], now: Int64, _ out: inout [[Value]]) {
        let new = current(k)
        UnwindowedAggregate.change(shown[k], new, &out)
        shown[k] = new
        lastEmit[k] = now
        pending.remove(k)
    }

    /// Changes held back by EMIT CHANGES EVERY whose interval has passed (all of them at the end).
    func flushDue(now: Int64, all: Bool) -> [[Value]] {
        guard let every = everyMillis else { return [] }
        var out: [[Value]] = []
        for k in pending.sorted(by: GroupKeyOrder.less) where all || now - (lastEmit[k] ?? .min) >= every {
            emitShown(k, now: now, &out)
        }
        return out
    }
}

// MARK: - Checkpoints

extension UnwindowedAggregate {
    func snapshot(now: Int64) -> JSONValue {
        let keys = changeInput == nil ? Array(groups.keys) : Array(retracting.keys)
        // Written group by group, so the state's tree is never built whole (from the state as it
        // is now: copies that share its storage).
        let (groups, retracting, pending, shown, lastEmit) = (self.groups, self.retracting, self.pending, self.shown, self.lastEmit)
        let out = JSONValue.rawArray(Set(keys).union(shown.keys).sorted(by: GroupKeyOrder.less)) { k -> JSONValue in
            var g: JSONObject = ["key": .array(k.map(\.snapshot))]
            if let s = groups[k] { g["states"] = .array(s.map(\.snapshot)) }
            if let r = retracting[k] {
                g["rows"] = .int(r.rows)
                g["changes"] = .array(r.states.map(\.snapshot))
            }
            if pending.contains(k) { g["pending"] = true }
            if let row = shown[k] { g["shown"] = .array(row.map(\.snapshot)) }
            // Processing time since the group's last emission, so EMIT CHANGES EVERY keeps its pace.
            if let last = lastEmit[k] { g["since_emit"] = .int(now - last) }
            return .object(g)
        }
        var doc: JSONObject = ["groups": out]
        if let idle {
            let touched = idle.entries.sorted { $0.second != $1.second ? $0.second < $1.second : GroupKeyOrder.less($0.key, $1.key) }
            doc["touched"] = JSONValue.rawArray(touched) { .array([.int($0.second), .array($0.key.map(\.snapshot))]) }
        }
        return .object(doc)
    }

    func restore(_ j: JSONValue, now: Int64) throws(SnapshotError) {
        guard let gs = j["groups"]?.arrayValue else { throw SnapshotError("the aggregate state is malformed") }
        groups = [:]; retracting = [:]; pending = []; lastEmit = [:]; shown = [:]
        for g in gs {
            guard let kj = g["key"]?.arrayValue, kj.count == keys else { throw SnapshotError("an aggregate group does not match the query") }
            var k: [Value] = []
            for v in kj { k.append(try Value(snapshot: v)) }
            if let sj = g["states"]?.arrayValue {
                guard changeInput == nil, sj.count == aggregates.count else { throw SnapshotError("an aggregate group does not match the query") }
                var states: [AggregateState] = []
                for s in sj { states.append(try AggregateState(snapshot: s)) }
                groups[k] = states
            }
            if let cj = g["changes"]?.arrayValue, let rows = g["rows"]?.int64Value {
                guard changeInput != nil, cj.count == aggregates.count else { throw SnapshotError("an aggregate group does not match the query") }
                var states: [RetractableState] = []
                for s in cj { states.append(try RetractableState(snapshot: s)) }
                retracting[k] = RetractGroup(rows: rows, states: states)
            }
            if g["pending"] == .bool(true) { pending.insert(k) }
            if let rj = g["shown"]?.arrayValue {
                var row: [Value] = []
                for v in rj { row.append(try Value(snapshot: v)) }
                shown[k] = row
            }
            if let since = g["since_emit"]?.int64Value { lastEmit[k] = now - since }
        }
        if idle != nil {
            var touched: [(key: [Value], second: Int64)] = []
            for e in j["touched"]?.arrayValue ?? [] {
                guard let a = e.arrayValue, a.count == 2, let s = a[0].int64Value, let kj = a[1].arrayValue else { throw SnapshotError("the aggregate state is malformed") }
                var k: [Value] = []
                for v in kj { k.append(try Value(snapshot: v)) }
                touched.append((k, s))
            }
            idle!.restore(touched)
        }
    }
}
