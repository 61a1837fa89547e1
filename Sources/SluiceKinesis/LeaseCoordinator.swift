import Foundation
public import SluiceStreams

/// One worker's side of sharing a stream's shards through a lease table, as the Kinesis Client
/// Library shares them:
/// - every shard has a lease (new shards of a reshard get theirs, naming their parents);
/// - the worker renews the leases it holds each round; one whose counter someone else moved is lost;
/// - a lease whose counter has not moved for `failoverMillis` of this worker's time belongs to a
///   worker presumed dead, and may be taken, as may a free one;
/// - a shard is worked only once its parents are finished (checkpoint SHARD_END);
/// - leases are balanced: a worker holding fewer than its share (the workable leases over the live
///   workers, rounded up) takes free and expired ones, and else asks the busiest worker to hand
///   one over (`handoffTo`); that worker checkpoints the shard, lets its lease go, and the asker
///   takes it, so no two workers ever work one shard at once;
/// - on a clean stop every held lease is let go, for the others to take at once.
///
/// Time is the caller's (milliseconds, any monotonic origin). One coordinator per worker: rounds,
/// checkpoints and releases come from one thread; `renewHeld` may run on another (a
/// `LeaseRenewer`), each lease's writes one at a time.
public final class LeaseCoordinator: @unchecked Sendable {
    public let table: LeaseTable
    public let worker: String
    public let failoverMillis: Int64
    /// The checkpoint of a new lease of a shard without parents (where the stream's reading starts).
    public let initialCheckpoint: String
    /// Guards `mine`, `observed`, `lost` and `keyLocks`.
    private let lock = NSLock()
    private var mine: [String: Lease] = [:]
    /// Each lease's counter when this worker last saw it change, and when that was.
    private var observed: [String: (counter: Int64, at: Int64)] = [:]
    /// Leases a renewal found taken, for the next round to report.
    private var lost: [String] = []
    /// One lock per lease: its conditional writes (a renewal, a checkpoint) one at a time, for
    /// two at once would find each other's counter and take the lease for lost.
    private var keyLocks: [String: NSLock] = [:]
    /// The table as the last round read it.
    public private(set) var leases: [Lease] = []

    /// The leases this worker holds, as it last wrote or read them.
    public var held: [String: Lease] { lock.withLock { mine } }

    public init(table: LeaseTable, worker: String, failoverMillis: Int64 = 10_000, initialCheckpoint: String = "TRIM_HORIZON") {
        self.table = table
        self.worker = worker
        self.failoverMillis = failoverMillis
        self.initialCheckpoint = initialCheckpoint
    }

    /// What a round changed for this worker.
    public struct Changes: Sendable, Equatable {
        /// Leases taken: work these shards from their checkpoints.
        public var gained: [Lease] = []
        /// Leases another worker took (this one was presumed dead): stop working them at once,
        /// without a checkpoint.
        public var lost: [String] = []
        /// Leases another worker asked for: checkpoint the shard, stop working it, then `release`.
        public var handoffs: [String] = []
    }

    /// Leases for the shards that have none; a shard with parents starts at its beginning
    /// (TRIM_HORIZON) once they are done, one without at `initialCheckpoint`.
    public func sync(shards: [KinesisClient.Shard]) throws(StreamError) {
        let have = Set(try table.list().map(\.key))
        for s in shards where !have.contains(s.id) {
            try table.create(Lease(key: s.id, checkpoint: s.parents.isEmpty ? initialCheckpoint : "TRIM_HORIZON", parents: s.parents))
        }
    }

    /// One round at time `now`: renew (unless a `LeaseRenewer` does), notice what was lost or
    /// asked for, take a share.
    public func round(now: Int64, renew: Bool = true) throws(StreamError) -> Changes {
        var changes = Changes()
        if renew { try renewHeld(now: now) }
        leases = try table.list()
        let byKey = Dictionary(leases.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        // What a renewal found taken, and what the table shows another worker holding, is lost;
        // a held lease another worker asked for is to be handed over.
        let (held, seen): ([String: Lease], [String: (counter: Int64, at: Int64)]) = lock.withLock {
            for l in leases where observed[l.key]?.counter != l.counter { observed[l.key] = (l.counter, now) }
            changes.lost = lost
            lost = []
            for key in mine.keys.sorted() {
                guard let l = byKey[key], l.owner == worker else {
                    mine[key] = nil
                    changes.lost.append(key)
                    continue
                }
                if l.handoffTo != nil { changes.handoffs.append(key) }
            }
            return (mine, observed)
        }

        // The workable leases: not finished, parents finished (or gone from the table).
        func finished(_ k: String) -> Bool { byKey[k].map(\.isFinished) ?? true }
        let workable = leases.filter { !$0.isFinished && $0.parents.allSatisfy(finished) }
        func expired(_ l: Lease) -> Bool {
            l.owner == nil || (l.owner != worker && now - (seen[l.key]?.at ?? now) > failoverMillis)
        }
        var owners: [String: Int] = [:]
        for l in workable where !expired(l) { owners[l.owner!, default: 0] += 1 }
        owners[worker] = held.keys.filter { k in workable.contains { $0.key == k } }.count
        let target = (workable.count + owners.count - 1) / max(1, owners.count)
        var share = owners[worker] ?? 0
        for l in workable where share < target && held[l.key] == nil && expired(l) {
            guard let taken = try table.take(l, by: worker) else { continue }
            lock.withLock {
                mine[l.key] = taken
                observed[l.key] = (taken.counter, now)
            }
            changes.gained.append(taken)
            share += 1
        }
        // Still short: ask the workers above their share for leases, the busiest first, each for
        // no more than its excess (asked ones count: a lease being handed over is not asked twice).
        var load = owners.filter { $0.key != worker }
        for l in workable where l.handoffTo == worker && l.owner != nil { load[l.owner!, default: 0] -= 1; share += 1 }
        var asked: Set<String> = []
        while share < target, let (busiest, count) = load.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }), count > target {
            guard let l = workable.last(where: { $0.owner == busiest && $0.handoffTo == nil && !asked.contains($0.key) && !expired($0) }) else { break }
            asked.insert(l.key)
            // (A refused request: the lease changed meanwhile; the next round sees how.)
            if try table.requestHandoff(l, to: worker) { share += 1 }
            load[busiest] = count - 1
        }
        return changes
    }

    /// Renews every held lease, side by side (a worker of many shards is not a round trip per
    /// shard late); one whose counter someone else moved is lost (the next round says so).
    public func renewHeld(now: Int64) throws(StreamError) {
        let keys = lock.withLock { mine.keys.sorted() }
        let table = self.table
        let results = BlockingWork.map(keys) { [self] key -> StreamError? in
            do throws(StreamError) {
                try withLease(key) { (seen: Lease) throws(StreamError) -> Lease? in
                    let renewed = try table.renew(seen)
                    if let r = renewed { lock.withLock { observed[key] = (r.counter, now) } } else { lock.withLock { lost.append(key) } }
                    return renewed
                }
                return nil
            } catch {
                return error
            }
        }
        if let e = results.compactMap({ $0 }).first { throw e }
    }

    /// A conditional write of a held lease (`write` given the lease as this worker holds it, and
    /// returning it after, nil when it was lost), with no other write of it at the same time.
    /// False when the lease is not (or no longer) held.
    @discardableResult
    private func withLease(_ key: String, _ write: (Lease) throws(StreamError) -> Lease?) throws(StreamError) -> Bool {
        let keyLock = lock.withLock { () -> NSLock in
            if let l = keyLocks[key] { return l }
            let l = NSLock()
            keyLocks[key] = l
            return l
        }
        keyLock.lock()
        defer { keyLock.unlock() }
        guard let seen = lock.withLock({ mine[key] }) else { return false }
        let after = try write(seen)
        lock.withLock { mine[key] = after }
        return after != nil
    }

    /// Records how far the shard is processed; false when the lease was lost (stop working it).
    public func checkpoint(shard: String, _ value: String) throws(StreamError) -> Bool {
        let table = self.table
        return try withLease(shard) { (seen: Lease) throws(StreamError) -> Lease? in try table.checkpoint(seen, value) }
    }

    /// Lets one lease go (after a handoff's final checkpoint).
    public func release(shard: String) throws(StreamError) {
        let table = self.table
        try withLease(shard) { (seen: Lease) throws(StreamError) -> Lease? in
            _ = try table.release(seen)
            return nil
        }
    }

    /// Lets every held lease go (a clean stop, after the final checkpoints).
    public func releaseAll() throws(StreamError) {
        for k in held.keys.sorted() { try release(shard: k) }
    }
}

/// Renews a worker's leases on a thread of its own, as the KCL's renewer does, so that a worker
/// whose queries are busy (a long step, a slow sink) is not taken for dead; only a worker that
/// stopped running (or cannot reach the table) lets its leases expire.
public final class LeaseRenewer: @unchecked Sendable {
    public let coordinator: LeaseCoordinator
    let everyMillis: Int64
    let now: @Sendable () -> Int64
    private let condition = NSCondition()
    private var stopped = false, finished = false
    private var failure: StreamError? = nil

    public init(coordinator: LeaseCoordinator, everyMillis: Int64, now: @escaping @Sendable () -> Int64) {
        self.coordinator = coordinator
        self.everyMillis = max(50, everyMillis)
        self.now = now
        let t = Thread { [self] in run() }
        t.name = "sluice-lease-renewer"
        t.stackSize = 1 << 20
        t.start()
    }

    /// The error that stopped renewals (the table unreachable, credentials refused), if any.
    public var error: StreamError? { condition.withLock { failure } }

    /// Stops renewing and waits for the thread (a clean stop, or a worker made to die in a test).
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    deinit { stop() }

    private func run() {
        while true {
            condition.lock()
            let until = Date().addingTimeInterval(Double(everyMillis) / 1000)
            while !stopped && Date() < until { _ = condition.wait(until: until) }
            if stopped {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            condition.unlock()
            do throws(StreamError) {
                try coordinator.renewHeld(now: now())
            } catch {
                // Tried again next time; the worker's next round reports it.
                condition.withLock { failure = error }
            }
        }
    }
}
