import Foundation
import Testing
import SluiceCore
import SluiceSQL
@testable import SluiceEngine

/// `Engine.replay` (a query straight over a file, as `sluice bench queries` runs it): a self-join
/// decodes each line once for both sides and must join as a brute-force join does; CSV records
/// are read as RFC 4180 has them; a bad line is counted once.
@Suite("File replays")
struct ReplayTests {
    func query(_ sql: String) throws -> Query {
        for s in try Parser.parse(sql).script.statements { if case .query(let q) = s.kind { return q } }
        throw EngineError(message: "no query in \(sql)")
    }

    func write(_ f: EngineFixture, _ name: String, _ text: String) -> String {
        let path = f.dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    struct Bid { var auction: Int64; var bidder: Int64; var price: Int64; var time: Int64 }

    @Test func aSelfJoinMatchesABruteForceJoin() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, note VARCHAR, t TIMESTAMP,
              WATERMARK FOR t AS t - INTERVAL '2' SECOND) WITH (format = 'json');
            """)
        var rng = SplitMix64(seed: 21)
        var bids: [Bid] = []
        var clock: Int64 = 1_704_067_200_000
        var text = ""
        for i in 0..<3000 {
            clock += Int64(rng.next() % 40)
            // Out of order within the watermark's 2 s, prices from a few, so that keys meet.
            let b = Bid(auction: Int64(rng.next() % 30), bidder: Int64(i), price: Int64(rng.next() % 4) * 10, time: clock - Int64(rng.next() % 1500))
            bids.append(b)
            text += #"{"auction":\#(b.auction),"bidder":\#(b.bidder),"price":\#(b.price),"note":"n\#(i)","t":\#(b.time)}"# + "\n"
        }
        let path = write(f, "bids.jsonl", text)
        let q = try query("""
            SELECT a.auction, a.bidder, b.bidder AS later, b.note FROM bids a JOIN bids b
            ON a.auction = b.auction AND a.price = b.price AND b.t BETWEEN a.t + INTERVAL '1' MILLISECOND AND a.t + INTERVAL '1' SECOND
            """)
        var got: [String] = []
        let counters = try f.engine.replay(query: q, file: path) { rows in
            for r in rows { got.append(r.map(\.description).joined(separator: " ")) }
        }
        var expected: [String] = []
        for a in bids {
            for b in bids where b.auction == a.auction && b.price == a.price && b.time >= a.time + 1 && b.time <= a.time + 1000 {
                expected.append("\(a.auction) \(a.bidder) \(b.bidder) n\(b.bidder)")
            }
        }
        #expect(counters.recordsIn == 3000 && counters.bad == 0 && counters.late == 0)
        #expect(expected.count > 500)
        #expect(got.sorted() == expected.sorted())
    }

    @Test func aBadLineOfASelfJoinIsCountedOnceAndTheRestJoin() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM s (k BIGINT, v BIGINT, t TIMESTAMP, WATERMARK FOR t AS t - INTERVAL '1' SECOND) WITH (format = 'json');
            """)
        let path = write(f, "s.jsonl", """
            {"k":1,"v":10,"t":1000}
            {"k":1,"v":"eleven","t":1100}
            {"k":1,"v":12,"t":1200}

            """)
        let q = try query("SELECT a.v, b.v AS w FROM s a JOIN s b ON a.k = b.k AND b.t BETWEEN a.t + INTERVAL '1' MILLISECOND AND a.t + INTERVAL '1' SECOND")
        var got: [[Value]] = []
        let counters = try f.engine.replay(query: q, file: path) { got += $0 }
        #expect(counters.recordsIn == 3 && counters.bad == 1)
        #expect(got == [[.int(10), .int(12)]])
    }

    @Test func csvRecordsMayHoldLineBreaksInQuotes() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM notes (id BIGINT, body VARCHAR, t TIMESTAMP) WITH (format = 'csv');
            """)
        let path = write(f, "notes.csv", "1,\"two\nlines\",1000\n2,plain,2000\n")
        var got: [[Value]] = []
        let counters = try f.engine.replay(query: try query("SELECT id, body FROM notes"), file: path) { got += $0 }
        #expect(counters.recordsIn == 2 && counters.bad == 0)
        #expect(got == [[.int(1), .string("two\nlines")], [.int(2), .string("plain")]])
    }
}
