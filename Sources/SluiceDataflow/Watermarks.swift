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

    /// The newest event time seen on any shard (nil: none yet).
    public var newestEventTime: Int64? {
        let t = shards.values.map(\.maxEventTime).max() ?? .min
        return t == .min ? nil : t
    }
}
