import Foundation
import SluiceCore

/// `sluice gen ...`: seeded sample data, byte-for-byte the same for the same options.
struct GenCommand {
    let out: OutputStream

    static let usage = """
        usage: sluice gen clicks [--records N] [--seed S] [--start ISO-8601]
          Web clickstream as JSON lines (nested page fields), one record per line on stdout.
          Planted anomaly: from minute 8 to minute 11 after --start, /checkout answers 10-20x slower
          and half of its requests fail with status 503.
        """

    func run(_ argv: ArraySlice<String>) throws -> Int32 {
        guard let what = argv.first else { throw UsageError("missing data set name\n" + GenCommand.usage) }
        switch what {
        case "clicks":
            let a = try Arguments(argv.dropFirst(), valued: ["records", "seed", "start"])
            let n = try a.int("records") ?? 15_000
            let seed = try a.int("seed") ?? 7
            guard n >= 0 else { throw UsageError("--records must not be negative") }
            var start: Int64 = 1_704_067_200_000
            if let s = a.value("start") {
                guard let t = TimeFormat.parseISO8601(s) else { throw UsageError("--start takes an ISO-8601 time, not '\(s)'") }
                start = t
            }
            clicks(records: n, seed: UInt64(seed), start: start)
            return 0
        case "--help", "-h", "help":
            out.line(GenCommand.usage)
            return 0
        default:
            throw UsageError("unknown data set '\(what)' (known: clicks)")
        }
    }

    /// One record every ~60 ms of event time on average, from 200 users over 40 pages.
    func clicks(records n: Int, seed: UInt64, start: Int64) {
        var rng = SplitMix64(seed: seed)
        func below(_ k: Int) -> Int { rng.below(k) }
        func unit() -> Double { rng.unit() }
        let pages = ["/", "/search", "/cart", "/checkout", "/account"] + (0..<35).map { "/products/\($0)" }
        let actions = ["view", "view", "view", "click", "click", "add_to_cart", "purchase"]
        let referrers = ["google", "direct", "newsletter", "partner"]
        var t = start
        for i in 0..<n {
            t += Int64(20 + below(80))
            let user = below(200)
            let page = pages[below(10) < 3 ? below(5) : 5 + below(35)]
            var latency = 20 + unit() * 180
            var status = below(100) == 0 ? 500 : 200
            let minute = (t - start) / 60_000
            if page == "/checkout" && minute >= 8 && minute < 11 {
                latency *= 10 + unit() * 10
                if below(2) == 0 { status = 503 }
            }
            var o = JSONObject()
            o["user_id"] = .string("u" + String(1000 + user))
            o["session_id"] = .string("s\(user)-\(i / 500)")
            o["page"] = ["url": .string(page), "referrer": .string(referrers[below(4)])]
            o["action"] = .string(actions[below(actions.count)])
            o["latency_ms"] = .double((latency * 10).rounded() / 10)
            o["status"] = .int(Int64(status))
            o["ts"] = .string(TimeFormat.iso8601(t))
            out.json(.object(o))
        }
    }
}
