import Foundation
public import SluiceAWS
public import SluiceCore
public import SluiceStreams

/// Enhanced fan-out: a consumer registered with the stream (RegisterStreamConsumer) and
/// SubscribeToShard, whose answer is a stream of events in the AWS event stream encoding, read
/// as they arrive over HTTP/1.1 (as boto3 reads them).
extension KinesisClient {
    /// The stream's ARN: as declared, else as DescribeStreamSummary gives it.
    public func resolvedStreamARN() throws(StreamError) -> String {
        if let a = streamARN { return a }
        guard let a = try call("DescribeStreamSummary", [:])["StreamDescriptionSummary"]?["StreamARN"]?.stringValue else {
            throw StreamError(.internalFailure, "DescribeStreamSummary on \(place) gave no StreamARN")
        }
        return a
    }

    /// The ARN of the consumer `name`, registered now unless it is already, once it is ACTIVE
    /// (a new registration takes a few seconds at AWS); waits `waitMillis` at most.
    public func registeredConsumer(_ name: String, waitMillis: Int = 120_000) throws(StreamError) -> String {
        let stream = try resolvedStreamARN()
        var arn: String? = nil, status = "CREATING"
        do throws(StreamError) {
            let c = try plainCall("RegisterStreamConsumer", ["StreamARN": .string(stream), "ConsumerName": .string(name)])["Consumer"]
            arn = c?["ConsumerARN"]?.stringValue
            status = c?["ConsumerStatus"]?.stringValue ?? status
        } catch where error.code == .resourceInUse {
            // Registered already (by an earlier run, or another worker of the application).
        }
        var waited = 0
        while true {
            if arn == nil || status != "ACTIVE" {
                let d = try plainCall("DescribeStreamConsumer", ["StreamARN": .string(stream), "ConsumerName": .string(name)])["ConsumerDescription"]
                arn = d?["ConsumerARN"]?.stringValue
                status = d?["ConsumerStatus"]?.stringValue ?? "?"
            }
            guard let a = arn else { throw StreamError(.internalFailure, "DescribeStreamConsumer on \(place) gave no ConsumerARN for \(name)") }
            if status == "ACTIVE" { return a }
            guard status == "CREATING", waited < waitMillis else {
                throw StreamError(.resourceInUse, "consumer \(name) of \(place) is \(status), not ACTIVE" + (status == "CREATING" ? " after \(waitMillis / 1000) s" : ""))
            }
            usleep(250_000)
            waited += 250
        }
    }

    /// One event of a subscription: its records (as GetRecords gives them; `nextShardIterator`
    /// nil at the shard's end), and where a new subscription would go on.
    public struct FanOutEvent: Sendable {
        public var result: GetRecordsResult
        public var continuation: String?
        /// The shard is read to its end (it was closed by a reshard): no more events come.
        public var ended: Bool
    }

    /// Subscribes `consumerARN` to `shard` (`closed`: by a reshard) from `start`, handing each event to `onEvent` until the
    /// subscription ends (after five minutes at AWS), `onEvent` says false, or `cancel` cancels
    /// it. Errors: the answer's, an exception event's (ResourceInUseException when another
    /// subscription holds the shard), or a broken stream's.
    public func subscribe(consumerARN: String, shard: String, closed: Bool = false, from start: IteratorStart, cancel: CallCancellation? = nil,
                          onEvent: (FanOutEvent) -> Bool) throws(StreamError) {
        var position: JSONObject
        switch start {
        case .trimHorizon: position = ["Type": "TRIM_HORIZON"]
        case .latest: position = ["Type": "LATEST"]
        case .afterSequenceNumber(let s): position = ["Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": .string(s)]
        case .atTimestamp(let ms): position = ["Type": "AT_TIMESTAMP", "Timestamp": .double(Double(ms) / 1000)]
        }
        var decoder = EventStreamDecoder()
        var problem: StreamError? = nil
        var stopped = false
        do throws(AWSJSONClient.Failure) {
            try api.stream("SubscribeToShard", .object(["ConsumerARN": .string(consumerARN), "ShardId": .string(shard), "StartingPosition": .object(position)]),
                           cancel: cancel) { bytes in
                let messages: [EventStreamMessage]
                do throws(EventStreamDecoder.Failure) { messages = try decoder.feed(bytes) } catch {
                    problem = StreamError(.internalFailure, "SubscribeToShard on \(place), \(shard): \(error.message)")
                    return false
                }
                for m in messages {
                    switch m.messageType {
                    case "event":
                        guard m.type == "SubscribeToShardEvent" else { continue }  // initial-response
                        do throws(StreamError) {
                            guard onEvent(try event(m.payload, shard: shard, closed: closed)) else { stopped = true; return false }
                        } catch {
                            problem = error
                            return false
                        }
                    default:
                        let name = m.type ?? "InternalFailure"
                        let message = (try? JSONValue.parse(bytes: m.payload))?["message"]?.stringValue ?? String(decoding: m.payload.prefix(300), as: UTF8.self)
                        problem = failure("SubscribeToShard", AWSJSONClient.Failure(name: name.replacingOccurrences(of: "InternalFailureException", with: "InternalFailure"),
                                                                                      message: message, status: 400))
                        return false
                    }
                }
                return true
            }
        } catch {
            if cancel?.isCancelled == true { return }
            // An answer that is no Kinesis error (moto's server answers 500 with a page): the
            // endpoint does not offer the operation. Not retried.
            if error.unreachable == nil && (error.name.hasPrefix("HTTP ") || error.name.hasPrefix("UnknownOperation") || error.name == "InvalidAction") {
                throw StreamError(.invalidArgument, "\(api.endpoint) does not offer SubscribeToShard (enhanced fan-out): it answered \(error.name)"
                                  + " (stream \(streamName); leave consumer out to read it by GetRecords polling)")
            }
            throw failure("SubscribeToShard", error)
        }
        if let p = problem { throw p }
        if !stopped && decoder.isMidMessage && cancel?.isCancelled != true {
            throw StreamError(.internalFailure, "SubscribeToShard on \(place), \(shard): the event stream was cut short")
        }
    }

    /// A SubscribeToShardEvent's payload. The shard's end: child shards named (AWS also leaves
    /// the continuation out then), or no continuation from a shard closed by a reshard.
    func event(_ payload: [UInt8], shard: String, closed: Bool) throws(StreamError) -> FanOutEvent {
        guard let j = try? JSONValue.parse(bytes: payload) else {
            throw StreamError(.internalFailure, "SubscribeToShard on \(place), \(shard): an event whose payload is not JSON")
        }
        let continuation = j["ContinuationSequenceNumber"]?.stringValue
        let ended = !(j["ChildShards"]?.arrayValue ?? []).isEmpty || (closed && continuation == nil)
        let behind = j["MillisBehindLatest"]?.int64Value ?? 0
        let list = j["Records"]?.arrayValue ?? []
        let result = try records(list, "SubscribeToShard", nextShardIterator: ended ? nil : "subscription", millisBehindLatest: behind, reachedEnd: behind == 0)
        return FanOutEvent(result: result, continuation: continuation, ended: ended)
    }
}
