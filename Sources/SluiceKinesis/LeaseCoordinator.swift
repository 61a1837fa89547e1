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
/// Time is the caller's (milliseconds, any monotonic origin). One coordinator per worker, used
/// from one thread.
public final class LeaseCoordinator {
    public let table: LeaseTable
    public let worker: String
    public let failoverMillis: Int64
    /// The checkpoint of a new lease of a shard without parents (where the stream's reading starts).
    public let initialCheckpoint: String
    /// The leases this worker holds, as it last wrote or read them.
    public private(set) var held: [String: Lease] = [:]
    /// Each lease's counter when this worker last saw it change, and when that was.
    private var observed: [String: (counter: Int64, at: Int64)] = [:]
    /// The table as the last round read it.
    public private(set) var leases: [Lease] = []

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

    /// One round at time `now`: renew, notice what was lost or asked for, take a share.
    public func round(now: Int64) throws(StreamError) -> Changes {
        var changes = Changes()
        leases = try table.list()
        for l in leases where observed[l.key]?.counter != l.counter { observed[l.key] = (l.counter, now) }
        let byKey = Dictionary(leases.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })

        // Renew what is held, side by side (a worker of many shards is not a round trip per shard
        // late); what someone else moved is lost.
        let holding = held.sorted(by: { $0.key < $1.key })
        let table = self.table, worker = self.worker
        let renewals = BlockingWork.map(holding.map { (byKey[$0.key], $0.value) }) { (seen: Lease?, mine: Lease) -> Result<Lease?, StreamError> in
            guard let l = seen, l.owner == worker, l.counter == mine.counter else { return .success(nil) }
            do throws(StreamError) { return .success(try table.renew(l)) } catch { return .failure(error) }
        }
        for (i, (key, _)) in holding.enumerated() {
            guard let renewed = try renewals[i].get() else {
                held[key] = nil
                changes.lost.append(key)
                continue
            }
            held[key] = renewed
            observed[key] = (renewed.counter, now)
            if byKey[key]?.handoffTo != nil { changes.handoffs.append(key) }
        }

        // The workable leases: not finished, parents finished (or gone from the table).
        func finished(_ k: String) -> Bool { byKey[k].map(\.isFinished) ?? true }
        let workable = leases.filter { !$0.isFinished && $0.parents.allSatisfy(finished) }
        func expired(_ l: Lease) -> Bool {
            l.owner == nil || (l.owner != worker && now - (observed[l.key]?.at ?? now) > failoverMillis)
        }
        var owners: [String: Int] = [:]
        for l in workable where !expired(l) { owners[l.owner!, default: 0] += 1 }
        owners[worker] = held.keys.filter { k in workable.contains { $0.key == k } }.count
        let target = (workable.count + owners.count - 1) / max(1, owners.count)
        var mine = owners[worker] ?? 0
        for l in workable where mine < target && held[l.key] == nil && expired(l) {
            guard let taken = try table.take(l, by: worker) else { continue }
            held[l.key] = taken
            observed[l.key] = (taken.counter, now)
            changes.gained.append(taken)
            mine += 1
        }
        // Still short: ask the workers above their share for leases, the busiest first, each for
        // no more than its excess (asked ones count: a lease being handed over is not asked twice).
        var load = owners.filter { $0.key != worker }
        for l in workable where l.handoffTo == worker && l.owner != nil { load[l.owner!, default: 0] -= 1; mine += 1 }
        var asked: Set<String> = []
        while mine < target, let (busiest, count) = load.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }), count > target {
            guard let l = workable.last(where: { $0.owner == busiest && $0.handoffTo == nil && !asked.contains($0.key) && !expired($0) }) else { break }
            asked.insert(l.key)
            // (A refused request: the lease changed meanwhile; the next round sees how.)
            if try table.requestHandoff(l, to: worker) { mine += 1 }
            load[busiest] = count - 1
        }
        return changes
    }

    /// Records how far the shard is processed; false when the lease was lost (stop working it).
    public func checkpoint(shard: String, _ value: String) throws(StreamError) -> Bool {
        guard let l = held[shard] else { return false }
        guard let c = try table.checkpoint(l, value) else {
            held[shard] = nil
            return false
        }
        held[shard] = c
        return true
    }

    /// Lets one lease go (after a handoff's final checkpoint).
    public func release(shard: String) throws(StreamError) {
        guard let l = held.removeValue(forKey: shard) else { return }
        _ = try table.release(l)
    }

    /// Lets every held lease go (a clean stop, after the final checkpoints).
    public func releaseAll() throws(StreamError) {
        for k in held.keys.sorted() { try release(shard: k) }
    }
}
