import SluiceCore

/// Event time progress of one stream (DIALECT.md §4, normative):
/// - a shard's watermark is the largest event time seen in it minus the declared delay;
/// - the stream's watermark is the minimum over its shards, ignoring a shard that has been silent
///   for `idleTimeout` of processing time (measured on the injected clock);
/// - it never moves backwards; the end of finite input sets it to +infinity.
///
/// One tracker per source, used by that source's driver (not thread-safe).
public struct WatermarkTracker: Sendable {
    public static let infinity = Int64.max

    struct Shard: Sendable {
        var maxEventTime: Int64 = .min
        var lastActivity: Int64
        var finished = false
    }

    public let delayMillis: Int64
    public let idleTimeoutMillis: Int64?
    var shards: [String: Shard] = [:]
    var current: Int64 = .min
    var ended = false

    public init(delayMillis: Int64, idleTimeoutMillis: Int64?) {
        self.delayMillis = delayMillis
        self.idleTimeoutMillis = idleTimeoutMillis
    }

    /// Registers a shard (it holds the watermark back until it produces or goes idle).
    public mutating func addShard(_ id: String, now: Int64) {
        if shards[id] == nil { shards[id] = Shard(lastActivity: now) }
    }

    /// A shard that will produce nothing more (a closed shard read to its end): it no longer holds
    /// the watermark back.
    public mutating func finishShard(_ id: String) { shards[id]?.finished = true }

    /// Notes records of a shard: the largest event time among them, at processing time `now`.
    public mutating func observe(shard id: String, maxEventTime t: Int64, now: Int64) {
        var s = shards[id] ?? Shard(lastActivity: now)
        s.maxEventTime = max(s.maxEventTime, t)
        s.lastActivity = now
        shards[id] = s
    }

    /// Notes that a shard was polled and had nothing new (it is still alive).
    public mutating func touch(shard id: String, now: Int64) {
        if shards[id] == nil { shards[id] = Shard(lastActivity: now) }
    }

    /// Notes that a shard has records waiting (read, and held back for the order of the step):
    /// it is active, not idle, though nothing of it was observed yet.
    public mutating func active(shard id: String, now: Int64) {
        var s = shards[id] ?? Shard(lastActivity: now)
        s.lastActivity = now
        shards[id] = s
    }

    /// End of finite input: every window may close.
    public mutating func endOfInput() { ended = true }

    /// The watermark at processing time `now`; `.min` while nothing is known.
    public mutating func watermark(now: Int64) -> Int64 {
        if ended {
            current = WatermarkTracker.infinity
            return current
        }
        var w = Int64.max
        var any = false
        for (_, s) in shards where !s.finished {
            if let idle = idleTimeoutMillis, now - s.lastActivity >= idle { continue }
            any = true
            w = min(w, s.maxEventTime == .min ? .min : s.maxEventTime &- delayMillis)
        }
        if !any {
            // Every shard idle or finished: follow the most advanced shard (Flink's idleness rule).
            let best = shards.values.map(\.maxEventTime).max() ?? .min
            w = best == .min ? .min : best &- delayMillis
        }
        if w > current { current = w }
        return current
    }

    /// The latest watermark returned, without recomputing.
    public var value: Int64 { current }

    /// Per-record event time (DIALECT.md §4): the records of one step, in the order they meet
    /// (record k: shard `shardOf[k]`, an index into `ids`, and event time `times[k]`, `.min` for
    /// none), each see the watermark the records before it left. Returns the watermark before each
    /// record and notes the records, as `observe` does, at processing time `now`. The shards of
    /// `ids` produced in this step, so they are active; other shards count as `watermark(now:)`
    /// counts them.
    public mutating func watermarksBefore(_ ids: [String], _ shardOf: [Int32], _ times: [Int64], now: Int64) -> [Int64] {
        if ended { return Array(repeating: WatermarkTracker.infinity, count: times.count) }
        var maxes = ids.map { shards[$0]?.maxEventTime ?? .min }
        let own = Set(ids)
        // The other shards' part of the minimum: fixed for the step.
        var othersMin = Int64.max
        for (id, s) in shards where !own.contains(id) && !s.finished {
            if let idle = idleTimeoutMillis, now - s.lastActivity >= idle { continue }
            othersMin = min(othersMin, s.maxEventTime == .min ? .min : s.maxEventTime &- delayMillis)
        }
        let delay = delayMillis
        func mark(_ m: Int64) -> Int64 { m == .min ? .min : m &- delay }
        var out = [Int64](repeating: 0, count: times.count)
        var cur = current
        // The minimum over this step's shards, kept as it changes: only a raise of the shard that
        // holds it can raise it.
        var low = maxes.map(mark).min() ?? .max
        if ids.count == 1 {
            // One shard: its running maximum, against the other shards' part.
            var m = maxes[0]
            times.withUnsafeBufferPointer { ts in
                out.withUnsafeMutableBufferPointer { o in
                    for k in 0..<ts.count {
                        o[k] = cur
                        let t = ts[k]
                        if t > m {
                            m = t
                            let w = min(othersMin, t &- delay)
                            if w > cur { cur = w }
                        }
                    }
                }
            }
            maxes[0] = m
        } else {
        times.withUnsafeBufferPointer { ts in
            shardOf.withUnsafeBufferPointer { sh in
                out.withUnsafeMutableBufferPointer { o in
                    for k in 0..<ts.count {
                        o[k] = cur
                        let t = ts[k]
                        guard t != .min else { continue }
                        let s = Int(sh[k])
                        let old = maxes[s]
                        guard t > old else { continue }
                        maxes[s] = t
                        if mark(old) == low { low = maxes.count == 1 ? mark(t) : maxes.map(mark).min()! }
                        let w = min(othersMin, low)
                        if w > cur { cur = w }
                    }
                }
            }
        }
        }
        for (i, id) in ids.enumerated() {
            var s = shards[id] ?? Shard(lastActivity: now)
            s.maxEventTime = max(s.maxEventTime, maxes[i])
            s.lastActivity = now
            shards[id] = s
        }
        current = cur
        return out
    }

    /// The newest event time seen on any shard (nil: none yet).
    public var newestEventTime: Int64? {
        let t = shards.values.map(\.maxEventTime).max() ?? .min
        return t == .min ? nil : t
    }
}
