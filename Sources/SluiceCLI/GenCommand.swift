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
               sluice gen sensors|payments|logs [--seed S] [--start ISO-8601]
          15 minutes of IoT telemetry (CSV with a header), card payments or application logs (JSON lines),
          each with planted anomalies at fixed minutes after --start (see samples/README.md).
               sluice gen shapes --shape level-shift|spikes|seasonal-drift|stuck|bursts|amplitude|ramp [--seed S]
          A seeded series of 3,000 points (one a second, CSV: ts, value, anomaly) with planted anomalies of
          that shape after the first 400 points; `anomaly` is 1 on the planted points.
               sluice gen bids [--records N] [--seed S] [--rate R] [--base-ms MS] [--time ms|iso]
                               [--format json|csv] [--out FILE]
          The Nexmark-style Bid benchmark data set, byte for byte as ../shared/bench/gen_bids.py makes it
          (defaults: 5,000,000 records, seed 42, 10,000 events/s from 2024-01-01T00:00:00Z).
               sluice gen nexmark [--events N] [--rate R] [--seed S] [--base-ms MS] [--dir DIR]
          The Nexmark benchmark's events as the canonical generator makes them (1 person, 3 auctions
          and 46 bids in every 50 events; see queries/nexmark/README.md): DIR/person.jsonl,
          DIR/auction.jsonl and DIR/bid.jsonl, `dateTime` in epoch milliseconds, and q13's side input
          DIR/side_input.csv (key,value: 0 to 9,999, the value the key) (defaults: 1,000,000
          events, 10,000 events/s from 2024-01-01T00:00:00Z, seed 42, DIR nexmark).
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
        case "sensors", "payments", "logs":
            let a = try Arguments(argv.dropFirst(), valued: ["seed", "start"])
            let seed = UInt64(try a.int("seed") ?? [ "sensors": 11, "payments": 13, "logs": 17 ][what]!)
            var start: Int64 = 1_704_067_200_000
            if let s = a.value("start") {
                guard let t = TimeFormat.parseISO8601(s) else { throw UsageError("--start takes an ISO-8601 time, not '\(s)'") }
                start = t
            }
            switch what {
            case "sensors": sensors(seed: seed, start: start)
            case "payments": payments(seed: seed, start: start)
            default: logs(seed: seed, start: start)
            }
            return 0
        case "shapes":
            let a = try Arguments(argv.dropFirst(), valued: ["shape", "seed"])
            guard let name = a.value("shape"), let shape = AnomalyShapes.Shape(rawValue: name) else {
                throw UsageError("--shape takes one of \(AnomalyShapes.Shape.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            out.write(AnomalyShapes.csv(AnomalyShapes.make(shape, seed: UInt64(try a.int("seed") ?? 5))))
            out.flush()
            return 0
        case "bids":
            let a = try Arguments(argv.dropFirst(), valued: ["records", "seed", "rate", "base-ms", "time", "format", "out"])
            let n = try a.int("records") ?? 5_000_000
            let rate = try a.int("rate") ?? 10_000
            guard n >= 0, rate >= 1 else { throw UsageError("--records must not be negative and --rate must be at least 1") }
            let time: BidGenerator.TimeForm
            switch a.value("time") ?? "ms" {
            case "ms": time = .millis
            case "iso": time = .iso
            case let t: throw UsageError("--time takes ms or iso, not '\(t)'")
            }
            let format: BidGenerator.Format
            switch a.value("format") ?? "json" {
            case "json": format = .json
            case "csv": format = .csv
            case let f: throw UsageError("--format takes json or csv, not '\(f)'")
            }
            var g = BidGenerator(seed: UInt64(try a.int("seed") ?? 42), rate: Int64(rate),
                                 baseMillis: Int64(try a.int("base-ms") ?? 1_704_067_200_000), time: time, format: format)
            let sink: OutputStream
            if let path = a.value("out") {
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw UsageError("cannot write \(path): \(String(cString: strerror(errno)))") }
                sink = OutputStream(fd: fd)
            } else {
                sink = out
            }
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 22)
            if format == .csv { buffer.append(contentsOf: BidGenerator.csvHeader.utf8) }
            for _ in 0..<n {
                g.appendNext(to: &buffer)
                if buffer.count >= 1 << 22 {
                    sink.write(bytes: buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            sink.write(bytes: buffer)
            sink.flush()
            if a.value("out") != nil { close(sink.fd) }
            return 0
        case "nexmark":
            let a = try Arguments(argv.dropFirst(), valued: ["events", "rate", "seed", "base-ms", "dir"])
            let n = try a.int("events") ?? 1_000_000
            let rate = try a.int("rate") ?? 10_000
            guard n >= 0, rate >= 1 else { throw UsageError("--events must not be negative and --rate must be at least 1") }
            let dir = a.value("dir") ?? "nexmark"
            let counts = try NexmarkGenerator.writeFiles(events: Int64(n), seed: UInt64(try a.int("seed") ?? 42), rate: Int64(rate),
                                                         baseMillis: Int64(try a.int("base-ms") ?? 1_704_067_200_000), dir: dir)
            let summary = NexmarkGenerator.Kind.allCases.map { "\(counts[$0] ?? 0) \($0.rawValue)s" }.joined(separator: ", ")
            FileHandle.standardError.write(Data("wrote \(summary) and the side input to \(dir)/\n".utf8))
            return 0
        case "--help", "-h", "help":
            out.line(GenCommand.usage)
            return 0
        default:
            throw UsageError("unknown data set '\(what)' (known: clicks, sensors, payments, logs, shapes, bids, nexmark)")
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
