import Foundation
import Testing
import SluiceAWS
import SluiceCore
import SluiceKinesis
import SluiceServer
import SluiceStreams
import SluiceTestSupport

/// Enhanced fan-out: a registered consumer reading a remote stream through SubscribeToShard,
/// with sluice serve's API in this process as the endpoint (its event stream checked against
/// boto3 by the conformance suite).
@Suite("A remote Kinesis stream read through enhanced fan-out (SubscribeToShard)")
struct FanOutTests {
    /// Drains a fan-out reader: polls until it says nothing is left, for `seconds` at most.
    static func drainAll(_ reader: RemoteStreamConsumer, seconds: Double = 30) throws -> [(shard: String, data: String)] {
        try drain(reader, maxPolls: .max, seconds: seconds)
    }

    /// A reader of every shard from TRIM_HORIZON through enhanced fan-out as consumer `app`
    /// (registered, or found registered, and ACTIVE).
    static func reader(_ client: KinesisClient) throws -> RemoteStreamConsumer {
        RemoteStreamConsumer(client: client, start: .trimHorizon, nowMillis: 0, consumerARN: try client.registeredConsumer("app"))
    }

    /// Drains again and again until `count` records came (records put while it reads), for
    /// `seconds` at most.
    static func read(_ reader: RemoteStreamConsumer, count: Int, seconds: Double) throws -> [(shard: String, data: String)] {
        var got: [(shard: String, data: String)] = []
        let deadline = Date().addingTimeInterval(seconds)
        while got.count < count && Date() < deadline { got += try drainAll(reader, seconds: 1) }
        return got
    }

    @Test func theConsumerIsRegisteredOnceAndWaitedForUntilActive() throws {
        let e = try LocalEndpoint(consumerCreationMillis: 600)
        try e.store.createStream(name: "events", shardCount: 1)
        let client = e.client("events")
        let started = Date()
        let arn = try client.registeredConsumer("app")
        #expect(Date().timeIntervalSince(started) >= 0.5)
        #expect(try e.store.describeConsumer(stream: "events", name: "app").status == "ACTIVE")
        #expect(arn.contains("stream/events/consumer/app:"))
        // Registered already: the same consumer, no second registration.
        #expect(try client.registeredConsumer("app") == arn)
        #expect(try e.store.listConsumers(stream: "events").count == 1)
        // A consumer of a stream that is not there is named as such.
        #expect(throws: StreamError.self) { try e.client("nope").registeredConsumer("app") }
    }

    @Test func everyRecordOnceEachKeyInOrderAcrossReshardsAndSubscriptionsThatEnd() throws {
        // Subscriptions last a second here (five minutes at AWS): the reader subscribes again
        // where the last event left off, many times over.
        let e = try LocalEndpoint(subscriptionSeconds: 1)
        try e.store.createStream(name: "events", shardCount: 2)
        try e.put("events", 0..<3000)
        let client = e.client("events")
        let reader = try FanOutTests.reader(client)
        defer { reader.close() }
        var got = try FanOutTests.drainAll(reader)
        #expect(got.count == 3000)
        // Split a shard; records go on arriving while the reader reads, over several subscriptions.
        let shards = try e.store.listShards(streamName: "events").shards
        try e.store.splitShard(stream: "events", shardToSplit: shards[0].shardId, newStartingHashKey: "85070591730234615865843651857942052864")
        let store = e.store
        let writer = Thread {
            for chunk in stride(from: 3000, to: 6000, by: 300) {
                for v in chunk..<(chunk + 300) { _ = try? store.putRecord(stream: "events", data: Array("k\(v % 30):\(v)".utf8), partitionKey: "k\(v % 30)") }
                usleep(250_000)
            }
        }
        writer.start()
        got += try FanOutTests.read(reader, count: 3000, seconds: 60)
        #expect(got.count == 6000)
        let values = got.map { Int($0.data.split(separator: ":")[1])! }
        #expect(Set(values).count == 6000)
        for (k, v) in byKey(got) { #expect(v == v.sorted(), "key \(k)") }
        // The parent was read to its end; its children after it.
        #expect(reader.positions[shards[0].shardId] == .shardEnd)
        #expect(try reader.shardIds().count == 4)
        #expect(client.retries.load(ordering: .relaxed) == 0)
    }

    @Test func aReaderResumesFromItsPositionsAndARewoundShardIsReadAgain() throws {
        let e = try LocalEndpoint()
        try e.store.createStream(name: "events", shardCount: 3)
        try e.put("events", 0..<900)
        let client = e.client("events")
        let arn = try client.registeredConsumer("app")
        let first = RemoteStreamConsumer(client: client, start: .trimHorizon, nowMillis: 0, consumerARN: arn)
        #expect(try FanOutTests.drainAll(first).count == 900)
        let positions = first.positions
        first.close()
        try e.put("events", 900..<1200)
        // A new reader from the first one's positions: only what came after (its subscriptions
        // take over the first reader's, which it closed).
        let second = RemoteStreamConsumer(client: client, start: .trimHorizon, nowMillis: 0, consumerARN: arn)
        defer { second.close() }
        second.seek(to: positions)
        let rest = try FanOutTests.drainAll(second)
        #expect(rest.map { Int($0.data.split(separator: ":")[1])! }.sorted() == Array(900..<1200))
        let shard = positions.keys.sorted()[0]
        second.rewind(shard: shard, to: nil)
        let again = try FanOutTests.drainAll(second)
        #expect(!again.isEmpty && again.allSatisfy { $0.shard == shard })
        #expect(again.count == (try e.stored("events").first { $0.shard == shard }?.result.records.count ?? -1))
    }

    /// A query sets a shard back into the event it just took when it holds records back for
    /// another shard's: they come again from the reader, its subscription going on (a new one
    /// would be refused for 5 s, a retry counted).
    @Test func aShardSetBackIntoItsLastEventGetsThoseRecordsAgainWithoutANewSubscription() throws {
        let e = try LocalEndpoint()
        try e.store.createStream(name: "events", shardCount: 1)
        try e.put("events", 0..<500)
        let client = e.client("events")
        let reader = try FanOutTests.reader(client)
        defer { reader.close() }
        var first: [StreamConsumer.ShardRecords] = []
        for _ in 0..<100 where first.isEmpty { first = try reader.poll(limitPerShard: 10_000) }
        let r = first[0].result
        #expect(r.records.count == 500)
        let shard = first[0].shardId
        // Back to record 199: 200..499 again.
        reader.rewind(shard: shard, to: .sequenceNumber(r.sequenceNumberText(199)))
        let again = try reader.poll(limitPerShard: 10_000)
        #expect(again.count == 1 && again[0].result.records.count == 300)
        #expect(String(decoding: again[0].result.records.data(0), as: UTF8.self) == "k20:200")
        #expect(again[0].result.sequenceNumberText(0) == r.sequenceNumberText(200))
        // Back before the event (nothing of it kept): all of what is left of it.
        reader.rewind(shard: shard, to: .sequenceNumber(r.sequenceNumberText(199)))
        #expect(try reader.poll(limitPerShard: 10_000)[0].result.records.count == 300)
        try e.put("events", 500..<510)
        let rest = try FanOutTests.read(reader, count: 10, seconds: 10)
        #expect(rest.map(\.data) == (500..<510).map { "k\($0 % 30):\($0)" })
        #expect(client.retries.load(ordering: .relaxed) == 0)
        // Further back than the last event: a new subscription from there (refused for a while
        // by the 5-second rule, then taken over).
        reader.rewind(shard: shard, to: .sequenceNumber(r.sequenceNumberText(99)))
        let older = try FanOutTests.drainAll(reader, seconds: 30)
        #expect(older.count == 410)
    }

    /// A poll takes at most its limit of a shard's records, the rest of the event at the next
    /// polls, as GetRecords would give them.
    @Test func aPollTakesNoMoreThanItsLimit() throws {
        let e = try LocalEndpoint()
        try e.store.createStream(name: "events", shardCount: 2)
        try e.put("events", 0..<1000)
        let client = e.client("events")
        let reader = try FanOutTests.reader(client)
        defer { reader.close() }
        var got: [(shard: String, data: String)] = []
        var largest = 0
        let deadline = Date().addingTimeInterval(20)
        while got.count < 1000 && Date() < deadline {
            for p in try reader.poll(limitPerShard: 70) {
                largest = max(largest, p.result.records.count)
                for i in 0..<p.result.records.count { got.append((p.shardId, String(decoding: p.result.records.data(i), as: UTF8.self))) }
            }
        }
        #expect(largest == 70)
        #expect(got.count == 1000 && Set(got.map(\.data)).count == 1000)
        for (k, v) in byKey(got) { #expect(v == v.sorted(), "key \(k)") }
        #expect(client.retries.load(ordering: .relaxed) == 0)
    }

    @Test func anEmptyShardIsKnownToBeCaughtUp() throws {
        let e = try LocalEndpoint()
        try e.store.createStream(name: "events", shardCount: 2)
        let client = e.client("events")
        let reader = try FanOutTests.reader(client)
        defer { reader.close() }
        #expect(try FanOutTests.drainAll(reader, seconds: 20).isEmpty)
        // Told by the first event of each shard (no record waits), not left waiting for one.
        #expect(!reader.hasMore)
        try e.put("events", 0..<10)
        #expect(try FanOutTests.read(reader, count: 10, seconds: 10).count == 10)
    }

    @Test func aConsumerThatIsGoneEndsTheReadWithItsError() throws {
        let e = try LocalEndpoint()
        try e.store.createStream(name: "events", shardCount: 1)
        try e.put("events", 0..<10)
        let client = e.client("events")
        let arn = try client.registeredConsumer("app")
        try e.store.deregisterConsumer(stream: "events", name: "app")
        let reader = RemoteStreamConsumer(client: client, start: .trimHorizon, nowMillis: 0, consumerARN: arn)
        defer { reader.close() }
        do {
            _ = try FanOutTests.drainAll(reader, seconds: 10)
            Issue.record("read through a deregistered consumer")
        } catch let error as StreamError {
            #expect(error.code == .resourceNotFound || error.code == .resourceInUse, "\(error)")
            #expect(error.message.contains("SubscribeToShard"))
        }
    }
}

/// An endpoint that answers SubscribeToShard badly: each kind of broken event stream ends the
/// read with an error that says what was wrong, and never hangs or yields records it made up.
@Suite("Enhanced fan-out against a broken event stream")
struct BrokenEventStreamTests {
    /// A fake endpoint: ListShards names one shard; SubscribeToShard answers with `body` (sent
    /// as chunks of 7 bytes), then ends.
    static func endpoint(_ body: [UInt8], status: Int = 200) throws -> HTTPServer {
        let server = try HTTPServer(port: 0) { request in
            let target = request.header("x-amz-target") ?? ""
            if target.hasSuffix(".ListShards") {
                return HTTPResponse(status: 200, headers: [("Content-Type", "application/x-amz-json-1.1")],
                                    body: Array(#"{"Shards":[{"ShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"},"SequenceNumberRange":{"StartingSequenceNumber":"1"}}]}"#.utf8))
            }
            var r = HTTPResponse(status: status, headers: [("Content-Type", "application/vnd.amazon.eventstream")])
            if status != 200 {
                r.body = Array(#"{"__type":"ResourceNotFoundException","message":"no such consumer"}"#.utf8)
                return r
            }
            r.stream = { writer in
                var at = 0
                while at < body.count {
                    guard writer.write(Array(body[at..<min(body.count, at + 7)])) else { return }
                    at += 7
                }
            }
            return r
        }
        server.start()
        return server
    }

    static func read(_ body: [UInt8], status: Int = 200) throws -> Result<Int, StreamError> {
        let server = try endpoint(body, status: status)
        defer { server.stop() }
        let credentials = AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "secret", source: "the test")
        let client = KinesisClient(api: AWSJSONClient.kinesis(endpoint: "http://127.0.0.1:\(server.port)", credentials: credentials, region: "us-east-1")!,
                                   stream: "s", maxAttempts: 2, baseBackoffMillis: 1, maxBackoffMillis: 5)
        let reader = RemoteStreamConsumer(client: client, start: .trimHorizon, nowMillis: 0, consumerARN: "arn:aws:kinesis:us-east-1:1:stream/s/consumer/c:1")
        defer { reader.close() }
        var records = 0
        var failure: StreamError? = nil
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && failure == nil {
            do throws(StreamError) {
                records += try reader.poll(limitPerShard: 10_000).reduce(0) { $0 + $1.result.records.count }
            } catch {
                failure = error
            }
        }
        if let f = failure { return .failure(f) }
        return .success(records)
    }

    static let event = EventStreamMessage.event("SubscribeToShardEvent", json: Array(#"{"Records":[{"SequenceNumber":"5","PartitionKey":"k","Data":"aGk=","ApproximateArrivalTimestamp":1.5}],"ContinuationSequenceNumber":"5","MillisBehindLatest":0}"#.utf8))

    @Test func eachKindOfBrokenStreamIsNamed() throws {
        func message(_ body: [UInt8], status: Int = 200) throws -> String {
            switch try BrokenEventStreamTests.read(body, status: status) {
            case .success(let n): return "no error, \(n) records"
            case .failure(let e): return e.message
            }
        }
        var damaged = BrokenEventStreamTests.event
        damaged[damaged.count - 10] ^= 0x40
        #expect(try message(damaged).contains("fails its CRC"))
        #expect(try message(Array(BrokenEventStreamTests.event.prefix(30))).contains("cut short"))
        #expect(try message(Array("not an event stream at all, but text".utf8)).contains("event stream message"))
        let notJSON = EventStreamMessage.event("SubscribeToShardEvent", json: Array("{{{".utf8))
        #expect(try message(notJSON).contains("payload is not JSON"))
        let badData = EventStreamMessage.event("SubscribeToShardEvent", json: Array(#"{"Records":[{"SequenceNumber":"5","PartitionKey":"k","Data":"@@@"}],"ContinuationSequenceNumber":"5","MillisBehindLatest":0}"#.utf8))
        #expect(try message(badData).contains("not base64"))
        let exception = EventStreamMessage.exception("KMSAccessDeniedException", message: "the key is not yours")
        #expect(try message(exception).contains("the key is not yours"))
        #expect(try message([], status: 400).contains("no such consumer"))
    }
}
