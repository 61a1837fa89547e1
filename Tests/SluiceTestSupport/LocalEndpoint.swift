import Foundation
import SluiceAWS
public import SluiceCore
public import SluiceKinesis
public import SluiceServer
public import SluiceStreams

/// `sluice serve`'s Kinesis API in this process, over a scratch store, on a loopback port: the
/// remote endpoint the reader talks to, with the store at hand to reshard and to check.
public final class LocalEndpoint {
    public let dir: String
    public let store: StreamStore
    public let server: HTTPServer

    /// `subscriptionSeconds`: how long a SubscribeToShard stream lasts; `consumerCreationMillis`:
    /// how long a registered consumer stays CREATING.
    public init(clock: any SluiceClock = SystemClock(), enforceLimits: Bool = false, accessKeys: [String: String]? = nil,
                subscriptionSeconds: Int = 300, consumerCreationMillis: Int64 = 0) throws {
        dir = NSTemporaryDirectory() + "sluice-kinesis-\(UUID().uuidString)"
        var config = StoreConfiguration(dataDirectory: dir)
        config.clock = clock
        config.fsync = .never
        config.enforceThroughputLimits = enforceLimits
        config.consumerCreationMillis = consumerCreationMillis
        store = try StreamStore(configuration: config)
        let service = Service(store: store, accessKeys: accessKeys, subscriptionSeconds: subscriptionSeconds, subscriptionPollMillis: 20, log: { _ in })
        server = try HTTPServer(port: 0) { service.handle($0) }
        server.start()
    }

    public var endpoint: String { "http://127.0.0.1:\(server.port)" }

    public func client(_ stream: String, secret: String = "secret", maxAttempts: Int = 8) -> KinesisClient {
        let credentials = AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: secret, source: "the test")
        return KinesisClient(api: AWSJSONClient.kinesis(endpoint: endpoint, credentials: credentials, region: "us-east-1")!, stream: stream,
                             maxAttempts: maxAttempts)
    }

    /// Puts `values` under keys k0, k1, ... (round robin); each record's data is `key:value`.
    public func put(_ stream: String, _ values: Range<Int>, keys: Int = 30) throws {
        for v in values {
            _ = try store.putRecord(stream: stream, data: Array("k\(v % keys):\(v)".utf8), partitionKey: "k\(v % keys)")
        }
    }

    /// What each shard of `stream` holds from its start (one read of up to 10,000 records), by shard id.
    public func stored(_ stream: String) throws -> [(shard: String, result: GetRecordsResult)] {
        try store.listShards(streamName: stream).shards.map { s in
            let it = try store.getShardIterator(stream: stream, shardId: s.shardId, type: .trimHorizon)
            return (s.shardId, try store.getRecords(shardIterator: it, limit: 10_000))
        }
    }

    deinit {
        server.stop()
        store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

