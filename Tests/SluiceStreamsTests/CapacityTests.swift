import Testing
import SluiceCore
@testable import SluiceStreams

@Suite("Throughput limits")
struct CapacityTests {
    @Test func limitsAreOffByDefault() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        let batch = (0..<500).map { _ in PutRecordsRequestEntry(data: [1], partitionKey: "k") }
        for _ in 0..<4 { #expect(try f.store.putRecords(stream: "s", records: batch).failedRecordCount == 0) }
    }

    @Test func writesPastAThousandRecordsPerSecondAreThrottled() throws {
        let f = try StoreFixture { $0.enforceThroughputLimits = true }
        try f.store.createStream(name: "s", shardCount: 2)
        let ranges = HashKey.evenRanges(count: 2)
        let toShard0 = (0..<500).map { _ in PutRecordsRequestEntry(data: [1], partitionKey: "k", explicitHashKey: "0") }
        #expect(try f.store.putRecords(stream: "s", records: toShard0).failedRecordCount == 0)
        #expect(try f.store.putRecords(stream: "s", records: toShard0).failedRecordCount == 0)
        let third = try f.store.putRecords(stream: "s", records: toShard0)
        #expect(third.failedRecordCount == 500)
        #expect(third.records[0] == .failure(code: .provisionedThroughputExceeded,
                                             message: "Rate exceeded for shard shardId-000000000000 in stream s under account 000000000000."))
        // The other shard has its own budget.
        #expect(try f.put("s", "x", key: "k", ehk: String(ranges[1].lowerBound)).shardIndex == 1)
        #expect(performing: { try f.put("s", "x", key: "k", ehk: "0") }, throws: StreamError.code(.provisionedThroughputExceeded))
        #expect(try f.store.writeCounters(name: "s").throttled == 501)
        f.clock.advance(by: 1000)
        #expect(try f.store.putRecords(stream: "s", records: toShard0).failedRecordCount == 0)
    }

    /// A bulk load is held to the same limits, and says which of its records were refused (those
    /// after the shard's thousandth of the second); only the rest are in the stream.
    @Test func aLoadSaysWhichRecordsTheLimitsRefused() throws {
        let f = try StoreFixture { $0.enforceThroughputLimits = true }
        try f.store.createStream(name: "s", shardCount: 1)
        var packed = PackedRecords()
        for i in 0..<1_300 { Array("r\(i)".utf8).withUnsafeBytes { packed.append(data: $0, partitionKey: "k\(i)") } }
        let result = try f.store.loadRecords(stream: "s", packed: packed)
        #expect(result.count == 1_300)
        #expect(result.failed == Array(1_000..<1_300))
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == (0..<1_000).map { "r\($0)" })
        #expect(try f.store.writeCounters(name: "s").throttled == 300)
    }

    @Test func writesPastOneMebibytePerSecondAreThrottled() throws {
        let f = try StoreFixture { $0.enforceThroughputLimits = true }
        try f.store.createStream(name: "s", shardCount: 1)
        let big = [UInt8](repeating: 0, count: 600_000)
        _ = try f.store.putRecord(stream: "s", data: big, partitionKey: "k")
        #expect(performing: { try f.store.putRecord(stream: "s", data: big, partitionKey: "k") }, throws: StreamError.code(.provisionedThroughputExceeded))
        f.clock.advance(by: 600)
        _ = try f.store.putRecord(stream: "s", data: big, partitionKey: "k")
    }

    @Test func readsPastFiveCallsPerSecondAreThrottled() throws {
        let f = try StoreFixture { $0.enforceThroughputLimits = true }
        try f.store.createStream(name: "s", shardCount: 1)
        let it = try f.store.getShardIterator(stream: "s", shardId: "0", type: .trimHorizon)
        for _ in 0..<5 { _ = try f.store.getRecords(shardIterator: it) }
        #expect(throws: StreamError(.provisionedThroughputExceeded, "Rate exceeded for Shard - shardId-000000000000 in stream s under account 000000000000.")) {
            try f.store.getRecords(shardIterator: it)
        }
        f.clock.advance(by: 1001)
        _ = try f.store.getRecords(shardIterator: it)
    }

    @Test func aLargeReadThrottlesTheFollowingSeconds() throws {
        let f = try StoreFixture { $0.enforceThroughputLimits = true }
        try f.store.createStream(name: "s", shardCount: 1)
        let mb = [UInt8](repeating: 1, count: 900_000)
        for _ in 0..<6 {
            _ = try f.store.putRecord(stream: "s", data: mb, partitionKey: "k")
            f.clock.advance(by: 1000)
        }
        let it = try f.store.getShardIterator(stream: "s", shardId: "0", type: .trimHorizon)
        #expect(try f.store.getRecords(shardIterator: it).records.count == 6)  // 5.4 MB in one call
        f.clock.advance(by: 1100)
        #expect(performing: { try f.store.getRecords(shardIterator: it) }, throws: StreamError.code(.provisionedThroughputExceeded))
        f.clock.advance(by: 2000)
        _ = try f.store.getRecords(shardIterator: it)
    }
}
