import Foundation
import Testing
import SluiceCore
@testable import SluiceStreams

@Suite("Streams: create, describe, list, delete")
struct StreamLifecycleTests {
    @Test func createGivesEvenRangesAndStartingNumbers() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "clicks", shardCount: 3)
        let d = try f.store.describeStream(name: "clicks")
        #expect(d.shards.map(\.shardId) == ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"])
        #expect(d.shards.map(\.hashKeyRange) == HashKey.evenRanges(count: 3))
        #expect(d.shards.allSatisfy { $0.isOpen && $0.parentShardId == nil })
        #expect(d.status == .active && d.retentionHours == 24 && d.mode == .provisioned)
        let created = UInt64(f.clock.nowMillis() / 1000)
        #expect(d.shards[1].startingSequenceNumber == SequenceNumber(shardCreationSeconds: created, shardIndex: 1, index: 0, recordSeconds: created))
        #expect(openShardsCoverHashSpace(d))
        let json = d.json
        #expect(json["StreamDescription"]?["Shards"]?.arrayValue?.first?["HashKeyRange"]?["EndingHashKey"]
                == "113427455640312821154458202477256070484")
        #expect(json["StreamDescription"]?["StreamARN"] == "arn:aws:kinesis:us-east-1:000000000000:stream/clicks")
    }

    @Test func duplicateNamesAndBadNamesAreRefused() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "a.b-c_1", shardCount: 1)
        #expect(throws: StreamError(.resourceInUse, "Stream a.b-c_1 under account 000000000000 already exists.")) {
            try f.store.createStream(name: "a.b-c_1", shardCount: 1)
        }
        for bad in ["", "has space", "slash/name", "ünïcode", String(repeating: "x", count: 129)] {
            #expect(performing: { try f.store.createStream(name: bad, shardCount: 1) }, throws: StreamError.code(.validation))
        }
        #expect(performing: { try f.store.createStream(name: "zero", shardCount: 0) }, throws: StreamError.code(.validation))
        #expect(performing: { try f.store.createStream(name: "nocount") }, throws: StreamError.code(.invalidArgument))
        #expect(performing: { try f.store.createStream(name: "r", shardCount: 1, retentionHours: 23) }, throws: StreamError.code(.invalidArgument))
        // A name of exactly 128 characters is fine. `.` and `..` would name the streams directory
        // and the data directory itself (creating `..` once deleted every stream): refused.
        try f.store.createStream(name: String(repeating: "x", count: 128), shardCount: 1)
        for bad in [".", ".."] {
            #expect(performing: { try f.store.createStream(name: bad, shardCount: 1) }, throws: StreamError.code(.validation))
            #expect(performing: { try f.store.deleteStream(name: bad) }, throws: StreamError.code(.validation))
        }
        try f.store.createStream(name: "...", shardCount: 1)
        #expect(try f.store.listStreams().names == ["...", "a.b-c_1", String(repeating: "x", count: 128)])
        #expect(FileManager.default.fileExists(atPath: f.config.dataDirectory + "/LOCK"))
    }

    @Test func shardLimitIsStoreWide() throws {
        let f = try StoreFixture { $0.shardLimit = 10 }
        try f.store.createStream(name: "a", shardCount: 6)
        #expect(performing: { try f.store.createStream(name: "b", shardCount: 5) }, throws: { e in
            guard let e = e as? StreamError else { return false }
            return e.code == .limitExceeded && e.message.contains("Current shard count for the account: 6. Limit: 10.")
        })
        try f.store.createStream(name: "b", shardCount: 4)
        #expect(performing: { try f.store.splitShard(stream: "b", shardToSplit: "0", newStartingHashKey: "12345") },
                throws: StreamError.code(.limitExceeded))
    }

    @Test func listAndDeleteStreams() throws {
        let f = try StoreFixture()
        for n in ["c", "a", "b"] { try f.store.createStream(name: n, shardCount: 1) }
        #expect(try f.store.listStreams().names == ["a", "b", "c"])
        let page = try f.store.listStreams(limit: 2)
        #expect(page.names == ["a", "b"] && page.hasMore)
        #expect(try f.store.listStreams(limit: 2, exclusiveStartStreamName: "b").names == ["c"])
        #expect(performing: { try f.store.listStreams(limit: 0) }, throws: StreamError.code(.validation))
        _ = try f.put("b", "x", key: "k")
        try f.store.deleteStream(name: "b")
        #expect(try f.store.listStreams().names == ["a", "c"])
        #expect(throws: StreamError(.resourceNotFound, "Stream b under account 000000000000 not found.")) {
            try f.store.describeStream(name: "b")
        }
        #expect(performing: { try f.store.deleteStream(name: "b") }, throws: StreamError.code(.resourceNotFound))
        // Recreated with the same name, it starts empty.
        try f.store.createStream(name: "b", shardCount: 1)
        #expect(try f.readAll("b", "shardId-000000000000").isEmpty)
    }

    @Test func metadataSurvivesAReopen() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 2, retentionHours: 48)
        try f.store.splitShard(stream: "s", shardToSplit: "shardId-000000000000", newStartingHashKey: "1000")
        try f.store.addTags(name: "s", tags: ["team": "data"])
        let before = try f.store.describeStream(name: "s")
        try f.reopen()
        let after = try f.store.describeStream(name: "s")
        #expect(after.shards == before.shards)
        #expect(after.retentionHours == 48)
        #expect(try f.store.listTags(name: "s").map(\.key) == ["team"])
    }

    @Test func aSecondStoreCannotOpenTheSameDirectory() throws {
        let f = try StoreFixture()
        #expect(performing: { try StreamStore(configuration: f.config) }, throws: { e in
            guard let e = e as? StreamError else { return false }
            return e.code == .dataDirectoryInUse && e.message.contains("in use by another sluice process")
        })
        f.store.close()
        // Once closed, the directory can be opened again.
        let again = try StreamStore(configuration: f.config)
        again.close()
    }

    @Test func tagsFollowTheLimits() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        var tags: [String: String] = [:]
        for i in 0..<50 { tags["k\(i)"] = "v" }
        try f.store.addTags(name: "s", tags: tags)
        #expect(performing: { try f.store.addTags(name: "s", tags: ["one-more": "x"]) }, throws: StreamError.code(.invalidArgument))
        try f.store.removeTags(name: "s", keys: ["k0", "unknown"])
        #expect(try f.store.listTags(name: "s").count == 49)
    }

    @Test func consumersPersistGoWithTheStreamAndFollowTheLimits() throws {
        let f = try StoreFixture { $0.consumerCreationMillis = 2000 }
        try f.store.createStream(name: "s", shardCount: 1)
        let c = try f.store.registerConsumer(stream: "s", name: "c1")
        #expect(c.status == "CREATING" && c.arn == "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c1:\(f.clock.nowMillis() / 1000)")
        #expect(try f.store.describeConsumer(stream: "s", name: "c1").status == "CREATING")
        f.clock.advance(by: 2000)
        #expect(try f.store.describeConsumer(stream: "s", name: "c1").status == "ACTIVE")
        #expect(performing: { try f.store.registerConsumer(stream: "s", name: "c1") }, throws: StreamError.code(.resourceInUse))
        #expect(performing: { try f.store.registerConsumer(stream: "s", name: "bad name") }, throws: StreamError.code(.validation))
        for i in 2...20 { _ = try f.store.registerConsumer(stream: "s", name: "c\(i)") }
        #expect(performing: { try f.store.registerConsumer(stream: "s", name: "c21") }, throws: StreamError.code(.limitExceeded))
        try f.reopen()
        #expect(try f.store.listConsumers(stream: "s").count == 20)
        #expect(try f.store.describeStreamSummary(name: "s").consumerCount == 20)
        #expect(try f.store.resolveConsumer(arn: c.arn, streamName: nil, consumerName: nil) == ("s", "c1"))
        #expect(performing: { try f.store.resolveConsumer(arn: c.arn, streamName: "other", consumerName: nil) }, throws: StreamError.code(.invalidArgument))
        try f.store.deregisterConsumer(stream: "s", name: "c1")
        #expect(performing: { try f.store.resolveConsumer(arn: c.arn, streamName: nil, consumerName: nil) }, throws: StreamError.code(.resourceNotFound))
        #expect(performing: { try f.store.deleteStream(name: "s") }, throws: StreamError.code(.resourceInUse))
        try f.store.deleteStream(name: "s", enforceConsumerDeletion: true)
        try f.store.createStream(name: "s", shardCount: 1)
        #expect(try f.store.listConsumers(stream: "s").isEmpty)
    }

    @Test func creatingAndUpdatingLastTheirConfiguredDelays() throws {
        let f = try StoreFixture { $0.createDelayMillis = 1000; $0.updateDelayMillis = 500 }
        try f.store.createStream(name: "s", shardCount: 2)
        let creating = try f.store.describeStream(name: "s")
        #expect(creating.status == .creating && creating.shards.isEmpty)
        #expect(performing: { try f.put("s", "x", key: "p") }, throws: StreamError.code(.resourceNotFound))
        #expect(performing: { try f.store.updateShardCount(stream: "s", targetShardCount: 3) }, throws: StreamError.code(.resourceInUse))
        #expect(performing: { try f.store.increaseRetention(name: "s", hours: 48) }, throws: StreamError.code(.resourceInUse))
        f.clock.advance(by: 1000)
        #expect(try f.store.describeStream(name: "s").status == .active)
        _ = try f.put("s", "x", key: "p")
        _ = try f.store.updateShardCount(stream: "s", targetShardCount: 3)
        #expect(try f.store.describeStreamSummary(name: "s").status == .updating)
        #expect(performing: { try f.store.updateShardCount(stream: "s", targetShardCount: 4) }, throws: StreamError.code(.resourceInUse))
        _ = try f.put("s", "y", key: "p")
        try f.reopen()
        #expect(try f.store.describeStreamSummary(name: "s").status == .updating)
        f.clock.advance(by: 500)
        #expect(try f.store.describeStreamSummary(name: "s").status == .active)
        _ = try f.store.updateShardCount(stream: "s", targetShardCount: 4)
    }
}
