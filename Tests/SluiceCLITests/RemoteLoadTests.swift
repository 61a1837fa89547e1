import Foundation
import Testing
import SluiceCore
import SluiceStreams
import SluiceServer
import SluiceTestSupport
@testable import SluiceCLI

/// A load into a server's stream (`.load` in an attached REPL, `sluice run --input` against a
/// server) goes through the server's load API.
@Suite("Loads through a server")
struct RemoteLoadTests {
    final class Fixture: @unchecked Sendable {
        let scratch: ScratchStore
        var store: StreamStore { scratch.store }
        let server: HTTPServer
        let target: RemoteLoadTarget

        /// `withLoadAPI: false`: a server that answers 404 to the load API (an older one).
        init(withLoadAPI: Bool = true) throws {
            scratch = try ScratchStore("remote-load")
            let store = scratch.store
            let service = Service(store: store, log: { _ in })
            server = try HTTPServer(port: 0) { r in
                !withLoadAPI && r.path == "/v1/load" ? .text(404, "not here\n") : service.handle(r)
            }
            server.start()
            target = RemoteLoadTarget(client: APIClient(url: "http://127.0.0.1:\(server.port)", environment: [:])!)
            try store.createStream(name: "s", shardCount: 2)
        }
        deinit { server.stop() }

        func arrivals() throws -> [String: Int64] { try StoreRecords.arrivals(store, "s") }
    }

    static func packed(_ n: Int, _ tag: String) -> PackedRecords { StoreRecords.packed(n, tag) }

    /// Each batch at a millisecond of its own, after the puts before it, as a local load's: the
    /// order a query meets a load's records in does not depend on how fast it went.
    @Test func batchesArePutAsALocalLoadPutsThem() throws {
        let f = try Fixture()
        #expect(f.target.loadBatch.bytes == 1 << 20)
        #expect(try f.target.put(Self.packed(3, "put"), into: "s") == 0)
        #expect(try f.target.load(Self.packed(700, "one"), into: "s") == 0)
        #expect(try f.target.load(Self.packed(4, "two"), into: "s") == 0)
        let t0 = StillClock().nowMillis()
        var want: [String: Int64] = [:]
        for (tag, n, at) in [("put", 3, t0), ("one", 700, t0 + 1), ("two", 4, t0 + 2)] { for i in 0..<n { want["\(tag)-\(i)"] = at } }
        #expect(try f.arrivals() == want)
        // A stream the server does not have: the server's error, named.
        #expect(throws: APIClient.Failure.self) { try f.target.load(Self.packed(1, "x"), into: "nope") }
    }

    /// A server without the load API takes the batch by PutRecords, 500 records at a time.
    @Test func withoutTheLoadAPIABatchGoesByPutRecords() throws {
        let f = try Fixture(withLoadAPI: false)
        #expect(try f.target.load(Self.packed(1200, "one"), into: "s") == 0)
        let got = try f.arrivals()
        #expect(got.count == 1200 && Set(got.values) == [StillClock().nowMillis()])
    }
}
