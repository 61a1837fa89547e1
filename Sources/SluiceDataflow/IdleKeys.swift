/// Keys of operator state by the second (or `unit`) of event time they were last touched, so the
/// keys idle for longer than a time to live are found without a scan (a state TTL, as Flink's): a
/// key touched at time t is forgotten once the watermark passes the end of t's slot plus the TTL.
///
/// Each key stands once in a queue sorted by slot; touching it again only notes the new slot,
/// and when its old entry comes up it goes back in at that slot. So the queue holds a key once,
/// however often it is touched.
public struct IdleKeys<Key: Hashable> {
    public let ttl: Int64
    private var last: [Key: Int64] = [:]
    private var queue: [(second: Int64, key: Key)] = []
    private var head = 0

    /// The width of the queue's time slots: a second by default (a TTL need not be exact to the
    /// millisecond); 1 for exact times.
    public let unit: Int64

    public init(ttl: Int64, unit: Int64 = 1000) {
        precondition(unit > 0)
        self.ttl = ttl
        self.unit = unit
    }

    public var count: Int { last.count }

    public mutating func touch(_ k: Key, at time: Int64) {
        let s = floorDiv(time, unit)
        if let prev = last[k] {
            if s > prev { last[k] = s }
            return
        }
        last[k] = s
        enqueue(s, k)
    }

    /// Into the queue at its second (at the back, unless a row came out of order).
    private mutating func enqueue(_ s: Int64, _ k: Key) {
        guard let back = queue.last, back.second > s else { queue.append((s, k)); return }
        var lo = head, hi = queue.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if queue[mid].second <= s { lo = mid + 1 } else { hi = mid }
        }
        queue.insert((s, k), at: lo)
    }

    public mutating func forget(_ k: Key) { last[k] = nil }

    /// The keys idle for longer than the TTL at watermark `watermark`; they are forgotten here.
    public mutating func expire(at watermark: Int64) -> [Key] {
        guard watermark > Int64.min + ttl + unit else { return [] }
        let limit = floorDiv(watermark - ttl, unit)  // slots before this one have ended by watermark - ttl
        var out: [Key] = []
        while head < queue.count, queue[head].second < limit {
            let (s, k) = queue[head]
            head += 1
            guard let newest = last[k] else { continue }  // forgotten meanwhile
            if newest <= s {
                last[k] = nil
                out.append(k)
            } else {
                enqueue(newest, k)  // touched since: back in at its newest second
            }
        }
        if head > 4096 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
        return out
    }

    /// The keys and their seconds, for checkpoints.
    public var entries: [(key: Key, second: Int64)] { last.map { ($0.key, $0.value) } }

    public mutating func restore(_ entries: [(key: Key, second: Int64)]) {
        last = [:]; queue = []; head = 0
        for (k, s) in entries.sorted(by: { $0.second < $1.second }) {
            last[k] = s
            queue.append((s, k))
        }
    }
}
