public import SluiceStreams

/// A shard's records whose partition keys hash into a range, and no others: what one part of a
/// lane reads after two shards merged (each part goes on with the state of one parent, for the
/// keys of that parent's range). Positions, rewinds and the shard's end are the underlying
/// reader's.
public final class HashRangeFilter: ShardRecordSource, @unchecked Sendable {
    public let base: any ShardRecordSource
    public let range: ClosedRange<UInt128>

    public init(_ base: any ShardRecordSource, range: ClosedRange<UInt128>) {
        self.base = base
        self.range = range
    }

    public var positions: [String: StreamConsumer.Position] { base.positions }
    public var hasMore: Bool { base.hasMore }
    public var shardsPolled: Int { base.shardsPolled }
    public func shardIds() throws(StreamError) -> [String] { try base.shardIds() }
    public func rewind(shard: String, to position: StreamConsumer.Position?) { base.rewind(shard: shard, to: position) }
    public func seek(to positions: [String: StreamConsumer.Position]) { base.seek(to: positions) }

    public func poll(limitPerShard: Int) throws(StreamError) -> [StreamConsumer.ShardRecords] {
        var out: [StreamConsumer.ShardRecords] = []
        for p in try base.poll(limitPerShard: limitPerShard) {
            let r = p.result
            var bytes: [UInt8] = []
            var kept: [(keyOffset: Int, keyLength: Int, dataLength: Int, arrival: Int64)] = []
            var sequenceNumbers: [String] = []
            for i in 0..<r.records.count {
                let key = r.records.partitionKey(i)
                guard range.contains(HashKey.of(partitionKey: key)) else { continue }
                let offset = bytes.count
                bytes.append(contentsOf: key.utf8)
                let data = r.records.data(i)
                bytes.append(contentsOf: data)
                kept.append((offset, bytes.count - offset - data.count, data.count, r.records.arrivalMillis(i)))
                sequenceNumbers.append(r.sequenceNumberText(i))
            }
            // The shard's end passes even when nothing of the range came with it.
            guard !kept.isEmpty || r.nextShardIterator == nil else { continue }
            let filtered = GetRecordsResult(records: RecordBatch(bytes: bytes, records: kept), shardIndex: r.shardIndex, shardCreationSeconds: r.shardCreationSeconds,
                                            nextShardIterator: r.nextShardIterator, millisBehindLatest: r.millisBehindLatest, childShards: r.childShards,
                                            reachedEnd: r.reachedEnd, remoteSequenceNumbers: sequenceNumbers)
            out.append(StreamConsumer.ShardRecords(shardId: p.shardId, result: filtered))
        }
        return out
    }
}
