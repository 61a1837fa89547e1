import Foundation
import SluiceCore

extension StreamStore {
    // MARK: - Writing

    /// PutRecord: one record, with an optional explicit hash key and an exclusive minimum sequence
    /// number (`SequenceNumberForOrdering`): the new number is greater than it whenever it was issued
    /// by the shard the record goes to or by one created earlier (a client putting one partition key
    /// in order, across reshards, always gets increasing numbers).
    public func putRecord(stream name: String, data: [UInt8], partitionKey: String, explicitHashKey: String? = nil,
                          sequenceNumberForOrdering: String? = nil) throws(StreamError) -> PutRecordResult {
        let entry = PutRecordsRequestEntry(data: data, partitionKey: partitionKey, explicitHashKey: explicitHashKey)
        let hash = try validate([entry], 0, member: nil)
        var minimum: SequenceNumber? = nil
        if let s = sequenceNumberForOrdering {
            guard let seq = SequenceNumber(s) else {
                throw StreamError(.invalidArgument,
                                  "ExclusiveMinimumSequenceNumber \(s) used in PutRecord on stream \(name) under account \(account) is invalid.")
            }
            minimum = seq
        }
        let outcome = try write(name, [entry], hashes: [hash], minimum: minimum, singleRecord: true)
        switch outcome.results(count: 1).records[0] {
        case .success(let r): return r
        case .failure(let code, let message): throw StreamError(code, message)
        }
    }

    /// PutRecords: up to 500 records and `maxPutRecordsBytes`, each with a result or an error.
    /// A request that breaks a validation rule fails as a whole; a record refused by a throughput
    /// limit or a storage failure fails alone, and the rest are written.
    public func putRecords(stream name: String, records: [PutRecordsRequestEntry]) throws(StreamError) -> PutRecordsResult {
        try putRecords(name, records).results(count: records.count)
    }

    /// PutRecords of records packed side by side (a local bulk load): the same rules and results,
    /// without an array and a string per record.
    public func putRecords(stream name: String, packed records: PackedRecords) throws(StreamError) -> PutRecordsResult {
        try putRecords(name, records).results(count: records.count)
    }

    /// A bulk load's put (`sluice run --input`, `.load`): any number of records, each checked as
    /// PutRecords checks it, all at one millisecond of their own, later than every earlier put's
    /// to the stream (unless the records carry their arrivals, or the clock moves only when
    /// told). Records meet queries in the order they arrived, those of one millisecond shard by
    /// shard: with a millisecond of its own per put, the order of a load's records is the same
    /// however fast it runs (put by put, then shard by shard), so a replay gives the same result
    /// every time. A caller keeps puts large enough (a megabyte or so) that it does not run ahead
    /// of the clock. Says which records failed (a throughput limit, a storage failure), not the
    /// sequence number of each.
    public func loadRecords(stream name: String, packed records: PackedRecords) throws(StreamError) -> LoadResult {
        LoadResult(count: records.count, failed: try putRecords(name, records, load: true).failures.map(\.position).sorted())
    }

    private func putRecords(_ name: String, _ records: some PutSource, load: Bool = false) throws(StreamError) -> WriteOutcome {
        try validateStreamName(name)
        if records.count == 0 {
            throw .validation("records", "[]", "Member must have length greater than or equal to 1")
        }
        if records.count > 500 && !load {
            throw .validation("records", "[...]", "Member must have length less than or equal to 500")
        }
        var hashes = [UInt128?]()
        hashes.reserveCapacity(records.count)
        var total = 0
        for i in 0..<records.count {
            hashes.append(try validate(records, i, member: i))
            total += records.dataCount(i) + records.keyCount(i)
        }
        if total > configuration.maxPutRecordsBytes && !load {
            throw StreamError(.invalidArgument, "Records size exceeds \(configuration.maxPutRecordsBytes >> 20) MB limit")
        }
        return try write(name, records, hashes: hashes, minimum: nil, singleRecord: false, ownMillisecond: load)
    }

    /// Checks one record; returns its explicit hash key when it has one. `member` is the record's
    /// position in a PutRecords request (nil for PutRecord), for the field names in messages.
    func validate(_ records: some PutSource, _ i: Int, member: Int?) throws(StreamError) -> UInt128? {
        var field: String { member.map { "records.\($0 + 1).member." } ?? "" }
        let keyBytes = records.keyCount(i), dataBytes = records.dataCount(i)
        var key: String { records.withRecord(i) { k, _ in String(decoding: k, as: UTF8.self) } }
        if keyBytes == 0 {
            throw .validation(field + "partitionKey", "", "Member must have length greater than or equal to 1")
        }
        // 256 characters at most; only a key of more than 256 bytes can have more than 256.
        if keyBytes > 256 && key.unicodeScalars.count > 256 {
            throw .validation(field + "partitionKey", key, "Member must have length less than or equal to 256")
        }
        let size = keyBytes + dataBytes
        if size > configuration.maxRecordBytes {
            throw .validation(field + "data", "java.nio.HeapByteBuffer[pos=0 lim=\(dataBytes) cap=\(dataBytes)]",
                              "Member must have length less than or equal to \(configuration.maxRecordBytes)"
                                  + (dataBytes <= configuration.maxRecordBytes ? " (partition key and data together)" : ""))
        }
        guard let ehk = records.explicitHashKey(i) else { return nil }
        switch HashKey.parse(ehk) {
        case .success(let v): return v
        case .failure(.badPattern):
            throw .validation(field + "explicitHashKey", ehk, "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})")
        case .failure(.outOfRange):
            throw StreamError(.invalidArgument,
                              "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was \(ehk)")
        }
    }

    /// Routes records to open shards and appends each shard's share with one write. Writes to a
    /// stream go one at a time (its `writeLock`, which reshards and deletion take too), but hold
    /// the stream's lock only to route and to count: readers are not held up while the records
    /// are checksummed and written.
    private func write(_ name: String, _ records: some PutSource, hashes: [UInt128?], minimum: SequenceNumber?,
                       singleRecord: Bool, ownMillisecond: Bool = false) throws(StreamError) -> WriteOutcome {
        let h = try handle(name)
        h.writeLock.lock()
        defer { h.writeLock.unlock() }
        let n = records.count
        // Each record's hash key, before any lock is held (a stream of one shard needs none).
        var hashes = hashes
        if h.openCount.load(ordering: .relaxed) > 1 {
            for i in 0..<n where hashes[i] == nil { hashes[i] = records.withRecord(i) { key, _ in MD5.hashKey(key) } }
        }
        var outcome = WriteOutcome()
        // The earliest arrival a record asks for itself (a replay's recorded times).
        var own: Int64? = nil
        if n > 0 && records.arrival(0) != nil {
            for i in 0..<n { if let a = records.arrival(i) { own = min(own ?? a, a) } }
        }
        // Under the stream's lock: the checks, the routes, the throughput limits, the logs.
        h.lock.lock()
        var locked = true
        defer { if locked { h.lock.unlock() } }
        guard !h.deleted else { throw notFound(name) }
        // The put's time, and its place among the puts in flight until every share is written.
        let (token, now) = putsInFlight.begin(earliest: own) { clock.nowMillis() }
        defer { putsInFlight.end(token) }
        // The arrival the records take (each shard's log keeps its arrivals from going back).
        var stamp = now
        if ownMillisecond && clock.movesByItself && n > 0 && records.arrival(0) == nil && h.lastPutArrival != .min {
            stamp = max(now, h.lastPutArrival + 1)
        }
        try requireCreated(h, now: now)
        try maybeTrim(h, now: now)
        if h.meta.mode == .onDemand { try scaleOnDemandIfNeeded(h, now: now) }

        // Route.
        var slot = [Int](repeating: 0, count: n)
        if h.routes.count > 1 {
            for i in 0..<n {
                slot[i] = h.route(hashes[i] ?? records.withRecord(i) { key, _ in MD5.hashKey(key) })
            }
        }
        // Throughput limits (provisioned streams, when enforced).
        var refused: [Bool] = []
        if configuration.enforceThroughputLimits && h.meta.mode == .provisioned {
            refused = Array(repeating: false, count: n)
            for i in 0..<n {
                let shard = h.routes[slot[i]].index
                var t = h.throughput[shard] ?? ShardThroughput(now: now)
                let size = records.dataCount(i) + records.keyCount(i)
                if !t.admitWrite(bytes: size, now: now) {
                    outcome.failures.append((i, .failure(code: .provisionedThroughputExceeded,
                                                         message: "Rate exceeded for shard \(ShardID.format(shard)) in stream \(name) under account \(account).")))
                    refused[i] = true
                    h.throttledWrites += 1
                }
                h.throughput[shard] = t
            }
        }
        // Group positions by shard, keeping request order within a shard.
        var groups: [[Int]] = Array(repeating: [], count: h.routes.count)
        if h.routes.count == 1 && outcome.failures.isEmpty {
            groups[0] = Array(0..<n)
        } else {
            for i in 0..<n where refused.isEmpty || !refused[i] { groups[slot[i]].append(i) }
        }
        var shares: [(meta: ShardMeta, log: Result<ShardLog, StreamError>, positions: [Int])] = []
        for (g, positions) in groups.enumerated() where !positions.isEmpty {
            guard let meta = h.shard(h.routes[g].index) else { continue }
            shares.append((meta, Result { () throws(StreamError) in
                try h.log(meta.index, segmentBytes: configuration.segmentBytes, mapSegments: configuration.mapSegments)
            }, positions))
        }
        h.lock.unlock()
        locked = false
        beforeWritingShares?()

        // The writes, each shard's share at once (no other write of this stream runs meanwhile).
        var written = 0, writtenBytes = 0, lastArrival = Int64.min
        for (meta, log, positions) in shares {
            do throws(StreamError) {
                let log = try log.get()
                if let m = minimum { bumpForOrdering(log, shard: meta, minimum: m) }
                let (first, arrival, arrivals) = try log.append(entries: records, positions: positions, arrival: stamp,
                                                                syncNow: configuration.fsync == .always)
                lastArrival = max(lastArrival, arrival)
                outcome.shares.append((meta, positions, first, arrival, arrivals))
                for p in positions { writtenBytes += records.dataCount(p) + records.keyCount(p) }
                written += positions.count
            } catch {
                if singleRecord { throw StreamError(.internalFailure, "Internal Service Failure: \(error.message)") }
                for p in positions { outcome.failures.append((p, .failure(code: .internalFailure, message: "Internal Service Failure"))) }
            }
        }
        h.lock.locked {
            h.lastPutArrival = max(h.lastPutArrival, lastArrival)
            h.incomingRecords += Int64(written)
            h.incomingBytes += Int64(writtenBytes)
            h.writeHistory.note(records: written, bytes: writtenBytes, at: now)
        }
        return outcome
    }

    /// What a write did: each shard's share written (its records' positions in the request, the
    /// index of the first and their arrivals), and the records that failed.
    struct WriteOutcome {
        var shares: [(shard: ShardMeta, positions: [Int], first: UInt64, arrival: Int64, arrivals: [Int64])] = []
        var failures: [(position: Int, entry: PutRecordsResultEntry)] = []

        /// A result per record, in request order (PutRecord and PutRecords).
        func results(count n: Int) -> PutRecordsResult {
            var results = [PutRecordsResultEntry?](repeating: nil, count: n)
            for (meta, positions, first, arrival, arrivals) in shares {
                let recordSeconds = UInt64(max(0, arrival) / 1000)
                for (k, p) in positions.enumerated() {
                    results[p] = .success(PutRecordResult(
                        shardIndex: meta.index,
                        sequenceNumber: SequenceNumber(shardCreationSeconds: meta.creationSeconds, shardIndex: meta.index, index: first + UInt64(k),
                                                       recordSeconds: arrivals.isEmpty ? recordSeconds : UInt64(max(0, arrivals[k]) / 1000))))
                }
            }
            for (p, entry) in failures { results[p] = entry }
            return PutRecordsResult(records: results.map { $0! })
        }
    }

    /// Makes the shard's next number exceed `minimum` when that is possible: the number's leading
    /// fields (shard creation time, low shard-index nibble) decide; only when they equal this
    /// shard's does the sequence index need to move.
    private func bumpForOrdering(_ log: ShardLog, shard: ShardMeta, minimum m: SequenceNumber) {
        if m.shardCreationSeconds == shard.creationSeconds && (m.shardIndex & 0xf) == (shard.index & 0xf)
            && m.index < SequenceNumber.endingIndex
        {
            log.ensureNextIndex(atLeast: m.index + 1)
        }
    }

    // MARK: - Reading

    /// GetShardIterator.
    public func getShardIterator(stream name: String, shardId: String, type: ShardIteratorType,
                                 startingSequenceNumber: String? = nil, timestampMillis: Int64? = nil) throws(StreamError) -> String {
        try validateStreamName(name)
        switch type {
        case .atSequenceNumber, .afterSequenceNumber, .trimHorizon, .latest:
            let needs = type == .atSequenceNumber || type == .afterSequenceNumber
            if needs != (startingSequenceNumber != nil) {
                throw StreamError(.invalidArgument,
                                  "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or "
                                      + "(2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified \(type.rawValue) and "
                                      + (needs ? "no" : "also a") + " StartingSequenceNumber.")
            }
        case .atTimestamp:
            if timestampMillis == nil {
                throw StreamError(.invalidArgument,
                                  "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
            }
        }
        let h = try lock.locked { () throws(StreamError) -> StreamHandle in
            guard let h = streams[name] else {
                if let i = ShardID.parse(shardId) { throw shardNotFound(ShardID.format(i), name) }
                throw StreamError(.resourceNotFound, "Could not find shard \(shardId) in stream \(name) under account \(account).")
            }
            return h
        }
        h.lock.lock()
        defer { h.lock.unlock() }
        let now = clock.nowMillis()
        guard let index = ShardID.parse(shardId) else {
            throw StreamError(.resourceNotFound, "Could not find shard \(shardId) in stream \(name) under account \(account).")
        }
        if !h.deleted { try requireCreated(h, now: now) }
        guard !h.deleted, let shard = h.shard(index), !expired(h, shard, now: now) else {
            throw shardNotFound(ShardID.format(index), name)
        }
        let log = try h.log(index, segmentBytes: configuration.segmentBytes, mapSegments: configuration.mapSegments)
        let position: UInt64
        switch type {
        case .trimHorizon: position = 0
        case .latest: position = shard.endIndex ?? log.nextIndex
        case .atTimestamp:
            let ts = timestampMillis!
            if ts > now {
                throw StreamError(.invalidArgument,
                                  "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. "
                                      + "timestampInMillis: \(ts), currentTimestampInMillis: \(now)")
            }
            position = log.firstIndex(arrivedAtOrAfter: ts)
        case .atSequenceNumber, .afterSequenceNumber:
            let text = startingSequenceNumber!
            let sid = ShardID.format(index)
            guard let seq = SequenceNumber(text) else {
                throw StreamError(.invalidArgument,
                                  "StartingSequenceNumber \(text) used in GetShardIterator on shard \(sid) in stream \(name) under account \(account) is invalid.")
            }
            if seq.shardIndex != index {
                throw StreamError(.invalidArgument,
                                  "Invalid StartingSequenceNumber. It encodes \(ShardID.format(seq.shardIndex)), while it was used in a call to a shard with \(sid)")
            }
            if seq.shardCreationSeconds != shard.creationSeconds {
                throw StreamError(.invalidArgument,
                                  "StartingSequenceNumber \(text) used in GetShardIterator on shard \(sid) in stream \(name) under account \(account) is invalid because it did not come from this stream.")
            }
            position = type == .atSequenceNumber ? seq.index : seq.index + 1
        }
        return ShardIteratorToken(issuedMillis: now, streamCreationMillis: h.meta.createdMillis, shardIndex: index,
                                  position: position, streamName: name).encode()
    }

    func shardNotFound(_ shardId: String, _ stream: String) -> StreamError {
        StreamError(.resourceNotFound, "Shard \(shardId) in stream \(stream) under account \(account) does not exist")
    }

    /// GetRecords: up to `limit` records (1-10,000) and 10 MiB from where the iterator points.
    public func getRecords(shardIterator: String, limit: Int = 10000) throws(StreamError) -> GetRecordsResult {
        if limit < 1 { throw .validation("limit", String(limit), "Member must have value greater than or equal to 1") }
        if limit > 10000 { throw .validation("limit", String(limit), "Member must have value less than or equal to 10000") }
        guard let it = ShardIteratorToken.decode(shardIterator) else {
            throw StreamError(.invalidArgument, "Invalid ShardIterator.")
        }
        let now = clock.nowMillis()
        if now - it.issuedMillis > configuration.iteratorTTLMillis {
            throw StreamError(.expiredIterator,
                              "Iterator expired. The iterator was created at time \(StreamStore.awsDate(it.issuedMillis)) while right now it is "
                                  + "\(StreamStore.awsDate(now)) which is further in the future than the tolerated delay of \(configuration.iteratorTTLMillis) milliseconds.")
        }
        let sid = ShardID.format(it.shardIndex)
        guard let h = lock.locked({ streams[it.streamName] }) else { throw shardNotFound(sid, it.streamName) }
        // Resolve the shard under the stream lock; read under the shard log's own lock.
        let (shard, log, children, minArrival) = try h.lock.locked { () throws(StreamError) -> (ShardMeta, ShardLog, [ChildShard], Int64) in
            guard !h.deleted, h.meta.createdMillis == it.streamCreationMillis, let shard = h.shard(it.shardIndex),
                  !expired(h, shard, now: now)
            else { throw shardNotFound(sid, it.streamName) }
            try maybeTrim(h, now: now)
            if configuration.enforceThroughputLimits && h.meta.mode == .provisioned {
                var t = h.throughput[shard.index] ?? ShardThroughput(now: now)
                let ok = t.admitRead(now: now)
                h.throughput[shard.index] = t
                if !ok {
                    throw StreamError(.provisionedThroughputExceeded,
                                      "Rate exceeded for Shard - \(sid) in stream \(it.streamName) under account \(account).")
                }
            }
            let children: [ChildShard] = shard.isOpen ? [] : h.meta.shards.compactMap { c in
                guard c.parent == shard.index || c.adjacentParent == shard.index else { return nil }
                return ChildShard(shardId: ShardID.format(c.index),
                                  parentShards: [c.parent, c.adjacentParent].compactMap { $0.map(ShardID.format) },
                                  hashKeyRange: c.range)
            }
            return (shard, try h.log(shard.index, segmentBytes: configuration.segmentBytes, mapSegments: configuration.mapSegments), children, horizon(h, now: now))
        }
        let outcome = try log.read(from: it.position, limit: limit, maxBytes: 10 << 20, minArrival: minArrival,
                                   shardName: "\(sid) of stream \(it.streamName)")
        if configuration.enforceThroughputLimits {
            h.lock.locked {
                h.throughput[shard.index]?.chargeRead(bytes: outcome.batch.payloadBytes)
            }
        }
        // A closed shard takes no more writes: once read to its end it is finished.
        let finished = !shard.isOpen && outcome.reachedEnd
        let next: String? = finished ? nil : ShardIteratorToken(
            issuedMillis: now, streamCreationMillis: it.streamCreationMillis, shardIndex: it.shardIndex,
            position: outcome.nextPosition, streamName: it.streamName).encode()
        return GetRecordsResult(records: outcome.batch, shardIndex: shard.index, shardCreationSeconds: shard.creationSeconds,
                                nextShardIterator: next, millisBehindLatest: outcome.nextArrival.map { max(0, now - $0) } ?? 0,
                                childShards: finished ? children : nil, reachedEnd: outcome.reachedEnd && outcome.nextArrival == nil)
    }

    /// `Www Mmm dd hh:mm:ss UTC yyyy`, the date form of Kinesis's iterator messages.
    static func awsDate(_ millis: Int64) -> String {
        let f = TimeFormat.fields(millis)
        let days = Int((millis / 86_400_000) % 7 + 7) % 7  // 1970-01-01 was a Thursday
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days]
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][f.month - 1]
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(weekday) \(month) \(two(f.day)) \(two(f.hour)):\(two(f.minute)):\(two(f.second)) UTC \(f.year)"
    }
}
