import SluiceCore

/// The Nexmark-style Bid data set of `../shared/bench/gen_bids.py`, ported rule for rule
/// (`../shared/reference/performance-baseline.md` §8): the same seed gives the same bytes, so our
/// engine and the peers (DuckDB, ...) read identical files. With default options the 5,000,000-line
/// JSON file has md5 b2f8d987fa36bef9521fe92aaf53e561.
struct BidGenerator {
    enum TimeForm { case millis, iso }
    enum Format { case json, csv }

    var rng: SplitMix64
    let pool: [UInt8]
    let base: Int64
    let rate: Int64
    let time: TimeForm
    let format: Format
    private(set) var k: Int64 = 0

    static let hot: [[UInt8]] = ["Google", "Facebook", "Baidu", "Apple"].map { Array($0.utf8) }
    static let hotURL: [[UInt8]] = ["https://nx.io/g", "https://nx.io/f", "https://nx.io/b", "https://nx.io/a"].map { Array($0.utf8) }
    static let csvHeader = "auction,bidder,price,channel,url,dateTime,extra\n"

    init(seed: UInt64 = 42, rate: Int64 = 10_000, baseMillis: Int64 = 1_704_067_200_000, time: TimeForm = .millis, format: Format = .json) {
        rng = SplitMix64(seed: seed)
        var poolRNG = SplitMix64(seed: seed ^ 0x5EED_5EED_5EED_5EED)
        pool = (0..<4096).map { _ in UInt8(97 + poolRNG.below(26)) }
        base = baseMillis
        self.rate = rate
        self.time = time
        self.format = format
    }

    /// Appends the next bid as one line.
    mutating func appendNext(to out: inout [UInt8]) {
        let e = (k / 46) * 50 + 4 + (k % 46)
        k += 1
        let epoch = e / 50
        let lastAuction = epoch * 3 + 2
        let lastPerson = epoch
        let ts = base + (e * 1000) / rate
        var auction: Int64
        if rng.below(2) > 0 {
            auction = (lastAuction / 100) * 100
        } else {
            let lo = lastAuction > 100 ? lastAuction - 100 : 0
            auction = lo + Int64(rng.below(Int(lastAuction - lo + 11)))
        }
        auction += 1000
        var bidder: Int64
        if rng.below(4) > 0 {
            bidder = (lastPerson / 100) * 100 + 1
        } else {
            let n = lastPerson + 1
            let active = min(n, 1000)
            bidder = n - active + Int64(rng.below(Int(active + 10)))
        }
        bidder += 2000
        let u = rng.unit()
        let price = Int64(pow10(u * 6.0) * 100.0 + 0.5)
        let hotChannel = rng.below(2) > 0
        let pick = rng.next()
        var channel: [UInt8], url: [UInt8]
        if hotChannel {
            let i = Int(((pick >> 32) &* 4) >> 32)
            channel = BidGenerator.hot[i]
            url = BidGenerator.hotURL[i]
        } else {
            let i = Int(((pick >> 32) &* 10000) >> 32)
            channel = Array("channel-\(i)".utf8)
            url = Array("https://nx.io/c/\(i)".utf8)
        }
        let length = 4 + rng.below(9)
        let offset = rng.below(pool.count - length)
        let extra = pool[offset..<(offset + length)]

        switch format {
        case .json:
            out.append(contentsOf: #"{"auction":"#.utf8)
            appendInt(auction, &out)
            out.append(contentsOf: #","bidder":"#.utf8)
            appendInt(bidder, &out)
            out.append(contentsOf: #","price":"#.utf8)
            appendInt(price, &out)
            out.append(contentsOf: #","channel":""#.utf8)
            out.append(contentsOf: channel)
            out.append(contentsOf: #"","url":""#.utf8)
            out.append(contentsOf: url)
            out.append(contentsOf: #"","dateTime":"#.utf8)
            if time == .iso {
                out.append(34)
                out.append(contentsOf: TimeFormat.iso8601(ts).utf8)
                out.append(34)
            } else {
                appendInt(ts, &out)
            }
            out.append(contentsOf: #","extra":""#.utf8)
            out.append(contentsOf: extra)
            out.append(contentsOf: "\"}\n".utf8)
        case .csv:
            appendInt(auction, &out)
            out.append(44)
            appendInt(bidder, &out)
            out.append(44)
            appendInt(price, &out)
            out.append(44)
            out.append(contentsOf: channel)
            out.append(44)
            out.append(contentsOf: url)
            out.append(44)
            if time == .iso { out.append(contentsOf: TimeFormat.iso8601(ts).utf8) } else { appendInt(ts, &out) }
            out.append(44)
            out.append(contentsOf: extra)
            out.append(10)
        }
    }
}

/// 10^x through the C library's pow, as the Python original uses.
@inline(__always)
func pow10(_ x: Double) -> Double { cPow(10.0, x) }

/// Decimal digits of an integer, without making a String.
@inline(__always)
func appendInt(_ v: Int64, _ out: inout [UInt8]) {
    if v < 0 {
        out.append(45)
        appendInt(v == .min ? Int64.max : -v, &out)
        return
    }
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                 UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var n = 0
    var x = v
    withUnsafeMutableBytes(of: &digits) { d in
        repeat {
            d[19 - n] = UInt8(48 + x % 10)
            x /= 10
            n += 1
        } while x > 0
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[(20 - n)...]))
    }
}

extension BidGenerator {
    /// `n` generated bids as JSON lines in one buffer, and where each line ends (after its newline).
    static func lines(_ n: Int) -> (data: [UInt8], ends: [Int]) {
        var g = BidGenerator()
        var data: [UInt8] = []
        data.reserveCapacity(n * 142)
        var ends: [Int] = []
        ends.reserveCapacity(n)
        for _ in 0..<n {
            g.appendNext(to: &data)
            ends.append(data.count)
        }
        return (data, ends)
    }
}
