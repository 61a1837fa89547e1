import Foundation
import Testing
import SluiceAWS
import SluiceCore
import SluiceStreams
import SluiceTestSupport
@testable import SluiceDelivery

/// A firehose delivering to S3 (moto's server): objects under the keys Firehose writes, and a
/// crash after the state lists an object but before it is put finished on opening, each record once.
@Suite("Firehose delivery to S3 (moto's server)", .enabled(if: MotoServer.path != nil, "moto is not installed: pip install 'moto[server]'"))
struct S3DestinationTests {
    @Test func aCrashBetweenTheStateAndThePutIsFinishedOnOpening() throws {
        let moto = try MotoServer()
        let s3 = S3Client(endpoint: moto.endpoint, region: "us-east-1", credentials: AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "secret", source: "t"))!
        try s3.createBucket("archive-bucket")
        let f = try Fixture()
        let c = try f.firehose(["destination": "s3://archive-bucket", "s3_endpoint": moto.endpoint, "region": "us-east-1",
                                "buffer_size": "1MB", "newline_delimiter": "true", "prefix": "logs/"])
        #expect(try DeliveryStream.load(name: "archive", store: f.store).s3Bucket == "archive-bucket")
        let records = (0..<3_000).map { "rec-\($0)-" + String(repeating: "y", count: 990) }
        try f.put(c, records)
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock, s3: s3)
        var deliveries = 0
        d.afterStateSaved = { () throws(DeliveryError) in
            deliveries += 1
            if deliveries == 2 { throw DeliveryError(.storage, "simulated crash") }
        }
        #expect(throws: DeliveryError.self) { try d.poll() }
        #expect(try s3.listKeys(bucket: "archive-bucket").count == 1, "the second object is staged and listed, not yet put")
        let again = try DeliveryStream(config: c, store: f.store, clock: f.clock, s3: s3)
        #expect(try s3.listKeys(bucket: "archive-bucket").count == 2, "opening finishes the put")
        try again.deliverAll()
        let keys = try s3.listKeys(bucket: "archive-bucket")
        #expect(keys.allSatisfy { $0.hasPrefix("logs/2024/01/01/00/archive-1-2024-01-01-00-00-00-") }, "\(keys)")
        var got: [String] = []
        for k in keys { got += String(decoding: try s3.getObject(bucket: "archive-bucket", key: k) ?? [], as: UTF8.self).split(separator: "\n").map(String.init) }
        #expect(got.sorted() == records.sorted())
        // Nothing is left staged.
        let staging = f.store.configuration.dataDirectory + "/firehoses/.sluice-staging/archive"
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).isEmpty)
    }

    @Test func aDestinationInS3IsCheckedAndAFirehoseWithoutAClientRefused() throws {
        #expect(throws: DeliveryError.self) { try FirehoseConfig.parse(name: "x", options: ["destination": "s3://"]) }
        #expect(throws: DeliveryError.self) { try FirehoseConfig.parse(name: "x", options: ["destination": "s3://Bad_Bucket"]) }
        #expect(throws: DeliveryError.self) { try FirehoseConfig.parse(name: "x", options: ["destination": "file:/tmp/x", "s3_endpoint": "http://127.0.0.1:1"]) }
        let f = try Fixture()
        let c = try f.firehose(["destination": "s3://some-bucket"])
        do {
            _ = try DeliveryStream(config: c, store: f.store, clock: f.clock)
            Issue.record("a firehose to S3 opened without a client")
        } catch {
            #expect(error.message.contains("no S3 client"))
        }
    }
}
