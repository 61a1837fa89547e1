import Foundation
import Testing
import SluiceAWS
import SluiceCore
import SluiceKinesis
import SluiceServer
import SluiceStreams
import SluiceTestSupport

/// Reads until two polls in a row bring nothing and nothing is left waiting (at most `maxPolls`
/// polls, for at most `seconds`); returns the records' data in the order they came, per shard in
/// poll order.
func drain(_ reader: RemoteStreamConsumer, limit: Int = 10_000, maxPolls: Int = 400, seconds: Double = 120) throws -> [(shard: String, data: String)] {
    var out: [(shard: String, data: String)] = []
    var quiet = 0
    let deadline = Date().addingTimeInterval(seconds)
    for _ in 0..<maxPolls where Date() < deadline {
        let polled = try reader.poll(limitPerShard: limit)
        var n = 0
        for p in polled {
            for i in 0..<p.result.records.count { out.append((p.shardId, String(decoding: p.result.records.data(i), as: UTF8.self))) }
            n += p.result.records.count
        }
        quiet = n == 0 && !reader.hasMore ? quiet + 1 : 0
        if quiet == 2 { break }
    }
    return out
}

/// Each key's values in the order read.
func byKey(_ records: [(shard: String, data: String)]) -> [String: [Int]] {
    var out: [String: [Int]] = [:]
    for r in records {
        let parts = r.data.split(separator: ":")
        out[String(parts[0]), default: []].append(Int(parts[1])!)
    }
    return out
}

@Suite("A remote Kinesis stream read through GetRecords polling (sluice serve as the endpoint)")
struct RemoteStreamConsumerTests {
    @Test func everyRecordOnceAndEachKeyInOrder() throws {
        let e = try LocalEndpoint()
        try e.store.createStream(name: "events", shardCount: 3)
        try e.put("events", 0..<600)
        let reader = RemoteStreamConsumer(client: e.client("events"), start: .trimHorizon, nowMillis: 0, readsPerSecond: 50)
        #expect(try reader.shardIds().count == 3)
        // Small reads: each shard is read several times, from where the last read ended.
        let got = try drain(reader, limit: 70)
        #expect(got.count == 600)
        for (k, values) in byKey(got) { #expect(values == values.sorted(), "key \(k)") }
        // The positions are the last sequence numbers of each shard, as the store gives them.
        for (shard, r) in try e.stored("events") {
            #expect(reader.positions[shard] == .sequenceNumber(r.sequenceNumber(r.records.count - 1).description))
        }
        // A rewound shard is read again from there.
        let (shard, position) = reader.positions.min { $0.key < $1.key }!
        guard case .sequenceNumber = position else { Issue.record("no position"); return }
        reader.rewind(shard: shard, to: nil)
        let again = try drain(reader)
        #expect(again.count == got.filter { $0.shard == shard }.count && again.allSatisfy { $0.shard == shard })
    }

    @Test func afterAReshardChildrenAreReadOnceTheirParentsEnd() throws {
        let e = try LocalEndpoint()
        try e.store.createStream(name: "events", shardCount: 1)
        try e.put("events", 0..<100)
        let reader = RemoteStreamConsumer(client: e.client("events"), start: .trimHorizon, nowMillis: 0, readsPerSecond: 50)
        let first = try reader.poll(limitPerShard: 40)
        #expect(first.map(\.result.records.count) == [40])
        // Split while the parent is half read; more records go to the children.
        try e.store.splitShard(stream: "events", shardToSplit: "shardId-000000000000", newStartingHashKey: "170141183460469231731687303715884105728")
        try e.put("events", 100..<200)
        var got = first.flatMap { p in (0..<p.result.records.count).map { (shard: p.shardId, data: String(decoding: p.result.records.data($0), as: UTF8.self)) } }
        got += try drain(reader, limit: 40)
        #expect(got.count == 200)
        let parentLast = got.lastIndex { $0.shard == "shardId-000000000000" }!
        let childFirst = got.firstIndex { $0.shard != "shardId-000000000000" }!
        #expect(parentLast < childFirst)
        #expect(reader.positions["shardId-000000000000"] == .shardEnd)
        for (k, values) in byKey(got) { #expect(values == values.sorted(), "key \(k)") }
    }

    @Test func anExpiredIteratorIsRenewedFromTheLastSequenceNumber() throws {
        let clock = ManualClock()
        let e = try LocalEndpoint(clock: clock)
        try e.store.createStream(name: "events", shardCount: 1)
        try e.put("events", 0..<50)
        let reader = RemoteStreamConsumer(client: e.client("events"), start: .trimHorizon, nowMillis: 0, readsPerSecond: 50)
        let before = try drain(reader)
        #expect(before.count == 50)
        // The reader's iterator is now older than the 5 minutes an iterator lives.
        clock.advance(by: 6 * 60_000)
        try e.put("events", 50..<80)
        let after = try drain(reader)
        #expect(after.map(\.data) == (50..<80).map { "k\($0 % 30):\($0)" })
    }

    @Test func latestReadsOnlyWhatArrivesAfterTheReaderStarts() throws {
        let clock = ManualClock()
        let e = try LocalEndpoint(clock: clock)
        try e.store.createStream(name: "events", shardCount: 2)
        try e.put("events", 0..<40)
        clock.advance(by: 1000)
        let reader = RemoteStreamConsumer(client: e.client("events"), start: .latest, nowMillis: clock.nowMillis(), readsPerSecond: 50)
        #expect(try drain(reader).isEmpty)
        try e.put("events", 40..<60)
        #expect(try drain(reader).map(\.data).sorted() == (40..<60).map { "k\($0 % 30):\($0)" }.sorted())
        // A shard set back to no position starts at the reader's start again, not at the newest record.
        reader.rewind(shard: "shardId-000000000000", to: nil)
        reader.rewind(shard: "shardId-000000000001", to: nil)
        #expect(try drain(reader).count == 20)
    }

    @Test func throttlingIsRetriedWithBackoffAndCounted() throws {
        let e = try LocalEndpoint(enforceLimits: true)
        try e.store.createStream(name: "events", shardCount: 1)
        try e.put("events", 0..<300)
        // Asking 40 reads a second of a shard that allows 5: the endpoint throttles, the reader backs off.
        let client = e.client("events")
        let reader = RemoteStreamConsumer(client: client, start: .trimHorizon, nowMillis: 0, readsPerSecond: 40)
        let got = try drain(reader, limit: 25, maxPolls: 2000)
        #expect(got.count == 300)
        #expect(client.throttled.load(ordering: .relaxed) > 0)
    }

    @Test func badCredentialsAMissingStreamAndAnUnreachableEndpointAreNamed() throws {
        let e = try LocalEndpoint(accessKeys: ["AKIDTEST": "secret"])
        try e.store.createStream(name: "events", shardCount: 1)
        #expect(try e.client("events").status() == "ACTIVE")
        do {
            _ = try e.client("events", secret: "not-the-secret").status()
            Issue.record("a wrong secret was taken")
        } catch {
            #expect(error.code == .accessDenied)
            #expect(error.message.contains("refused the credentials") && error.message.contains("AKIDTEST") && error.message.contains("the test"))
            #expect(!error.message.contains("not-the-secret"))
        }
        do {
            _ = try e.client("nothing").status()
            Issue.record("a missing stream was found")
        } catch {
            #expect(error.code == .resourceNotFound && error.message.contains("stream nothing at \(e.endpoint)"))
        }
        // A port nobody listens on (the server's own, once stopped).
        let port = e.server.port
        e.server.stop()
        let gone = KinesisClient(api: AWSJSONClient.kinesis(endpoint: "http://127.0.0.1:\(port)", credentials: AWSCredentials(accessKeyId: "A", secretAccessKey: "B", source: "t"), region: "us-east-1")!,
                                 stream: "events", maxAttempts: 2, baseBackoffMillis: 1)
        do {
            _ = try gone.status()
            Issue.record("an unreachable endpoint answered")
        } catch {
            #expect(error.message.contains("cannot reach Kinesis at http://127.0.0.1:\(port)"))
            #expect(gone.retries.load(ordering: .relaxed) == 1)
        }
    }

    @Test func streamARNsAreParsed() {
        #expect(KinesisClient.parseARN("arn:aws:kinesis:eu-west-1:123456789012:stream/orders")! == ("orders", "eu-west-1"))
        #expect(KinesisClient.parseARN("arn:aws:kinesis:eu-west-1:123456789012:stream/") == nil)
        #expect(KinesisClient.parseARN("arn:aws:firehose:eu-west-1:123456789012:deliverystream/x") == nil)
        #expect(KinesisClient.parseARN("orders") == nil)
    }
}
