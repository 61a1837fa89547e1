import Foundation
import Testing
import SluiceCore

/// The Nexmark queries of `queries/nexmark/` that run today, each run as its `-- run:` line says on
/// 20,000 generated events (40 s of event time), and its output compared with the same query computed here by brute
/// force from the generated bids (an independent model: plain loops over the parsed JSON).
@Suite("Nexmark queries against a model")
struct NexmarkQueriesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Bid {
        var auction: Int64, bidder: Int64, price: Int64, channel: String, url: String, time: Int64, extra: String
    }

    /// A row as its fields, for comparison (numbers as doubles, compared to 1e-9 relative).
    typealias Row = [String: JSONValue]

    final class Data {
        let dir = TempDir()
        var bids: [Bid] = []
        var persons: [(id: Int64, name: String, time: Int64, city: String, state: String)] = []
        var auctions: [(id: Int64, seller: Int64, time: Int64, category: Int64, raw: JSONValue)] = []

        /// 20,000 events, 500 a second: 40 s of event time, so windows of 10 s are several.
        init() throws {
            let r = try CLI.run(["gen", "nexmark", "--events", "20000", "--rate", "500", "--dir", dir.path + "/nexmark"])
            #expect(r.status == 0, "\(r.stderr)")
            let text = try String(contentsOfFile: dir.path + "/nexmark/bid.jsonl", encoding: .utf8)
            for line in text.split(separator: "\n") {
                let j = try JSONValue.parse(bytes: Array(line.utf8))
                bids.append(Bid(auction: j["auction"]!.int64Value!, bidder: j["bidder"]!.int64Value!, price: j["price"]!.int64Value!,
                                channel: j["channel"]!.stringValue!, url: j["url"]!.stringValue!, time: j["dateTime"]!.int64Value!,
                                extra: j["extra"]!.stringValue!))
            }
            for line in try String(contentsOfFile: dir.path + "/nexmark/person.jsonl", encoding: .utf8).split(separator: "\n") {
                let j = try JSONValue.parse(bytes: Array(line.utf8))
                persons.append((j["id"]!.int64Value!, j["name"]!.stringValue!, j["dateTime"]!.int64Value!, j["city"]!.stringValue!, j["state"]!.stringValue!))
            }
            for line in try String(contentsOfFile: dir.path + "/nexmark/auction.jsonl", encoding: .utf8).split(separator: "\n") {
                let j = try JSONValue.parse(bytes: Array(line.utf8))
                auctions.append((j["id"]!.int64Value!, j["seller"]!.int64Value!, j["dateTime"]!.int64Value!, j["category"]!.int64Value!, j))
            }
        }

        /// Runs queries/nexmark/NAME.sql by its run line (the events in this scratch folder) and reads its output.
        func run(_ name: String) throws -> [Row] {
            let sql = try String(contentsOf: NexmarkQueriesTests.root.appendingPathComponent("queries/nexmark/\(name).sql"), encoding: .utf8)
            guard let line = sql.split(separator: "\n").first(where: { $0.hasPrefix("-- run: sluice ") }) else {
                Issue.record("\(name) has no run line")
                return []
            }
            let args = line.dropFirst("-- run: sluice ".count).split(separator: " ").map { w -> String in
                w.hasPrefix("queries/") ? NexmarkQueriesTests.root.appendingPathComponent(String(w)).path : String(w)
            }
            let r = try CLI.run(args, cwd: dir.path)
            #expect(r.status == 0, "\(name): \(r.stderr)")
            let out = (try? String(contentsOfFile: dir.path + "/out/nexmark/\(name).jsonl", encoding: .utf8)) ?? ""
            return try out.split(separator: "\n").map { try JSONValue.parse(bytes: Array($0.utf8)).objectValue!.entries.reduce(into: Row()) { $0[$1.0] = $1.1 } }
        }
    }

    static func iso(_ t: Int64) -> JSONValue { .string(TimeFormat.iso8601(t)) }

    static func same(_ a: JSONValue?, _ b: JSONValue?) -> Bool {
        if let x = a?.doubleValue, let y = b?.doubleValue, a?.stringValue == nil, b?.stringValue == nil {
            return abs(x - y) <= 1e-9 * max(1, abs(y))
        }
        return a == b
    }

    /// The query's rows equal the model's: in the same order (`ordered`) or as multisets.
    static func check(_ name: String, _ got: [Row], _ want: [Row], ordered: Bool = true) {
        #expect(got.count == want.count, "\(name): \(got.count) rows, the model \(want.count)")
        func key(_ r: Row) -> String { r.keys.sorted().map { "\($0)=\(r[$0].map { "\($0)" } ?? "")" }.joined(separator: ",") }
        let (g, w) = ordered ? (got, want) : (got.sorted { key($0) < key($1) }, want.sorted { key($0) < key($1) })
        for (i, (a, b)) in zip(g, w).enumerated() {
            let fine = a.keys.sorted() == b.keys.sorted() && b.keys.allSatisfy { same(a[$0], b[$0]) }
            if !fine {
                Issue.record("\(name) row \(i): \(a) vs the model's \(b)")
                return
            }
        }
    }

    static func channelId(_ url: String) -> String? {
        guard let r = url.range(of: "channel_id=") else { return nil }
        let before = url[..<r.lowerBound]
        guard before.isEmpty || before.hasSuffix("&") else { return nil }
        return String(url[r.upperBound...].prefix { $0 != "&" })
    }

    @Test func projectionsAndFilters() throws {
        let d = try Data()
        let b = d.bids
        #expect(b.count == 18_400)
        Self.check("q0", try d.run("q0"), b.map { ["auction": .int($0.auction), "bidder": .int($0.bidder), "price": .int($0.price), "dateTime": Self.iso($0.time), "extra": .string($0.extra)] })
        Self.check("q1", try d.run("q1"), b.map { ["auction": .int($0.auction), "bidder": .int($0.bidder), "price": .double(0.908 * Double($0.price)), "dateTime": Self.iso($0.time), "extra": .string($0.extra)] })
        let q2 = b.filter { $0.auction % 123 == 0 }
        #expect(q2.count > 10)
        Self.check("q2", try d.run("q2"), q2.map { ["auction": .int($0.auction), "price": .int($0.price)] })
        let q14 = b.filter { 0.908 * Double($0.price) > 1_000_000 && 0.908 * Double($0.price) < 50_000_000 }
        Self.check("q14", try d.run("q14"), q14.map { x in
            let hour = Int((x.time / 3_600_000) % 24)
            let type = hour >= 8 && hour <= 18 ? "dayTime" : (hour <= 6 || hour >= 20 ? "nightTime" : "otherTime")
            return ["auction": .int(x.auction), "bidder": .int(x.bidder), "price": .double(0.908 * Double(x.price)), "bidTimeType": .string(type),
                    "dateTime": Self.iso(x.time), "extra": .string(x.extra), "c_counts": .int(Int64(x.extra.filter { $0 == "c" }.count))]
        })
        func hhmm(_ t: Int64) -> String { String(format: "%02d:%02d", (t / 3_600_000) % 24, (t / 60_000) % 60) }
        Self.check("q10", try d.run("q10"), b.map { ["auction": .int($0.auction), "bidder": .int($0.bidder), "price": .int($0.price), "dateTime": Self.iso($0.time),
                                                     "extra": .string($0.extra), "dt": .string("2024-01-01"), "hm": .string(hhmm($0.time))] })
        Self.check("q13", try d.run("q13"), b.map { ["auction": .int($0.auction), "bidder": .int($0.bidder), "price": .int($0.price), "dateTime": Self.iso($0.time),
                                                     "value": .string(String($0.auction % 10_000))] })
        let hot = ["apple": "0", "google": "1", "facebook": "2", "baidu": "3"]
        let q21 = b.filter { Self.channelId($0.url) != nil || hot[$0.channel.lowercased()] != nil }
        #expect(q21.count > b.count / 2 && q21.count < b.count)
        Self.check("q21", try d.run("q21"), q21.map { x in
            ["auction": .int(x.auction), "bidder": .int(x.bidder), "price": .int(x.price), "channel": .string(x.channel),
             "channel_id": .string(hot[x.channel.lowercased()] ?? Self.channelId(x.url)!)]
        })
        Self.check("q22", try d.run("q22"), b.map { x in
            let parts = x.url.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            func at(_ i: Int) -> JSONValue { i < parts.count ? .string(parts[i]) : .null }
            return ["auction": .int(x.auction), "bidder": .int(x.bidder), "price": .int(x.price), "channel": .string(x.channel), "dir1": at(3), "dir2": at(4), "dir3": at(5)]
        })
    }

    @Test func sessionsAndDailyStatistics() throws {
        let d = try Data()
        let b = d.bids
        // q11: per bidder, bids less than 10 s apart form a session [first, last + 10 s).
        var q11: [Row] = []
        for (bidder, times) in Dictionary(grouping: b, by: \.bidder).mapValues({ $0.map(\.time).sorted() }) {
            var start = times[0], last = times[0], n: Int64 = 1
            for t in times.dropFirst() {
                if t - last < 10_000 {
                    n += 1
                } else {
                    q11.append(["bidder": .int(bidder), "bid_count": .int(n), "starttime": Self.iso(start), "endtime": Self.iso(last + 10_000)])
                    (start, n) = (t, 1)
                }
                last = t
            }
            q11.append(["bidder": .int(bidder), "bid_count": .int(n), "starttime": Self.iso(start), "endtime": Self.iso(last + 10_000)])
        }
        Self.check("q11", try d.run("q11"), q11, ordered: false)
        // q12: windows of arrival time (when the replay put each bid): every bid counted once, for its bidder.
        var perBidder: [Int64: Int64] = [:]
        for r in try d.run("q12") { perBidder[r["bidder"]!.int64Value!, default: 0] += r["bid_count"]!.int64Value! }
        #expect(perBidder == Dictionary(grouping: b, by: \.bidder).mapValues { Int64($0.count) })
        // q15 and q17: the day's bids by price band (all 20,000 events fall on 2024-01-01).
        #expect(b.last!.time - b.first!.time > 30_000)
        func band(_ p: Int64) -> Int { p < 10_000 ? 1 : (p < 1_000_000 ? 2 : 3) }
        var q15: Row = ["day": .string("2024-01-01"), "total_bids": .int(Int64(b.count)),
                        "total_bidders": .int(Int64(Set(b.map(\.bidder)).count)), "total_auctions": .int(Int64(Set(b.map(\.auction)).count))]
        for k in 1...3 {
            let inBand = b.filter { band($0.price) == k }
            q15["rank\(k)_bids"] = .int(Int64(inBand.count))
            q15["rank\(k)_bidders"] = .int(Int64(Set(inBand.map(\.bidder)).count))
            q15["rank\(k)_auctions"] = .int(Int64(Set(inBand.map(\.auction)).count))
        }
        Self.check("q15", try d.run("q15"), [q15])
        // q16: q15's figures per channel, with the latest minute (HH:mm) seen.
        let q16 = Dictionary(grouping: b, by: \.channel).map { channel, bids -> Row in
            let last = bids.map(\.time).max()!
            var r: Row = ["channel": .string(channel), "day": .string("2024-01-01"),
                          "minute": .string(String(format: "%02d:%02d", (last / 3_600_000) % 24, (last / 60_000) % 60)),
                          "total_bids": .int(Int64(bids.count)), "total_bidders": .int(Int64(Set(bids.map(\.bidder)).count)),
                          "total_auctions": .int(Int64(Set(bids.map(\.auction)).count))]
            for k in 1...3 {
                let inBand = bids.filter { band($0.price) == k }
                r["rank\(k)_bids"] = .int(Int64(inBand.count))
                r["rank\(k)_bidders"] = .int(Int64(Set(inBand.map(\.bidder)).count))
                r["rank\(k)_auctions"] = .int(Int64(Set(inBand.map(\.auction)).count))
            }
            return r
        }
        #expect(q16.count > 1000)
        Self.check("q16", try d.run("q16"), q16, ordered: false)
        let q17 = Dictionary(grouping: b, by: \.auction).map { auction, bids -> Row in
            let prices = bids.map(\.price)
            var r: Row = ["auction": .int(auction), "day": .string("2024-01-01"), "total_bids": .int(Int64(bids.count)),
                          "min_price": .int(prices.min()!), "max_price": .int(prices.max()!),
                          "avg_price": .double(Double(prices.reduce(0, +)) / Double(prices.count)), "sum_price": .int(prices.reduce(0, +))]
            for k in 1...3 { r["rank\(k)_bids"] = .int(Int64(prices.filter { band($0) == k }.count)) }
            return r
        }
        Self.check("q17", try d.run("q17"), q17, ordered: false)
    }

    /// Queries over windows' rows and joins of them (a window join, a join with a window's maxima).
    @Test func windowsOfWindowsAndWindowJoins() throws {
        let d = try Data()
        let b = d.bids
        // q5: per 10 s window every 2 s, the auctions with the most bids.
        var counts: [Int64: [Int64: Int64]] = [:]  // window end -> auction -> bids
        for x in b {
            var start = (x.time / 2000) * 2000
            while start > x.time - 10_000 {
                counts[start + 10_000, default: [:]][x.auction, default: 0] += 1
                start -= 2000
            }
        }
        var q5: [Row] = []
        for (end, perAuction) in counts {
            let top = perAuction.values.max()!
            for (auction, n) in perAuction where n >= top { q5.append(["auction": .int(auction), "num": .int(n), "window_time": Self.iso(end - 1)]) }
        }
        #expect(Set(counts.keys).count > 15)
        Self.check("q5", try d.run("q5"), q5, ordered: false)
        // q7: the bids at their 10 s window's highest price, with dateTime in [end - 10 s, end].
        var highest: [Int64: Int64] = [:]  // window end -> max price
        for x in b { highest[(x.time / 10_000 + 1) * 10_000] = max(highest[(x.time / 10_000 + 1) * 10_000] ?? 0, x.price) }
        var q7: [Row] = []
        for x in b {
            for (end, top) in highest where x.price == top && x.time >= end - 10_000 && x.time <= end {
                q7.append(["auction": .int(x.auction), "price": .int(x.price), "bidder": .int(x.bidder), "dateTime": Self.iso(x.time), "extra": .string(x.extra)])
            }
        }
        #expect(q7.count >= 4)
        Self.check("q7", try d.run("q7"), q7, ordered: false)
        // q8: people who created an auction in the 10 s window they joined in.
        let sellers = Set(d.auctions.map { "\($0.seller)@\($0.time / 10_000)" })
        let q8: [Row] = d.persons.filter { sellers.contains("\($0.id)@\($0.time / 10_000)") }
            .map { ["id": .int($0.id), "name": .string($0.name), "starttime": Self.iso(($0.time / 10_000) * 10_000)] }
        #expect(q8.count > 20)
        Self.check("q8", try d.run("q8"), q8, ordered: false)
    }

    /// Regular joins, bounded by the streams' state_ttl (longer than any match of the data).
    @Test func joinsKeptByStateTTL() throws {
        let d = try Data()
        // q3: category-10 auctions with sellers in OR, ID or CA.
        let people = Dictionary(uniqueKeysWithValues: d.persons.map { ($0.id, $0) })
        let q3: [Row] = d.auctions.compactMap { a in
            guard a.category == 10, let p = people[a.seller], ["OR", "ID", "CA"].contains(p.state) else { return nil }
            return ["name": .string(p.name), "city": .string(p.city), "state": .string(p.state), "id": .int(a.id)]
        }
        #expect(q3.count > 10)
        Self.check("q3", try d.run("q3"), q3, ordered: false)
        // q20: each bid on a category-10 auction, with the auction's columns.
        let auctions = Dictionary(uniqueKeysWithValues: d.auctions.map { ($0.id, $0) })
        let q20: [Row] = d.bids.compactMap { b in
            guard let a = auctions[b.auction], a.category == 10 else { return nil }
            let j = a.raw
            return ["auction": .int(b.auction), "bidder": .int(b.bidder), "price": .int(b.price), "channel": .string(b.channel), "url": .string(b.url),
                    "bid_time": Self.iso(b.time), "bid_extra": .string(b.extra), "itemName": j["itemName"]!, "description": j["description"]!,
                    "initialBid": j["initialBid"]!, "reserve": j["reserve"]!, "auction_time": Self.iso(a.time), "expires": Self.iso(j["expires"]!.int64Value!),
                    "seller": .int(a.seller), "category": .int(a.category), "auction_extra": j["extra"]!]
        }
        #expect(q20.count > 1000)
        Self.check("q20", try d.run("q20"), q20, ordered: false)
    }

    /// A changelog applied: the rows it leaves (`+I`, `+U` add a row; `-U`, `-D` take back one
    /// equal to a row it added before, else the changelog is broken).
    static func applied(_ name: String, _ changes: [Row]) -> [Row] {
        var rows: [Row] = []
        func key(_ r: Row) -> String { r.keys.sorted().map { "\($0)=\(r[$0].map { "\($0)" } ?? "")" }.joined(separator: ",") }
        var index: [String: [Int]] = [:]
        var alive: [Bool] = []
        for var c in changes {
            guard case .string(let op)? = c.removeValue(forKey: "op") else {
                Issue.record("\(name): a row without its change kind: \(c)")
                return []
            }
            let k = key(c)
            switch op {
            case "+I", "+U":
                index[k, default: []].append(rows.count)
                rows.append(c)
                alive.append(true)
            case "-U", "-D":
                guard let i = index[k]?.popLast() else {
                    Issue.record("\(name): \(op) takes back a row that is not there: \(c)")
                    return []
                }
                alive[i] = false
            default:
                Issue.record("\(name): unknown change kind \(op)")
                return []
            }
        }
        return rows.indices.filter { alive[$0] }.map { rows[$0] }
    }

    /// Updating results (Top-N, dedup, an aggregate over an aggregate's changes): the changelog
    /// each query writes, applied, leaves the model's final rows; every -U and -D takes back a row
    /// that was there.
    @Test func updatingResultsAgreeWithTheModel() throws {
        let d = try Data()
        func row(_ b: Bid) -> Row {
            ["auction": .int(b.auction), "bidder": .int(b.bidder), "price": .int(b.price), "channel": .string(b.channel), "url": .string(b.url),
             "dateTime": Self.iso(b.time), "extra": .string(b.extra)]
        }
        // q19: the ten highest bids of each auction (ties: the earlier bid), with their rank.
        var byAuction: [Int64: [Bid]] = [:]
        for b in d.bids { byAuction[b.auction, default: []].append(b) }
        var q19: [Row] = []
        for (_, bids) in byAuction {
            let ranked = bids.enumerated().sorted { $0.element.price != $1.element.price ? $0.element.price > $1.element.price : $0.offset < $1.offset }
            for (i, b) in ranked.prefix(10).enumerated() {
                var r = row(b.element)
                r["rank_number"] = .int(Int64(i + 1))
                q19.append(r)
            }
        }
        let q19Changes = try d.run("q19")
        #expect(q19Changes.contains { $0["op"] == .string("-U") } && q19Changes.contains { $0["op"] == .string("-D") })
        Self.check("q19", Self.applied("q19", q19Changes), q19, ordered: false)
        // q18: each bidder's latest bid on each auction (ties: the earlier bid stays).
        var latest: [[Int64]: Bid] = [:]
        for b in d.bids where latest[[b.bidder, b.auction]].map({ b.time > $0.time }) ?? true { latest[[b.bidder, b.auction]] = b }
        Self.check("q18", Self.applied("q18", try d.run("q18")), latest.values.map(row), ordered: false)
        // q9 and q4: the bids made while their auction was open (the query bounds it to a minute).
        var open: [Int64: [Bid]] = [:]
        let auctions = Dictionary(uniqueKeysWithValues: d.auctions.map { ($0.id, $0) })
        for b in d.bids {
            guard let a = auctions[b.auction], let expires = a.raw["expires"]?.int64Value,
                  b.time >= a.time, b.time <= expires, b.time <= a.time + 60_000 else { continue }
            open[a.id, default: []].append(b)
        }
        var q9: [Row] = []
        var finals: [Int64: [Int64]] = [:]  // category -> each auction's highest bid
        for (id, bids) in open {
            let a = auctions[id]!
            let best = bids.enumerated().min { x, y in
                (x.element.price, -x.element.time, -x.offset) > (y.element.price, -y.element.time, -y.offset)
            }!.element
            var r: Row = [:]
            for (k, v) in a.raw.objectValue!.entries {
                r[k] = ["dateTime", "expires"].contains(k) ? Self.iso(v.int64Value!) : v
            }
            r["auction"] = .int(best.auction); r["bidder"] = .int(best.bidder); r["price"] = .int(best.price)
            r["bid_time"] = Self.iso(best.time); r["bid_extra"] = .string(best.extra)
            q9.append(r)
            finals[a.category, default: []].append(bids.map(\.price).max()!)
        }
        #expect(q9.count > 100)
        Self.check("q9", Self.applied("q9", try d.run("q9")), q9, ordered: false)
        let q4: [Row] = finals.map { ["category": .int($0.key), "avg_final": .double(Double($0.value.reduce(0, +)) / Double($0.value.count))] }
        Self.check("q4", Self.applied("q4", try d.run("q4")), q4, ordered: false)
        // q6: per seller, in auction order, the mean final price of the auction and the 10 before it
        // (appended once per auction: the window over the join emits each final price once).
        var q6: [Row] = []
        var recent: [Int64: [Int64]] = [:]  // seller -> final prices so far
        for id in open.keys.sorted() {
            let a = auctions[id]!
            recent[a.seller, default: []].append(open[id]!.map(\.price).max()!)
            let last = recent[a.seller]!.suffix(11)
            q6.append(["seller": .int(a.seller), "avg_price": .double(Double(last.reduce(0, +)) / Double(last.count))])
        }
        #expect(q6.count > 100 && Set(open.keys.map { auctions[$0]!.seller }).count < q6.count)
        Self.check("q6", try d.run("q6"), q6, ordered: false)
    }

    /// `sluice bench nexmark` runs every query file from the JSON files and from the built-in
    /// streams, and both give the same number of rows (but q12, on processing time).
    @Test func theBenchmarkRunsEveryQueryFromBothSources() throws {
        let dir = TempDir()
        let r = try CLI.run(["bench", "nexmark", "--events", "6000", "--rate", "500", "--dir", dir.path,
                             "--queries-dir", Self.root.appendingPathComponent("queries/nexmark").path])
        #expect(r.status == 0, "\(r.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("queries/nexmark").path).filter { $0.hasSuffix(".sql") }
        var rows: [String: [String: String]] = [:]  // query -> source -> rows out
        for line in r.lines where line.hasPrefix("q") && !line.hasPrefix("query") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if f.count >= 5, f[2] != "-" { rows[f[0], default: [:]][f[1]] = f[4] }
        }
        #expect(Set(rows.keys) == Set(files.map { String($0.dropLast(4)) }), "\(r.stdout)")
        for (q, bySource) in rows {
            #expect(bySource["stream"] != nil, "\(q)")
            // q12 windows on arrival time: a load that straddles a 10 s boundary of the wall
            // clock has more windows, so its rows depend on when each source was read.
            if let file = bySource["file"], q != "q12" { #expect(file == bySource["stream"], "\(q): \(bySource)") }
        }
        // Bad command lines are usage errors: no events, a folder without query files.
        #expect(try CLI.run(["bench", "nexmark", "--events", "0"]).status == 2)
        let empty = try CLI.run(["bench", "nexmark", "--events", "100", "--queries-dir", dir.path])
        #expect(empty.status == 2 && empty.stderr.contains("no Nexmark query files"), "\(empty.stderr)")
    }
}
