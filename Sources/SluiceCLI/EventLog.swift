import Foundation
import SluiceCore
import SluiceEngine

/// The log of a headless job: one line per event worth knowing (start, input loaded, checkpoint,
/// alert, stop, error, final counts). Plain text by default; `--log-format json` writes one JSON
/// object per line (`ts`, `event`, `query`, `message` and the event's fields) for machines.
final class EventLog {
    enum Format: String { case plain, json }

    let format: Format
    let err: OutputStream

    init(_ format: Format, _ err: OutputStream) {
        self.format = format
        self.err = err
    }

    static func format(_ text: String?) throws -> Format {
        guard let t = text else { return .plain }
        guard let f = Format(rawValue: t) else { throw UsageError("--log-format takes plain or json, not '\(t)'") }
        return f
    }

    func log(_ event: String, query: String? = nil, _ message: String, _ fields: [(String, JSONValue)] = []) {
        switch format {
        case .plain:
            err.line(query.map { "\($0): \(message)" } ?? message)
        case .json:
            var o = JSONObject()
            o["ts"] = .string(TimeFormat.iso8601(Int64(Date().timeIntervalSince1970 * 1000)))
            o["event"] = .string(event)
            if let q = query { o["query"] = .string(q) }
            o["message"] = .string(message)
            for (k, v) in fields { o[k] = v }
            err.line(JSONValue.object(o).serialized())
        }
        err.flush()
    }

    func log(_ e: EngineEvent) { log(e.event, query: e.query, e.message, e.fields) }

    /// A query's final counts, then why records failed: the three most frequent reasons with a
    /// count and an example record each, and a hint when JSON records look like CSV.
    func summary(_ c: QueryCounters) {
        var fields: [(String, JSONValue)] = [("records_in", .int(c.recordsIn)), ("rows_out", .int(c.rowsOut)), ("bad", .int(c.bad)), ("late", .int(c.late))]
        var remote = ""
        if c.throttled > 0 || c.retried > 0 {
            remote = ", \(c.throttled) throttled, \(c.retried) retried (remote calls)"
            fields += [("throttled", .int(c.throttled)), ("retried", .int(c.retried))]
        }
        log("summary", query: c.name, "\(c.recordsIn) records in, \(c.rowsOut) rows out, \(c.bad) bad, \(c.late) late" + remote, fields)
        for r in c.topReasons(3) {
            log("reason", query: c.name, "  \(r.count) \(r.kind): \(r.reason); e.g. \(r.example)",
                [("kind", .string(r.kind)), ("reason", .string(r.reason)), ("count", .int(r.count)), ("example", .string(r.example))])
        }
        if c.recordsIn > 0, c.bad * 10 >= c.recordsIn * 9,
           let top = c.topReasons(1).first, top.kind == "decode", top.reason.hasPrefix("the record is not a JSON object"),
           !top.example.hasPrefix("{"), top.example.contains(",") {
            log("hint", query: c.name, "  hint: the records look like CSV, not JSON: declare the stream WITH (format = 'csv') (and header = true if the first line names the columns)")
        }
    }
}
