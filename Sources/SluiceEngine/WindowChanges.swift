import SluiceCore
import SluiceDataflow

/// EMIT CHANGES on a window: the rows the window operator updates, as changes of each (window,
/// group)'s row: `+I` its first row, `-U` (the row last emitted) and `+U` (the row now) after; a
/// row that has not changed emits nothing. With EVERY, a (window, group) emits at most once per
/// interval of processing time; a newer row held back replaces the older one, and what is held
/// back goes out once its interval has passed (or at the end of input).
final class WindowChanges {
    /// The leading columns that name a (window, group): window_start, window_end, the keys.
    let keyCount: Int
    let everyMillis: Int64?
    private var pending: [[Value]: [Value]] = [:]
    private var lastEmit: [[Value]: Int64] = [:]
    /// The row last emitted per (window, group) of the open windows.
    private var shown: [[Value]: [Value]] = [:]

    init(keyCount: Int, everyMillis: Int64?) {
        self.keyCount = keyCount
        self.everyMillis = everyMillis
    }

    /// Forgets the windows that have closed (ending at or before `end`) once nothing of theirs is
    /// held back, so the state stays bounded by the open windows.
    func prune(closedThrough end: Int64) {
        for k in shown.keys where pending[k] == nil {
            if case .timestamp(let e) = k[1], e <= end {
                shown[k] = nil
                lastEmit[k] = nil
            }
        }
    }

    func offer(_ rows: [[Value]], now: Int64) -> [[Value]] {
        var out: [[Value]] = []
        for r in rows {
            let k = Array(r[0..<keyCount])
            if let every = everyMillis, let last = lastEmit[k], now - last < every {
                pending[k] = r
                continue
            }
            emit(k, r, now: now, &out)
        }
        return out
    }

    private func emit(_ k: [Value], _ r: [Value], now: Int64, _ out: inout [[Value]]) {
        pending[k] = nil
        if let old = shown[k] {
            guard old != r else { return }
            out.append(old + [ChangeKind.updateBefore.value])
            out.append(r + [ChangeKind.updateAfter.value])
        } else {
            out.append(r + [ChangeKind.insert.value])
        }
        shown[k] = r
        if everyMillis != nil { lastEmit[k] = now }
    }

    func flushDue(now: Int64, all: Bool) -> [[Value]] {
        guard let every = everyMillis else { return [] }
        var out: [[Value]] = []
        for k in pending.keys.sorted(by: GroupKeyOrder.less) where all || now - (lastEmit[k] ?? .min) >= every {
            emit(k, pending[k]!, now: now, &out)
        }
        return out
    }

    func snapshot(now: Int64) -> [JSONValue] {
        var entries: [JSONValue] = []
        for k in shown.keys.sorted(by: GroupKeyOrder.less) {
            var e: JSONObject = ["key": .array(k.map(\.snapshot)), "shown": .array(shown[k]!.map(\.snapshot))]
            if let last = lastEmit[k] { e["since_emit"] = .int(now - last) }
            if let r = pending[k] { e["row"] = .array(r.map(\.snapshot)) }
            entries.append(.object(e))
        }
        return entries
    }

    func restore(_ entries: [JSONValue], now: Int64) throws(SnapshotError) {
        pending = [:]; lastEmit = [:]; shown = [:]
        func row(_ j: JSONValue?) throws(SnapshotError) -> [Value]? {
            guard let a = j?.arrayValue else { return nil }
            var out: [Value] = []
            for v in a { out.append(try Value(snapshot: v)) }
            return out
        }
        for e in entries {
            guard let k = try row(e["key"]), k.count == keyCount else { throw SnapshotError("the EMIT CHANGES state does not match the query") }
            if let since = e["since_emit"]?.int64Value { lastEmit[k] = now - since }
            if let r = try row(e["row"]) { pending[k] = r }
            // Checkpoints written before changes carried their kind keep no row shown: the next change is +I.
            if let s = try row(e["shown"]) { shown[k] = s }
        }
    }
}
