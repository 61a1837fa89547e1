import Foundation
import SluiceCore

/// What a query reads a stream through: every shard's records, parents before children, with
/// read positions that can be set back (a step that holds records back) and restored (a
/// checkpoint). The built-in store's `StreamConsumer` is one; a remote Kinesis stream's reader
/// is another. One reader is used from one thread at a time.
public protocol ShardRecordSource: AnyObject {
    /// Positions read so far, by shard (absent: nothing read yet).
    var positions: [String: StreamConsumer.Position] { get }
    /// Reads once from every shard that is ready; shards with nothing new are left out.
    func poll(limitPerShard: Int) throws(StreamError) -> [StreamConsumer.ShardRecords]
    /// Moves one shard's read position back; nil: where the shard starts for this reader.
    func rewind(shard: String, to position: StreamConsumer.Position?)
    /// Sets every read position (a checkpoint restored).
    func seek(to positions: [String: StreamConsumer.Position])
    /// The shards there are now (for the watermark: each shard counts until it is idle or done).
    func shardIds() throws(StreamError) -> [String]
    /// Whether records are known to be waiting that the last poll did not take (a shard left
    /// for later by a read-rate limit or throttling, or a read that stopped short of its end).
    var hasMore: Bool { get }
    /// How many shards the last poll read, those with nothing new included.
    var shardsPolled: Int { get }
    /// Lets go of what the reader holds open (a remote reader's subscriptions); it is not read again.
    func close()
}

extension ShardRecordSource {
    public func close() {}
}

/// A named consumer application that reads every shard of a stream and keeps a durable checkpoint
/// per shard, with the Kinesis Client Library's contract:
/// - a shard is read from its checkpoint (after it), or from TRIM_HORIZON when it has none;
/// - after a reshard, a child shard is read only once all its parents are finished (read to
///   SHARD_END), so records of one partition key come out in order;
/// - `checkpoint()` makes the positions read so far durable; a restarted consumer resumes there.
///
/// One consumer object is used from one thread at a time.
public final class StreamConsumer: ShardRecordSource, @unchecked Sendable {
    public enum Position: Sendable, Equatable {
        /// Everything up to and including this sequence number has been processed.
        case sequenceNumber(String)
        /// The shard is closed and has been read to its end.
        case shardEnd
    }

    /// Records read from one shard by `poll`.
    public struct ShardRecords: Sendable {
        public var shardId: String
        public var result: GetRecordsResult
        public init(shardId: String, result: GetRecordsResult) {
            self.shardId = shardId
            self.result = result
        }
    }

    public let store: StreamStore
    public let stream: String
    public let application: String
    private let path: String
    /// Positions made durable by the last checkpoint.
    public private(set) var checkpointed: [String: Position] = [:]
    /// Positions read so far (ahead of, or equal to, the checkpoint).
    public private(set) var positions: [String: Position] = [:]
    private var iterators: [String: String] = [:]
    public private(set) var shardsPolled = 0

    public init(store: StreamStore, stream: String, application: String) throws(StreamError) {
        try store.validateStreamName(application, field: "applicationName")
        self.store = store
        self.stream = stream
        self.application = application
        path = try store.withStream(stream) { $0.directory } + "/consumers/" + application + ".json"
        if let bytes = readFile(path) {
            guard let json = try? JSONValue.parse(bytes: bytes), let shards = json["shards"]?.objectValue else {
                throw StreamError(.storage, "consumer checkpoint file \(path) is unreadable")
            }
            for (k, v) in shards.entries {
                guard let s = v.stringValue else { continue }
                checkpointed[k] = s == "SHARD_END" ? .shardEnd : .sequenceNumber(s)
            }
        }
        positions = checkpointed
    }

    /// Reads once from every shard that is ready (not finished, parents finished), in shard order.
    /// Shards with nothing new are left out of the result.
    public func poll(limitPerShard: Int = 10000) throws(StreamError) -> [ShardRecords] {
        var out: [ShardRecords] = []
        var token: String? = nil
        var shards: [ShardDescription] = []
        repeat {
            let page = try token == nil ? store.listShards(streamName: stream) : store.listShards(streamName: nil, nextToken: token)
            shards += page.shards
            token = page.nextToken
        } while token != nil
        let known = Set(shards.map(\.shardId))
        shardsPolled = 0
        for shard in shards.sorted(by: { $0.index < $1.index }) {
            let id = shard.shardId
            if positions[id] == .shardEnd { continue }
            let parents = [shard.parentShardId, shard.adjacentParentShardId].compactMap { $0 }
            // A parent that has expired (no longer listed) has nothing left to read.
            if parents.contains(where: { known.contains($0) && positions[$0] != .shardEnd }) { continue }
            let result = try read(id, limit: limitPerShard)
            shardsPolled += 1
            if result.records.count > 0 {
                positions[id] = .sequenceNumber(result.sequenceNumber(result.records.count - 1).description)
            }
            if result.nextShardIterator == nil {
                positions[id] = .shardEnd
                iterators[id] = nil
            } else {
                iterators[id] = result.nextShardIterator
            }
            if result.records.count > 0 || result.nextShardIterator == nil {
                out.append(ShardRecords(shardId: id, result: result))
            }
        }
        return out
    }

    private func read(_ shardId: String, limit: Int) throws(StreamError) -> GetRecordsResult {
        if let it = iterators[shardId] {
            do throws(StreamError) {
                return try store.getRecords(shardIterator: it, limit: limit)
            } catch where error.code == .expiredIterator {
                iterators[shardId] = nil  // start again from the position
            }
        }
        let it: String
        switch positions[shardId] {
        case .sequenceNumber(let s)?:
            it = try store.getShardIterator(stream: stream, shardId: shardId, type: .afterSequenceNumber, startingSequenceNumber: s)
        default:
            it = try store.getShardIterator(stream: stream, shardId: shardId, type: .trimHorizon)
        }
        return try store.getRecords(shardIterator: it, limit: limit)
    }

    public func shardIds() throws(StreamError) -> [String] {
        try store.listShards(streamName: stream).shards.map(\.shardId)
    }

    /// A poll reads every ready shard as far as it holds (up to the limit), so nothing waits
    /// that the next poll is not told of by its results.
    public var hasMore: Bool { false }

    /// Moves one shard's read position back (records after it are read again by the next poll);
    /// nil: the shard's start.
    public func rewind(shard: String, to position: Position?) {
        positions[shard] = position
        iterators[shard] = nil
    }

    /// Sets the read positions (a query restored from its own checkpoint): each shard is read
    /// after its position, shards without one from TRIM_HORIZON. Nothing is made durable.
    public func seek(to positions: [String: Position]) {
        self.positions = positions
        iterators = [:]
    }

    /// Makes every position read so far durable.
    public func checkpoint() throws(StreamError) {
        checkpointed = positions
        try save()
    }

    /// Makes one shard's position durable (KCL's `checkpoint(sequenceNumber)`), and sets the read
    /// position there too.
    public func checkpoint(shardId: String, sequenceNumber: String) throws(StreamError) {
        guard SequenceNumber(sequenceNumber) != nil else {
            throw StreamError(.invalidArgument, "Invalid sequence number \(sequenceNumber) for checkpoint.")
        }
        checkpointed[shardId] = .sequenceNumber(sequenceNumber)
        positions[shardId] = .sequenceNumber(sequenceNumber)
        iterators[shardId] = nil
        try save()
    }

    private func save() throws(StreamError) {
        var shards = JSONObject()
        for (k, v) in checkpointed.sorted(by: { $0.key < $1.key }) {
            switch v {
            case .shardEnd: shards[k] = "SHARD_END"
            case .sequenceNumber(let s): shards[k] = .string(s)
            }
        }
        let doc: JSONValue = ["application": .string(application), "stream": .string(stream), "shards": .object(shards)]
        try makeDirectory(FileNames.directory(of: path))
        try writeFileAtomically(path, Array(doc.serialized(pretty: true).utf8))
    }
}
