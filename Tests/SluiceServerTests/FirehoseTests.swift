import Foundation
import SluiceCore
import SluiceDelivery
import SluiceStreams
import Testing
import SluiceAWS
@testable import SluiceServer

/// The Firehose API over a FirehoseHost, called without sockets: definitions survive a restart,
/// a stop delivers what is buffered, and a server that dies before delivering loses nothing and
/// delivers nothing twice.
@Suite("Firehose API and the delivery host")
struct FirehoseAPITests {
    final class Fixture {
        let dir = NSTemporaryDirectory() + "sluice-firehose-api-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        var store: StreamStore
        var host: FirehoseHost
        var service: Service

        init() throws {
            (store, host, service) = try Fixture.open(dir)
        }

        static func open(_ dir: String) throws -> (StreamStore, FirehoseHost, Service) {
            var c = StoreConfiguration(dataDirectory: dir + "/data")
            c.fsync = .never
            let store = try StreamStore(configuration: c)
            let host = try FirehoseHost(store: store, bucketsDirectory: dir + "/s3",
                                        open: { try DeliveryStream(config: $0, store: store) }, log: { _ in })
            return (store, host, Service(store: store, firehoses: host))
        }

        /// A restart: the old host is dropped as a crash would leave it (nothing flushed) when
        /// `crash`, else stopped.
        func restart(crash: Bool) throws {
            if !crash { #expect(host.stop().isEmpty) }
            store.close()
            (store, host, service) = try Fixture.open(dir)
        }

        deinit {
            store.close()
            try? FileManager.default.removeItem(atPath: dir)
        }

        func call(_ op: String, _ body: String) -> (Int, JSONValue) {
            let r = service.handle(HTTPRequest(method: "POST", target: "/", headers: [
                ("x-amz-target", "Firehose_20150804." + op),
                ("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/firehose/aws4_request, SignedHeaders=host, Signature=abc"),
            ], body: Array(body.utf8)))
            return (r.status, (try? JSONValue.parse(bytes: r.body)) ?? .null)
        }

        /// Every object under the bucket directory: key -> contents.
        func objects(_ bucket: String) -> [String: String] {
            let root = dir + "/s3/" + bucket
            var out: [String: String] = [:]
            guard let e = FileManager.default.enumerator(atPath: root) else { return out }
            while let p = e.nextObject() as? String {
                var isDir: ObjCBool = false
                guard !p.hasPrefix(".sluice"), FileManager.default.fileExists(atPath: root + "/" + p, isDirectory: &isDir), !isDir.boolValue else { continue }
                out[p] = (try? String(contentsOfFile: root + "/" + p, encoding: .utf8)) ?? "?"
            }
            return out
        }
    }

    static let create = #"{"DeliveryStreamName": "fh", "ExtendedS3DestinationConfiguration": {"RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::b", "Prefix": "p/", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 300}}}"#

    static func batch(_ records: [String]) -> String {
        #"{"DeliveryStreamName": "fh", "Records": ["# + records.map { #"{"Data": "\#(Data($0.utf8).base64EncodedString())"}"# }.joined(separator: ",") + "]}"
    }

    @Test func aStopDeliversWhatIsBufferedAndDefinitionsSurviveARestart() throws {
        let f = try Fixture()
        let (status, created) = f.call("CreateDeliveryStream", Self.create)
        #expect(status == 200 && created["DeliveryStreamARN"]?.stringValue == "arn:aws:firehose:us-east-1:000000000000:deliverystream/fh")
        let (_, put) = f.call("PutRecordBatch", Self.batch(["a\n", "b\n"]))
        #expect(put["FailedPutCount"]?.int64Value == 0 && put["RequestResponses"]?.arrayValue?.count == 2)
        f.host.pollAll()
        #expect(f.objects("b").isEmpty, "the 300 s interval is not reached yet")
        try f.restart(crash: false)
        let objects = f.objects("b")
        #expect(Array(objects.values) == ["a\nb\n"])
        #expect(objects.keys.allSatisfy { $0.hasPrefix("p/") && $0.contains("/fh-1-") })
        let (s2, d) = f.call("DescribeDeliveryStream", #"{"DeliveryStreamName": "fh"}"#)
        #expect(s2 == 200 && d["DeliveryStreamDescription"]?["VersionId"]?.stringValue == "1")
    }

    @Test func aCrashBeforeDeliveryLosesNothingAndDuplicatesNothing() throws {
        let f = try Fixture()
        _ = f.call("CreateDeliveryStream", Self.create)
        _ = f.call("PutRecordBatch", Self.batch(["1\n", "2\n"]))
        try f.restart(crash: false)  // "1\n2\n" delivered
        _ = f.call("PutRecordBatch", Self.batch(["3\n"]))
        f.host.pollAll()  // buffered, not delivered
        try f.restart(crash: true)
        #expect(f.host.stop().isEmpty)
        #expect(f.objects("b").values.sorted() == ["1\n2\n", "3\n"])
        let metrics = f.service.metrics()
        #expect(metrics.contains("sluice_firehose_records_delivered_total{firehose=\"fh\"} 1\n"), "\(metrics)")
        #expect(metrics.contains("sluice_firehose_objects_total{firehose=\"fh\"} 1\n"))
    }

    @Test func updateDestinationDeliversUnderTheOldVersionFirst() throws {
        let f = try Fixture()
        _ = f.call("CreateDeliveryStream", Self.create)
        _ = f.call("PutRecordBatch", Self.batch(["old\n"]))
        let (status, _) = f.call("UpdateDestination", #"{"DeliveryStreamName": "fh", "CurrentDeliveryStreamVersionId": "1", "DestinationId": "destinationId-000000000001", "ExtendedS3DestinationUpdate": {"Prefix": "q/"}}"#)
        #expect(status == 200)
        _ = f.call("PutRecordBatch", Self.batch(["new\n"]))
        #expect(f.host.stop().isEmpty)
        let objects = f.objects("b")
        #expect(objects.count == 2)
        #expect(objects.first { $0.key.hasPrefix("p/") && $0.key.contains("/fh-1-") }?.value == "old\n")
        #expect(objects.first { $0.key.hasPrefix("q/") && $0.key.contains("/fh-2-") }?.value == "new\n")
        let (s2, e) = f.call("UpdateDestination", #"{"DeliveryStreamName": "fh", "CurrentDeliveryStreamVersionId": "1", "DestinationId": "destinationId-000000000001", "ExtendedS3DestinationUpdate": {"Prefix": "r/"}}"#)
        #expect(s2 == 400 && e["__type"]?.stringValue == "ConcurrentModificationException")
    }

    @Test(arguments: [
        (#"{"ExtendedS3DestinationConfiguration": {}}"#, "ValidationException", "deliveryStreamName"),
        (#"{"DeliveryStreamName": "x", "ExtendedS3DestinationConfiguration": {"BucketARN": "arn:aws:s3:::b"}}"#, "ValidationException", "roleARN"),
        (#"{"DeliveryStreamName": "x", "ExtendedS3DestinationConfiguration": {"RoleARN": "r", "BucketARN": "arn:aws:s3:::.."}}"#, "ValidationException", "bucketARN"),
        (#"{"DeliveryStreamName": "x", "ExtendedS3DestinationConfiguration": {"RoleARN": "r", "BucketARN": "arn:aws:s3:::b", "CompressionFormat": "Snappy"}}"#, "InvalidArgumentException", "UNCOMPRESSED or GZIP"),
        (#"{"DeliveryStreamName": "x", "ExtendedS3DestinationConfiguration": {"RoleARN": "r", "BucketARN": "arn:aws:s3:::b", "Prefix": "!{timestamp:yyyy}/"}}"#, "InvalidArgumentException", "error_prefix"),
        (#"{"DeliveryStreamName": "x", "ExtendedS3DestinationConfiguration": {"RoleARN": "r", "BucketARN": "arn:aws:s3:::b", "ProcessingConfiguration": {"Enabled": true, "Processors": [{"Type": "Lambda"}]}}}"#, "InvalidArgumentException", "Lambda"),
        (#"{"DeliveryStreamName": "x", "RedshiftDestinationConfiguration": {}}"#, "InvalidArgumentException", "Redshift"),
        (#"{"DeliveryStreamName": "x", "DeliveryStreamType": "KinesisStreamAsSource", "KinesisStreamSourceConfiguration": {"KinesisStreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/none", "RoleARN": "r"}, "ExtendedS3DestinationConfiguration": {"RoleARN": "r", "BucketARN": "arn:aws:s3:::b"}}"#, "InvalidArgumentException", "none"),
        (#"{"DeliveryStreamName": 7}"#, "SerializationException", "DeliveryStreamName"),
    ])
    func badDefinitionsAreRefusedAndNothingIsCreated(_ body: String, _ type: String, _ mention: String) throws {
        let f = try Fixture()
        let (status, e) = f.call("CreateDeliveryStream", body)
        #expect(status == 400 && e["__type"]?.stringValue == type, "\(e)")
        #expect(e["message"]?.stringValue?.contains(mention) == true, "\(e)")
        let (_, list) = f.call("ListDeliveryStreams", "{}")
        #expect(list["DeliveryStreamNames"]?.arrayValue == [])
    }
}
