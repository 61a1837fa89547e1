import Foundation
import Testing
import SluiceCore

/// `sluice gen nexmark`: the benchmark's persons, auctions and bids by the canonical generator's rules.
@Suite("sluice gen nexmark")
struct GenNexmarkTests {
    static let events = 50_000
    static let rate: Int64 = 10_000
    static let base: Int64 = 1_704_067_200_000

    struct Events {
        var person: [JSONValue] = []
        var auction: [JSONValue] = []
        var bid: [JSONValue] = []
        var bytes: [String: Int] = [:]
        var raw: [String: String] = [:]
        var sideInput: [String] = []
    }

    static func generate(_ options: [String] = [], events: Int = Self.events) throws -> Events {
        let dir = TempDir()
        let r = try CLI.run(["gen", "nexmark", "--events", "\(events)", "--dir", dir.path + "/nx"] + options)
        #expect(r.status == 0, "\(r.stderr)")
        var out = Events()
        out.sideInput = ((try? String(contentsOfFile: dir.path + "/nx/side_input.csv", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        for kind in ["person", "auction", "bid"] {
            let text = (try? String(contentsOfFile: dir.path + "/nx/\(kind).jsonl", encoding: .utf8)) ?? ""
            out.raw[kind] = text
            out.bytes[kind] = text.utf8.count
            let rows = try text.split(separator: "\n").map { try JSONValue.parse(bytes: Array($0.utf8)) }
            switch kind {
            case "person": out.person = rows
            case "auction": out.auction = rows
            default: out.bid = rows
            }
        }
        return out
    }

    static func int(_ v: JSONValue, _ k: String) -> Int64 { v[k]?.int64Value ?? -1 }

    @Test func proportionsIdsAndTimesFollowTheCanonicalPattern() throws {
        let e = try Self.generate()
        // 1 person, 3 auctions, 46 bids in every 50 events.
        #expect(e.person.count == Self.events / 50)
        #expect(e.auction.count == Self.events / 50 * 3)
        #expect(e.bid.count == Self.events / 50 * 46)
        // q13's side input: a header, then keys 0 to 9,999 with their number as the value.
        #expect(e.sideInput.count == 10_001 && e.sideInput.first == "key,value" && e.sideInput[1] == "0,0" && e.sideInput.last == "9999,9999")
        // Ids dense from 1000, in order.
        #expect(e.person.map { Self.int($0, "id") } == (0..<Int64(e.person.count)).map { 1000 + $0 })
        #expect(e.auction.map { Self.int($0, "id") } == (0..<Int64(e.auction.count)).map { 1000 + $0 })
        // Event n happens at base + n / rate: person k is event 50k, auction j is event 50(j/3) + 1 + j%3.
        for (k, p) in e.person.enumerated() { #expect(Self.int(p, "dateTime") == Self.base + Int64(50 * k) * 1000 / Self.rate) }
        for (j, a) in e.auction.enumerated() {
            let n = Int64(50 * (j / 3) + 1 + j % 3)
            #expect(Self.int(a, "dateTime") == Self.base + n * 1000 / Self.rate)
        }
        for (i, b) in e.bid.enumerated() where i % 997 == 0 {
            let n = Int64(50 * (i / 46) + 4 + i % 46)
            #expect(Self.int(b, "dateTime") == Self.base + n * 1000 / Self.rate)
        }
    }

    @Test func sellersBiddersAuctionsPricesAndChannelsAreDrawnAsTheBenchmarkSays() throws {
        let e = try Self.generate()
        // Sellers: a hot seller (the latest person id rounded down to a multiple of 4) 3/4 of the time.
        var hotSellers = 0
        for (j, a) in e.auction.enumerated() {
            let lastPerson = Int64(j / 3)
            let seller = Self.int(a, "seller") - 1000
            if seller == (lastPerson / 4) * 4 { hotSellers += 1 }
            #expect(seller >= max(0, lastPerson + 1 - 1000) && seller < lastPerson + 1 + 10, "auction \(j): seller \(seller)")
            let category = Self.int(a, "category")
            #expect((10...14).contains(category))
            #expect(Self.int(a, "reserve") > Self.int(a, "initialBid"))
            // It expires within twice the time 100 more auctions take to come.
            let t = Self.int(a, "dateTime")
            let horizon = (Int64(100 * 50 / 3) * 1000) / Self.rate
            #expect(Self.int(a, "expires") > t && Self.int(a, "expires") <= t + 2 * horizon + 1)
        }
        let sellerShare = Double(hotSellers) / Double(e.auction.count)
        #expect(sellerShare > 0.72 && sellerShare < 0.80, "hot sellers \(sellerShare)")
        // Bids: the hot auction half of the time, a hot bidder 3/4 of it, a hot channel half of it.
        var hotAuctions = 0, hotBidders = 0, hotChannels = 0, withChannelId = 0, cold = 0
        var prices: [Int64] = []
        for (i, b) in e.bid.enumerated() {
            let n = Int64(50 * (i / 46) + 4 + i % 46)
            let epoch = n / 50
            let lastAuction = epoch * 3 + 2, lastPerson = epoch
            let auction = Self.int(b, "auction") - 1000
            if auction == (lastAuction / 2) * 2 { hotAuctions += 1 }
            #expect(auction >= max(0, lastAuction - 100) && auction <= lastAuction + 10, "bid \(i): auction \(auction)")
            if Self.int(b, "bidder") - 1000 == (lastPerson / 4) * 4 + 1 { hotBidders += 1 }
            let channel = b["channel"]?.stringValue ?? ""
            let url = b["url"]?.stringValue ?? ""
            #expect(url.hasPrefix("https://www.nexmark.com/"))
            if ["Google", "Facebook", "Baidu", "Apple"].contains(channel) {
                hotChannels += 1
                #expect(!url.contains("channel_id="))
            } else {
                #expect(channel.hasPrefix("channel-"))
                cold += 1
                if url.contains("&channel_id=") { withChannelId += 1 }
            }
            prices.append(Self.int(b, "price"))
        }
        let n = Double(e.bid.count)
        #expect(abs(Double(hotAuctions) / n - 0.5) < 0.03, "hot auctions \(Double(hotAuctions) / n)")
        #expect(abs(Double(hotBidders) / n - 0.75) < 0.03, "hot bidders \(Double(hotBidders) / n)")
        #expect(abs(Double(hotChannels) / n - 0.5) < 0.02, "hot channels \(Double(hotChannels) / n)")
        #expect(abs(Double(withChannelId) / Double(cold) - 0.9) < 0.05, "channel ids \(Double(withChannelId) / Double(cold))")
        // Log-uniform in [100, 10^8] cents: each decade holds about a sixth.
        #expect(prices.allSatisfy { $0 >= 100 && $0 <= 100_000_000 })
        for d in 2..<8 {
            let lo = Int64(pow(10.0, Double(d))), hi = lo * 10
            let share = Double(prices.filter { $0 >= lo && $0 < hi }.count) / n
            #expect(abs(share - 1.0 / 6) < 0.02, "decade \(d): \(share)")
        }
    }

    @Test func extraPadsEventsToTheirAverageSizes() throws {
        let e = try Self.generate()
        func average(_ rows: [JSONValue], _ size: (JSONValue) -> Int) -> Double { Double(rows.map(size).reduce(0, +)) / Double(rows.count) }
        func s(_ v: JSONValue, _ k: String) -> Int { v[k]?.stringValue?.utf8.count ?? 0 }
        let person = average(e.person) { p in 16 + ["name", "emailAddress", "creditCard", "city", "state", "extra"].map { s(p, $0) }.reduce(0, +) }
        let auction = average(e.auction) { a in 56 + s(a, "itemName") + s(a, "description") + s(a, "extra") }
        let bid = average(e.bid) { b in 32 + s(b, "extra") }
        #expect(abs(person - 200) < 5, "person \(person)")
        #expect(abs(auction - 500) < 5, "auction \(auction)")
        #expect(abs(bid - 100) < 2, "bid \(bid)")
    }

    @Test func theSameSeedGivesTheSameEventsAndEventNDoesNotDependOnTheCount() throws {
        let a = try Self.generate(events: 5_000), b = try Self.generate(events: 5_000)
        #expect(a.raw == b.raw)
        let other = try Self.generate(["--seed", "7"], events: 5_000)
        #expect(other.raw["bid"] != a.raw["bid"])
        // The first 1,000 events of a longer run are the events of a run of 1,000.
        let short = try Self.generate(events: 1_000)
        for kind in ["person", "auction", "bid"] { #expect(a.raw[kind]!.hasPrefix(short.raw[kind]!), "\(kind)") }
        // --rate spaces the events: 1,000 a second puts event 50 (person 1001) 50 ms after the first.
        let slow = try Self.generate(["--rate", "1000"], events: 100)
        #expect(Self.int(slow.person[1], "dateTime") == Self.base + 50)
    }

    @Test func badOptionsAreUsageErrors() throws {
        #expect(try CLI.run(["gen", "nexmark", "--events", "-1"]).status == 2)
        #expect(try CLI.run(["gen", "nexmark", "--rate", "0"]).status == 2)
        #expect(try CLI.run(["gen", "nexmark", "--dir", "/proc/nope/nx", "--events", "10"]).status == 2)
    }
}
