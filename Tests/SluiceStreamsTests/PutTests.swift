import Testing
import SluiceCore
@testable import SluiceStreams

@Suite("Writes: PutRecord and PutRecords")
struct PutTests {
    @Test func partitionKeysRouteByMD5() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s3", shardCount: 3)
        try f.store.createStream(name: "s4", shardCount: 4)
        // Golden placements (kinesis-and-firehose.md §2.2): shard in N=3 / N=4.
        for (key, s3, s4) in [("a", 0, 0), ("b", 1, 2), ("hello", 1, 1), ("pk-0", 2, 3)] {
            #expect(try f.put("s3", "x", key: key).shardIndex == UInt32(s3), "\(key)")
            #expect(try f.put("s4", "x", key: key).shardIndex == UInt32(s4), "\(key)")
        }
    }

    @Test func explicitHashKeyOverridesTheKey() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 3)
        #expect(try f.put("s", "x", key: "a", ehk: "340282366920938463463374607431768211455").shardIndex == 2)
        #expect(try f.put("s", "x", key: "b", ehk: "0").shardIndex == 0)
        #expect(throws: StreamError(.invalidArgument,
                                    "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was 340282366920938463463374607431768211456")) {
            try f.put("s", "x", key: "a", ehk: "340282366920938463463374607431768211456")
        }
        #expect(performing: { try f.put("s", "x", key: "a", ehk: "-1") }, throws: StreamError.code(.validation))
        #expect(performing: { try f.put("s", "x", key: "a", ehk: "007") }, throws: StreamError.code(.validation))
    }

    @Test func partitionKeyLengthIsCountedInCharacters() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        _ = try f.put("s", "x", key: String(repeating: "k", count: 256))
        _ = try f.put("s", "x", key: String(repeating: "é", count: 256))  // 512 bytes, 256 characters
        #expect(performing: { try f.put("s", "x", key: String(repeating: "k", count: 257)) }, throws: { e in
            (e as? StreamError)?.code == .validation && (e as? StreamError)?.message.contains("at 'partitionKey'") == true
        })
        #expect(performing: { try f.put("s", "x", key: "") }, throws: StreamError.code(.validation))
    }

    @Test func oversizedRecordsAreRefused() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        _ = try f.store.putRecord(stream: "s", data: [UInt8](repeating: 7, count: (1 << 20) - 1), partitionKey: "k")
        #expect(throws: StreamError.validation("data", "java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]",
                                               "Member must have length less than or equal to 1048576")) {
            try f.store.putRecord(stream: "s", data: [UInt8](repeating: 7, count: (1 << 20) + 1), partitionKey: "k")
        }
        // The key counts toward the limit.
        #expect(performing: { try f.store.putRecord(stream: "s", data: [UInt8](repeating: 7, count: 1 << 20), partitionKey: "k") },
                throws: StreamError.code(.validation))
        #expect(try f.readAll("s", "shardId-000000000000").count == 1)
    }

    @Test func putToAnUnknownStream() throws {
        let f = try StoreFixture()
        #expect(throws: StreamError(.resourceNotFound, "Stream nope under account 000000000000 not found.")) {
            try f.put("nope", "x", key: "k")
        }
    }

    @Test func putRecordsReturnsAResultPerRecordInOrder() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 4)
        let records = (0..<500).map { PutRecordsRequestEntry(data: Array("r\($0)".utf8), partitionKey: "key-\($0 % 37)") }
        let r = try f.store.putRecords(stream: "s", records: records)
        #expect(r.records.count == 500 && r.failedRecordCount == 0)
        var seen = Set<String>()
        for (i, e) in r.records.enumerated() {
            guard case .success(let ok) = e else { Issue.record("record \(i) failed"); continue }
            #expect(ok.shardIndex == UInt32(HashKey.evenRanges(count: 4).firstIndex { $0.contains(HashKey.of(partitionKey: "key-\(i % 37)")) }!))
            #expect(seen.insert(ok.sequenceNumber.description).inserted)  // unique across the stream
        }
        // Within each shard the numbers rise in request order, and reads give back exactly what was put.
        for shard in try f.shardIds("s") {
            let got = try f.readAll("s", shard)
            #expect(zip(got, got.dropFirst()).allSatisfy { SequenceNumber($0.seq)! < SequenceNumber($1.seq)! })
            for g in got { #expect(g.key == "key-\(Int(g.text.dropFirst())! % 37)") }
        }
        #expect(try f.shardIds("s").reduce(0) { $0 + (try f.readAll("s", $1).count) } == 500)
    }

    @Test func putRecordsLimits() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        let one = PutRecordsRequestEntry(data: [1], partitionKey: "k")
        #expect(performing: { try f.store.putRecords(stream: "s", records: Array(repeating: one, count: 501)) }, throws: { e in
            (e as? StreamError)?.code == .validation && (e as? StreamError)?.message.contains("less than or equal to 500") == true
        })
        #expect(performing: { try f.store.putRecords(stream: "s", records: []) }, throws: StreamError.code(.validation))
        let big = PutRecordsRequestEntry(data: [UInt8](repeating: 0, count: 900_000), partitionKey: "k")
        #expect(throws: StreamError(.invalidArgument, "Records size exceeds 5 MB limit")) {
            try f.store.putRecords(stream: "s", records: Array(repeating: big, count: 6))
        }
        // One bad record fails the request as a whole, naming its position; nothing is written.
        var batch = Array(repeating: one, count: 3)
        batch[1].partitionKey = String(repeating: "x", count: 300)
        #expect(performing: { try f.store.putRecords(stream: "s", records: batch) }, throws: { e in
            (e as? StreamError)?.message.contains("at 'records.2.member.partitionKey'") == true
        })
        #expect(try f.readAll("s", "shardId-000000000000").isEmpty)
    }

    @Test func sequenceNumberForOrderingIsHonoured() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        let first = try f.put("s", "1", key: "k")
        // A minimum far ahead in the same shard: the next number still exceeds it.
        let ahead = SequenceNumber(shardCreationSeconds: first.sequenceNumber.shardCreationSeconds, shardIndex: 0,
                                   index: 1_000_000, recordSeconds: first.sequenceNumber.recordSeconds)
        let second = try f.store.putRecord(stream: "s", data: [2], partitionKey: "k", sequenceNumberForOrdering: ahead.description)
        #expect(second.sequenceNumber > ahead)
        let third = try f.store.putRecord(stream: "s", data: [3], partitionKey: "k", sequenceNumberForOrdering: second.sequenceNumber.description)
        #expect(third.sequenceNumber > second.sequenceNumber)
        #expect(throws: StreamError(.invalidArgument,
                                    "ExclusiveMinimumSequenceNumber 12345 used in PutRecord on stream s under account 000000000000 is invalid.")) {
            try f.store.putRecord(stream: "s", data: [4], partitionKey: "k", sequenceNumberForOrdering: "12345")
        }
        // After a split the same key's records land in a younger shard, whose numbers are larger.
        f.clock.advance(by: 2000)
        try f.store.splitShard(stream: "s", shardToSplit: "0", newStartingHashKey: "170141183460469231731687303715884105728")
        let fourth = try f.store.putRecord(stream: "s", data: [5], partitionKey: "k", sequenceNumberForOrdering: third.sequenceNumber.description)
        #expect(fourth.sequenceNumber > third.sequenceNumber)
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text).count == 3)
    }

    @Test func writesAfterDeletionFail() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        try f.store.deleteStream(name: "s")
        #expect(performing: { try f.put("s", "x", key: "k") }, throws: StreamError.code(.resourceNotFound))
    }

    /// A bulk load's put takes a millisecond after every earlier put's to the stream, so two of a
    /// load's puts never share one (records of one millisecond meet queries shard by shard: a
    /// shared one would make a load's order depend on its speed). PutRecords share it, as in
    /// Kinesis; under a clock moved only by hand a load does not run ahead of it.
    @Test func eachBulkLoadPutTakesAMillisecondOfItsOwn() throws {
        /// Time that stands still yet "moves by itself" (a machine loading faster than its clock ticks).
        struct StillClock: SluiceClock { func nowMillis() -> Int64 { 1_704_067_200_000 } }
        func packed(_ n: Int, _ tag: String) -> PackedRecords {
            var p = PackedRecords()
            for i in 0..<n { Array("\(tag)-\(i)".utf8).withUnsafeBytes { p.append(data: $0, partitionKey: "k\(i)") } }
            return p
        }
        func arrivals(_ f: StoreFixture) throws -> [String: Int64] {
            var out: [String: Int64] = [:]
            for shard in try f.store.listShards(streamName: "s").shards {
                var it: String? = try f.store.getShardIterator(stream: "s", shardId: shard.shardId, type: .trimHorizon)
                while let i = it {
                    let r = try f.store.getRecords(shardIterator: i, limit: 10000)
                    for k in 0..<r.records.count { out[String(decoding: r.records.data(k), as: UTF8.self)] = r.records.arrivalMillis(k) }
                    it = r.records.count == 0 ? nil : r.nextShardIterator
                }
            }
            return out
        }
        let t0: Int64 = 1_704_067_200_000
        let still = try StoreFixture { $0.clock = StillClock() }
        try still.store.createStream(name: "s", shardCount: 2)
        _ = try still.store.putRecords(stream: "s", packed: packed(3, "put"))
        _ = try still.store.putRecords(stream: "s", packed: packed(3, "put-again"))
        // More than PutRecords' 500 records at once; each load after every put before it.
        #expect(try still.store.loadRecords(stream: "s", packed: packed(700, "load")).failedRecordCount == 0)
        _ = try still.store.loadRecords(stream: "s", packed: packed(5, "load-again"))
        var want: [String: Int64] = [:]
        for (tag, n, at) in [("put", 3, t0), ("put-again", 3, t0), ("load", 700, t0 + 1), ("load-again", 5, t0 + 2)] {
            for i in 0..<n { want["\(tag)-\(i)"] = at }
        }
        #expect(try arrivals(still) == want)
        // A hand-driven clock: the load keeps its time (a query's step would wait for it otherwise).
        let manual = try StoreFixture()
        try manual.store.createStream(name: "s", shardCount: 2)
        _ = try manual.store.loadRecords(stream: "s", packed: packed(3, "one"))
        _ = try manual.store.loadRecords(stream: "s", packed: packed(3, "two"))
        #expect(Set(try arrivals(manual).values) == [manual.clock.nowMillis()])
    }
}
