import Foundation
import SluiceCore

/// The Nexmark benchmark's events (persons, auctions, bids), following the rules of the
/// benchmark's canonical generator as Flink, RisingWave and Arroyo run it: of every 50 events, 1
/// is a person, 3 are auctions and 46 are bids, in that order; person and auction ids are dense
/// from 1000; event `n` happens at `base + n / rate`. An auction's seller is a "hot" (recent, every
/// fourth) person 3/4 of the time, else one of the last 1,000 people (or up to 10 ahead); it
/// expires within about twice the time 100 more auctions take to come. A bid is for the hot
/// (latest even) auction half of the time, else one of the last 100 auctions (or up to 10 ahead);
/// its bidder is hot 3/4 of the time; its price is log-uniform in [100, 10^8] cents; its channel
/// one of four hot channels half of the time, else one of 10,000 (whose URLs mostly carry a
/// `channel_id`). `extra` pads each event's field data to about 200 (person), 500 (auction) and
/// 100 (bid) bytes. Each event draws from its own seeded generator, so event `n` is the same
/// whatever the number of events generated.
struct NexmarkGenerator {
    static let firstPersonId: Int64 = 1000
    static let firstAuctionId: Int64 = 1000
    static let firstCategoryId: Int64 = 10
    static let persons: Int64 = 1, auctions: Int64 = 3, bids: Int64 = 46
    static let total = persons + auctions + bids
    static let activePeople: Int64 = 1000
    static let inFlightAuctions: Int64 = 100
    static let personLead: Int64 = 10, auctionLead: Int64 = 10
    static let hotSellerRatio = 4, hotAuctionRatio = 2, hotBidderRatio = 4, hotChannelRatio = 2
    static let channels = 10_000

    static let hotChannels = ["Google", "Facebook", "Baidu", "Apple"]
    static let firstNames = ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"]
    static let lastNames = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"]
    static let states = ["AZ", "CA", "ID", "OR", "WA", "WY"]
    static let cities = ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"]

    enum Kind: String, CaseIterable { case person, auction, bid }

    let seed: UInt64
    let rate: Int64
    let base: Int64
    /// The URLs of the hot channels, then of every other channel (made once: a channel keeps its URL).
    let hotURLs: [String]
    private var channelURLs: [Int: String] = [:]

    init(seed: UInt64 = 42, rate: Int64 = 10_000, baseMillis: Int64 = 1_704_067_200_000) {
        self.seed = seed
        self.rate = rate
        base = baseMillis
        var r = SplitMix64(seed: seed ^ 0x4E45_584D_4152_4B00)
        hotURLs = Self.hotChannels.map { _ in Self.baseURL(&r) }
    }

    static func kind(_ n: Int64) -> Kind {
        let r = n % total
        return r < persons ? .person : r < persons + auctions ? .auction : .bid
    }

    /// When event `n` happens (milliseconds).
    func time(_ n: Int64) -> Int64 { base + n * 1000 / rate }

    /// The last person made at or before event `n` (0-based).
    static func lastPerson(_ n: Int64) -> Int64 {
        let epoch = n / total, offset = n % total
        return epoch * persons + min(offset, persons - 1)
    }

    /// The last auction made at or before event `n` (0-based; -1 before the first).
    static func lastAuction(_ n: Int64) -> Int64 {
        var epoch = n / total
        var offset = n % total
        if offset < persons {
            epoch -= 1
            offset = auctions - 1
        } else if offset >= persons + auctions {
            offset = auctions - 1
        } else {
            offset -= persons
        }
        return epoch * auctions + offset
    }

    /// One of the last `activePeople` people, or up to `personLead` ahead (0-based).
    static func somePerson(_ n: Int64, _ r: inout SplitMix64) -> Int64 {
        let people = lastPerson(n) + 1
        let active = min(people, activePeople)
        return people - active + below(&r, active + personLead)
    }

    /// One of the last `inFlightAuctions` auctions, or up to `auctionLead` ahead (0-based).
    static func someAuction(_ n: Int64, _ r: inout SplitMix64) -> Int64 {
        let top = lastAuction(n)
        let low = max(top - inFlightAuctions, 0)
        return low + below(&r, top - low + 1 + auctionLead)
    }

    /// Uniform in 0..<k.
    static func below(_ r: inout SplitMix64, _ k: Int64) -> Int64 { k <= 1 ? 0 : Int64(r.next() % UInt64(k)) }

    /// Log-uniform in [100, 10^8] cents.
    static func price(_ r: inout SplitMix64) -> Int64 { Int64((pow10(r.unit() * 6) * 100).rounded()) }

    /// 3 to `max` - 1 lowercase letters.
    static func string(_ r: inout SplitMix64, _ max: Int) -> String { exact(&r, 3 + Int(below(&r, Int64(max - 3)))) }

    static func exact(_ r: inout SplitMix64, _ n: Int) -> String {
        String(decoding: (0..<n).map { _ in UInt8(97 + below(&r, 26)) }, as: UTF8.self)
    }

    static func baseURL(_ r: inout SplitMix64) -> String {
        "https://www.nexmark.com/\(string(&r, 5))/\(string(&r, 5))/\(string(&r, 5))/item.htm?query=1"
    }

    /// Padding that brings `size` bytes of field data to about `average` (within ±20% of the gap).
    static func extra(_ r: inout SplitMix64, size: Int, average: Int) -> String {
        guard size < average else { return "" }
        let gap = average - size
        let delta = Int((Double(gap) * 0.2).rounded())
        return exact(&r, gap - delta + (delta == 0 ? 0 : Int(below(&r, Int64(2 * delta)))))
    }

    /// A channel's URL: a base URL of its own, with `&channel_id=` (its number, bits reversed) for 9 in 10 channels.
    mutating func url(channel i: Int) -> String {
        if let u = channelURLs[i] { return u }
        var r = SplitMix64(seed: seed ^ 0x4348_414E_0000_0000 ^ UInt64(i))
        var u = Self.baseURL(&r)
        if Self.below(&r, 10) > 0 { u += "&channel_id=\(abs(Int64(Int32(bitPattern: Self.reversed(UInt32(truncatingIfNeeded: i))))))" }
        channelURLs[i] = u
        return u
    }

    /// The bits of `v` in reverse order.
    static func reversed(_ v: UInt32) -> UInt32 {
        var x = v, out: UInt32 = 0
        for _ in 0..<32 {
            out = out << 1 | (x & 1)
            x >>= 1
        }
        return out
    }

    /// Event `n` as one JSON line (with its newline), and its kind.
    mutating func event(_ n: Int64, into out: inout [UInt8]) -> Kind {
        var r = SplitMix64(seed: (seed &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(n))
        _ = r.next()
        let ts = time(n)
        let kind = Self.kind(n)
        var o = JSONLine()
        switch kind {
        case .person:
            let name = Self.firstNames[Int(Self.below(&r, Int64(Self.firstNames.count)))] + " " + Self.lastNames[Int(Self.below(&r, Int64(Self.lastNames.count)))]
            let email = Self.string(&r, 7) + "@" + Self.string(&r, 5) + ".com"
            let card = (0..<4).map { _ in
                let d = String(Self.below(&r, 10_000))
                return String(repeating: "0", count: 4 - d.count) + d
            }.joined(separator: " ")
            let city = Self.cities[Int(Self.below(&r, Int64(Self.cities.count)))]
            let state = Self.states[Int(Self.below(&r, Int64(Self.states.count)))]
            let size = 8 + name.utf8.count + email.utf8.count + card.utf8.count + city.utf8.count + state.utf8.count + 8
            o.int("id", Self.lastPerson(n) + Self.firstPersonId)
            o.string("name", name)
            o.string("emailAddress", email)
            o.string("creditCard", card)
            o.string("city", city)
            o.string("state", state)
            o.int("dateTime", ts)
            o.string("extra", Self.extra(&r, size: size, average: 200))
        case .auction:
            let seller = Self.below(&r, Int64(Self.hotSellerRatio)) > 0
                ? (Self.lastPerson(n) / Int64(Self.hotSellerRatio)) * Int64(Self.hotSellerRatio) : Self.somePerson(n, &r)
            let category = Self.firstCategoryId + Self.below(&r, 5)
            let initial = Self.price(&r)
            // About twice the time it takes `inFlightAuctions` more auctions to come.
            let horizon = time(n + Self.inFlightAuctions * Self.total / Self.auctions) - ts
            let expires = ts + 1 + Self.below(&r, max(horizon * 2, 1))
            let item = Self.string(&r, 20)
            let description = Self.string(&r, 100)
            let reserve = initial + Self.price(&r)
            let size = 8 + item.utf8.count + description.utf8.count + 8 + 8 + 8 + 8 + 8 + 8
            o.int("id", Self.lastAuction(n) + Self.firstAuctionId)
            o.string("itemName", item)
            o.string("description", description)
            o.int("initialBid", initial)
            o.int("reserve", reserve)
            o.int("dateTime", ts)
            o.int("expires", expires)
            o.int("seller", seller + Self.firstPersonId)
            o.int("category", category)
            o.string("extra", Self.extra(&r, size: size, average: 500))
        case .bid:
            let auction = Self.below(&r, Int64(Self.hotAuctionRatio)) > 0
                ? (Self.lastAuction(n) / Int64(Self.hotAuctionRatio)) * Int64(Self.hotAuctionRatio) : Self.someAuction(n, &r)
            let bidder = Self.below(&r, Int64(Self.hotBidderRatio)) > 0
                ? (Self.lastPerson(n) / Int64(Self.hotBidderRatio)) * Int64(Self.hotBidderRatio) + 1 : Self.somePerson(n, &r)
            let price = Self.price(&r)
            let channel: String, url: String
            if Self.below(&r, Int64(Self.hotChannelRatio)) > 0 {
                let i = Int(Self.below(&r, Int64(Self.hotChannels.count)))
                (channel, url) = (Self.hotChannels[i], hotURLs[i])
            } else {
                let i = Int(Self.below(&r, Int64(Self.channels)))
                (channel, url) = ("channel-\(i)", self.url(channel: i))
            }
            o.int("auction", auction + Self.firstAuctionId)
            o.int("bidder", bidder + Self.firstPersonId)
            o.int("price", price)
            o.string("channel", channel)
            o.string("url", url)
            o.int("dateTime", ts)
            o.string("extra", Self.extra(&r, size: 8 + 8 + 8 + 8, average: 100))
        }
        out.append(contentsOf: o.finish())
        return kind
    }
}

/// A flat JSON object written field by field (names and strings need no escaping here: letters,
/// digits, spaces and URL characters only).
private struct JSONLine {
    var bytes: [UInt8] = [123]

    mutating func key(_ k: String) {
        if bytes.count > 1 { bytes.append(44) }
        bytes.append(34)
        bytes.append(contentsOf: k.utf8)
        bytes.append(contentsOf: "\":".utf8)
    }

    mutating func int(_ k: String, _ v: Int64) {
        key(k)
        appendInt(v, &bytes)
    }

    mutating func string(_ k: String, _ v: String) {
        key(k)
        bytes.append(34)
        bytes.append(contentsOf: v.utf8)
        bytes.append(34)
    }

    mutating func finish() -> [UInt8] {
        bytes.append(contentsOf: "}\n".utf8)
        return bytes
    }
}

extension NexmarkGenerator {
    /// Writes `events` events into DIR/person.jsonl, DIR/auction.jsonl and DIR/bid.jsonl, and q13's
    /// side input DIR/side_input.csv (key,value: 0 to 9,999, the value its number). Returns how
    /// many events of each kind were written.
    static func writeFiles(events n: Int64, seed: UInt64, rate: Int64, baseMillis: Int64, dir: String) throws -> [Kind: Int] {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw UsageError("cannot make the directory \(dir): \(error.localizedDescription)")
        }
        var files: [Kind: OutputStream] = [:]
        for kind in Kind.allCases {
            let path = dir + "/" + kind.rawValue + ".jsonl"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw UsageError("cannot write \(path): \(String(cString: strerror(errno)))") }
            files[kind] = OutputStream(fd: fd)
        }
        var g = NexmarkGenerator(seed: seed, rate: rate, baseMillis: baseMillis)
        var buffers: [Kind: [UInt8]] = [:]
        var counts: [Kind: Int] = [:]
        var line: [UInt8] = []
        for e in 0..<n {
            line.removeAll(keepingCapacity: true)
            let kind = g.event(e, into: &line)
            buffers[kind, default: []].append(contentsOf: line)
            counts[kind, default: 0] += 1
            if buffers[kind]!.count >= 1 << 20 {
                files[kind]!.write(bytes: buffers[kind]!)
                buffers[kind]!.removeAll(keepingCapacity: true)
            }
        }
        for kind in Kind.allCases {
            files[kind]!.write(bytes: buffers[kind] ?? [])
            files[kind]!.flush()
            close(files[kind]!.fd)
        }
        let side = "key,value\n" + (0..<10_000).map { "\($0),\($0)\n" }.joined()
        guard FileManager.default.createFile(atPath: dir + "/side_input.csv", contents: Data(side.utf8)) else {
            throw UsageError("cannot write \(dir)/side_input.csv")
        }
        return counts
    }
}
