import Foundation
import Testing
import SluiceCore
import SluiceAWS
import SluiceStreams
import SluiceTestSupport
@testable import SluiceServer

/// `POST /v1/load?stream=NAME`: a bulk load's batches through a server.
@Suite("The load API")
struct LoadAPITests {
    final class Fixture: @unchecked Sendable {
        let scratch: ScratchStore
        var store: StreamStore { scratch.store }
        let service: Service
        init(accessKeys: [String: String]? = nil) throws {
            scratch = try ScratchStore("load-api")
            service = Service(store: scratch.store, accessKeys: accessKeys, log: { _ in })
        }

        func load(_ target: String, _ body: [UInt8], method: String = "POST", signed: Bool = true) -> (Int, JSONValue?) {
            var r = HTTPRequest(method: method, target: target, headers: [("host", "localhost"), ("content-type", "application/octet-stream")], body: body)
            if signed { SigV4.sign(&r, credentials: AWSCredentials(accessKeyId: "AKID", secretAccessKey: "secret", source: "test"), region: "us-east-1", service: "kinesis") }
            // As the server reads it: header names lower-cased.
            r.headers = r.headers.map { ($0.name.lowercased(), $0.value) }
            let answer = service.handle(r)
            return (answer.status, try? JSONValue.parse(bytes: answer.body))
        }

        func arrivals(_ stream: String) throws -> [String: Int64] { try StoreRecords.arrivals(store, stream) }
    }

    static func packed(_ n: Int, _ tag: String) -> PackedRecords { StoreRecords.packed(n, tag) }

    /// Each batch is put as a local load's: at a millisecond after every earlier put's to the
    /// stream, however fast they come (PutRecords at the server's clock would share one, and the
    /// order a query meets them in would depend on the load's speed).
    @Test func eachBatchTakesAMillisecondOfItsOwn() throws {
        let f = try Fixture()
        try f.store.createStream(name: "bids", shardCount: 2)
        _ = try f.store.putRecords(stream: "bids", packed: Self.packed(3, "put"))
        let (status, answer) = f.load("/v1/load?stream=bids", Self.packed(700, "one").frames)
        #expect(status == 200)
        #expect(answer?["records"] == .int(700) && answer?["failed"] == .array([]))
        #expect(f.load("/v1/load?stream=bi%64s", Self.packed(5, "two").frames).0 == 200)
        let t0 = StillClock().nowMillis()
        var want: [String: Int64] = [:]
        for (tag, n, at) in [("put", 3, t0), ("one", 700, t0 + 1), ("two", 5, t0 + 2)] { for i in 0..<n { want["\(tag)-\(i)"] = at } }
        #expect(try f.arrivals("bids") == want)
    }

    /// Bad requests get one clear error each, and nothing of them is put.
    @Test func badRequestsAreRefusedWhole() throws {
        let f = try Fixture()
        try f.store.createStream(name: "s", shardCount: 1)
        let good = Self.packed(2, "x").frames
        let cut = f.load("/v1/load?stream=s", Array(good.dropLast()))
        #expect(cut.0 == 400 && cut.1?["__type"] == "SerializationException")
        #expect(cut.1?["message"]?.stringValue?.contains("record 2's data") == true, "\(String(describing: cut.1))")
        let noStream = f.load("/v1/load", good)
        #expect(noStream.0 == 400 && noStream.1?["__type"] == "ValidationException")
        let missing = f.load("/v1/load?stream=nope", good)
        #expect(missing.0 == 400 && missing.1?["__type"] == "ResourceNotFoundException")
        let badName = f.load("/v1/load?stream=a%2Fb", good)
        #expect(badName.0 == 400 && badName.1?["__type"] == "ValidationException")
        let empty = f.load("/v1/load?stream=s", [])
        #expect(empty.0 == 400 && empty.1?["__type"] == "ValidationException")
        // A record with no partition key, or larger than a record may be: the batch is refused.
        var noKey = PackedRecords()
        Array("d".utf8).withUnsafeBytes { d in noKey.append(data: d, partitionKey: "") }
        #expect(f.load("/v1/load?stream=s", Self.packed(1, "ok").frames + noKey.frames).1?["__type"] == "ValidationException")
        var big = PackedRecords()
        [UInt8](repeating: 65, count: (1 << 20) + 1).withUnsafeBytes { big.append(data: $0, partitionKey: "k") }
        #expect(f.load("/v1/load?stream=s", big.frames).1?["__type"] == "ValidationException")
        #expect(f.load("/v1/load?stream=s", good, method: "GET").0 == 405)
        #expect(try f.arrivals("s").isEmpty)
    }

    /// Under --require-auth a load needs a valid signature, as PutRecords does.
    @Test func underRequiredAuthALoadIsSigned() throws {
        let f = try Fixture(accessKeys: ["AKID": "secret"])
        try f.store.createStream(name: "s", shardCount: 1)
        let body = Self.packed(2, "x").frames
        #expect(f.load("/v1/load?stream=s", body, signed: false).0 == 403)
        #expect(f.load("/v1/load?stream=s", body).0 == 200)
        #expect(try f.arrivals("s").count == 2)
    }
}
