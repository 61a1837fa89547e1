import Foundation
import SluiceAWS
import SluiceStreams

/// One shard's enhanced fan-out for a reader: a thread of its own subscribes, takes the events
/// the endpoint pushes and keeps up to `capacity` of them for the reader (then stops reading, so
/// the connection holds the rest back), subscribes again where the last event left off when a
/// subscription ends (every five minutes at AWS), and stops at the shard's end, when cancelled,
/// or on an error that does not pass. A subscription held by another reader a moment ago
/// (ResourceInUseException: a lease that just changed hands), throttling and transient failures
/// are retried with backoff and counted; at most one SubscribeToShard a second is made, the
/// rate Kinesis allows per consumer and shard.
final class ShardSubscription: @unchecked Sendable {
    enum Taken {
        case event(KinesisClient.FanOutEvent)
        case failed(StreamError)
        case nothing
    }

    let shard: String
    private let client: KinesisClient
    private let consumerARN: String
    private let closed: Bool
    private let doorbell: Doorbell
    private let capacity: Int
    private let lock = NSCondition()
    private var events: [KinesisClient.FanOutEvent] = []
    private var failure: StreamError? = nil
    private var cancelled = false
    private var call: CallCancellation? = nil
    /// Whether an event came since the start, and how far behind the last one said the shard is.
    private var heard = false
    private var behind: Int64 = 0
    /// Attempts of ResourceInUseException in a row before it stands (a subscription more than
    /// a few seconds old is taken over by a new one, so this only lasts while another reader
    /// keeps subscribing too).
    let maxAttempts = 20

    init(client: KinesisClient, consumerARN: String, shard: String, closed: Bool, from start: KinesisClient.IteratorStart,
         doorbell: Doorbell, capacity: Int = 4) {
        self.client = client
        self.consumerARN = consumerARN
        self.shard = shard
        self.closed = closed
        self.doorbell = doorbell
        self.capacity = capacity
        let thread = Thread { [self] in run(from: start) }
        thread.name = "sluice-efo-\(shard)"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// The next event kept, else the failure that ended the subscription, else nothing.
    func take() -> Taken {
        lock.lock()
        defer { lock.unlock() }
        if !events.isEmpty {
            let e = events.removeFirst()
            lock.broadcast()
            return .event(e)
        }
        if let f = failure { return .failed(f) }
        return .nothing
    }

    /// Whether records may be waiting: no event heard yet, events kept, or the last one behind.
    var mayHaveMore: Bool {
        lock.lock()
        defer { lock.unlock() }
        return !heard || !events.isEmpty || behind > 0
    }

    func cancel() {
        lock.lock()
        cancelled = true
        let c = call
        lock.broadcast()
        lock.unlock()
        c?.cancel()
    }

    private func run(from start: KinesisClient.IteratorStart) {
        var from = start
        var attempt = 0
        var lastCall = Date.distantPast
        while true {
            // At most one SubscribeToShard a second; a cancel cuts the wait short.
            lock.lock()
            let wait = lastCall.addingTimeInterval(1)
            while !cancelled && Date() < wait { _ = lock.wait(until: wait) }
            if cancelled {
                lock.unlock()
                return
            }
            let c = CallCancellation()
            call = c
            lock.unlock()
            lastCall = Date()
            var ended = false
            do throws(StreamError) {
                try client.subscribe(consumerARN: consumerARN, shard: shard, closed: closed, from: from, cancel: c) { e in
                    lock.lock()
                    defer { lock.unlock() }
                    while events.count >= capacity && !cancelled { lock.wait() }
                    if cancelled { return false }
                    events.append(e)
                    heard = true
                    behind = e.result.millisBehindLatest
                    if let s = e.continuation { from = .afterSequenceNumber(s) }
                    ended = e.ended
                    doorbell.ring()
                    return !e.ended
                }
                attempt = 0
                if ended { return }
            } catch {
                let transient = error.code == .resourceInUse || error.code == .limitExceeded || error.code == .provisionedThroughputExceeded
                    || error.code == .internalFailure
                attempt += 1
                if transient && attempt < (error.code == .resourceInUse ? maxAttempts : client.maxAttempts) {
                    client.retries.add(1, ordering: .relaxed)
                    if error.code == .limitExceeded || error.code == .provisionedThroughputExceeded { client.throttled.add(1, ordering: .relaxed) }
                    client.backoff(min(attempt, 5))
                    continue
                }
                lock.lock()
                if !cancelled { failure = error }
                lock.unlock()
                doorbell.ring()
                return
            }
        }
    }
}

/// Rung by a reader's subscriptions when an event arrives, so that a reader with nothing to take
/// waits for the first of them instead of spinning.
final class Doorbell: @unchecked Sendable {
    private let lock = NSCondition()
    private var rings = 0

    func ring() {
        lock.lock()
        rings += 1
        lock.broadcast()
        lock.unlock()
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return rings
    }

    /// Waits until a ring after `seen`, or `timeout` seconds.
    func wait(since seen: Int, timeout: TimeInterval) {
        let until = Date().addingTimeInterval(timeout)
        lock.lock()
        while rings == seen && Date() < until { _ = lock.wait(until: until) }
        lock.unlock()
    }
}
