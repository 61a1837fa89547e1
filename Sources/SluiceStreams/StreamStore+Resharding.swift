import SluiceCore

extension StreamStore {
    /// SplitShard: the shard closes and two children take its range, `[start, key-1]` and `[key, end]`.
    public func splitShard(stream name: String, shardToSplit: String, newStartingHashKey: String) throws(StreamError) {
        let key: UInt128
        switch HashKey.parse(newStartingHashKey) {
        case .success(let k): key = k
        case .failure:
            throw .validation("newStartingHashKey", newStartingHashKey, "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})")
        }
        try withStream(name, reshaping: true) { h throws(StreamError) in
            try requireActive(h, now: clock.nowMillis())
            try requireProvisioned(h, "SplitShard")
            let now = clock.nowMillis()
            let shard = try openShard(h, shardToSplit, now: now)
            guard key > shard.range.lowerBound &+ 1, key < shard.range.upperBound else {
                throw StreamError(.invalidArgument,
                                  "NewStartingHashKey \(newStartingHashKey) used in SplitShard() on shard \(ShardID.format(shard.index)) in stream \(name) "
                                      + "under account \(account) is not both greater than one plus the shard's StartingHashKey "
                                      + "\(shard.range.lowerBound) and less than the shard's EndingHashKey \(shard.range.upperBound).")
            }
            let current = openShardCountExcluding(h) + h.routes.count
            if current + 1 > configuration.shardLimit { throw shardLimitError(additional: 1, current: current) }
            try transaction(h) { () throws(StreamError) in _ = try split(h, shard.index, at: key, now: now) }
        }
    }

    /// MergeShards: two open shards whose ranges are adjacent (`shardToMerge` ends where
    /// `adjacentShardToMerge` begins) close, and one child takes their union.
    public func mergeShards(stream name: String, shardToMerge: String, adjacentShardToMerge: String) throws(StreamError) {
        try withStream(name, reshaping: true) { h throws(StreamError) in
            try requireActive(h, now: clock.nowMillis())
            try requireProvisioned(h, "MergeShards")
            let now = clock.nowMillis()
            let a = try openShard(h, shardToMerge, now: now)
            let b = try openShard(h, adjacentShardToMerge, now: now)
            guard a.index != b.index, a.range.upperBound != UInt128.max, a.range.upperBound + 1 == b.range.lowerBound else {
                throw StreamError(.invalidArgument,
                                  "Shards \(ShardID.format(a.index)) and \(ShardID.format(b.index)) in stream \(name) under account \(account) "
                                      + "are not an adjacent pair of shards eligible for merging")
            }
            try transaction(h) { () throws(StreamError) in _ = try merge(h, a.index, b.index, now: now) }
        }
    }

    /// UpdateShardCount with uniform scaling: splits and merges until `target` open shards hold
    /// equal ranges (the floor(2^128/N) rule). Returns the shard counts before and after.
    @discardableResult
    public func updateShardCount(stream name: String, targetShardCount target: Int) throws(StreamError) -> (current: Int, target: Int) {
        if target < 1 {
            throw .validation("targetShardCount", String(target), "Member must have value greater than or equal to 1")
        }
        return try withStream(name, reshaping: true) { h throws(StreamError) in
            try requireActive(h, now: clock.nowMillis())
            try requireProvisioned(h, "UpdateShardCount")
            let current = h.routes.count
            if target > current * 2 {
                throw StreamError(.limitExceeded,
                                  "UpdateShardCount cannot scale up over double your current open shard count. "
                                      + "Current open shard count: \(current) Target shard count: \(target)")
            }
            if target * 2 < current {
                throw StreamError(.limitExceeded,
                                  "UpdateShardCount cannot scale down below half your current open shard count. "
                                      + "Current open shard count: \(current) Target shard count: \(target)")
            }
            let others = openShardCountExcluding(h)
            if others + target > configuration.shardLimit {
                throw shardLimitError(additional: target - current, current: others + current)
            }
            let now = clock.nowMillis()
            try transaction(h) { () throws(StreamError) in try scaleUniformly(h, to: target, now: now) }
            return (current, target)
        }
    }

    /// On-demand streams double their shard count (within the shard limit) when the busiest second
    /// of the last minute used more than half the write capacity of their open shards
    /// (1,000 records/s and 1 MiB/s each). Checked at most once a second, on writes.
    func scaleOnDemandIfNeeded(_ h: StreamHandle, now: Int64) throws(StreamError) {
        let second = now / 1000
        guard second != h.writeHistory.lastEvaluatedSecond else { return }
        h.writeHistory.lastEvaluatedSecond = second
        let open = h.routes.count
        let peak = h.writeHistory.peak(at: now)
        let busy = Double(peak.records) > 0.5 * Double(open) * ShardThroughput.writeRecordsPerSecond
            || Double(peak.bytes) > 0.5 * Double(open) * ShardThroughput.writeBytesPerSecond
        guard busy else { return }
        let room = configuration.shardLimit - openShardCountExcluding(h) - open
        let target = open + min(open, room)
        guard target > open else { return }
        try transaction(h) { () throws(StreamError) in try scaleUniformly(h, to: target, now: now) }
    }

    // MARK: - Mechanics (the stream's lock held)

    func requireProvisioned(_ h: StreamHandle, _ op: String) throws(StreamError) {
        if h.meta.mode == .onDemand {
            throw StreamError(.validation, "Request is invalid. Stream \(h.meta.name) under account \(account) is in On-Demand mode.")
        }
    }

    /// Open shards of every other stream (this stream's lock is held; others are taken one at a time).
    func openShardCountExcluding(_ h: StreamHandle) -> Int {
        openShardCountOther(than: h)
    }

    func openShard(_ h: StreamHandle, _ id: String, now: Int64) throws(StreamError) -> ShardMeta {
        guard let index = ShardID.parse(id), let s = h.shard(index), !expired(h, s, now: now) else {
            throw StreamError(.resourceNotFound, "Could not find shard \(id) in stream \(h.meta.name) under account \(account).")
        }
        guard s.isOpen else {
            throw StreamError(.invalidArgument,
                              "Shard \(ShardID.format(index)) in stream \(h.meta.name) under account \(account) has already been merged or split, "
                                  + "and thus is not eligible for merging or splitting.")
        }
        return s
    }

    /// Applies a reshard and saves the metadata; if saving fails the stream is left as it was.
    func transaction(_ h: StreamHandle, _ body: () throws(StreamError) -> Void) throws(StreamError) {
        let saved = h.meta
        do throws(StreamError) {
            try body()
            h.meta.updatingUntilMillis = clock.nowMillis() + configuration.updateDelayMillis
            try h.saveMeta()
        } catch {
            h.meta = saved
            h.rebuildRoutes()
            throw error
        }
    }

    private func close(_ h: StreamHandle, _ index: UInt32, now: Int64) throws(StreamError) {
        let log = try h.log(index, segmentBytes: configuration.segmentBytes, mapSegments: configuration.mapSegments)
        h.updateShard(index) {
            $0.closedMillis = now
            $0.endIndex = log.nextIndex
        }
    }

    private func newShard(_ h: StreamHandle, _ range: ClosedRange<UInt128>, parent: UInt32, adjacent: UInt32?, now: Int64) throws(StreamError) -> UInt32 {
        let index = h.meta.nextShardIndex
        h.meta.nextShardIndex += 1
        h.meta.shards.append(ShardMeta(index: index, range: range, parent: parent, adjacentParent: adjacent, createdMillis: now))
        _ = try h.log(index, segmentBytes: configuration.segmentBytes, mapSegments: configuration.mapSegments)
        return index
    }

    /// Splits an open shard at `key` (start < key <= end). Children get the next two indexes.
    func split(_ h: StreamHandle, _ index: UInt32, at key: UInt128, now: Int64) throws(StreamError) -> (UInt32, UInt32) {
        guard let s = h.shard(index) else { throw StreamError(.internalFailure, "split of unknown shard \(index)") }
        try close(h, index, now: now)
        let a = try newShard(h, s.range.lowerBound...(key - 1), parent: index, adjacent: nil, now: now)
        let b = try newShard(h, key...s.range.upperBound, parent: index, adjacent: nil, now: now)
        h.rebuildRoutes()
        return (a, b)
    }

    /// Merges two adjacent open shards into a child with the next index.
    func merge(_ h: StreamHandle, _ a: UInt32, _ b: UInt32, now: Int64) throws(StreamError) -> UInt32 {
        guard let sa = h.shard(a), let sb = h.shard(b) else { throw StreamError(.internalFailure, "merge of unknown shards") }
        try close(h, a, now: now)
        try close(h, b, now: now)
        let c = try newShard(h, sa.range.lowerBound...sb.range.upperBound, parent: a, adjacent: b, now: now)
        h.rebuildRoutes()
        return c
    }

    /// Reshapes the open shards into `target` equal ranges: split at every target boundary that
    /// falls inside a shard, then merge the pieces inside each target range. A child never has
    /// more than two parents; the short-lived intermediate shards hold no records.
    func scaleUniformly(_ h: StreamHandle, to target: Int, now: Int64) throws(StreamError) {
        let ranges = HashKey.evenRanges(count: target)
        for r in ranges.dropFirst() {
            let s = h.routes[h.route(r.lowerBound)]
            if s.start < r.lowerBound { _ = try split(h, s.index, at: r.lowerBound, now: now) }
        }
        for r in ranges {
            while true {
                let inside = h.routes.filter { $0.start >= r.lowerBound && $0.end <= r.upperBound }
                guard inside.count > 1 else { break }
                _ = try merge(h, inside[0].index, inside[1].index, now: now)
            }
        }
    }
}
