import Foundation
public import SluiceAWS
public import SluiceCore
public import SluiceStreams

/// One remote Firehose delivery stream through its API (AWS, moto's server, `sluice serve`):
/// PutRecordBatch with throttling and transient failures retried as the Kinesis client retries
/// them, errors naming the delivery stream and the endpoint.
public final class FirehoseClient: Sendable {
    public let api: AWSJSONClient
    public let deliveryStream: String
    /// Its calls' retry and error policy, and their counts.
    public let retrying: KinesisClient

    public init(api: AWSJSONClient, deliveryStream: String, maxAttempts: Int = 8) {
        self.api = api
        self.deliveryStream = deliveryStream
        // The retry and error policy is the Kinesis client's; the stream it names is the delivery stream.
        retrying = KinesisClient(api: api, stream: deliveryStream, maxAttempts: maxAttempts)
    }

    public var place: String { "delivery stream \(deliveryStream) at \(api.endpoint) (\(api.region))" }

    /// The delivery stream's status (DescribeDeliveryStream): whether it is there, and the credentials taken.
    public func status() throws(StreamError) -> String {
        let d = try retrying.plainCall("DescribeDeliveryStream", ["DeliveryStreamName": .string(deliveryStream)])
        return d["DeliveryStreamDescription"]?["DeliveryStreamStatus"]?.stringValue ?? "ACTIVE"
    }

    /// PutRecordBatch of up to 500 records: the indexes of the records not taken, with the error code.
    public func putRecordBatch(_ records: [[UInt8]]) throws(StreamError) -> [(index: Int, code: String)] {
        let list: [JSONValue] = records.map { ["Data": .string(Base64.encode($0))] }
        let answer = try retrying.plainCall("PutRecordBatch", ["DeliveryStreamName": .string(deliveryStream), "Records": .array(list)])
        guard (answer["FailedPutCount"]?.int64Value ?? 0) > 0 else { return [] }
        var failed: [(Int, String)] = []
        for (i, r) in (answer["RequestResponses"]?.arrayValue ?? []).enumerated() {
            if let code = r["ErrorCode"]?.stringValue { failed.append((i, code)) }
        }
        return failed
    }

    public func backoff(_ attempt: Int) { retrying.backoff(attempt) }
}
