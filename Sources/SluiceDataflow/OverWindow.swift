public import SluiceCore

/// The frame of an OVER window: the rows before the current one that it aggregates with it.
public enum OverFrame: Sendable, Equatable {
    /// `RANGE INTERVAL ... PRECEDING`: the rows of the partition whose time is in `[t - millis, t]`
    /// (rows at the same time as the current one included, whatever their arrival order).
    case range(millis: Int64)
    /// `ROWS n PRECEDING`: the current row and the `n` rows before it in (time, arrival) order.
    case rows(Int64)
}

/// Sliding windows per row (`agg(x) OVER (PARTITION BY k ORDER BY ts RANGE ... PRECEDING)`, the
/// Kinesis Data Analytics sliding window): one output row per input row, the input row followed
/// by its aggregates over the frame. A row is emitted once the watermark passes its time (every
/// row at or before it, peers included, has then arrived), so rows come out in event-time order,
/// ties in arrival order. A record older than what has been emitted is late.
///
/// State: the rows waiting for the watermark, and per partition the rows a later frame can still
/// reach (those within the range of the watermark, or the last `n`), so it is bounded by the
/// frame, not by the stream. Aggregates are folded over the frame of each row.
///
/// Owned by one query's driver (not thread-safe).
public final class OverWindowOperator {
    public let frame: OverFrame
    /// Columns of the prepared batch: `[time, keys..., aggregate inputs...]`.
    public let timeColumn: Int
    public let keyColumns: [Int]
    public let aggregates: [AggregateSpec]

    struct Pending {
        var time: Int64
        var seq: Int64
        var key: [Value]
        /// The prepared row (time, keys, aggregate inputs).
        var inputs: [Value]
        /// The input row, passed through to the output.
        var row: [Value]
    }

    struct Entry {
        var time: Int64
        var inputs: [Value]
    }

    /// A row computed but for its LEAD values: it waits for the rows that far after it in its
    /// partition (`ordinal` counts the partition's rows; `missing`: the LEAD values not yet known).
    struct Waiting {
        var time: Int64
        var seq: Int64
        var ordinal: Int64
        var row: [Value]
        var missing: Int
    }

    var pending: [Pending] = []
    /// Per partition, emitted rows a later frame can still reach, in (time, arrival) order.
    var history: [[Value]: [Entry]] = [:]
    /// With LEAD: per partition, the rows waiting for later rows, and how many rows it has had
    /// since it had none waiting.
    var leadWaiting: [[Value]: [Waiting]] = [:]
    var ordinals: [[Value]: Int64] = [:]
    /// The aggregates that are LEAD calls, and where their values go in an output row.
    private lazy var leads: [Int] = aggregates.indices.filter { aggregates[$0].function == .lead }
    var seq: Int64 = 0
    public private(set) var emittedThrough: Int64 = .min

    public init(frame: OverFrame, timeColumn: Int, keyColumns: [Int], aggregates: [AggregateSpec]) {
        self.frame = frame
        self.timeColumn = timeColumn
        self.keyColumns = keyColumns
        self.aggregates = aggregates
    }

    public var explain: String {
        let f: String
        switch frame {
        case .range(let ms): f = "range=\(ms)ms"
        case .rows(let n): f = "rows=\(n)"
        }
        return "OverWindowExec: \(f) keys=\(keyColumns.count) aggregates=[\(aggregates.map(\.function.rawValue).joined(separator: ", "))]"
    }

    /// Rows waiting for the watermark, and rows kept for later frames (for tests and metrics).
    public var heldRows: Int { pending.count + history.values.reduce(0) { $0 + $1.count } + leadWaiting.values.reduce(0) { $0 + $1.count } }

    /// Adds a prepared batch and, for each of its rows, the input row it came from. Returns the
    /// late rows (NULL time, or older than what has been emitted).
    public func add(_ batch: Batch, rows: [[Value]]) -> [Int] {
        var late: [Int] = []
        let times = batch.columns[timeColumn]
        for r in 0..<batch.count {
            guard case .timestamp(let t) = times.value(r), t >= emittedThrough else { late.append(r); continue }
            let inputs = (0..<batch.columns.count).map { batch.columns[$0].value(r) }
            pending.append(Pending(time: t, seq: seq, key: keyColumns.map { inputs[$0] }, inputs: inputs, row: rows[r]))
            seq += 1
        }
        return late
    }

    /// The rows whose time is before `watermark`, each with its aggregates, in (time, arrival) order.
    public func advance(to watermark: Int64) -> [[Value]] {
        guard watermark > emittedThrough else { return [] }
        emittedThrough = watermark
        var ready: [Pending] = []
        var waiting: [Pending] = []
        for p in pending { if p.time < watermark { ready.append(p) } else { waiting.append(p) } }
        pending = waiting
        guard !ready.isEmpty else {
            prune(watermark)
            return watermark == WatermarkTracker.infinity ? releaseAll() : []
        }
        ready.sort { $0.time != $1.time ? $0.time < $1.time : $0.seq < $1.seq }
        // Every ready row joins its partition first, so a RANGE frame sees its peers.
        var position: [Int] = []
        position.reserveCapacity(ready.count)
        for p in ready {
            history[p.key, default: []].append(Entry(time: p.time, inputs: p.inputs))
            position.append(history[p.key]!.count - 1)
        }
        let initial = aggregates.map { AggregateState.initial($0.function, input: $0.inputType, parameter: $0.parameter) }
        var out: [[Value]] = []
        out.reserveCapacity(ready.count)
        var released: [Waiting] = []
        for (i, p) in ready.enumerated() {
            let entries = history[p.key]!
            var ordinal: Int64 = 0
            if !leads.isEmpty {
                // This row is the LEAD of the rows waiting `offset` rows before it.
                ordinal = ordinals[p.key] ?? 0
                ordinals[p.key] = ordinal + 1
                if var w = leadWaiting[p.key] {
                    for j in w.indices {
                        for a in leads where w[j].ordinal + Int64(aggregates[a].parameter ?? 1) == ordinal {
                            w[j].row[p.row.count + a] = aggregates[a].input.map { p.inputs[$0] } ?? .null
                            w[j].missing -= 1
                        }
                    }
                    released += w.filter { $0.missing == 0 }
                    w.removeAll { $0.missing == 0 }
                    leadWaiting[p.key] = w.isEmpty ? nil : w
                }
            }
            let lower: Int, upper: Int
            switch frame {
            case .rows(let n):
                upper = position[i]
                lower = max(0, upper - Int(clamping: n))
            case .range(let ms):
                upper = Self.lastIndex(entries, atOrBefore: p.time)
                lower = Self.firstIndex(entries, atOrAfter: p.time &- ms)
            }
            var states = initial
            for e in entries[lower...upper] {
                for (a, spec) in aggregates.enumerated() where !spec.function.readsRows {
                    guard let c = spec.input else { states[a].addRow(); continue }
                    if let tc = spec.timeInput, case .timestamp(let t) = e.inputs[tc] {
                        states[a].add(e.inputs[c], at: t)
                    } else {
                        states[a].add(e.inputs[c])
                    }
                }
            }
            var row = p.row
            for (a, spec) in aggregates.enumerated() {
                switch spec.function {
                case .lag:
                    // The row `offset` before in the partition (the frame keeps that many).
                    let at = position[i] - Int(spec.parameter ?? 1)
                    row.append(at >= 0 ? spec.input.map { entries[at].inputs[$0] } ?? .null : spec.fallback)
                case .lead: row.append(spec.fallback)
                case .nthValue:
                    let at = lower + Int(spec.parameter ?? 1) - 1
                    row.append(at <= upper ? spec.input.map { entries[at].inputs[$0] } ?? .null : .null)
                case .expAvg:
                    var weighted = 0.0, total = 0.0
                    let halfLife = max(1, spec.parameter ?? 1)
                    for e in entries[lower...upper] {
                        guard let c = spec.input, let v = e.inputs[c].doubleValue else { continue }
                        let w = cPow(2.0, -Double(p.time &- e.time) / halfLife)
                        weighted += w * v
                        total += w
                    }
                    row.append(total > 0 ? .double(weighted / total) : .null)
                default: row.append(states[a].result(spec.function, as: spec.resultType))
                }
            }
            if leads.isEmpty {
                out.append(row)
            } else {
                leadWaiting[p.key, default: []].append(Waiting(time: p.time, seq: p.seq, ordinal: ordinal, row: row, missing: leads.count))
            }
        }
        prune(watermark)
        if leads.isEmpty { return out }
        // Rows whose LEAD values are all known go out in the order they became known (the order of
        // the rows that completed them, which is the same however the watermark's moves are
        // batched); at the end of input the rest go out with the fallback (no row is that far).
        return released.map(\.row) + (watermark == WatermarkTracker.infinity ? releaseAll() : [])
    }

    /// Every row still waiting for a LEAD value, with the fallback (the end of input).
    private func releaseAll() -> [[Value]] {
        let all = leadWaiting.values.flatMap { $0 }.sorted { ($0.time, $0.seq) < ($1.time, $1.seq) }
        leadWaiting = [:]
        ordinals = [:]
        return all.map(\.row)
    }

    /// Forgets the rows no later frame can reach: later rows have times at or after `watermark`.
    private func prune(_ watermark: Int64) {
        if watermark == WatermarkTracker.infinity { history = [:]; return }
        for (k, entries) in history {
            let keep: Int
            switch frame {
            case .rows(let n): keep = max(0, entries.count - Int(clamping: n))
            case .range(let ms): keep = Self.firstIndex(entries, atOrAfter: watermark &- ms)
            }
            if keep >= entries.count { history[k] = nil } else if keep > 0 { history[k] = Array(entries[keep...]) }
        }
    }

    static func firstIndex(_ entries: [Entry], atOrAfter t: Int64) -> Int {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].time < t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    static func lastIndex(_ entries: [Entry], atOrBefore t: Int64) -> Int {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].time <= t { lo = mid + 1 } else { hi = mid }
        }
        return lo - 1
    }

    // MARK: - Checkpoints

    public func snapshot() -> JSONValue {
        func values(_ v: [Value]) -> JSONValue { .array(v.map(\.snapshot)) }
        let waiting: [JSONValue] = pending.map { ["time": .int($0.time), "seq": .int($0.seq), "inputs": values($0.inputs), "row": values($0.row)] }
        var parts: [JSONValue] = []
        for k in history.keys.sorted(by: GroupKeyOrder.less) {
            parts.append(["key": values(k), "rows": .array(history[k]!.map { ["time": .int($0.time), "inputs": values($0.inputs)] })])
        }
        var doc: JSONObject = ["emitted_through": .int(emittedThrough), "seq": .int(seq), "pending": .array(waiting), "history": .array(parts)]
        if !leads.isEmpty {
            var leadParts: [JSONValue] = []
            for k in Set(leadWaiting.keys).union(ordinals.keys).sorted(by: GroupKeyOrder.less) {
                let rows: [JSONValue] = (leadWaiting[k] ?? []).map {
                    ["time": .int($0.time), "seq": .int($0.seq), "ordinal": .int($0.ordinal), "row": values($0.row), "missing": .int(Int64($0.missing))]
                }
                leadParts.append(["key": values(k), "ordinal": .int(ordinals[k] ?? 0), "rows": .array(rows)])
            }
            doc["lead"] = .array(leadParts)
        }
        return .object(doc)
    }

    public func restore(_ j: JSONValue) throws(SnapshotError) {
        func values(_ v: JSONValue?) throws(SnapshotError) -> [Value] {
            var out: [Value] = []
            for x in try Snap.array(v) { out.append(try Value(snapshot: x)) }
            return out
        }
        let width = 1 + keyColumns.count
        var waiting: [Pending] = []
        for p in try Snap.array(j["pending"]) {
            let inputs = try values(p["inputs"])
            guard inputs.count >= width else { throw SnapshotError("an OVER window row does not match the query") }
            waiting.append(Pending(time: try Snap.int(p["time"]), seq: try Snap.int(p["seq"]), key: keyColumns.map { inputs[$0] },
                                   inputs: inputs, row: try values(p["row"])))
        }
        var parts: [[Value]: [Entry]] = [:]
        for h in try Snap.array(j["history"]) {
            let key = try values(h["key"])
            guard key.count == keyColumns.count else { throw SnapshotError("an OVER window partition does not match the query") }
            var entries: [Entry] = []
            for e in try Snap.array(h["rows"]) {
                let inputs = try values(e["inputs"])
                guard inputs.count >= width else { throw SnapshotError("an OVER window row does not match the query") }
                entries.append(Entry(time: try Snap.int(e["time"]), inputs: inputs))
            }
            parts[key] = entries
        }
        var leadRows: [[Value]: [Waiting]] = [:], counts: [[Value]: Int64] = [:]
        for l in j["lead"]?.arrayValue ?? [] {
            let key = try values(l["key"])
            counts[key] = try Snap.int(l["ordinal"])
            var rows: [Waiting] = []
            for w in try Snap.array(l["rows"]) {
                rows.append(Waiting(time: try Snap.int(w["time"]), seq: try Snap.int(w["seq"]), ordinal: try Snap.int(w["ordinal"]),
                                    row: try values(w["row"]), missing: Int(try Snap.int(w["missing"]))))
            }
            if !rows.isEmpty { leadRows[key] = rows }
        }
        leadWaiting = leadRows
        ordinals = counts
        pending = waiting
        history = parts
        seq = try Snap.int(j["seq"])
        emittedThrough = try Snap.int(j["emitted_through"])
    }
}
