public import SluiceCore

/// An enhanced fan-out consumer as DescribeStreamConsumer and ListStreamConsumers report it.
public struct ConsumerDescription: Sendable, Equatable {
    public var name: String
    public var arn: String
    public var streamARN: String
    public var streamName: String
    /// CREATING for `StoreConfiguration.consumerCreationMillis` after registration, then ACTIVE.
    public var status: String
    public var creationMillis: Int64

    public var json: JSONValue {
        ["ConsumerName": .string(name), "ConsumerARN": .string(arn), "ConsumerStatus": .string(status),
         "ConsumerCreationTimestamp": .double(Double(creationMillis) / 1000), "StreamARN": .string(streamARN)]
    }
}

/// Enhanced fan-out consumers (RegisterStreamConsumer and friends): registrations kept with the
/// stream's metadata, so they survive restarts and go with the stream. A consumer's ARN is
/// `STREAM_ARN/consumer/NAME:CREATION_EPOCH_SECONDS`, as Kinesis writes it.
extension StreamStore {
    public static let maxConsumersPerStream = 20

    func validateConsumerName(_ name: String) throws(StreamError) {
        if name.isEmpty { throw .validation("consumerName", name, "Member must have length greater than or equal to 1") }
        if name.utf8.count > 128 { throw .validation("consumerName", name, "Member must have length less than or equal to 128") }
        let ok = name.utf8.allSatisfy { c in (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 46 || c == 45 }
        if !ok { throw .validation("consumerName", name, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+") }
    }

    func consumerARN(stream: String, name: String, created: Int64) -> String {
        arn(stream) + "/consumer/" + name + ":" + String(created / 1000)
    }

    private func consumerDescription(_ h: StreamHandle, _ name: String, _ created: Int64, now: Int64) -> ConsumerDescription {
        ConsumerDescription(name: name, arn: consumerARN(stream: h.meta.name, name: name, created: created), streamARN: arn(h.meta.name),
                            streamName: h.meta.name, status: now - created < configuration.consumerCreationMillis ? "CREATING" : "ACTIVE",
                            creationMillis: created)
    }

    /// RegisterStreamConsumer: the consumer as registered (CREATING).
    public func registerConsumer(stream: String, name: String) throws(StreamError) -> ConsumerDescription {
        try validateStreamName(stream)
        try validateConsumerName(name)
        return try withStream(stream) { h throws(StreamError) in
            if h.meta.consumers[name] != nil {
                throw StreamError(.resourceInUse, "Consumer \(consumerARN(stream: stream, name: name, created: h.meta.consumers[name]!)) under account \(account) already exists.")
            }
            if h.meta.consumers.count >= StreamStore.maxConsumersPerStream {
                throw StreamError(.limitExceeded, "Stream \(stream) under account \(account) has the maximum of \(StreamStore.maxConsumersPerStream) registered consumers.")
            }
            let now = clock.nowMillis()
            h.meta.consumers[name] = now
            try h.saveMeta()
            var d = consumerDescription(h, name, now, now: now)
            d.status = "CREATING"
            return d
        }
    }

    /// The stream and consumer names an ARN names (`.../stream/S/consumer/C:T`), or nil.
    public static func parseConsumerARN(_ arn: String) -> (stream: String, consumer: String, created: String)? {
        guard let s = arn.range(of: ":stream/"), let c = arn.range(of: "/consumer/", range: s.upperBound..<arn.endIndex) else { return nil }
        let stream = String(arn[s.upperBound..<c.lowerBound])
        let rest = arn[c.upperBound...]
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        return (stream, String(rest[..<colon]), String(rest[rest.index(after: colon)...]))
    }

    /// Describe/Deregister name a consumer by its ARN, or by its stream and name, or by all three
    /// if they agree. Returns the stream and consumer names.
    public func resolveConsumer(arn: String?, streamName: String?, consumerName: String?) throws(StreamError) -> (stream: String, consumer: String) {
        if let a = arn {
            guard let p = StreamStore.parseConsumerARN(a) else {
                throw .validation("consumerARN", a, "Member must satisfy regular expression pattern: ^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/[a-zA-Z0-9_.-]+:[0-9]+")
            }
            if let s = streamName, s != p.stream { throw StreamError(.invalidArgument, "StreamARN and ConsumerARN name different streams.") }
            if let c = consumerName, c != p.consumer { throw StreamError(.invalidArgument, "ConsumerName and ConsumerARN name different consumers.") }
            // The ARN names one registration: a consumer registered again under the same name has another.
            let created = try withStream(p.stream) { h throws(StreamError) in
                guard let t = h.meta.consumers[p.consumer] else { throw consumerNotFound(a) }
                return t
            }
            guard String(created / 1000) == p.created else { throw consumerNotFound(a) }
            return (p.stream, p.consumer)
        }
        guard let s = streamName, let c = consumerName else {
            throw StreamError(.invalidArgument, "Either ConsumerARN or both StreamARN and ConsumerName must be provided.")
        }
        try validateConsumerName(c)
        return (s, c)
    }

    func consumerNotFound(_ what: String) -> StreamError {
        StreamError(.resourceNotFound, "Consumer \(what) under account \(account) not found.")
    }

    public func describeConsumer(stream: String, name: String) throws(StreamError) -> ConsumerDescription {
        try withStream(stream) { h throws(StreamError) in
            guard let t = h.meta.consumers[name] else { throw consumerNotFound(name) }
            return consumerDescription(h, name, t, now: clock.nowMillis())
        }
    }

    public func deregisterConsumer(stream: String, name: String) throws(StreamError) {
        try withStream(stream) { h throws(StreamError) in
            guard h.meta.consumers.removeValue(forKey: name) != nil else { throw consumerNotFound(name) }
            try h.saveMeta()
        }
    }

    /// ListStreamConsumers: every consumer of the stream, by name.
    public func listConsumers(stream: String) throws(StreamError) -> [ConsumerDescription] {
        try withStream(stream) { h in
            let now = clock.nowMillis()
            return h.meta.consumers.sorted { $0.key < $1.key }.map { consumerDescription(h, $0.key, $0.value, now: now) }
        }
    }

    /// UpdateStreamMode: PROVISIONED keeps the shards as they are; ON_DEMAND lets the store
    /// manage them (Split, Merge and UpdateShardCount are then refused).
    public func updateStreamMode(name: String, mode: StreamMode) throws(StreamError) {
        try withStream(name) { h throws(StreamError) in
            let now = clock.nowMillis()
            try requireActive(h, now: now)
            guard h.meta.mode != mode else { return }
            h.meta.mode = mode
            h.meta.updatingUntilMillis = now + configuration.updateDelayMillis
            try h.saveMeta()
        }
    }
}

extension StreamStore {
    /// The sequence number just before where a shard iterator points, nil at the shard's first
    /// position: an AFTER_SEQUENCE_NUMBER iterator on it points at the same place. It is what
    /// SubscribeToShard reports as the continuation before any record was sent.
    /// With `by` n: the one n places before where the iterator points (nil when the shard has
    /// no more than n - 1 records before it: read it from its start).
    public func sequenceNumber(before shardIterator: String, by n: UInt64 = 1) -> SequenceNumber? {
        guard let it = ShardIteratorToken.decode(shardIterator), n >= 1, it.position >= n,
              let created = try? withStream(it.streamName, { h in h.shard(it.shardIndex)?.creationSeconds }) else { return nil }
        return SequenceNumber(shardCreationSeconds: created, shardIndex: it.shardIndex, index: it.position - n, recordSeconds: created)
    }
}

/// Where a reader that keeps no checkpoint (an ad-hoc SELECT, PRINT, `.sample`) starts on a
/// stream.
public enum ReadStart: Sendable, Equatable {
    /// From the start of the stream's retention.
    case earliest
    /// Only records that arrive after it starts.
    case latest
    /// Each shard's last n records, then what arrives after: the newest records without reading
    /// the ones before them.
    case last(Int)
}

extension StreamStore {
    /// Where a reader starting at `start` begins on each shard of `stream`, as positions a
    /// consumer seeks to (a shard not named is read from its start): none for `.earliest`; for
    /// `.last(n)` every shard's record n before its end, closed shards too (just after a reshard
    /// the newest records may be the parents'; `.latest` is `.last(0)`: a closed parent read
    /// from its start gave a "latest" reader all of its records).
    public func positions(_ start: ReadStart, stream: String) -> [String: StreamConsumer.Position] {
        let back: UInt64
        switch start {
        case .earliest: return [:]
        case .latest: back = 1
        case .last(let n): back = UInt64(max(0, n)) + 1
        }
        var at: [String: StreamConsumer.Position] = [:]
        for s in (try? listShards(streamName: stream).shards) ?? [] {
            guard let it = try? getShardIterator(stream: stream, shardId: s.shardId, type: .latest),
                  let before = sequenceNumber(before: it, by: back) else { continue }
            at[s.shardId] = .sequenceNumber(before.description)
        }
        return at
    }
}
