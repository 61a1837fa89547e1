public import SluiceCore

/// Top-N per partition: ROW_NUMBER, RANK or DENSE_RANK over an order, keeping the rows ranked
/// within the first `limit`. Rows of one sort key rank in arrival order (ROW_NUMBER): the first
/// to come is first. Without a window the result is a changelog: a row that enters is `+I`, a row
/// pushed out `-D`, and (with the rank output) a row whose rank moved `-U` then `+U`. Windowed
/// (`windowed`: the partition's last key is its window's end), a partition's rows are ranked as
/// they come and go out, each once, when the watermark passes the window's end.
public final class TopNOperator {
    public enum Function: String, Sendable { case rowNumber = "ROW_NUMBER", rank = "RANK", denseRank = "DENSE_RANK" }

    public let function: Function
    public let limit: Int64
    /// Per order key: descending.
    public let descending: [Bool]
    public let rankOutput: Bool
    public let windowed: Bool

    struct Entry {
        var sort: [Value]
        var seq: Int64
        var row: [Value]
    }

    private var partitions: [[Value]: [Entry]] = [:]
    /// Windowed: the partitions of each window, by its end.
    private var byEnd: [Int64: [[Value]]] = [:]
    /// Windowed: windows ending at or before this have been emitted.
    public private(set) var emittedThrough: Int64 = .min
    private var seq: Int64 = 0
    /// Without a window, with a state TTL: partitions by when their event time last touched them.
    private var idle: IdleKeys<[Value]>?

    public init(function: Function, limit: Int64, descending: [Bool], rankOutput: Bool, windowed: Bool, stateTTL: Int64? = nil) {
        self.function = function
        self.limit = limit
        self.descending = descending
        self.rankOutput = rankOutput
        self.windowed = windowed
        idle = windowed ? nil : stateTTL.map { IdleKeys(ttl: $0) }
    }

    public var partitionCount: Int { partitions.count }

    /// The state TTL, when partitions are forgotten.
    public var stateTTL: Int64? { idle?.ttl }

    /// The rows held (for memory figures and tests).
    public var heldRows: Int { partitions.values.reduce(0) { $0 + $1.count } }

    /// Whether `a` sorts strictly before `b` by the order keys.
    @inline(__always)
    private func before(_ a: [Value], _ b: [Value]) -> Bool {
        for i in 0..<a.count {
            let c = GroupKeyOrder.compare(a[i], b[i])
            if c != 0 { return descending[i] ? c > 0 : c < 0 }
        }
        return false
    }

    /// The ranks of a partition's entries, in order.
    private func ranks(_ list: [Entry]) -> [Int64] {
        var out: [Int64] = []
        out.reserveCapacity(list.count)
        var distinct: Int64 = 0
        for i in list.indices {
            let tied = i > 0 && !before(list[i - 1].sort, list[i].sort)
            switch function {
            case .rowNumber: out.append(Int64(i + 1))
            case .rank: out.append(tied ? out[i - 1] : Int64(i + 1))
            case .denseRank:
                if !tied { distinct += 1 }
                out.append(distinct)
            }
        }
        return out
    }

    private func output(_ e: Entry, rank: Int64, _ kind: ChangeKind) -> [Value] {
        var r: [Value] = []
        r.reserveCapacity(e.row.count + 2)
        r += e.row
        if rankOutput { r.append(.int(rank)) }
        if !windowed { r.append(kind.value) }
        return r
    }

    /// A row of partition `key` with order values `sort`. Returns the changes (none when windowed),
    /// or nil when the row is late: its window has been emitted.
    public func add(key: [Value], sort: [Value], row: [Value], time: Int64? = nil) -> [[Value]]? {
        if windowed, case .timestamp(let end)? = key.last, end <= emittedThrough { return nil }
        if let t = time { idle?.touch(key, at: t) }
        let at: Int
        do {
            // Read in place: a row that does not enter changes nothing and copies nothing.
            let list = partitions[key] ?? []
            // After every entry that is not strictly behind it: ties keep arrival order.
            var lo = 0, hi = list.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if before(sort, list[mid].sort) { hi = mid } else { lo = mid + 1 }
            }
            at = lo
            if function == .rowNumber, Int64(at) >= limit { return [] }
            if function != .rowNumber {
                // The row's rank: one more than the rows (RANK) or values (DENSE_RANK) strictly
                // before it. Beyond the limit, it changes nothing: the rows after it are beyond it too.
                var first = at
                while first > 0 && !before(list[first - 1].sort, sort) { first -= 1 }
                var rank = Int64(first + 1)
                if function == .denseRank {
                    rank = first == 0 ? 1 : 2
                    for i in stride(from: 1, to: first, by: 1) where before(list[i - 1].sort, list[i].sort) { rank += 1 }
                }
                if rank > limit { return [] }
            }
        }
        seq += 1
        let entry = Entry(sort: sort, seq: seq, row: row)
        // Taken out while it changes, so the array is not copied.
        let isNew = partitions[key] == nil
        var list = partitions.removeValue(forKey: key) ?? []
        defer { partitions[key] = list }
        if windowed {
            list.insert(entry, at: at)
            trim(&list)
            if isNew, case .timestamp(let end)? = key.last { byEnd[end, default: []].append(key) }
            return []
        }
        // ROW_NUMBER's ranks are positions; RANK's and DENSE_RANK's are counted.
        let counted = function != .rowNumber
        let oldRanks = counted ? ranks(list) : []
        list.insert(entry, at: at)
        let newRanks = counted ? ranks(list) : []
        func oldRank(_ i: Int) -> Int64 { counted ? oldRanks[i] : Int64(i + 1) }
        func newRank(_ i: Int) -> Int64 { counted ? newRanks[i] : Int64(i + 1) }
        var n = list.count
        while n > 0 && newRank(n - 1) > limit { n -= 1 }
        var out: [[Value]] = []
        // Rows pushed out (each was one place higher before the new row), then rows whose rank
        // moved (from the last up), then the new row.
        for i in stride(from: list.count - 1, through: n, by: -1) { out.append(output(list[i], rank: oldRank(i - 1), .delete)) }
        list.removeLast(list.count - n)
        if rankOutput {
            for i in stride(from: n - 1, to: at, by: -1) where oldRank(i - 1) != newRank(i) {
                out.append(output(list[i], rank: oldRank(i - 1), .updateBefore))
                out.append(output(list[i], rank: newRank(i), .updateAfter))
            }
        }
        out.append(output(entry, rank: newRank(at), .insert))
        return out
    }

    /// Drops the entries ranked beyond the limit.
    private func trim(_ list: inout [Entry]) {
        let r = ranks(list)
        var n = r.count
        while n > 0 && r[n - 1] > limit { n -= 1 }
        if n < list.count { list.removeLast(list.count - n) }
    }

    /// Windowed: the watermark moved; the windows that ended go out, ranked (partitions in key order).
    public func advance(to watermark: Int64) -> [[Value]] {
        guard windowed else {
            // Partitions idle for the TTL are forgotten: their rows stand as emitted.
            if idle != nil { for k in idle!.expire(at: watermark) { partitions[k] = nil } }
            return []
        }
        // A window [start, end) is complete once the watermark reaches its end, as a window
        // aggregate's is: rows at its last instant (end - 1) may come until then.
        let through = watermark
        guard through > emittedThrough else { return [] }
        var out: [[Value]] = []
        for end in byEnd.keys.sorted() where end <= through {
            for key in byEnd[end]!.sorted(by: GroupKeyOrder.less) {
                guard let list = partitions.removeValue(forKey: key) else { continue }
                let r = ranks(list)
                for (i, e) in list.enumerated() { out.append(output(e, rank: r[i], .insert)) }
            }
            byEnd[end] = nil
        }
        emittedThrough = through
        return out
    }
}

// MARK: - Checkpoints

extension TopNOperator {
    public func snapshot() -> JSONValue {
        // Written partition by partition, so the state's tree is never built whole (from the
        // partitions as they are now: a copy that shares their storage).
        let held = partitions
        let parts = JSONValue.rawArray(held.keys.sorted(by: GroupKeyOrder.less)) { key -> JSONValue in
            let entries: [JSONValue] = held[key]!.map { e in
                .array([.int(e.seq), .array(e.sort.map(\.snapshot)), .array(e.row.map(\.snapshot))])
            }
            return ["key": .array(key.map(\.snapshot)), "entries": .array(entries)]
        }
        var doc: JSONObject = ["seq": .int(seq), "emitted_through": .int(emittedThrough), "partitions": parts]
        if let idle {
            let touched = idle.entries.sorted { $0.second != $1.second ? $0.second < $1.second : GroupKeyOrder.less($0.key, $1.key) }
            doc["touched"] = .array(touched.map { .array([.int($0.second), .array($0.key.map(\.snapshot))]) })
        }
        return .object(doc)
    }

    public func restore(_ j: JSONValue) throws(SnapshotError) {
        guard let s = j["seq"]?.int64Value, let through = j["emitted_through"]?.int64Value, let parts = j["partitions"]?.arrayValue else {
            throw SnapshotError("the Top-N state is malformed")
        }
        func values(_ j: JSONValue?) throws(SnapshotError) -> [Value] {
            guard let a = j?.arrayValue else { throw SnapshotError("the Top-N state is malformed") }
            var out: [Value] = []
            for v in a { out.append(try Value(snapshot: v)) }
            return out
        }
        partitions = [:]; byEnd = [:]
        seq = s
        emittedThrough = through
        for p in parts {
            let key = try values(p["key"])
            var list: [Entry] = []
            for e in p["entries"]?.arrayValue ?? [] {
                guard let a = e.arrayValue, a.count == 3, let sq = a[0].int64Value else { throw SnapshotError("the Top-N state is malformed") }
                list.append(Entry(sort: try values(a[1]), seq: sq, row: try values(a[2])))
            }
            partitions[key] = list
            if windowed, case .timestamp(let end)? = key.last { byEnd[end, default: []].append(key) }
        }
        if idle != nil {
            var touched: [(key: [Value], second: Int64)] = []
            for e in j["touched"]?.arrayValue ?? [] {
                guard let a = e.arrayValue, a.count == 2, let s = a[0].int64Value else { throw SnapshotError("the Top-N state is malformed") }
                touched.append((try values(a[1]), s))
            }
            idle!.restore(touched)
        }
    }
}
