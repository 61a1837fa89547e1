import Testing
import SluiceCore
@testable import SluiceStreams

@Suite("Resharding")
struct ReshardingTests {
    @Test func splitClosesTheParentAndCreatesTwoChildren() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 2)
        _ = try f.put("s", "before", key: "a")  // shard 0
        f.clock.advance(by: 5000)
        let key = "85070591730234615865843651857942052864"
        try f.store.splitShard(stream: "s", shardToSplit: "shardId-000000000000", newStartingHashKey: key)
        let d = try f.store.describeStream(name: "s")
        #expect(d.shards.map(\.shardId) == ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000003"])
        let parent = d.shards[0]
        #expect(!parent.isOpen)
        #expect(parent.endingSequenceNumber?.index == SequenceNumber.endingIndex)
        #expect(parent.endingSequenceNumber?.recordSeconds == UInt64(f.clock.nowMillis() / 1000))
        #expect(d.shards[2].hashKeyRange == 0...(UInt128(key)! - 1))
        #expect(d.shards[3].hashKeyRange == UInt128(key)!...HashKey.evenRanges(count: 2)[0].upperBound)
        #expect(d.shards[2].parentShardId == "shardId-000000000000" && d.shards[3].parentShardId == "shardId-000000000000")
        #expect(openShardsCoverHashSpace(d))
        // New writes go to the child; the parent keeps its records and ends with its children named.
        #expect(try f.put("s", "after", key: "a").shardIndex == 2)
        let it = try f.store.getShardIterator(stream: "s", shardId: "0", type: .trimHorizon)
        let r = try f.store.getRecords(shardIterator: it)
        #expect(r.records.count == 1 && r.nextShardIterator == nil)
        #expect(r.childShards?.map(\.shardId) == ["shardId-000000000002", "shardId-000000000003"])
        #expect(r.childShards?.first?.parentShards == ["shardId-000000000000"])
        // The ending sequence number is a valid position: nothing lies beyond it.
        let end = try f.store.getShardIterator(stream: "s", shardId: "0", type: .atSequenceNumber,
                                               startingSequenceNumber: parent.endingSequenceNumber!.description)
        let r2 = try f.store.getRecords(shardIterator: end)
        #expect(r2.records.count == 0 && r2.nextShardIterator == nil)
        // LATEST on a closed shard is its end.
        let latest = try f.store.getRecords(shardIterator: f.store.getShardIterator(stream: "s", shardId: "0", type: .latest))
        #expect(latest.nextShardIterator == nil)
    }

    @Test func splitArgumentErrors() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        for key in ["0", "1", "340282366920938463463374607431768211455"] {
            #expect(performing: { try f.store.splitShard(stream: "s", shardToSplit: "0", newStartingHashKey: key) }, throws: { e in
                (e as? StreamError)?.message.contains("is not both greater than one plus the shard's StartingHashKey 0") == true
            })
        }
        #expect(performing: { try f.store.splitShard(stream: "s", shardToSplit: "0", newStartingHashKey: "abc") }, throws: StreamError.code(.validation))
        #expect(performing: { try f.store.splitShard(stream: "s", shardToSplit: "9", newStartingHashKey: "100") }, throws: StreamError.code(.resourceNotFound))
        try f.store.splitShard(stream: "s", shardToSplit: "0", newStartingHashKey: "2")
        #expect(throws: StreamError(.invalidArgument,
                                    "Shard shardId-000000000000 in stream s under account 000000000000 has already been merged or split, and thus is not eligible for merging or splitting.")) {
            try f.store.splitShard(stream: "s", shardToSplit: "0", newStartingHashKey: "100")
        }
    }

    @Test func mergeNeedsAnAdjacentPairInOrder() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 3)
        #expect(throws: StreamError(.invalidArgument,
                                    "Shards shardId-000000000000 and shardId-000000000002 in stream s under account 000000000000 are not an adjacent pair of shards eligible for merging")) {
            try f.store.mergeShards(stream: "s", shardToMerge: "0", adjacentShardToMerge: "2")
        }
        #expect(performing: { try f.store.mergeShards(stream: "s", shardToMerge: "1", adjacentShardToMerge: "0") }, throws: StreamError.code(.invalidArgument))
        #expect(performing: { try f.store.mergeShards(stream: "s", shardToMerge: "1", adjacentShardToMerge: "1") }, throws: StreamError.code(.invalidArgument))
        _ = try f.put("s", "in-0", key: "a")
        try f.store.mergeShards(stream: "s", shardToMerge: "0", adjacentShardToMerge: "1")
        let d = try f.store.describeStream(name: "s")
        let child = d.shards.last!
        #expect(child.shardId == "shardId-000000000003")
        #expect(child.parentShardId == "shardId-000000000000" && child.adjacentParentShardId == "shardId-000000000001")
        #expect(child.hashKeyRange == 0...HashKey.evenRanges(count: 3)[1].upperBound)
        #expect(openShardsCoverHashSpace(d))
        #expect(try f.put("s", "in-child", key: "a").shardIndex == 3)
        let r = try f.store.getRecords(shardIterator: f.store.getShardIterator(stream: "s", shardId: "1", type: .trimHorizon))
        #expect(r.nextShardIterator == nil && r.childShards?.first?.parentShards == ["shardId-000000000000", "shardId-000000000001"])
        #expect(performing: { try f.store.mergeShards(stream: "s", shardToMerge: "0", adjacentShardToMerge: "1") }, throws: StreamError.code(.invalidArgument))
    }

    @Test(arguments: [(1, 2), (3, 5), (4, 2), (5, 3), (4, 8), (7, 4), (6, 6)])
    func uniformScalingEndsWithEvenRanges(_ from: Int, _ to: Int) throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: from)
        for i in 0..<200 { _ = try f.put("s", "before-\(i)", key: "k\(i)") }
        let r = try f.store.updateShardCount(stream: "s", targetShardCount: to)
        #expect(r.current == from && r.target == to)
        let d = try f.allShards("s")
        let open = d.filter(\.isOpen).sorted { $0.hashKeyRange.lowerBound < $1.hashKeyRange.lowerBound }
        #expect(open.map(\.hashKeyRange) == HashKey.evenRanges(count: to))
        #expect(openShardsCoverHashSpace(d))
        // Each child has at most two parents, and every record is still readable.
        #expect(d.allSatisfy { [$0.parentShardId, $0.adjacentParentShardId].compactMap { $0 }.count <= 2 })
        let total = try d.reduce(0) { $0 + (try f.readAll("s", $1.shardId).count) }
        #expect(total == 200)
        for i in 0..<50 {
            let put = try f.put("s", "after", key: "k\(i)")
            #expect(open.first { $0.shardId == put.shardId }!.hashKeyRange.contains(HashKey.of(partitionKey: "k\(i)")))
        }
    }

    @Test func scalingLimits() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 4)
        #expect(throws: StreamError(.limitExceeded, "UpdateShardCount cannot scale up over double your current open shard count. Current open shard count: 4 Target shard count: 9")) {
            try f.store.updateShardCount(stream: "s", targetShardCount: 9)
        }
        #expect(performing: { try f.store.updateShardCount(stream: "s", targetShardCount: 1) }, throws: StreamError.code(.limitExceeded))
        #expect(performing: { try f.store.updateShardCount(stream: "s", targetShardCount: 0) }, throws: StreamError.code(.validation))
    }

    @Test func randomReshardsKeepTheHashSpaceCovered() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 2)
        var rng = SplitMix64(seed: 7)
        for step in 0..<60 {
            let open = try f.allShards("s").filter(\.isOpen)
                .sorted { $0.hashKeyRange.lowerBound < $1.hashKeyRange.lowerBound }
            switch rng.next() % 3 {
            case 0:
                let s = open[Int(rng.next() % UInt64(open.count))]
                let width = s.hashKeyRange.upperBound - s.hashKeyRange.lowerBound
                if width > 4 {
                    let key = s.hashKeyRange.lowerBound + 2 + UInt128(rng.next()) % (width - 3)
                    try f.store.splitShard(stream: "s", shardToSplit: s.shardId, newStartingHashKey: String(key))
                }
            case 1 where open.count > 1:
                let i = Int(rng.next() % UInt64(open.count - 1))
                try f.store.mergeShards(stream: "s", shardToMerge: open[i].shardId, adjacentShardToMerge: open[i + 1].shardId)
            default:
                let low = (open.count + 1) / 2, high = open.count * 2
                try f.store.updateShardCount(stream: "s", targetShardCount: low + Int(rng.next() % UInt64(high - low + 1)))
            }
            _ = try f.put("s", "step-\(step)", key: "key-\(step)")
            #expect(openShardsCoverHashSpace(try f.allShards("s")), "after step \(step)")
        }
    }

    @Test func onDemandStreamsCannotBeReshardedByHand() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", mode: .onDemand)
        #expect(try f.store.describeStreamSummary(name: "s").openShardCount == 4)
        #expect(throws: StreamError(.validation, "Request is invalid. Stream s under account 000000000000 is in On-Demand mode.")) {
            try f.store.updateShardCount(stream: "s", targetShardCount: 8)
        }
        #expect(performing: { try f.store.splitShard(stream: "s", shardToSplit: "0", newStartingHashKey: "100") }, throws: StreamError.code(.validation))
    }

    @Test func onDemandStreamsGrowWithThroughput() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", mode: .onDemand)
        // 4 shards can take 4,000 records/s; a second with 2,500 is past half of that.
        let batch = (0..<500).map { PutRecordsRequestEntry(data: [1, 2, 3], partitionKey: "k\($0)") }
        for _ in 0..<5 { _ = try f.store.putRecords(stream: "s", records: batch) }
        #expect(try f.store.describeStreamSummary(name: "s").openShardCount == 4)
        f.clock.advance(by: 1000)
        _ = try f.store.putRecords(stream: "s", records: batch)
        let d = try f.store.describeStream(name: "s", limit: 10000)
        #expect(d.openShardCount == 8)
        #expect(openShardsCoverHashSpace(d))
        // A quiet stream stays as it is.
        f.clock.advance(by: 120_000)
        _ = try f.store.putRecords(stream: "s", records: Array(batch.prefix(10)))
        #expect(try f.store.describeStreamSummary(name: "s").openShardCount == 8)
    }
}
