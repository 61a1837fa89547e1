import Foundation
public import SluiceCore
public import SluiceStreams
import SluiceAWS

/// What runs SQL for the server's SQL API (`POST /v1/sql`). The server adapts HTTP to it; what
/// executes the statements (the engine, in the command that runs the server) knows nothing of HTTP.
public protocol SQLBackend: Sendable {
    /// Runs the statements of `text` in order: each statement's result, or why one was refused
    /// (the statements before it ran; none after it did).
    func execute(_ text: String, _ options: SQLOptions) -> SQLAnswer
}

/// How a request wants a push query's answer (members of a JSON request).
public struct SQLOptions: Sendable {
    /// `"until_end": true`: the query ends once it has read what its streams hold (its open
    /// windows close), as a script's SELECT does; otherwise it runs until the client goes.
    public var untilEnd = false
    /// `"rows": "objects"`: each row as an object of its columns (`{"row":{"url":"/a"}}`, the
    /// form file sinks write), not an array.
    public var objects = false
    /// `"start": "latest"`: the query reads only records that arrive after it starts (as
    /// `SET start = 'LATEST'` in the REPL); `"last N"`: each shard's last N records, then what
    /// arrives (the REPL's `.sample`); by default (`"earliest"`) the streams from the start.
    public var start: ReadStart = .earliest
    /// `"check": true`: the statements are checked against the server's catalog as `sluice
    /// check` checks a file (names, types, what cannot run as a stream), and nothing runs: the
    /// answer is the diagnostics, or a result per query with its plan.
    public var check = false
    public init(untilEnd: Bool = false, objects: Bool = false, start: ReadStart = .earliest, check: Bool = false) {
        self.untilEnd = untilEnd
        self.objects = objects
        self.start = start
        self.check = check
    }
}

extension SQLOptions {
    /// `"earliest"`, `"latest"` or `"last N"` (N at least 1), as a request's `start` says it.
    public static func start(_ text: String) -> ReadStart? {
        let words = text.lowercased().split(separator: " ")
        switch (words.first, words.count) {
        case ("earliest", 1): return .earliest
        case ("latest", 1): return .latest
        case ("last", 2): return Int(words[1]).flatMap { $0 >= 1 ? .last($0) : nil }
        default: return nil
        }
    }

    /// What `start(_:)` reads.
    public static func text(of start: ReadStart) -> String {
        switch start {
        case .earliest: return "earliest"
        case .latest: return "latest"
        case .last(let n): return "last \(n)"
        }
    }
}

/// The answer to a SQL request: `results` (one JSON object per statement that ran), and when a
/// statement was refused, its `errors` (each a diagnostic: `id`, `message`, `line`, `column`,
/// `end_line`, `end_column`, `help`, so clients can draw carets).
public struct SQLAnswer: Sendable {
    public var results: [JSONValue]
    public var errors: [JSONValue]
    /// A push query's answer instead: JSON lines written as they come (chunked), until the
    /// query ends or the client goes. It writes through `write` and stops when it returns false.
    public var stream: (@Sendable (_ write: ([UInt8]) -> Bool, _ serverStopping: () -> Bool) -> Void)?

    public init(results: [JSONValue] = [], errors: [JSONValue] = [], stream: (@Sendable (_ write: ([UInt8]) -> Bool, _ serverStopping: () -> Bool) -> Void)? = nil) {
        self.results = results
        self.errors = errors
        self.stream = stream
    }

    /// A diagnostic as the API gives it, with positions in `file`.
    public static func error(_ d: Diagnostic, in file: SourceFile) -> JSONValue {
        var o: JSONObject = ["id": .string(d.id), "severity": .string(d.severity.rawValue), "message": .string(d.message)]
        if let span = d.span {
            let (l, c) = file.location(of: span.start), (el, ec) = file.location(of: span.end)
            o["line"] = .int(Int64(l))
            o["column"] = .int(Int64(c))
            o["end_line"] = .int(Int64(el))
            o["end_column"] = .int(Int64(ec))
        }
        if let h = d.help { o["help"] = .string(h) }
        if !d.notes.isEmpty { o["notes"] = .array(d.notes.map { .string($0.message) }) }
        return .object(o)
    }

    var response: HTTPResponse {
        if let stream {
            var r = HTTPResponse(status: 200, headers: [("Content-Type", "application/x-ndjson")])
            r.stream = { writer in stream({ writer.write($0) }, { writer.serverStopping }) }
            return r
        }
        var o: JSONObject = ["results": .array(results)]
        if !errors.isEmpty { o["errors"] = .array(errors) }
        return HTTPResponse(status: errors.isEmpty ? 200 : 400, headers: [("Content-Type", "application/json")],
                            body: Array((JSONValue.object(o).serialized() + "\n").utf8))
    }
}

extension Service {
    /// `POST /v1/sql`: the body is the SQL text (or a JSON object `{"sql": "..."}`). A push query
    /// (a SELECT on its own) answers as it runs: see `SQLBackend`.
    func sql(_ request: HTTPRequest) -> HTTPResponse {
        guard let backend = sqlBackend else { return .text(404, "this server runs no SQL\n") }
        guard request.method == "POST" else { return .text(405, "POST the SQL text to /v1/sql\n") }
        // Under --require-auth, SQL needs the same signature as the Kinesis API (or the console's token).
        if let refusal = refusedUnsigned(request) { return refusal }
        var text = String(decoding: request.body, as: UTF8.self)
        var options = SQLOptions()
        if request.header("content-type")?.lowercased().hasPrefix("application/json") == true {
            guard let j = try? JSONValue.parse(bytes: request.body), let s = j["sql"]?.stringValue else {
                return SQLAnswer(errors: [["id": "api.bad-request", "message": "a JSON request is an object with the SQL text in \"sql\""]]).response
            }
            text = s
            options.untilEnd = j["until_end"] == .bool(true)
            options.objects = j["rows"]?.stringValue == "objects"
            if let given = j["start"] {
                guard let text = given.stringValue, let start = SQLOptions.start(text) else {
                    return SQLAnswer(errors: [["id": "api.bad-request", "message": .string("\"start\" is \"earliest\", \"latest\" or \"last N\" (N a positive number), not \(given.serialized())")]]).response
                }
                options.start = start
            }
            options.check = j["check"] == .bool(true)
        }
        return backend.execute(text, options).response
    }
}
