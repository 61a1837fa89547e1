import Foundation
import SluiceAWS
import SluiceCore
import SluiceStreams

/// Enhanced fan-out: consumer registration (kept by the store with the stream) and
/// SubscribeToShard, which pushes `SubscribeToShardEvent`s in the event stream encoding over a
/// chunked HTTP/1.1 response for up to five minutes. A second subscription of the same consumer
/// and shard within 5 s is refused (ResourceInUseException); a later one takes over, and the
/// older stream ends with a ResourceInUseException event.
extension Service {
    /// A live subscription: when it started and which one it is.
    struct Subscription {
        var startedMillis: Int64
        var generation: Int
    }

    static let consumers: [String: Action] = [
        "RegisterStreamConsumer": { s, i throws(APIError) in
            let stream = try s.streamFromARN(i)
            let name = try i.required("ConsumerName", "consumerName")
            let c = try s.store { () throws(StreamError) in try s.store.registerConsumer(stream: stream, name: name) }
            var o = c.json.objectValue ?? JSONObject()
            o["StreamARN"] = nil
            return ["Consumer": .object(o)]
        },
        "DeregisterStreamConsumer": { s, i throws(APIError) in
            let (stream, name) = try s.consumer(i)
            try s.store { () throws(StreamError) in try s.store.deregisterConsumer(stream: stream, name: name) }
            return nil
        },
        "DescribeStreamConsumer": { s, i throws(APIError) in
            let (stream, name) = try s.consumer(i)
            let c = try s.store { () throws(StreamError) in try s.store.describeConsumer(stream: stream, name: name) }
            return ["ConsumerDescription": c.json]
        },
        "ListStreamConsumers": { s, i throws(APIError) in
            let max = try i.int("MaxResults") ?? 100
            if !(1...10000).contains(max) {
                throw APIError("ValidationException", "1 validation error detected: Value '\(max)' at 'maxResults' failed to satisfy constraint: Member must have value \(max < 1 ? "greater than or equal to 1" : "less than or equal to 10000")")
            }
            let stream = try s.streamFromARN(i)
            var after: String? = nil
            if let t = try i.string("NextToken") {
                guard let d = Data(base64Encoded: t), let name = String(data: d, encoding: .utf8) else {
                    throw APIError("InvalidArgumentException", "The NextToken \(t) is not valid.")
                }
                after = name
            }
            let all = try s.store { () throws(StreamError) in try s.store.listConsumers(stream: stream) }
            let rest = all.filter { after == nil || $0.name > after! }
            let page = rest.prefix(max)
            var o: JSONObject = ["Consumers": .array(page.map { c in
                var j = c.json.objectValue ?? JSONObject()
                j["StreamARN"] = nil
                return .object(j)
            })]
            if rest.count > page.count, let last = page.last { o["NextToken"] = .string(Data(last.name.utf8).base64EncodedString()) }
            return .object(o)
        },
        "UpdateStreamMode": { s, i throws(APIError) in
            let stream = try s.streamFromARN(i)
            guard let details = try i.object("StreamModeDetails") else { throw .missing("streamModeDetails") }
            let text = try details.required("StreamMode", "streamModeDetails.streamMode")
            guard let mode = StreamMode(rawValue: text) else {
                throw APIError("ValidationException", "1 validation error detected: Value '\(text)' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]")
            }
            try s.store { () throws(StreamError) in try s.store.updateStreamMode(name: stream, mode: mode) }
            return nil
        },
    ]

    /// The stream of a request that must name it by `StreamARN`.
    func streamFromARN(_ i: Input) throws(APIError) -> String {
        let arn = try i.required("StreamARN", "streamARN")
        guard arn.hasPrefix("arn:"), let r = arn.range(of: ":stream/"), !arn[r.upperBound...].isEmpty, !arn[r.upperBound...].contains("/") else {
            throw APIError("ValidationException", "1 validation error detected: Value '\(arn)' at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+")
        }
        return String(arn[r.upperBound...])
    }

    /// A consumer named by ConsumerARN, or StreamARN and ConsumerName, or all three.
    func consumer(_ i: Input) throws(APIError) -> (String, String) {
        let arn = try i.string("ConsumerARN")
        let stream = i.has("StreamARN") ? try streamFromARN(i) : nil
        let name = try i.string("ConsumerName")
        return try store { () throws(StreamError) in try store.resolveConsumer(arn: arn, streamName: stream, consumerName: name) }
    }

    /// The records of a GetRecords result as Kinesis writes them.
    static func recordsJSON(_ r: GetRecordsResult) -> [JSONValue] {
        var records: [JSONValue] = []
        records.reserveCapacity(r.records.count)
        for k in 0..<r.records.count {
            let b64 = r.records.withData(k) { Data($0).base64EncodedString() }
            records.append(["SequenceNumber": .string(r.sequenceNumber(k).description),
                            "ApproximateArrivalTimestamp": .double(Double(r.records.arrivalMillis(k)) / 1000),
                            "Data": .string(b64), "PartitionKey": .string(r.records.partitionKey(k))])
        }
        return records
    }

    /// SubscribeToShard: checks the consumer, shard and starting position like GetShardIterator
    /// (errors as plain JSON responses), then streams events.
    func subscribe(_ i: Input) throws(APIError) -> HTTPResponse {
        let arn = try i.required("ConsumerARN", "consumerARN")
        guard let shard = try Service.shardId(i, "ShardId", "shardId") else { throw .missing("shardId") }
        guard let position = try i.object("StartingPosition") else { throw .missing("startingPosition") }
        let typeText = try position.required("Type", "startingPosition.type")
        guard let type = ShardIteratorType(rawValue: typeText) else {
            throw APIError("ValidationException", "1 validation error detected: Value '\(typeText)' at 'startingPosition.type' failed to satisfy constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]")
        }
        let (stream, name) = try store { () throws(StreamError) in try store.resolveConsumer(arn: arn, streamName: nil, consumerName: nil) }
        let consumer = try store { () throws(StreamError) in try store.describeConsumer(stream: stream, name: name) }
        guard consumer.status == "ACTIVE" else {
            throw APIError("ResourceInUseException", "Consumer \(arn) under account \(store.configuration.accountId) is not ACTIVE.")
        }
        let seq = try position.string("SequenceNumber")
        let ts = try position.timestampMillis("Timestamp")
        let iterator = try store { () throws(StreamError) in
            try store.getShardIterator(stream: stream, shardId: shard, type: type, startingSequenceNumber: seq, timestampMillis: ts)
        }
        let key = arn + "\u{0}" + shard
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let generation = try subscriptions.withLock { (all: inout [String: Subscription]) throws(APIError) -> Int in
            if let old = all[key], now - old.startedMillis < 5000 {
                throw APIError("ResourceInUseException", "Another active subscription exists for this consumer: \(store.configuration.accountId):\(stream):\(shard):\(name)")
            }
            let g = (all[key]?.generation ?? 0) + 1
            all[key] = Subscription(startedMillis: now, generation: g)
            return g
        }
        var response = HTTPResponse(status: 200, headers: [("Content-Type", "application/vnd.amazon.eventstream")])
        response.stream = { [self] writer in
            pushEvents(writer, stream: stream, consumer: name, iterator: iterator, key: key, generation: generation, started: now)
        }
        return response
    }

    private func pushEvents(_ writer: BodyWriter, stream: String, consumer: String, iterator start: String, key: String,
                            generation: Int, started: Int64) {
        defer {
            subscriptions.withLock { all in if all[key]?.generation == generation { all[key] = nil } }
        }
        let initial = EventStreamMessage.encode(headers: [(":message-type", "event"), (":event-type", "initial-response"),
                                                          (":content-type", "application/x-amz-json-1.1")], payload: Array("{}".utf8))
        guard writer.write(initial) else { return }
        var iterator = start
        var continuation = store.sequenceNumber(before: start)
        var lastSent = Int64(0)
        while true {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            if writer.serverStopping || now - started >= subscriptionMillis { return }
            if subscriptions.withLock({ $0[key]?.generation }) != generation {
                _ = writer.write(EventStreamMessage.exception("ResourceInUseException", message: "A newer subscription of consumer \(consumer) to this shard took over."))
                return
            }
            let r: GetRecordsResult
            do {
                _ = try store.describeConsumer(stream: stream, name: consumer)
                r = try store.getRecords(shardIterator: iterator, limit: 10000)
            } catch {
                // The same rule as every answer: an internal failure is logged, not shown.
                let hidden = error.code == .storage || error.code == .internalFailure
                if hidden { log("SubscribeToShard failed: \(error.message)") }
                _ = writer.write(EventStreamMessage.exception(hidden ? "InternalFailure" : error.code.rawValue,
                                                              message: hidden ? "The service could not complete the request; the server's log says why." : error.message))
                return
            }
            let n = r.records.count
            if n > 0 { continuation = r.sequenceNumber(n - 1) }
            let ended = r.nextShardIterator == nil
            // Events carry records as they come, one goes out at once (so that a subscriber knows
            // where the shard stands), and one at least every 5 s otherwise. Before any record of
            // the shard (an empty shard read from its start) they have no continuation.
            if n > 0 || ended || lastSent == 0 || now - lastSent >= 5000 {
                var o: JSONObject = ["Records": .array(Service.recordsJSON(r)), "MillisBehindLatest": .int(r.millisBehindLatest)]
                if let c = continuation { o["ContinuationSequenceNumber"] = .string(c.description) }
                if let children = r.childShards { o["ChildShards"] = .array(children.map(\.json)) }
                guard writer.write(EventStreamMessage.event("SubscribeToShardEvent", json: Array(JSONValue.object(o).serialized().utf8))) else { return }
                lastSent = now
            }
            if ended { return }
            iterator = r.nextShardIterator!
            if n == 0 { usleep(pollMicros) }
        }
    }
}
