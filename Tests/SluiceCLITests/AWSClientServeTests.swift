import Foundation
import Testing
import SluiceAWS
import SluiceCore

/// The AWS JSON client (issue 25's way to Kinesis endpoints) against `sluice serve` as the
/// endpoint: signed calls, answers read back, and the API's errors by name; with --require-auth
/// a wrong secret is refused as AWS refuses it.
@Suite("AWS JSON client against sluice serve")
struct AWSClientServeTests {
    @Test func aStreamIsCreatedWrittenAndReadBack() throws {
        let dir = TempDir()
        let s = try ServeProcess(dataDir: dir.path + "/data")
        let credentials = AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "test-secret", source: "the test")
        let k = try #require(AWSJSONClient.kinesis(endpoint: "http://127.0.0.1:\(s.port)", credentials: credentials, region: "us-east-1"))
        _ = try k.call("CreateStream", ["StreamName": "events", "ShardCount": 2])
        let put = try k.call("PutRecord", ["StreamName": "events", "PartitionKey": "k1", "Data": .string(Data("hello".utf8).base64EncodedString())])
        let shard = try #require(put["ShardId"]?.stringValue)
        let shards = try k.call("ListShards", ["StreamName": "events"])["Shards"]?.arrayValue ?? []
        #expect(shards.count == 2 && shards.contains { $0["ShardId"]?.stringValue == shard })
        let iterator = try #require(try k.call("GetShardIterator", ["StreamName": "events", "ShardId": .string(shard), "ShardIteratorType": "TRIM_HORIZON"])["ShardIterator"]?.stringValue)
        let records = try k.call("GetRecords", ["ShardIterator": .string(iterator)])["Records"]?.arrayValue ?? []
        #expect(records.count == 1 && records.first?["PartitionKey"]?.stringValue == "k1")
        #expect(records.first?["Data"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } == "hello")
        do {
            _ = try k.call("DescribeStreamSummary", ["StreamName": "missing"])
            Issue.record("a missing stream answered")
        } catch {
            #expect(error.name == "ResourceNotFoundException" && error.status == 400 && error.unreachable == nil, "\(error)")
        }
    }

    @Test func aWrongSecretIsRefused() throws {
        let dir = TempDir()
        let s = try ServeProcess(dataDir: dir.path + "/data", extra: ["--require-auth", "--access-key", "AKIDTEST:right-secret"])
        let endpoint = "http://127.0.0.1:\(s.port)"
        let good = try #require(AWSJSONClient.kinesis(endpoint: endpoint, credentials: AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "right-secret", source: "t"), region: "us-east-1"))
        #expect(try good.call("ListStreams", [:])["StreamNames"] != nil)
        let bad = try #require(AWSJSONClient.kinesis(endpoint: endpoint, credentials: AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "wrong", source: "t"), region: "us-east-1"))
        do {
            _ = try bad.call("ListStreams", [:])
            Issue.record("a wrong secret was accepted")
        } catch {
            #expect(error.name == "InvalidSignatureException" && !error.message.contains("wrong"), "\(error)")
        }
    }
}
