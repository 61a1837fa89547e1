import Foundation
import SluiceCore
import SluiceEngine
import SluiceServer
import SluiceSQL
import SluiceStreams

/// A REPL session on the server that holds the data directory: statements go to its SQL API
/// (what they define joins the server's catalog and outlives the session and the server's
/// restarts), push queries stream from it (Ctrl-C closes the connection, which cancels the
/// query there), `.load` puts through its Kinesis API. Refusals come back with the positions of
/// the text as typed, so they are drawn as a local session draws them.
final class RemoteReplBackend: ReplBackend {
    let client: APIClient
    init(client: APIClient) { self.client = client }

    static func diagnostics(_ errors: [JSONValue], _ file: SourceFile) -> EngineError {
        EngineError(diagnostics: ServerPlaces.diagnostics(errors, file))
    }

    static func text(of statement: Statement, in file: SourceFile) -> String { ServerPlaces.text(of: [statement], in: file) }

    func load(_ statement: Statement, _ file: SourceFile) throws(EngineError) -> [String] {
        let status: Int, answer: JSONValue
        do { (status, answer) = try client.sql(Self.text(of: statement, in: file)) } catch { throw EngineError(message: error.description) }
        guard status == 200 else { throw Self.diagnostics(answer["errors"]?.arrayValue ?? [], file) }
        return (answer["results"]?.arrayValue ?? []).compactMap { $0["output"]?.stringValue }
    }

    func describe(_ name: String) -> String? {
        let text = "DESCRIBE \(Printer.name(Identifier(name, quoted: true)))"
        guard let (status, answer) = try? client.sql(text), status == 200 else { return nil }
        return answer["results"]?.arrayValue?.first?["output"]?.stringValue
    }

    func startPush(_ q: Query, _ statement: Statement, _ file: SourceFile, from start: ReadStart, untilEnd: Bool,
                   onRows: @escaping ([[Value]]) -> Void) throws(EngineError) -> any ReplPush {
        let push = RemotePush(client: client, text: Self.text(of: statement, in: file), untilEnd: untilEnd, from: start, onRows: onRows)
        // The header (columns) or the refusal comes first.
        let deadline = Date().addingTimeInterval(30)
        while !push.started && push.refusal == nil && !push.finished && Date() < deadline { usleep(5_000) }
        if let errors = push.refusal { throw Self.diagnostics(errors, file) }
        guard push.started else {
            push.stop()
            throw EngineError(message: push.failure ?? "the server did not start the query")
        }
        return push
    }

    /// A load of the file as the server would load it (the stream's definition, from DESCRIBE,
    /// says how records are keyed, a CSV header is recorded, PACED follows the WATERMARK
    /// column), its records put through the server's load API (`RemoteLoadTarget`).
    private func loader(stream: String, path: String, pace: Double?) throws -> InputLoader {
        guard FileManager.default.isReadableFile(atPath: path) else { throw APIClient.Failure(name: "", message: "cannot read \(path)", status: 0) }
        let (_, answer) = try client.sql("DESCRIBE \(Printer.quoted(stream))")
        guard let text = answer["results"]?.arrayValue?.first?["definition"]?.stringValue, let def = Engine.streamDefinition(fromStatement: text) else {
            throw APIClient.Failure(name: "", message: "the server has no stream named '\(stream)'", status: 0)
        }
        if pace != nil, !(def.watermark.map { w in def.columns.contains { $0.name.lowercased() == w.column.lowercased() } } ?? false) {
            throw APIClient.Failure(name: "", message: "stream \(def.name) has no WATERMARK column to pace the records by", status: 0)
        }
        return InputLoader(definition: def, path: path, pace: pace, target: RemoteLoadTarget(client: client))
    }

    func loadInput(stream: String, path: String, pace: Double?, stop: () -> Bool) throws -> Int {
        let l = try loader(stream: stream, path: path, pace: pace)
        l.run(stop: stop)
        if let f = l.failure { throw APIClient.Failure(name: "", message: f, status: 0) }
        return l.put
    }

    func startLoad(stream: String, path: String, pace: Double?) throws -> InputLoader? {
        let l = try loader(stream: stream, path: path, pace: pace)
        Thread { l.run() }.start()
        return l
    }

    func finishLoad(_ loader: InputLoader) {}

    /// The server runs its queries itself.
    func idle() {}
    func close() {}

    var completionNames: [String] {
        guard let (status, answer) = try? client.sql("SHOW STREAMS; SHOW SINKS"), status == 200 else { return [] }
        var names: [String] = []
        for r in answer["results"]?.arrayValue ?? [] {
            for l in (r["output"]?.stringValue ?? "").split(separator: "\n") {
                if let colon = l.firstIndex(of: ":") { names.append(String(l[..<colon])) }
            }
        }
        return names
    }
}

/// A push query running on the server: a thread reads its answer line by line into a buffer
/// that `step` hands to the session; `stop` closes the connection, which cancels it there.
final class RemotePush: ReplPush, @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [[Value]] = []
    private var _columns: [String] = []
    private var _changes = false
    private var _started = false
    private var _finished = false
    private var _refusal: [JSONValue]? = nil
    private var _failure: String? = nil
    private var cancelled = false
    private let onRows: ([[Value]]) -> Void

    let endsByItself: Bool

    init(client: APIClient, text: String, untilEnd: Bool, from start: ReadStart, onRows: @escaping ([[Value]]) -> Void) {
        self.onRows = onRows
        endsByItself = untilEnd
        let request: JSONValue = ["sql": .string(text), "until_end": .bool(untilEnd), "start": .string(SQLOptions.text(of: start))]
        Thread { [self] in
            do {
                let status = try client.streamLines("/v1/sql", json: request) { line in
                    if lock.withLock({ cancelled }) { return false }
                    guard !line.isEmpty, let j = try? JSONValue.parse(bytes: Array(line.utf8)) else { return true }
                    if let row = j["row"]?.arrayValue {
                        let values = row.map(RemotePush.value)
                        lock.withLock { rows.append(values) }
                    } else if let cols = j["columns"]?.arrayValue {
                        lock.withLock {
                            _columns = cols.compactMap(\.stringValue)
                            _changes = j["changes"] == .bool(true)
                            _started = true
                        }
                    } else if let end = j["end"]?.stringValue {
                        lock.withLock { if end == "error" { _failure = j["message"]?.stringValue ?? "the query failed" } }
                        return false
                    } else if let errors = j["errors"]?.arrayValue {
                        lock.withLock { _refusal = errors }
                        return false
                    }
                    return true
                }
                if status != 200 { lock.withLock { if _refusal == nil { _refusal = [] } } }
            } catch {
                lock.withLock { _failure = "\(error)" }
            }
            lock.withLock { _finished = true }
        }.start()
    }

    /// A value as the server wrote it (timestamps stay their ISO text).
    static func value(_ j: JSONValue) -> Value {
        switch j {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        default: return .string(j.serialized())
        }
    }

    var started: Bool { lock.withLock { _started } }
    var finished: Bool { lock.withLock { _finished } }
    var refusal: [JSONValue]? { lock.withLock { _refusal } }
    var failure: String? { lock.withLock { _failure } }
    var columns: [String] { lock.withLock { _columns } }
    var emitsChanges: Bool { lock.withLock { _changes } }
    var done: Bool { lock.withLock { _finished && rows.isEmpty } }
    var counters: QueryCounters? { nil }
    var watermark: Int64? { nil }
    var newestEventTime: Int64? { nil }

    func step() throws(EngineError) -> Bool {
        let (taken, failure) = lock.withLock { () -> ([[Value]], String?) in
            let r = rows
            rows.removeAll()
            return (r, _failure)
        }
        if !taken.isEmpty { onRows(taken) }
        if let f = failure, taken.isEmpty { throw EngineError(message: f) }
        return !taken.isEmpty
    }

    func finish() throws(EngineError) {
        // A script's SELECT: what was read so far is all; the server ends it when the connection closes.
        stop()
    }

    func stop() { lock.withLock { cancelled = true } }
}
