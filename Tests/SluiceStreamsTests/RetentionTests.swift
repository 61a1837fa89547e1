import Foundation
import Testing
import SluiceCore
@testable import SluiceStreams

@Suite("Retention")
struct RetentionTests {
    func segmentFiles(_ f: StoreFixture, _ stream: String, _ shard: String) -> [String] {
        let dir = f.config.dataDirectory + "/streams/\(stream)/shards/\(shard)"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".seg") }.sorted()
    }

    @Test func expiredRecordsAreHiddenThenTrimmedFromDisk() throws {
        // No trimming as a side effect of reads and writes here: the explicit call does it.
        let f = try StoreFixture { $0.segmentBytes = 4096; $0.trimIntervalMillis = .max / 2 }
        try f.store.createStream(name: "s", shardCount: 1)
        for i in 0..<100 { _ = try f.put("s", "old-\(i)-" + String(repeating: "x", count: 100), key: "k") }
        f.clock.advance(by: 20 * 3_600_000)
        for i in 0..<5 { _ = try f.put("s", "new-\(i)", key: "k") }
        #expect(segmentFiles(f, "s", "shardId-000000000000").count > 3)
        f.clock.advance(by: 5 * 3_600_000)  // the old records are now 25 h old
        let got = try f.readAll("s", "shardId-000000000000")
        #expect(got.map(\.text) == (0..<5).map { "new-\($0)" })
        let removed = try f.store.trimExpired()
        #expect(removed >= 90)  // whole segments of old records; one may share a segment with new ones
        let files = segmentFiles(f, "s", "shardId-000000000000")
        #expect(files.count <= 2)
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == (0..<5).map { "new-\($0)" })
        // Sequence numbers keep rising after a trim and a reopen.
        let last = try #require(got.last.flatMap { SequenceNumber($0.seq) })
        try f.reopen()
        #expect(try f.put("s", "after", key: "k").sequenceNumber > last)
    }

    @Test func aFullyExpiredShardKeepsItsNextIndex() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        var last: SequenceNumber? = nil
        for _ in 0..<10 { last = try f.put("s", "x", key: "k").sequenceNumber }
        f.clock.advance(by: 25 * 3_600_000)
        #expect(try f.store.trimExpired() == 10)
        #expect(try f.readAll("s", "shardId-000000000000").isEmpty)
        try f.reopen()
        let next = try f.put("s", "y", key: "k").sequenceNumber
        #expect(next.index == last!.index + 1)
    }

    @Test func increaseAndDecreaseFollowTheRules() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        try f.store.increaseRetention(name: "s", hours: 168)
        #expect(try f.store.describeStreamSummary(name: "s").retentionHours == 168)
        #expect(throws: StreamError(.invalidArgument,
                                    "Requested retention period (48 hours) for stream s can not be shorter than existing retention period (168 hours). Use DecreaseRetentionPeriod API.")) {
            try f.store.increaseRetention(name: "s", hours: 48)
        }
        #expect(performing: { try f.store.decreaseRetention(name: "s", hours: 200) }, throws: StreamError.code(.invalidArgument))
        #expect(throws: StreamError(.invalidArgument,
                                    "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short.")) {
            try f.store.decreaseRetention(name: "s", hours: 23)
        }
        #expect(throws: StreamError(.invalidArgument,
                                    "Maximum allowed retention period is 8760 hours. Requested retention period (8761 hours) is too long.")) {
            try f.store.increaseRetention(name: "s", hours: 8761)
        }
        try f.store.increaseRetention(name: "s", hours: 8760)
        try f.store.setRetention(name: "s", hours: 24)
        #expect(try f.store.describeStreamSummary(name: "s").retentionHours == 24)
    }

    @Test func decreasingHidesOlderDataAtOnce() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1, retentionHours: 72)
        _ = try f.put("s", "two-days-old", key: "k")
        f.clock.advance(by: 48 * 3_600_000)
        _ = try f.put("s", "fresh", key: "k")
        #expect(try f.readAll("s", "shardId-000000000000").count == 2)
        try f.store.decreaseRetention(name: "s", hours: 24)
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == ["fresh"])
        // Increasing again does not bring trimmed data back.
        try f.store.increaseRetention(name: "s", hours: 72)
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == ["fresh"])
    }

    @Test func closedShardsExpireWithTheirData() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        _ = try f.put("s", "in-parent", key: "k")
        try f.store.splitShard(stream: "s", shardToSplit: "0", newStartingHashKey: "1000000")
        f.clock.advance(by: 23 * 3_600_000)
        #expect(try f.shardIds("s").count == 3)  // the parent is still readable
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == ["in-parent"])
        f.clock.advance(by: 2 * 3_600_000)
        try f.store.trimExpired()
        #expect(try f.shardIds("s") == ["shardId-000000000001", "shardId-000000000002"])
        #expect(performing: { try f.store.getShardIterator(stream: "s", shardId: "0", type: .trimHorizon) },
                throws: StreamError.code(.resourceNotFound))
        #expect(!FileManager.default.fileExists(atPath: f.config.dataDirectory + "/streams/s/shards/shardId-000000000000"))
        try f.reopen()
        #expect(try f.shardIds("s") == ["shardId-000000000001", "shardId-000000000002"])
    }
}

@Suite("Retention, trimmed as a side effect")
struct AutomaticTrimTests {
    @Test func readsAndWritesTrimAtMostOncePerInterval() throws {
        let f = try StoreFixture { $0.segmentBytes = 1024; $0.trimIntervalMillis = 60_000 }
        try f.store.createStream(name: "s", shardCount: 1)
        for i in 0..<50 { _ = try f.put("s", "old-\(i)-" + String(repeating: "x", count: 60), key: "k") }
        let dir = f.config.dataDirectory + "/streams/s/shards/shardId-000000000000"
        let before = try FileManager.default.contentsOfDirectory(atPath: dir).count
        f.clock.advance(by: 25 * 3_600_000)
        _ = try f.put("s", "new", key: "k")
        let after = try FileManager.default.contentsOfDirectory(atPath: dir).count
        #expect(before > 3 && after <= 2)
    }
}

/// Records that bring their own arrival time (a replay's recorded times, a pump's ROWTIME).
@Suite("Recorded arrival times")
struct RecordedArrivalTests {
    static func packed(_ items: [(String, Int64)]) -> PackedRecords {
        var p = PackedRecords()
        for (text, at) in items { Array(text.utf8).withUnsafeBytes { p.append(data: $0, partitionKey: "k", arrival: at) } }
        return p
    }

    /// Each record keeps its own time, never before the one before it in its shard (across puts
    /// too); the sequence number's time field follows; a reopened log reads the same times.
    @Test func eachRecordArrivesAtItsOwnTimeNeverGoingBack() throws {
        let f = try StoreFixture { $0.retentionApplies = false }
        try f.store.createStream(name: "s", shardCount: 1)
        let t0: Int64 = 1_500_000_000_000  // 2017, long before the clock's now
        _ = try f.store.putRecords(stream: "s", packed: Self.packed([("a", t0), ("b", t0 + 5_000), ("c", t0 + 2_000)]))
        _ = try f.store.putRecords(stream: "s", packed: Self.packed([("d", t0 + 1_000), ("e", t0 + 9_000)]))
        func arrivals() throws -> [Int64] {
            let it = try f.store.getShardIterator(stream: "s", shardId: "shardId-000000000000", type: .trimHorizon)
            let r = try f.store.getRecords(shardIterator: it, limit: 100)
            try #require(r.records.count == 5)
            #expect(r.sequenceNumber(1).recordSeconds == UInt64((t0 + 5_000) / 1000))
            return (0..<r.records.count).map { r.records.arrivalMillis($0) }
        }
        let expected = [t0, t0 + 5_000, t0 + 5_000, t0 + 5_000, t0 + 9_000]
        #expect(try arrivals() == expected)
        try f.reopen()
        #expect(try arrivals() == expected)
        // AT_TIMESTAMP finds records by those times.
        let it = try f.store.getShardIterator(stream: "s", shardId: "shardId-000000000000", type: .atTimestamp, timestampMillis: t0 + 6_000)
        #expect(try f.store.getRecords(shardIterator: it, limit: 10).records.count == 1)
    }

    /// Old recorded times are past the retention period on the store's clock: a store whose
    /// retention applies hides them, one that keeps everything (a replay's) serves them.
    @Test func aReplayStoreKeepsRecordsWhateverTheirAge() throws {
        for applies in [true, false] {
            let f = try StoreFixture { $0.retentionApplies = applies }
            try f.store.createStream(name: "s", shardCount: 1)
            _ = try f.store.putRecords(stream: "s", packed: Self.packed([("old", 1_500_000_000_000)]))
            #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == (applies ? [] : ["old"]))
        }
    }
}
