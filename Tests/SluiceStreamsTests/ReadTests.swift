import Testing
import SluiceCore
@testable import SluiceStreams

@Suite("Reads: iterators and GetRecords")
struct ReadTests {
    func fixture(records: Int = 10) throws -> (StoreFixture, [PutRecordResult]) {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        var out: [PutRecordResult] = []
        for i in 0..<records {
            out.append(try f.put("s", "r\(i)", key: "k"))
            f.clock.advance(by: 1000)
        }
        return (f, out)
    }

    func texts(_ f: StoreFixture, _ it: String, limit: Int = 10000) throws -> [String] {
        let r = try f.store.getRecords(shardIterator: it, limit: limit)
        return (0..<r.records.count).map { String(decoding: r.records.data($0), as: UTF8.self) }
    }

    @Test func everyIteratorTypeStartsWhereItShould() throws {
        let (f, puts) = try fixture()
        let sid = "shardId-000000000000"
        #expect(try texts(f, f.store.getShardIterator(stream: "s", shardId: sid, type: .trimHorizon)).first == "r0")
        #expect(try texts(f, f.store.getShardIterator(stream: "s", shardId: sid, type: .atSequenceNumber,
                                                      startingSequenceNumber: puts[4].sequenceNumber.description)).first == "r4")
        #expect(try texts(f, f.store.getShardIterator(stream: "s", shardId: sid, type: .afterSequenceNumber,
                                                      startingSequenceNumber: puts[4].sequenceNumber.description)).first == "r5")
        // Record i arrived at start + i seconds.
        let start = f.clock.nowMillis() - 10_000
        #expect(try texts(f, f.store.getShardIterator(stream: "s", shardId: sid, type: .atTimestamp, timestampMillis: start + 6500)).first == "r7")
        #expect(try texts(f, f.store.getShardIterator(stream: "s", shardId: sid, type: .atTimestamp, timestampMillis: 0)).first == "r0")
        // LATEST sees only what comes after it.
        let latest = try f.store.getShardIterator(stream: "s", shardId: sid, type: .latest)
        #expect(try texts(f, latest).isEmpty)
        _ = try f.put("s", "new", key: "k")
        #expect(try texts(f, latest) == ["new"])
        // The starting sequence number of a shard reads from its first record.
        let startSeq = try f.store.describeStream(name: "s").shards[0].startingSequenceNumber.description
        #expect(try texts(f, f.store.getShardIterator(stream: "s", shardId: sid, type: .atSequenceNumber, startingSequenceNumber: startSeq)).first == "r0")
    }

    /// Reads size their first chunk by the frames seen so far: records far larger or smaller than
    /// that guess, a page at a time, still come back whole and in order.
    @Test(arguments: [true, false])
    func pagesOfMixedSizesComeBackWhole(mapped: Bool) throws {
        let f = try StoreFixture { $0.mapSegments = mapped }
        try f.store.createStream(name: "s", shardCount: 1)
        var sizes: [Int] = []
        for i in 0..<60 { sizes.append(i % 20 == 7 ? 900_000 + i : (i < 30 ? 10 + i : 3_000 + 7 * i)) }
        func text(_ i: Int) -> String { String(repeating: Character(UnicodeScalar(UInt8(97 + i % 26))), count: sizes[i]) }
        for i in sizes.indices { _ = try f.put("s", text(i), key: "k\(i)") }
        for limit in [1, 3, 7, 10000] {
            var it: String? = try f.store.getShardIterator(stream: "s", shardId: "shardId-000000000000", type: .trimHorizon)
            var got: [String] = []
            while let i = it {
                let r = try f.store.getRecords(shardIterator: i, limit: limit)
                if r.records.count == 0 { break }
                #expect(r.records.count <= limit)
                got += (0..<r.records.count).map { String(decoding: r.records.data($0), as: UTF8.self) }
                it = r.nextShardIterator
            }
            #expect(got.count == sizes.count, "limit \(limit)")
            #expect(got == sizes.indices.map(text), "limit \(limit)")
        }
    }

    /// A read's records come from one segment (one buffer, or one mapping): across small
    /// segments the pages stop at each segment's end, say how far behind they are, and together
    /// hold every record once, in order; mapped or copied alike.
    @Test(arguments: [true, false])
    func readsStopAtSegmentEnds(mapped: Bool) throws {
        let f = try StoreFixture { $0.segmentBytes = 4096; $0.mapSegments = mapped }
        try f.store.createStream(name: "s", shardCount: 1)
        let texts = (0..<200).map { "record-\($0)-" + String(repeating: "y", count: $0 % 50) }
        for t in texts {
            _ = try f.put("s", t, key: "k")
            f.clock.advance(by: 10)
        }
        var it: String? = try f.store.getShardIterator(stream: "s", shardId: "shardId-000000000000", type: .trimHorizon)
        var got: [String] = []
        var pages = 0
        while let i = it {
            let r = try f.store.getRecords(shardIterator: i, limit: 10000)
            if r.records.count == 0 { break }
            pages += 1
            got += (0..<r.records.count).map { String(decoding: r.records.data($0), as: UTF8.self) }
            if got.count < texts.count { #expect(r.millisBehindLatest > 0) }
            it = r.nextShardIterator
        }
        #expect(got == texts)
        #expect(pages > 3)  // 200 records of 30-80 bytes do not fit one 4 KiB segment
    }

    /// Records read before their segment is trimmed stay readable: the batch keeps the segment's
    /// mapping (or its own copy) after the file is deleted.
    @Test(arguments: [true, false])
    func aBatchOutlivesItsTrimmedSegment(mapped: Bool) throws {
        let f = try StoreFixture { $0.segmentBytes = 4096; $0.trimIntervalMillis = .max / 2; $0.mapSegments = mapped }
        try f.store.createStream(name: "s", shardCount: 1)
        for i in 0..<60 { _ = try f.put("s", "old-\(i)-" + String(repeating: "z", count: 80), key: "k") }
        let it = try f.store.getShardIterator(stream: "s", shardId: "shardId-000000000000", type: .trimHorizon)
        let r = try f.store.getRecords(shardIterator: it, limit: 10000)
        let before = (0..<r.records.count).map { String(decoding: r.records.data($0), as: UTF8.self) }
        #expect(before.count > 10)
        f.clock.advance(by: 25 * 3_600_000)
        _ = try f.put("s", "new", key: "k")
        #expect(try f.store.trimExpired() >= before.count)  // whole segments: the one read from, at least
        #expect((0..<r.records.count).map { String(decoding: r.records.data($0), as: UTF8.self) } == before)
        #expect(before.first == "old-0-" + String(repeating: "z", count: 80))
    }

    @Test func nextIteratorsWalkTheShardInPages() throws {
        let (f, _) = try fixture(records: 25)
        var it: String? = try f.store.getShardIterator(stream: "s", shardId: "shardId-000000000000", type: .trimHorizon)
        var got: [String] = []
        var pages = 0
        while let i = it {
            let r = try f.store.getRecords(shardIterator: i, limit: 7)
            got += (0..<r.records.count).map { String(decoding: r.records.data($0), as: UTF8.self) }
            pages += 1
            if r.records.count == 0 { #expect(r.millisBehindLatest == 0); break }
            it = r.nextShardIterator
        }
        #expect(got == (0..<25).map { "r\($0)" })
        #expect(pages == 5)
    }

    @Test func millisBehindLatestMeasuresTheBacklog() throws {
        let (f, _) = try fixture(records: 5)
        let it = try f.store.getShardIterator(stream: "s", shardId: "shardId-000000000000", type: .trimHorizon)
        let first = try f.store.getRecords(shardIterator: it, limit: 2)
        // The next unread record (r2) arrived 3 s before now (records every second, clock 1 s past the last).
        #expect(first.millisBehindLatest == 3000)
        let rest = try f.store.getRecords(shardIterator: first.nextShardIterator!, limit: 100)
        #expect(rest.records.count == 3 && rest.millisBehindLatest == 0)
    }

    @Test func getRecordsStopsAtTenMebibytes() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        let mb = [UInt8](repeating: 65, count: 1_000_000)
        for _ in 0..<12 { _ = try f.store.putRecord(stream: "s", data: mb, partitionKey: "k") }
        let it = try f.store.getShardIterator(stream: "s", shardId: "0", type: .trimHorizon)
        let r = try f.store.getRecords(shardIterator: it)
        #expect(r.records.count == 10)
        #expect(r.records.payloadBytes <= 10 << 20)
        let r2 = try f.store.getRecords(shardIterator: r.nextShardIterator!)
        #expect(r2.records.count == 2)
    }

    @Test func iteratorArgumentErrors() throws {
        let (f, puts) = try fixture(records: 2)
        let sid = "shardId-000000000000"
        #expect(performing: { try f.store.getShardIterator(stream: "s", shardId: sid, type: .atSequenceNumber) }, throws: { e in
            (e as? StreamError)?.message.hasSuffix("Request specified AT_SEQUENCE_NUMBER and no StartingSequenceNumber.") == true
        })
        #expect(performing: {
            try f.store.getShardIterator(stream: "s", shardId: sid, type: .trimHorizon, startingSequenceNumber: puts[0].sequenceNumber.description)
        }, throws: { e in (e as? StreamError)?.message.hasSuffix("Request specified TRIM_HORIZON and also a StartingSequenceNumber.") == true })
        #expect(performing: { try f.store.getShardIterator(stream: "s", shardId: sid, type: .atTimestamp) }, throws: StreamError.code(.invalidArgument))
        #expect(performing: {
            try f.store.getShardIterator(stream: "s", shardId: sid, type: .atTimestamp, timestampMillis: f.clock.nowMillis() + 1)
        }, throws: { e in (e as? StreamError)?.message.hasPrefix("The timestampInMillis parameter cannot be greater than the currentTimestampInMillis") == true })
        #expect(throws: StreamError(.invalidArgument,
                                    "StartingSequenceNumber 42 used in GetShardIterator on shard shardId-000000000000 in stream s under account 000000000000 is invalid.")) {
            try f.store.getShardIterator(stream: "s", shardId: sid, type: .atSequenceNumber, startingSequenceNumber: "42")
        }
        let other = SequenceNumber(shardCreationSeconds: puts[0].sequenceNumber.shardCreationSeconds, shardIndex: 5, index: 0, recordSeconds: 0)
        #expect(throws: StreamError(.invalidArgument,
                                    "Invalid StartingSequenceNumber. It encodes shardId-000000000005, while it was used in a call to a shard with shardId-000000000000")) {
            try f.store.getShardIterator(stream: "s", shardId: sid, type: .atSequenceNumber, startingSequenceNumber: other.description)
        }
        let foreign = SequenceNumber(shardCreationSeconds: 1_500_000_000, shardIndex: 0, index: 0, recordSeconds: 0)
        #expect(performing: {
            try f.store.getShardIterator(stream: "s", shardId: sid, type: .atSequenceNumber, startingSequenceNumber: foreign.description)
        }, throws: { e in (e as? StreamError)?.message.hasSuffix("because it did not come from this stream.") == true })
    }

    @Test func unknownShardsAndStreams() throws {
        let (f, _) = try fixture(records: 1)
        #expect(throws: StreamError(.resourceNotFound, "Shard shardId-000000000007 in stream s under account 000000000000 does not exist")) {
            try f.store.getShardIterator(stream: "s", shardId: "shardId-000000000007", type: .latest)
        }
        #expect(throws: StreamError(.resourceNotFound, "Could not find shard bogus in stream s under account 000000000000.")) {
            try f.store.getShardIterator(stream: "s", shardId: "bogus", type: .latest)
        }
        #expect(throws: StreamError(.resourceNotFound, "Shard shardId-000000000000 in stream nope under account 000000000000 does not exist")) {
            try f.store.getShardIterator(stream: "nope", shardId: "0", type: .latest)
        }
    }

    @Test func malformedAndExpiredIterators() throws {
        let (f, _) = try fixture(records: 1)
        let it = try f.store.getShardIterator(stream: "s", shardId: "0", type: .trimHorizon)
        for bad in ["", "garbage", String(it.dropLast(4)) + "AAAA", String(repeating: "A", count: 600)] {
            #expect(throws: StreamError(.invalidArgument, "Invalid ShardIterator.")) { try f.store.getRecords(shardIterator: bad) }
        }
        // The AWS CLI may pass an iterator in quotes.
        #expect(try f.store.getRecords(shardIterator: "\"\(it)\"").records.count == 1)
        f.clock.advance(by: 300_000)
        #expect(try f.store.getRecords(shardIterator: it).records.count == 1)  // exactly 5 minutes: still valid
        f.clock.advance(by: 1)
        #expect(performing: { try f.store.getRecords(shardIterator: it) }, throws: { e in
            guard let e = e as? StreamError else { return false }
            return e.code == .expiredIterator && e.message.contains("tolerated delay of 300000 milliseconds")
        })
        // Deleting the stream makes its iterators point at nothing.
        let fresh = try f.store.getShardIterator(stream: "s", shardId: "0", type: .trimHorizon)
        try f.store.deleteStream(name: "s")
        #expect(performing: { try f.store.getRecords(shardIterator: fresh) }, throws: StreamError.code(.resourceNotFound))
    }

    @Test func iteratorExpiryIsConfigurable() throws {
        let f = try StoreFixture { $0.iteratorTTLMillis = 1000 }
        try f.store.createStream(name: "s", shardCount: 1)
        let it = try f.store.getShardIterator(stream: "s", shardId: "0", type: .trimHorizon)
        f.clock.advance(by: 1001)
        #expect(performing: { try f.store.getRecords(shardIterator: it) }, throws: StreamError.code(.expiredIterator))
    }

    @Test func limitBounds() throws {
        let (f, _) = try fixture(records: 1)
        let it = try f.store.getShardIterator(stream: "s", shardId: "0", type: .trimHorizon)
        #expect(throws: StreamError.validation("limit", "10001", "Member must have value less than or equal to 10000")) {
            try f.store.getRecords(shardIterator: it, limit: 10001)
        }
        #expect(performing: { try f.store.getRecords(shardIterator: it, limit: 0) }, throws: StreamError.code(.validation))
    }

    @Test func recordsRoundTripByteForByte() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        let payloads: [[UInt8]] = [[], [0], [0, 255, 10, 13], Array(0...255), [UInt8](repeating: 9, count: 70_000)]
        for (i, p) in payloads.enumerated() { _ = try f.store.putRecord(stream: "s", data: p, partitionKey: "ключ-\(i)") }
        let r = try f.store.getRecords(shardIterator: f.store.getShardIterator(stream: "s", shardId: "0", type: .trimHorizon))
        #expect((0..<r.records.count).map { r.records.data($0) } == payloads)
        #expect((0..<r.records.count).map { r.records.partitionKey($0) } == payloads.indices.map { "ключ-\($0)" })
    }
}
