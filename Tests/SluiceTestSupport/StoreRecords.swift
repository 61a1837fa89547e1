import Foundation
public import SluiceCore
public import SluiceStreams

/// Time that stands still yet "moves by itself": a machine putting faster than its clock ticks.
public struct StillClock: SluiceClock {
    public init() {}
    public func nowMillis() -> Int64 { 1_704_067_200_000 }
}

/// Records to put and what a store holds of them, for tests of puts and loads.
public enum StoreRecords {
    /// `n` records whose data are `tag-0`, `tag-1`, ... with partition keys `k0`, `k1`, ...
    public static func packed(_ n: Int, _ tag: String) -> PackedRecords {
        var p = PackedRecords()
        for i in 0..<n { Array("\(tag)-\(i)".utf8).withUnsafeBytes { p.append(data: $0, partitionKey: "k\(i)") } }
        return p
    }

    /// Each record's data (as text) and its arrival, over every shard of `stream`.
    public static func arrivals(_ store: StreamStore, _ stream: String) throws -> [String: Int64] {
        var out: [String: Int64] = [:]
        for shard in try store.listShards(streamName: stream).shards {
            var it: String? = try store.getShardIterator(stream: stream, shardId: shard.shardId, type: .trimHorizon)
            while let i = it {
                let r = try store.getRecords(shardIterator: i, limit: 10000)
                for k in 0..<r.records.count { out[String(decoding: r.records.data(k), as: UTF8.self)] = r.records.arrivalMillis(k) }
                it = r.records.count == 0 ? nil : r.nextShardIterator
            }
        }
        return out
    }
}

/// A store in a scratch directory on a `StillClock`, without fsync: closed and removed when the
/// value goes away.
public final class ScratchStore: @unchecked Sendable {
    public let dir: String
    public let store: StreamStore

    public init(_ label: String) throws {
        dir = NSTemporaryDirectory() + "sluice-\(label)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        var c = StoreConfiguration(dataDirectory: dir)
        c.fsync = .never
        c.clock = StillClock()
        store = try StreamStore(configuration: c)
    }

    deinit {
        store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
