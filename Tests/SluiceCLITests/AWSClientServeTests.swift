import Foundation
import Testing
import SluiceAWS
import SluiceCore
import SluiceTestSupport

/// The AWS JSON client (issue 25's way to Kinesis endpoints) against two endpoints, `sluice
/// serve` and moto's server: the same signed calls give the same answers, and the API's errors
/// by name; with --require-auth a wrong secret is refused as AWS refuses it.
@Suite("AWS JSON client against sluice serve and moto's server")
struct AWSClientServeTests {
    static let credentials = AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "test-secret", source: "the test")

    /// A stream created (and waited for until ACTIVE), written and read back through `k`; a missing one named.
    static func roundTrip(_ k: AWSJSONClient) throws {
        _ = try k.call("CreateStream", ["StreamName": "events", "ShardCount": 2])
        var status = ""
        for _ in 0..<50 where status != "ACTIVE" {
            status = try k.call("DescribeStreamSummary", ["StreamName": "events"])["StreamDescriptionSummary"]?["StreamStatus"]?.stringValue ?? ""
            if status != "ACTIVE" { usleep(100_000) }
        }
        #expect(status == "ACTIVE")
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

    @Test func aStreamIsCreatedWrittenAndReadBack() throws {
        let dir = TempDir()
        let s = try ServeProcess(dataDir: dir.path + "/data")
        try Self.roundTrip(try #require(AWSJSONClient.kinesis(endpoint: "http://127.0.0.1:\(s.port)", credentials: Self.credentials, region: "us-east-1")))
    }

    @Test(.enabled(if: MotoServer.path != nil, "moto is not installed for python3 (pip install 'moto[server]'; .ci/run installs it)"))
    func theSameAgainstMoto() throws {
        let moto = try MotoServer()
        try Self.roundTrip(try #require(AWSJSONClient.kinesis(endpoint: moto.endpoint, credentials: Self.credentials, region: "us-east-1")))
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

/// `sluice run` writing and reading a remote stream of a separate `sluice serve --enforce-limits`
/// process, as the issue asks: the endpoint refuses writes beyond a shard's 1,000 records a
/// second, the query puts the refused records again until all arrive, and says how many calls
/// were throttled; a second run reads them all back, through polling and through enhanced fan-out.
@Suite("Queries against sluice serve --enforce-limits in another process")
struct EnforcedLimitsProcessTests {
    @Test func throttledWritesAllArriveAndAreCountedAndReadBack() throws {
        let dir = TempDir()
        let s = try ServeProcess(dataDir: dir.path + "/serve", extra: ["--enforce-limits"])
        let endpoint = "http://127.0.0.1:\(s.port)"
        let k = AWSJSONClient.kinesis(endpoint: endpoint, credentials: AWSClientServeTests.credentials, region: "us-east-1")!
        _ = try k.call("CreateStream", ["StreamName": "copy", "ShardCount": 1])
        var status = ""
        for _ in 0..<50 where status != "ACTIVE" {
            status = try k.call("DescribeStreamSummary", ["StreamName": "copy"])["StreamDescriptionSummary"]?["StreamStatus"]?.stringValue ?? ""
            if status != "ACTIVE" { usleep(100_000) }
        }
        try (0..<3000).map { #"{"n":\#($0)}"# }.joined(separator: "\n").write(toFile: dir.path + "/nums.jsonl", atomically: true, encoding: .utf8)
        let env = ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1"]
        let remote = "CREATE STREAM copy (n INT) WITH (connector = 'kinesis', stream = 'copy', endpoint = '\(endpoint)'"
        try """
            CREATE STREAM nums (n INT) WITH (format = 'json');
            \(remote));
            INSERT INTO copy SELECT n FROM nums;
            """.write(toFile: dir.path + "/write.sql", atomically: true, encoding: .utf8)
        let w = try CLI.run(["run", "write.sql", "--input", "nums=nums.jsonl", "--until-end", "--data-dir", "w"], environment: env, cwd: dir.path)
        #expect(w.status == 0, "\(w.stderr)")
        let summary = (w.stdout + w.stderr).split(separator: "\n").first { $0.contains("throttled") }.map(String.init) ?? ""
        let throttled = summary.components(separatedBy: " throttled").first?.split(separator: " ").last.flatMap { Int($0) } ?? 0
        #expect(throttled > 0, "no throttled calls said: \(w.stdout) \(w.stderr)")

        for (i, how) in ["", ", consumer = 'reader'"].enumerated() {
            try """
                \(remote)\(how));
                CREATE SINK out WITH (type = 'file', path = 'out-\(i).jsonl');
                INSERT INTO out SELECT n FROM copy;
                """.write(toFile: dir.path + "/read-\(i).sql", atomically: true, encoding: .utf8)
            let r = try CLI.run(["run", "read-\(i).sql", "--until-end", "--data-dir", "r\(i)"], environment: env, cwd: dir.path)
            #expect(r.status == 0, "\(r.stderr)")
            let lines = ((try? String(contentsOfFile: dir.path + "/out-\(i).jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
            #expect(lines.compactMap { try? JSONValue.parse(String($0))["n"]?.int64Value }.map(Int.init).sorted() == Array(0..<3000), "read \(i): \(lines.count) rows")
        }
        #expect(s.terminate() == 0)
    }
}
