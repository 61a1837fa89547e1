import Foundation
public import SluiceStreams

/// A query's reader of a remote Kinesis stream through GetRecords polling, with the built-in
/// store's consumer contract (`ShardRecordSource`), so that everything a query does over the
/// store (watermarks, idle shards, checkpoints, the error stream) works the same:
/// - every shard is read from its position (after it), else from where the stream declares it
///   starts (TRIM_HORIZON, LATEST as the time the reader began, or AT_TIMESTAMP);
/// - a child shard after a reshard is read once its parents are read to their end;
/// - each shard is read at most `readsPerSecond` times a second (Kinesis allows five), a poll
///   waiting for the earliest shard it may read; a shard the endpoint throttles is left for a
///   backoff while the others go on, and the throttling is counted;
/// - an expired iterator is renewed from the last sequence number read.
///
/// With a registered consumer (`consumerARN`, enhanced fan-out) each shard is read by a
/// subscription instead (`ShardSubscription`): the endpoint pushes records as they arrive, and
/// a poll takes what has come, waiting a moment for the first event when nothing has.
///
/// One reader is used from one thread at a time.
public final class RemoteStreamConsumer: ShardRecordSource, @unchecked Sendable {
    public enum Start: Sendable, Equatable {
        case trimHorizon
        /// Records that arrive from the reader's start on (AT_TIMESTAMP of that instant, so a
        /// shard's start is the same however often its iterator is taken again).
        case latest
        case atTimestamp(Int64)
    }

    public let client: KinesisClient
    public let start: Start
    /// The instant `.latest` means (milliseconds since the epoch).
    let startedAt: Int64
    let minReadIntervalNanos: UInt64

    public private(set) var positions: [String: StreamConsumer.Position] = [:]
    private var iterators: [String: String] = [:]
    private var shards: [KinesisClient.Shard] = []
    /// When the shard list was read (monotonic nanoseconds); nil: read it before the next poll.
    private var listedAt: UInt64? = nil
    /// The earliest time each shard may be read again, and its throttles in a row.
    private var nextReadAt: [String: UInt64] = [:]
    private var throttles: [String: Int] = [:]
    public private(set) var hasMore = false
    /// Each shard's next read, made ahead from the iterator the shard is at. On for a reader of one
    /// shard (a lane: nothing else overlaps its reads with its processing); off for a reader of
    /// all shards, whose reads overlap each other, and which sets shards back often (records of
    /// one shard waiting for another's), throwing reads made ahead away.
    public var prefetch: Bool
    private var prefetched: [String: Prefetch] = [:]
    /// How often the shard list is read again when nothing ends (new shards of a reshard whose
    /// parents have not ended are found when they do).
    let relistNanos: UInt64 = 10_000_000_000

    /// Only this shard (a worker's lease), with no wait for its parents: the lease table orders
    /// shards for workers that share a stream.
    public let onlyShard: String?

    /// The enhanced fan-out consumer reading through subscriptions (nil: GetRecords polling),
    /// and each ready shard's subscription.
    public let consumerARN: String?
    private var subscriptions: [String: ShardSubscription] = [:]
    private let doorbell = Doorbell()
    /// Each shard's event being taken: a poll takes at most `limitPerShard` of its records from
    /// `next` on, and a query that sets the shard back into it (records held back for another
    /// shard's) gets them again from here, its subscription going on. `before`: the position
    /// before its first record.
    private var current: [String: (event: KinesisClient.FanOutEvent, next: Int, before: StreamConsumer.Position?)] = [:]

    /// `nowMillis`: the time `.latest` starts at.
    public init(client: KinesisClient, start: Start, nowMillis: Int64, readsPerSecond: Int = 5, onlyShard: String? = nil, consumerARN: String? = nil) {
        self.client = client
        self.onlyShard = onlyShard
        self.consumerARN = consumerARN
        prefetch = onlyShard != nil
        self.start = start
        startedAt = nowMillis
        minReadIntervalNanos = UInt64(1_000_000_000 / max(1, readsPerSecond))
    }

    deinit { close() }

    /// Ends the subscriptions (a reader by polling holds nothing open).
    public func close() {
        for s in subscriptions.values { s.cancel() }
        subscriptions = [:]
        current = [:]
    }

    static func monotonic() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    public func shardIds() throws(StreamError) -> [String] {
        try relist()
        return shards.map(\.id)
    }

    private func relist() throws(StreamError) {
        shards = try client.listShards()
        if let only = onlyShard {
            shards = shards.filter { $0.id == only }.map { KinesisClient.Shard(id: $0.id, parent: nil, adjacentParent: nil, closed: $0.closed) }
        }
        listedAt = RemoteStreamConsumer.monotonic()
    }

    /// The shards ready at the last poll (read, or left for a later poll by throttling).
    public private(set) var shardsPolled = 0

    public func poll(limitPerShard: Int) throws(StreamError) -> [StreamConsumer.ShardRecords] {
        if listedAt.map({ RemoteStreamConsumer.monotonic() - $0 > relistNanos }) ?? true { try relist() }
        let known = Set(shards.map(\.id))
        // Ready: not read to its end, its parents read to theirs (a parent no longer listed has
        // expired: nothing of it is left to read).
        let ready = shards.filter { s in
            positions[s.id] != .shardEnd && !s.parents.contains { known.contains($0) && positions[$0] != .shardEnd }
        }
        shardsPolled = ready.count
        if let consumer = consumerARN { return try take(ready, consumer: consumer, limit: max(1, limitPerShard)) }
        // Wait for the shards not backing off from throttling to be readable; the others wait their turn.
        var now = RemoteStreamConsumer.monotonic()
        func backingOff(_ s: KinesisClient.Shard) -> Bool { (throttles[s.id] ?? 0) > 0 && (nextReadAt[s.id] ?? 0) > now }
        if !ready.isEmpty && ready.allSatisfy(backingOff), let first = ready.map({ nextReadAt[$0.id] ?? 0 }).min() {
            // Every shard backs off: wait for the first to be readable (a poll is never a spin).
            usleep(UInt32(min(1_000_000, (first - now) / 1000)))
            now = RemoteStreamConsumer.monotonic()
        }
        let due = ready.filter { !backingOff($0) }
        // A shard whose next read was made ahead (from the iterator it is at) takes that read;
        // the others are read now, once the read rate allows.
        let ahead = due.map { s in prefetched[s.id].flatMap { $0.iterator == iterators[s.id] ? $0 : nil } }
        let now2 = due.indices.filter { ahead[$0] == nil }
        if let latest = now2.map({ nextReadAt[due[$0].id] ?? 0 }).max(), latest > now {
            usleep(UInt32(min(1_000_000, (latest - now) / 1000)))
            now = RemoteStreamConsumer.monotonic()
        }
        hasMore = due.count < ready.count
        var out: [StreamConsumer.ShardRecords] = []
        var ended = false
        // The shards are read at once, each on a thread (the endpoint answers one while this
        // process decodes another); their results are taken in shard order.
        let reads = due.map { (iterator: iterators[$0.id], from: startOf($0)) }
        let started = RemoteStreamConsumer.monotonic()
        for i in now2 { nextReadAt[due[i].id] = started + minReadIntervalNanos }
        let results = Results(count: due.count)
        let client = self.client
        let work = now2.map { i in (i, due[i].id, reads[i].iterator, reads[i].from) }
        for (j, r) in BlockingWork.map(work, { w in RemoteStreamConsumer.read(client, w.1, w.2, w.3, limit: limitPerShard) }).enumerated() {
            results.set(work[j].0, r)
        }
        for (i, p) in ahead.enumerated() {
            guard let p else { continue }
            results.set(i, p.wait())
        }
        prefetched = [:]
        for (k, shard) in due.enumerated() {
            let id = shard.id
            let result: GetRecordsResult
            do throws(StreamError) {
                result = try results.get(k).get()
            } catch where error.code == .provisionedThroughputExceeded || error.code == .limitExceeded {
                // Left for a backoff that doubles while it lasts (capped at 5 s); counted by the client.
                let n = (throttles[id] ?? 0) + 1
                throttles[id] = n
                nextReadAt[id] = RemoteStreamConsumer.monotonic() + UInt64(min(5000, 100 << min(n, 6))) * 1_000_000
                hasMore = true
                continue
            }
            throttles[id] = 0
            let n = result.records.count
            if n > 0 { positions[id] = .sequenceNumber(result.sequenceNumberText(n - 1)) }
            // The end of a closed shard: no next iterator (Kinesis), or nothing more of a shard
            // the list says is closed (an endpoint that keeps giving iterators of closed shards).
            if result.nextShardIterator == nil || (shard.closed && n == 0 && result.millisBehindLatest == 0) {
                positions[id] = .shardEnd
                iterators[id] = nil
                ended = true
                var r = result
                r.nextShardIterator = nil
                out.append(StreamConsumer.ShardRecords(shardId: id, result: r))
                continue
            }
            iterators[id] = result.nextShardIterator
            if !result.reachedEnd { hasMore = true }
            if n > 0 { out.append(StreamConsumer.ShardRecords(shardId: id, result: result)) }
            if prefetch, let next = result.nextShardIterator {
                // The next read goes ahead now, at the rate allowed, while this one is processed.
                let at = max(RemoteStreamConsumer.monotonic(), nextReadAt[id] ?? 0)
                nextReadAt[id] = at + minReadIntervalNanos
                let from = startOf(shard)
                prefetched[id] = Prefetch(iterator: next) { () -> Result<GetRecordsResult, StreamError> in
                    let wait = at > RemoteStreamConsumer.monotonic() ? at - RemoteStreamConsumer.monotonic() : 0
                    if wait > 0 { usleep(UInt32(min(1_000_000, wait / 1000))) }
                    return RemoteStreamConsumer.read(client, id, next, from, limit: limitPerShard)
                }
            }
        }
        // A shard ended: its children are in the next list.
        if ended { listedAt = nil }
        return out
    }

    /// A poll by enhanced fan-out: up to `limit` records of every ready shard that has some (each
    /// shard's subscription started when it becomes ready), waiting up to a tenth of a second for
    /// the first event when none has.
    private func take(_ ready: [KinesisClient.Shard], consumer: String, limit: Int) throws(StreamError) -> [StreamConsumer.ShardRecords] {
        for s in ready where subscriptions[s.id] == nil {
            subscriptions[s.id] = ShardSubscription(client: client, consumerARN: consumer, shard: s.id, closed: s.closed, from: startOf(s), doorbell: doorbell)
        }
        var out: [StreamConsumer.ShardRecords] = []
        var ended = false, waited = false
        while true {
            let seen = doorbell.count
            hasMore = false
            for s in ready {
                guard let sub = subscriptions[s.id] else { continue }
                if current[s.id].map({ $0.next >= $0.event.result.records.count && !$0.event.ended }) ?? true {
                    switch sub.take() {
                    case .nothing: break
                    case .failed(let error):
                        subscriptions[s.id] = nil
                        throw error
                    case .event(let e):
                        current[s.id] = (e, 0, positions[s.id])
                    }
                }
                guard let (e, next, _) = current[s.id], next < e.result.records.count || (e.ended && next == e.result.records.count) else {
                    if sub.mayHaveMore { hasMore = true }
                    continue
                }
                // The records of the event from `next` on, `limit` at most.
                let upto = min(e.result.records.count, next + limit)
                var result = e.result
                result.records = e.result.records.records(next..<upto)
                result.remoteSequenceNumbers = e.result.remoteSequenceNumbers.map { Array($0[next..<upto]) }
                current[s.id]!.next = upto
                let n = upto - next
                if n > 0 { positions[s.id] = .sequenceNumber(result.sequenceNumberText(n - 1)) }
                if e.ended && upto == e.result.records.count {
                    positions[s.id] = .shardEnd
                    subscriptions[s.id] = nil
                    ended = true
                    result.nextShardIterator = nil
                    out.append(StreamConsumer.ShardRecords(shardId: s.id, result: result))
                    continue
                }
                if upto < e.result.records.count || sub.mayHaveMore { hasMore = true }
                if upto < e.result.records.count { result.reachedEnd = false }
                if n > 0 { out.append(StreamConsumer.ShardRecords(shardId: s.id, result: result)) }
            }
            if !out.isEmpty || ended || waited || !hasMore { break }
            doorbell.wait(since: seen, timeout: 0.1)
            waited = true
        }
        // A shard ended: its children are in the next list.
        if ended { listedAt = nil }
        return out
    }

    /// Where a shard without an iterator is read from: after its position, else where a child
    /// of shards read to their end starts (its beginning), else where the stream's reading starts.
    private func startOf(_ shard: KinesisClient.Shard) -> KinesisClient.IteratorStart {
        if case .sequenceNumber(let s)? = positions[shard.id] { return .afterSequenceNumber(s) }
        if shard.parents.contains(where: { positions[$0] == .shardEnd }) { return .trimHorizon }
        switch start {
        case .trimHorizon: return .trimHorizon
        case .latest: return .atTimestamp(startedAt)
        case .atTimestamp(let t): return .atTimestamp(t)
        }
    }

    /// One shard's read: with its iterator, or (none, or expired) one taken from `from`.
    private static func read(_ client: KinesisClient, _ shard: String, _ iterator: String?, _ from: KinesisClient.IteratorStart, limit: Int) -> Result<GetRecordsResult, StreamError> {
        do throws(StreamError) {
            if let it = iterator {
                do throws(StreamError) {
                    return .success(try client.getRecords(iterator: it, limit: limit))
                } catch where error.code == .expiredIterator {
                    // Renewed from the position below.
                }
            }
            return .success(try client.getRecords(iterator: try client.shardIterator(shard: shard, from), limit: limit))
        } catch {
            return .failure(error)
        }
    }

    public func rewind(shard: String, to position: StreamConsumer.Position?) {
        // Back into the fan-out event being taken: its records from there come again.
        if subscriptions[shard] != nil, let c = current[shard] {
            var from: Int? = nil
            if position == c.before {
                from = 0
            } else if case .sequenceNumber(let s)? = position, let i = c.event.result.remoteSequenceNumbers?.firstIndex(of: s), i < c.next {
                from = i + 1
            }
            if let f = from {
                current[shard]!.next = f
                positions[shard] = position
                return
            }
        }
        positions[shard] = position
        iterators[shard] = nil
        prefetched[shard] = nil
        current[shard] = nil
        subscriptions.removeValue(forKey: shard)?.cancel()
    }

    public func seek(to positions: [String: StreamConsumer.Position]) {
        self.positions = positions
        iterators = [:]
        prefetched = [:]
        close()
    }
}

/// The results of a poll's concurrent reads, one slot per shard, each written by one thread.
private final class Results: @unchecked Sendable {
    private var slots: [Result<GetRecordsResult, StreamError>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<GetRecordsResult, StreamError>) { lock.withLock { slots[i] = r } }
    func get(_ i: Int) -> Result<GetRecordsResult, StreamError> { lock.withLock { slots[i]! } }
}

/// A shard's next read, made on a thread of the pool from `iterator` while the last one is processed.
private final class Prefetch: @unchecked Sendable {
    let iterator: String
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<GetRecordsResult, StreamError>? = nil

    init(iterator: String, _ read: @escaping @Sendable () -> Result<GetRecordsResult, StreamError>) {
        self.iterator = iterator
        DispatchQueue.global().async {
            self.result = read()
            self.done.signal()
        }
    }

    func wait() -> Result<GetRecordsResult, StreamError> {
        done.wait()
        done.signal()  // a second wait (none is made) would not block
        return result!
    }
}
