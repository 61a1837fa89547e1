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
}
