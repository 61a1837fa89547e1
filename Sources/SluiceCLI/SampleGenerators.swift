import Foundation
import SluiceCore

/// The bundled samples besides the clickstream: IoT telemetry (CSV), payments and application
/// logs (JSON lines), each 15 minutes of event time from `start`, seeded, with planted anomalies
/// at fixed offsets (documented in samples/README.md and pinned by the saved alert queries).
extension GenCommand {
    static let sampleMinutes: Int64 = 15

    private static func fixed(_ v: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", v)
    }

    /// Sensor telemetry, CSV with a header: 24 sensors at 3 sites, a reading every 5 s each.
    /// Planted: sensor-07 overheats (+1 °C every 5 s, up to +24 °C) from minute 5 to minute 7,
    /// then drops back; sensor-15 is stuck (repeats its last reading exactly) from minute 10 to
    /// minute 14.
    func sensors(seed: UInt64, start: Int64) {
        var rng = SplitMix64(seed: seed)
        let sites = ["plant-a", "plant-b", "warehouse"]
        let baseline = [21.0, 23.5, 16.0]
        out.line("sensor_id,site,temperature_c,humidity_pct,battery_v,ts")
        var stuck: (Double, Double, Double)? = nil
        let steps = Int(GenCommand.sampleMinutes * 60 / 5)
        for step in 0..<steps {
            let tick = start + Int64(step) * 5000
            for s in 0..<24 {
                let id = String(format: "sensor-%02d", s)
                let site = s % 3
                let t = tick + Int64(rng.below(1000))
                let minute = (t - start) / 60_000
                var temp = baseline[site] + sin(Double(step) / 40 + Double(s)) * 0.8 + (rng.unit() - 0.5) * 0.6
                var humidity = 45 + Double(site) * 5 + (rng.unit() - 0.5) * 4
                let battery = 3.7 - Double(step) * 0.0004 - Double(s) * 0.01 + (rng.unit() - 0.5) * 0.01
                if s == 7 && minute >= 5 && minute < 7 {
                    temp += Double(min(24, (t - start - 300_000) / 5000 + 1))
                    humidity -= 10
                }
                var values = (temp, humidity, battery)
                if s == 15 && minute >= 10 && minute < 14 {
                    if let v = stuck { values = v } else { stuck = values }
                }
                out.line("\(id),\(sites[site]),\(Self.fixed(values.0, 2)),\(Self.fixed(values.1, 1)),\(Self.fixed(values.2, 3)),\(TimeFormat.iso8601(t))")
            }
        }
    }

    /// Card payments, JSON lines: about 6 per second over 300 accounts and 25 merchants, with
    /// refunds of some payments 2-40 s later (`type` = refund, `ref_txn` the payment).
    /// Planted: account acct-0042 runs a card-testing burst at merchant m-17 (40 payments of at
    /// most 2.00, most declined) from 00:06:00 to 00:06:40; merchant m-03's processor declines
    /// about 70% of its payments from 00:11:00 to 00:12:30.
    func payments(seed: UInt64, start: Int64) {
        var rng = SplitMix64(seed: seed)
        let countries = ["US", "US", "US", "GB", "DE", "FR", "CA", "JP"]
        var pending: [(at: Int64, record: JSONObject)] = []
        var t = start
        var n = 0
        let end = start + GenCommand.sampleMinutes * 60_000
        var burst = 0
        func emitDue(before limit: Int64) {
            pending.sort { $0.at < $1.at }
            while let first = pending.first, first.at <= limit {
                out.json(.object(first.record))
                pending.removeFirst()
            }
        }
        while t < end {
            t += Int64(60 + rng.below(220))
            let offset = t - start
            var account = "acct-" + String(format: "%04d", rng.below(300))
            var merchant = "m-" + String(format: "%02d", rng.below(25))
            var amount = (rng.unit() < 0.8 ? 5 + rng.unit() * 80 : 80 + rng.unit() * 900)
            var declined = rng.below(100) < 3
            if offset >= 360_000 && offset < 400_000 && burst < 40 && rng.below(2) == 0 {
                account = "acct-0042"
                merchant = "m-17"
                amount = 0.5 + rng.unit() * 1.5
                declined = rng.below(10) < 8
                burst += 1
            } else if merchant == "m-03" && offset >= 660_000 && offset < 750_000 {
                declined = rng.below(10) < 7
            }
            n += 1
            let id = "txn-" + String(format: "%06d", n)
            var o = JSONObject()
            o["txn_id"] = .string(id)
            o["type"] = "payment"
            o["account"] = .string(account)
            o["merchant"] = .string(merchant)
            o["amount"] = .double((amount * 100).rounded() / 100)
            o["currency"] = "USD"
            o["status"] = .string(declined ? "declined" : "approved")
            o["card"] = ["country": .string(countries[rng.below(countries.count)]), "last4": .string(String(format: "%04d", rng.below(10000)))]
            o["ts"] = .string(TimeFormat.iso8601(t))
            emitDue(before: t)
            out.json(.object(o))
            if !declined && rng.below(50) == 0 {
                let at = t + 2000 + Int64(rng.below(38_000))
                n += 1
                var r = JSONObject()
                r["txn_id"] = .string("txn-" + String(format: "%06d", n))
                r["type"] = "refund"
                r["ref_txn"] = .string(id)
                r["account"] = .string(account)
                r["merchant"] = .string(merchant)
                r["amount"] = o["amount"]
                r["currency"] = "USD"
                r["status"] = "approved"
                r["ts"] = .string(TimeFormat.iso8601(at))
                pending.append((at, r))
            }
        }
        emitDue(before: Int64.max)
    }

    /// Application logs, JSON lines: four services, about 10 lines per second, with nested
    /// `http` fields. Planted: from 00:09:30 to 00:10:30 the auth service fails about 40% of its
    /// requests with ERROR "token service unavailable" (status 503) and answers 5-10x slower.
    func logs(seed: UInt64, start: Int64) {
        var rng = SplitMix64(seed: seed)
        let services = ["api", "api", "api", "auth", "auth", "billing", "search", "search"]
        let paths = ["api": ["/v1/orders", "/v1/items", "/v1/cart"], "auth": ["/login", "/token", "/logout"],
                     "billing": ["/invoice", "/charge"], "search": ["/q", "/suggest"]]
        var t = start
        let end = start + GenCommand.sampleMinutes * 60_000
        while t < end {
            t += Int64(30 + rng.below(140))
            let offset = t - start
            let service = services[rng.below(services.count)]
            let path = paths[service]![rng.below(paths[service]!.count)]
            var latency = 5 + rng.unit() * (service == "search" ? 120 : 60)
            var status = 200
            var level = rng.below(20) == 0 ? "DEBUG" : "INFO"
            var message = "\(path) ok"
            if rng.below(200) == 0 {
                status = 500
                level = "ERROR"
                message = "unhandled exception in \(path)"
            } else if rng.below(40) == 0 {
                level = "WARN"
                message = "slow upstream for \(path)"
                latency *= 3
            }
            if service == "auth" && offset >= 570_000 && offset < 630_000 {
                latency *= 5 + rng.unit() * 5
                if rng.below(10) < 4 {
                    status = 503
                    level = "ERROR"
                    message = "token service unavailable"
                }
            }
            var o = JSONObject()
            o["ts"] = .string(TimeFormat.iso8601(t))
            o["service"] = .string(service)
            o["level"] = .string(level)
            o["message"] = .string(message)
            o["trace_id"] = .string(String(format: "%08x", UInt32(truncatingIfNeeded: rng.next())))
            o["http"] = ["method": .string(path == "/charge" || path == "/login" ? "POST" : "GET"), "path": .string(path),
                         "status": .int(Int64(status)), "latency_ms": .double((latency * 10).rounded() / 10)]
            out.json(.object(o))
        }
    }
}
