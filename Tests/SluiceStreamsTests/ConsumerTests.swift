import Testing
import SluiceCore
@testable import SluiceStreams

@Suite("Consumer applications and ListShards")
struct ConsumerTests {
    func drain(_ c: StreamConsumer) throws -> [String] {
        var out: [String] = []
        while true {
            let batches = try c.poll()
            if batches.isEmpty { return out }
            for b in batches { for i in 0..<b.result.records.count { out.append(String(decoding: b.result.records.data(i), as: UTF8.self)) } }
        }
    }

    @Test func checkpointsAreDurableAndResumeWhereTheyLeftOff() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 2)
        for i in 0..<10 { _ = try f.put("s", "a\(i)", key: "k\(i)") }
        let c = try StreamConsumer(store: f.store, stream: "s", application: "app")
        #expect(try drain(c).sorted() == (0..<10).map { "a\($0)" }.sorted())
        try c.checkpoint()
        for i in 0..<5 { _ = try f.put("s", "b\(i)", key: "k\(i)") }
        try f.reopen()
        let again = try StreamConsumer(store: f.store, stream: "s", application: "app")
        #expect(try drain(again).sorted() == (0..<5).map { "b\($0)" }.sorted())
        // Another application has its own checkpoints.
        let other = try StreamConsumer(store: f.store, stream: "s", application: "other")
        #expect(try drain(other).count == 15)
        // Read but not checkpointed: read again after a restart.
        try f.reopen()
        #expect(try drain(try StreamConsumer(store: f.store, stream: "s", application: "app")).count == 5)
    }

    @Test func parentsAreFinishedBeforeChildren() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        for i in 0..<5 { _ = try f.put("s", "k-\(i)", key: "k") }
        try f.store.splitShard(stream: "s", shardToSplit: "0", newStartingHashKey: "170141183460469231731687303715884105728")
        for i in 5..<10 { _ = try f.put("s", "k-\(i)", key: "k") }
        try f.store.updateShardCount(stream: "s", targetShardCount: 1)
        for i in 10..<15 { _ = try f.put("s", "k-\(i)", key: "k") }
        let c = try StreamConsumer(store: f.store, stream: "s", application: "app")
        // Reading child before parent would put k-5 before k-0; the consumer must not.
        #expect(try drain(c) == (0..<15).map { "k-\($0)" })
        #expect(c.positions["shardId-000000000000"] == .shardEnd)
        try c.checkpoint()
        try f.reopen()
        let again = try StreamConsumer(store: f.store, stream: "s", application: "app")
        #expect(again.checkpointed["shardId-000000000000"] == .shardEnd)
        #expect(try drain(again).isEmpty)
    }

    /// A reader starting at `.last(n)` begins n records before each shard's end, closed parents
    /// too (after a reshard the newest records may be theirs), and reads a shard with fewer from
    /// its start; `.latest` after every shard's newest record (a closed parent was read from its
    /// start: all of its records for a reader of "latest"); `.earliest` from the starts.
    @Test func startingAtTheLastRecordsOfEachShard() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        for i in 0..<8 { _ = try f.put("s", "k-\(i)", key: "k") }
        try f.store.splitShard(stream: "s", shardToSplit: "0", newStartingHashKey: "170141183460469231731687303715884105728")
        for i in 8..<10 { _ = try f.put("s", "k-\(i)", key: "k") }
        var apps = 0
        func read(_ start: ReadStart) throws -> [String] {
            apps += 1
            let c = try StreamConsumer(store: f.store, stream: "s", application: "app-\(apps)")
            c.seek(to: f.store.positions(start, stream: "s"))
            return try drain(c)
        }
        #expect(try read(.last(3)) == ["k-5", "k-6", "k-7", "k-8", "k-9"])
        #expect(try read(.last(100)) == (0..<10).map { "k-\($0)" })
        #expect(try read(.latest) == [])
        _ = try f.put("s", "k-10", key: "k")
        // Per shard: the parent's last, then the child's (the other child has none).
        #expect(try read(.latest) == [] && read(.last(1)) == ["k-7", "k-10"])
        #expect(try read(.earliest) == (0..<11).map { "k-\($0)" })
    }

    @Test func explicitCheckpointOfOneShard() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        var seqs: [String] = []
        for i in 0..<6 { seqs.append(try f.put("s", "r\(i)", key: "k").sequenceNumber.description) }
        let c = try StreamConsumer(store: f.store, stream: "s", application: "app")
        try c.checkpoint(shardId: "shardId-000000000000", sequenceNumber: seqs[2])
        #expect(try drain(try StreamConsumer(store: f.store, stream: "s", application: "app")) == ["r3", "r4", "r5"])
        #expect(performing: { try c.checkpoint(shardId: "shardId-000000000000", sequenceNumber: "7") }, throws: StreamError.code(.invalidArgument))
        #expect(performing: { try StreamConsumer(store: f.store, stream: "s", application: "bad name") }, throws: StreamError.code(.validation))
    }

    @Test func listShardsFiltersAndPages() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 3)
        f.clock.advance(by: 10_000)
        let splitTime = f.clock.nowMillis()
        try f.store.splitShard(stream: "s", shardToSplit: "1", newStartingHashKey: "150000000000000000000000000000000000000")
        f.clock.advance(by: 10_000)
        func ids(_ filter: ShardFilter?) throws -> [String] {
            try f.store.listShards(streamName: "s", filter: filter).shards.map { String($0.shardId.suffix(1)) }
        }
        #expect(try ids(nil) == ["0", "1", "2", "3", "4"])
        #expect(try ids(.atLatest) == ["0", "2", "3", "4"])
        #expect(try ids(.afterShardId("shardId-000000000002")) == ["3", "4"])
        #expect(try ids(.atTrimHorizon) == ["0", "1", "2"])
        #expect(try ids(.atTimestamp(splitTime - 1)) == ["0", "1", "2"])
        #expect(try ids(.atTimestamp(splitTime + 1)) == ["0", "2", "3", "4"])
        #expect(try ids(.fromTimestamp(splitTime - 1)) == ["0", "1", "2", "3", "4"])
        // Paging with NextToken, which keeps the filter.
        let first = try f.store.listShards(streamName: "s", maxResults: 2, filter: .atLatest)
        #expect(first.shards.map(\.shardId) == ["shardId-000000000000", "shardId-000000000002"])
        let token = try #require(first.nextToken)
        let second = try f.store.listShards(streamName: nil, nextToken: token, maxResults: 2)
        #expect(second.shards.map(\.shardId) == ["shardId-000000000003", "shardId-000000000004"])
        #expect(second.nextToken == nil)
        #expect(throws: StreamError(.invalidArgument, "NextToken and StreamName cannot be provided together.")) {
            try f.store.listShards(streamName: "s", nextToken: token)
        }
        #expect(throws: StreamError(.invalidArgument, "Either NextToken or StreamName should be provided.")) {
            try f.store.listShards(streamName: nil)
        }
        #expect(performing: { try f.store.listShards(streamName: nil, nextToken: "bogus") }, throws: StreamError.code(.invalidArgument))
        f.clock.advance(by: 300_001)
        #expect(performing: { try f.store.listShards(streamName: nil, nextToken: token) }, throws: StreamError.code(.expiredNextToken))
        #expect(performing: { try f.store.listShards(streamName: "s", maxResults: 10001) }, throws: StreamError.code(.validation))
    }

    @Test func describeStreamPages() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 150)
        let first = try f.store.describeStream(name: "s", limit: 1000)
        #expect(first.shards.count == 100 && first.hasMoreShards)
        let rest = try f.store.describeStream(name: "s", limit: 1000, exclusiveStartShardId: first.shards.last!.shardId)
        #expect(rest.shards.count == 50 && !rest.hasMoreShards)
    }
}
