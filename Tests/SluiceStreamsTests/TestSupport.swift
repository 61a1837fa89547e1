import Foundation
import SluiceCore
@testable import SluiceStreams

/// A scratch directory removed when the value goes away.
final class TempDir {
    let path: String
    init(_ label: String = "t") {
        path = NSTemporaryDirectory() + "sluice-test-\(label)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A store in a scratch directory on a manual clock.
final class StoreFixture {
    let dir = TempDir("store")
    let clock = ManualClock()
    var config: StoreConfiguration
    var store: StreamStore!

    init(_ tweak: (inout StoreConfiguration) -> Void = { _ in }) throws {
        config = StoreConfiguration(dataDirectory: dir.path + "/data", clock: clock)
        config.fsync = .never
        tweak(&config)
        store = try StreamStore(configuration: config)
    }

    /// Closes and reopens the store on the same directory (a clean restart).
    func reopen() throws {
        store.close()
        store = try StreamStore(configuration: config)
    }

    func put(_ stream: String, _ text: String, key: String, ehk: String? = nil) throws -> PutRecordResult {
        try store.putRecord(stream: stream, data: Array(text.utf8), partitionKey: key, explicitHashKey: ehk)
    }

    /// Every record of a shard from TRIM_HORIZON, following iterators to the tip or the shard's end.
    func readAll(_ stream: String, _ shardId: String) throws -> [(seq: String, key: String, text: String)] {
        var it: String? = try store.getShardIterator(stream: stream, shardId: shardId, type: .trimHorizon)
        var out: [(String, String, String)] = []
        while let i = it {
            let r = try store.getRecords(shardIterator: i, limit: 10000)
            for k in 0..<r.records.count {
                out.append((r.sequenceNumber(k).description, r.records.partitionKey(k), String(decoding: r.records.data(k), as: UTF8.self)))
            }
            it = r.records.count == 0 ? nil : r.nextShardIterator
        }
        return out
    }

    /// Every shard, however many (DescribeStream returns at most 100 at a time).
    func allShards(_ stream: String) throws -> [ShardDescription] {
        try store.listShards(streamName: stream, maxResults: 10000).shards
    }

    func shardIds(_ stream: String, openOnly: Bool = false) throws -> [String] {
        try store.describeStream(name: stream).shards.filter { !openOnly || $0.isOpen }.map(\.shardId)
    }
}

extension StreamError {
    /// For `#expect(throws:)` comparisons by code only.
    static func code(_ c: Code) -> (any Error) -> Bool { { ($0 as? StreamError)?.code == c } }
}

/// The open shards' ranges cover [0, 2^128-1] with no gap and no overlap.
func openShardsCoverHashSpace(_ d: StreamDescription) -> Bool { openShardsCoverHashSpace(d.shards) }

func openShardsCoverHashSpace(_ shards: [ShardDescription]) -> Bool {
    let open = shards.filter(\.isOpen).map(\.hashKeyRange).sorted { $0.lowerBound < $1.lowerBound }
    guard let first = open.first, first.lowerBound == 0, open.last?.upperBound == UInt128.max else { return false }
    for (a, b) in zip(open, open.dropFirst()) where a.upperBound == UInt128.max || a.upperBound + 1 != b.lowerBound {
        return false
    }
    return true
}
