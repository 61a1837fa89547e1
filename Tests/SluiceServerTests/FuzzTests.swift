import Foundation
import Glibc
import SluiceCore
import SluiceDelivery
import SluiceStreams
import Testing
import SluiceAWS
@testable import SluiceServer

/// Random and mutated requests, for a bounded time: `SLUICE_FUZZ_SECONDS` (default 2 per test
/// here; `.ci/run` gives it longer). Nothing may crash, every answer is well formed, and nothing
/// is written outside the server's directories. A failure prints the seed to replay it with
/// `SLUICE_FUZZ_SEED`.
@Suite("Fuzzing the HTTP reader and the JSON APIs")
struct FuzzTests {
    static var seconds: Double { Double(ProcessInfo.processInfo.environment["SLUICE_FUZZ_SECONDS"] ?? "") ?? 2 }
    static var seed: UInt64 { UInt64(ProcessInfo.processInfo.environment["SLUICE_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max) }

    static let templates: [String] = [
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer: t\r\n\r\n",
        "GET /health HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        "GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
    ]
    static let pieces: [String] = ["\r\n", "\r\n\r\n", ":", " ", "\t", "\"", "0", "ffffffffffffffffff", "7fffffffffffffff", ";",
                                   "Content-Length: ", "Transfer-Encoding: chunked", "-1", "+5", "\u{0}", "\u{FF}", "HTTP/1.1", "\n"]

    /// One request, mutated a few times: bytes flipped, inserted, deleted, pieces spliced in, cut short.
    static func mutated(_ rng: inout SplitMix64) -> [UInt8] {
        var b = Array(templates[Int(rng.next() % UInt64(templates.count))].utf8)
        for _ in 0..<Int(rng.next() % 4) {
            guard !b.isEmpty else { break }
            let at = Int(rng.next() % UInt64(b.count))
            switch rng.next() % 5 {
            case 0: b[at] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            case 1: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
            case 2: b.remove(at: at)
            case 3: b.insert(contentsOf: Array(pieces[Int(rng.next() % UInt64(pieces.count))].utf8), at: at)
            default: b = Array(b[..<at])
            }
        }
        return b
    }

    /// The same bytes, fed whole or in random pieces, give the same requests and the same error:
    /// the reader's answer never depends on how the bytes arrived, and it never holds more than a
    /// request's limits.
    @Test func theReaderAnswersAlikeHoweverTheBytesArrive() {
        let seed = Self.seed
        var rng = SplitMix64(seed: seed)
        let deadline = Date().addingTimeInterval(Self.seconds)
        var cases = 0
        while Date() < deadline {
            var stream: [UInt8] = []
            for _ in 0..<(1 + Int(rng.next() % 3)) { stream += Self.mutated(&rng) }
            let continued = rng.next() % 2 == 0
            func run(_ split: (Int) -> Int) -> [String] {
                var r = HTTPRequestReader(maxHeaderBytes: 512, maxBodyBytes: 256)
                var out: [String] = []
                var at = 0
                var most = 0
                while at < stream.count {
                    let n = min(stream.count - at, split(stream.count - at))
                    r.feed(stream[at..<(at + n)])
                    at += n
                    most = max(most, r.bufferedBytes)
                    do {
                        // Without 100 Continue sent, a head that asks for it waits: the answer may
                        // come at another point of the bytes, but the requests are the same.
                        while true {
                            let o = try r.next(continued: continued)
                            guard case .request(let q) = o else { break }
                            out.append("\(q.method) \(q.target) \(q.body.count)")
                        }
                    } catch {
                        out.append("error \(error.status)")
                        return out
                    }
                    if most > 512 + 256 + 4096 + n { out.append("held \(most)") }
                }
                return out
            }
            let whole = run { $0 }
            var splitter = SplitMix64(seed: rng.next())
            let pieces = run { _ in 1 + Int(splitter.next() % 7) }
            #expect(whole == pieces, "seed \(seed): \(String(decoding: stream, as: UTF8.self).debugDescription)")
            if whole != pieces { return }
            cases += 1
        }
        #expect(cases > 100)
    }

    static let operations = Array(Service.known.subtracting(["SubscribeToShard"])).sorted()
    static let members = ["StreamName", "StreamARN", "ShardCount", "ShardId", "Timestamp", "Limit", "Records", "Data", "PartitionKey",
                          "ExplicitHashKey", "ShardIteratorType", "StartingSequenceNumber", "NextToken", "ExclusiveStartShardId",
                          "ShardIterator", "ShardToSplit", "NewStartingHashKey", "ShardToMerge", "AdjacentShardToMerge", "TargetShardCount",
                          "ScalingType", "RetentionPeriodHours", "Tags", "TagKeys", "ShardFilter", "Type", "MaxResults", "ConsumerName",
                          "ConsumerARN", "DeliveryStreamName", "DeliveryStreamType", "Record", "ExtendedS3DestinationConfiguration",
                          "BucketARN", "RoleARN", "Prefix", "ErrorOutputPrefix", "BufferingHints", "SizeInMBs", "IntervalInSeconds",
                          "CurrentDeliveryStreamVersionId", "DestinationId", "KinesisStreamSourceConfiguration", "KinesisStreamARN",
                          "StreamModeDetails", "StreamMode", "EnforceConsumerDeletion", "SequenceNumberForOrdering", "CompressionFormat"]

    static func value(_ rng: inout SplitMix64, depth: Int = 0) -> JSONValue {
        let strings = ["s", "fuzz", "..", ".", "../x", "shardId-000000000000", "shardId-000000000001", "TRIM_HORIZON", "AT_TIMESTAMP", "LATEST",
                       "aGVsbG8=", "not base64!", "arn:aws:s3:::bucket", "arn:aws:kinesis:us-east-1:000000000000:stream/s",
                       "arn:aws:iam::000000000000:role/r", "AFTER_SHARD_ID", "UNIFORM_SCALING", "PROVISIONED", "ON_DEMAND", "!{timestamp:yyyy}/",
                       "../../escape/", "", String(repeating: "x", count: 300), "49590338271490256608559692538361571095921575989136588898", "1", "%00"]
        switch rng.next() % (depth > 1 ? 6 : 8) {
        case 0: return .string(strings[Int(rng.next() % UInt64(strings.count))])
        case 1: return .int(Int64(bitPattern: rng.next()) >> Int64(rng.next() % 64))
        case 2: return .double([1e300, -1e300, 9.3e15, 0.5, -0.0, 1.7e308, 1_700_000_000, 3][Int(rng.next() % 8)])
        case 3: return .bool(rng.next() % 2 == 0)
        case 4: return .null
        case 5: return .int(Int64(rng.next() % 5))
        case 6: return .array((0..<Int(rng.next() % 4)).map { _ in value(&rng, depth: depth + 1) })
        default:
            var o = JSONObject()
            for _ in 0..<Int(rng.next() % 4) { o[members[Int(rng.next() % UInt64(members.count))]] = value(&rng, depth: depth + 1) }
            return .object(o)
        }
    }

    /// Every operation of both APIs with random members of random types, and bodies that are
    /// not JSON at all, over a store and firehoses: no crash, no internal failure, well-formed
    /// answers, nothing written outside the data and bucket directories; then the same server
    /// still serves a plain put and get.
    @Test func theJSONAPIsAnswerRandomRequests() throws {
        let seed = Self.seed
        var rng = SplitMix64(seed: seed)
        let root = NSTemporaryDirectory() + "sluice-fuzz-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        var c = StoreConfiguration(dataDirectory: root + "/data")
        c.fsync = .never
        c.shardLimit = 40
        let store = try StreamStore(configuration: c)
        defer { store.close() }
        let host = try FirehoseHost(store: store, bucketsDirectory: root + "/s3", open: { try DeliveryStream(config: $0, store: store) }, log: { _ in })
        let service = Service(store: store, firehoses: host, subscriptionSeconds: 1, log: { _ in })
        try store.createStream(name: "s", shardCount: 2)
        let deadline = Date().addingTimeInterval(Self.seconds)
        var calls = 0
        while Date() < deadline {
            let op = Self.operations[Int(rng.next() % UInt64(Self.operations.count))]
            let service_ = Service.firehose.keys.contains(op) && (op != "PutRecord" || rng.next() % 2 == 0) ? "Firehose_20150804" : "Kinesis_20131202"
            var body: [UInt8]
            if rng.next() % 10 == 0 {
                body = (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                var o = JSONObject()
                for _ in 0..<Int(rng.next() % 6) { o[Self.members[Int(rng.next() % UInt64(Self.members.count))]] = Self.value(&rng) }
                if rng.next() % 2 == 0 { o["StreamName"] = "s" }
                body = Array(JSONValue.object(o).serialized().utf8)
            }
            let request = HTTPRequest(method: "POST", target: "/", headers: [("x-amz-target", "\(service_).\(op)"),
                                      ("authorization", "AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0")],
                                      body: body)
            let response = service.handle(request)
            calls += 1
            let note = "seed \(seed), \(op): \(String(decoding: body, as: UTF8.self))"
            #expect(response.status == 200 || (400..<500).contains(response.status), "\(response.status) \(note): \(String(decoding: response.body, as: UTF8.self))")
            if response.status != 200 {
                let j = try? JSONValue.parse(bytes: response.body)
                #expect(j?["__type"]?.stringValue?.isEmpty == false, "\(note)")
            }
            if response.status >= 500 { return }
        }
        #expect(calls > 200)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).sorted().allSatisfy { ["data", "s3"].contains($0) })
        let data = try FileManager.default.contentsOfDirectory(atPath: root + "/data")
        #expect(data.contains("LOCK") && data.contains("streams"))
        let put = service.handle(HTTPRequest(method: "POST", target: "/", headers: [("x-amz-target", "Kinesis_20131202.PutRecord"), ("authorization", "AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0")],
                                             body: Array(#"{"StreamName":"after","Data":"aGVsbG8=","PartitionKey":"k"}"#.utf8)))
        #expect(put.status == 400)  // no such stream: the store still answers as it should
        _ = host.stop()
    }

    /// Mutated requests against a live server over sockets: it answers each (or closes), and
    /// still answers /health at the end.
    @Test func aLiveServerSurvivesMutatedRequests() throws {
        let f = try ServerFixture()
        let seed = Self.seed
        var rng = SplitMix64(seed: seed)
        let deadline = Date().addingTimeInterval(Self.seconds)
        var sent = 0
        while Date() < deadline {
            var bytes = Self.mutated(&rng)
            if rng.next() % 3 == 0 { bytes += Array(ServerFixture.kinesis("ListStreams", "{}").utf8) }
            _ = try? f.exchange(String(decoding: bytes, as: UTF8.self), closeAfterSend: true)
            sent += 1
        }
        #expect(sent > 20)
        #expect(try f.exchange("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n").hasPrefix("HTTP/1.1 200"), "seed \(seed)")
    }
}
