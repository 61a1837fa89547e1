import Foundation
import SluiceCore
import Synchronization

/// What the store remembers of a shard.
struct ShardMeta: Sendable {
    var index: UInt32
    var range: ClosedRange<UInt128>
    var parent: UInt32?
    var adjacentParent: UInt32?
    var createdMillis: Int64
    /// Set when the shard closed (split, merge or scaling).
    var closedMillis: Int64?
    /// The shard's next sequence index at close: every record of the shard is below it.
    var endIndex: UInt64?

    var isOpen: Bool { closedMillis == nil }
    var creationSeconds: UInt64 { UInt64(max(0, createdMillis) / 1000) }

    var json: JSONValue {
        var o: JSONObject = ["index": .int(Int64(index)), "start": .string(String(range.lowerBound)),
                             "end": .string(String(range.upperBound)), "created": .int(createdMillis)]
        if let p = parent { o["parent"] = .int(Int64(p)) }
        if let a = adjacentParent { o["adjacentParent"] = .int(Int64(a)) }
        if let c = closedMillis { o["closed"] = .int(c) }
        if let e = endIndex { o["endIndex"] = .string(String(e)) }
        return .object(o)
    }

    init(index: UInt32, range: ClosedRange<UInt128>, parent: UInt32?, adjacentParent: UInt32?, createdMillis: Int64) {
        self.index = index
        self.range = range
        self.parent = parent
        self.adjacentParent = adjacentParent
        self.createdMillis = createdMillis
    }

    init?(json: JSONValue) {
        guard let i = json["index"]?.int64Value, let s = json["start"]?.stringValue.flatMap({ UInt128($0) }),
              let e = json["end"]?.stringValue.flatMap({ UInt128($0) }), s <= e,
              let c = json["created"]?.int64Value
        else { return nil }
        index = UInt32(i)
        range = s...e
        createdMillis = c
        parent = json["parent"]?.int64Value.map { UInt32($0) }
        adjacentParent = json["adjacentParent"]?.int64Value.map { UInt32($0) }
        closedMillis = json["closed"]?.int64Value
        endIndex = json["endIndex"]?.stringValue.flatMap { UInt64($0) }
    }
}

/// What the store remembers of a stream (persisted as `meta.json`).
struct StreamMeta: Sendable {
    var name: String
    var createdMillis: Int64
    var retentionHours: Int
    var mode: StreamMode
    var nextShardIndex: UInt32
    var shards: [ShardMeta]
    var tags: [String: String] = [:]
    /// Records that arrived before this were hidden by a retention decrease; raising retention
    /// again does not bring them back.
    var trimFloorMillis: Int64 = 0
    /// Registered enhanced fan-out consumers: name -> registration time (epoch milliseconds).
    var consumers: [String: Int64] = [:]
    /// The stream is UPDATING until then (epoch milliseconds), after a reshard or mode change.
    var updatingUntilMillis: Int64 = 0
    /// StartStreamEncryption's key (nil: NONE). Recorded and described; data at rest is not encrypted.
    var encryptionKeyId: String? = nil
    /// EnableEnhancedMonitoring's shard-level metrics (recorded and described).
    var shardLevelMetrics: [String] = []
    /// PutResourcePolicy's policies, by the ARN they are attached to (the stream's or a consumer's).
    var policies: [String: String] = [:]

    var json: JSONValue {
        var tagObject = JSONObject()
        for (k, v) in tags.sorted(by: { $0.key < $1.key }) { tagObject[k] = .string(v) }
        var consumerObject = JSONObject()
        for (k, v) in consumers.sorted(by: { $0.key < $1.key }) { consumerObject[k] = .int(v) }
        return ["format": 1, "name": .string(name), "created": .int(createdMillis),
                "retentionHours": .int(Int64(retentionHours)), "mode": .string(mode.rawValue),
                "nextShardIndex": .int(Int64(nextShardIndex)), "shards": .array(shards.map(\.json)),
                "tags": .object(tagObject), "trimFloor": .int(trimFloorMillis), "consumers": .object(consumerObject),
                "updatingUntil": .int(updatingUntilMillis), "encryptionKeyId": encryptionKeyId.map { .string($0) } ?? .null,
                "shardLevelMetrics": .array(shardLevelMetrics.map { .string($0) }),
                "policies": .object(policyObject)]
    }

    private var policyObject: JSONObject {
        var o = JSONObject()
        for (k, v) in policies.sorted(by: { $0.key < $1.key }) { o[k] = .string(v) }
        return o
    }

    init(name: String, createdMillis: Int64, retentionHours: Int, mode: StreamMode, shards: [ShardMeta]) {
        self.name = name
        self.createdMillis = createdMillis
        self.retentionHours = retentionHours
        self.mode = mode
        self.shards = shards
        nextShardIndex = UInt32(shards.count)
    }

    init?(json: JSONValue) {
        guard let n = json["name"]?.stringValue, let c = json["created"]?.int64Value,
              let r = json["retentionHours"]?.int64Value, let m = json["mode"]?.stringValue.flatMap(StreamMode.init),
              let next = json["nextShardIndex"]?.int64Value, let arr = json["shards"]?.arrayValue
        else { return nil }
        let shards = arr.compactMap(ShardMeta.init(json:))
        guard shards.count == arr.count else { return nil }
        name = n
        createdMillis = c
        retentionHours = Int(r)
        mode = m
        nextShardIndex = UInt32(next)
        self.shards = shards.sorted { $0.index < $1.index }
        trimFloorMillis = json["trimFloor"]?.int64Value ?? 0
        for (k, v) in json["tags"]?.objectValue?.entries ?? [] {
            if let s = v.stringValue { tags[k] = s }
        }
        updatingUntilMillis = json["updatingUntil"]?.int64Value ?? 0
        for (k, v) in json["consumers"]?.objectValue?.entries ?? [] {
            if let t = v.int64Value { consumers[k] = t }
        }
        encryptionKeyId = json["encryptionKeyId"]?.stringValue
        shardLevelMetrics = json["shardLevelMetrics"]?.arrayValue?.compactMap(\.stringValue) ?? []
        for (k, v) in json["policies"]?.objectValue?.entries ?? [] {
            if let p = v.stringValue { policies[k] = p }
        }
    }
}

/// A live stream: metadata, the logs of its shards and the routing table.
/// Every field is guarded by `lock`; the lock order is store, then stream, then shard log.
final class StreamHandle: @unchecked Sendable {
    let lock = NSLock()
    /// Held by a write for its whole length, and by whatever changes which shards are open or
    /// removes them (reshards, deletion), so that a write's routes and logs stay valid while it
    /// writes without `lock`. Lock order: `writeLock` before `lock`.
    let writeLock = NSLock()
    let directory: String
    var meta: StreamMeta
    var logs: [UInt32: ShardLog] = [:]
    /// Open shards sorted by starting hash key: (start, end, index).
    var routes: [(start: UInt128, end: UInt128, index: UInt32)] = []
    var throughput: [UInt32: ShardThroughput] = [:]
    var lastTrimMillis: Int64 = 0
    /// The latest arrival a put of this session gave (a load's put takes a later millisecond).
    var lastPutArrival: Int64 = .min
    var writeHistory = WriteHistory()
    var deleted = false
    /// The number of open shards, readable without the lock (for the store-wide shard limit).
    let openCount = Atomic<Int>(0)
    // Counters for metrics.
    var incomingRecords: Int64 = 0
    var incomingBytes: Int64 = 0
    var throttledWrites: Int64 = 0

    init(directory: String, meta: StreamMeta) {
        self.directory = directory
        self.meta = meta
        rebuildRoutes()
    }

    var metaPath: String { directory + "/meta.json" }
    func shardDirectory(_ index: UInt32) -> String { directory + "/shards/" + ShardID.format(index) }

    func rebuildRoutes() {
        routes = meta.shards.filter(\.isOpen).map { ($0.range.lowerBound, $0.range.upperBound, $0.index) }
            .sorted { $0.start < $1.start }
        openCount.store(deleted ? 0 : routes.count, ordering: .relaxed)
    }

    /// The position in `routes` of the open shard whose range holds `hash`.
    @inline(__always)
    func route(_ hash: UInt128) -> Int {
        var lo = 0, hi = routes.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) >> 1
            if routes[mid].start <= hash { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    func shard(_ index: UInt32) -> ShardMeta? {
        // Shards are sorted by index.
        var lo = 0, hi = meta.shards.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let v = meta.shards[mid].index
            if v == index { return meta.shards[mid] }
            if v < index { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }

    func updateShard(_ index: UInt32, _ body: (inout ShardMeta) -> Void) {
        if let i = meta.shards.firstIndex(where: { $0.index == index }) { body(&meta.shards[i]) }
    }

    func saveMeta() throws(StreamError) {
        try writeFileAtomically(metaPath, Array(meta.json.serialized(pretty: true).utf8))
    }

    func log(_ index: UInt32, segmentBytes: Int, mapSegments: Bool) throws(StreamError) -> ShardLog {
        if let l = logs[index] { return l }
        let l = try ShardLog(directory: shardDirectory(index), segmentBytes: segmentBytes, mapSegments: mapSegments, create: true)
        logs[index] = l
        return l
    }

    /// The oldest arrival time still inside the retention period.
    func trimHorizon(now: Int64) -> Int64 { max(meta.trimFloorMillis, now - Int64(meta.retentionHours) * 3_600_000) }

    /// A closed shard expires when its newest possible record has left the retention period.
    func isExpired(_ s: ShardMeta, now: Int64) -> Bool {
        guard let closed = s.closedMillis else { return false }
        return closed < trimHorizon(now: now)
    }
}

/// Writes per second over the last minute, for on-demand scaling.
struct WriteHistory {
    private var seconds: [Int64] = Array(repeating: .min, count: 60)
    private var records: [Int64] = Array(repeating: 0, count: 60)
    private var bytes: [Int64] = Array(repeating: 0, count: 60)
    var lastEvaluatedSecond: Int64 = .min

    mutating func note(records r: Int, bytes b: Int, at millis: Int64) {
        let s = millis / 1000
        let slot = Int(s % 60)
        if seconds[slot] != s {
            seconds[slot] = s
            records[slot] = 0
            bytes[slot] = 0
        }
        records[slot] += Int64(r)
        bytes[slot] += Int64(b)
    }

    /// The busiest complete second within the last minute.
    func peak(at millis: Int64) -> (records: Int64, bytes: Int64) {
        let now = millis / 1000
        var pr: Int64 = 0, pb: Int64 = 0
        for i in 0..<60 where seconds[i] > now - 60 {
            pr = max(pr, records[i])
            pb = max(pb, bytes[i])
        }
        return (pr, pb)
    }
}
