import Foundation
import Glibc
import SluiceCodecs
import SluiceCore
import SluiceDelivery
import SluiceEngine
import SluiceServer
import SluiceSQL
import SluiceStreams

/// The server's engine, shared by its run loop and the SQL API: one lock keeps them apart (the
/// engine is single-threaded), and every definition and persistent query that the API accepts
/// is kept in the data directory's catalog (`catalog.json`: each statement's text and, for one
/// that starts a query, the query's number; rewritten atomically), which the server loads again
/// when it starts, so that what a client created comes back after a restart and each query
/// keeps its number and resumes from its checkpoint.
final class ServerSQL: SQLBackend, @unchecked Sendable {
    private let lock = NSLock()
    private let engine: Engine
    let catalogPath: String
    /// The catalog: statements in the order they were accepted.
    private var entries: [(sql: String, query: Int?)] = []
    /// Told the engine's firehoses after a statement made or dropped one (the Firehose API's
    /// host then describes them and leaves their delivery to the engine).
    var firehosesChanged: (([FirehoseConfig]) -> Void)?

    init(engine: Engine, dataDirectory: String) {
        self.engine = engine
        catalogPath = dataDirectory + "/catalog.json"
    }

    /// Runs `body` with the engine to itself (the run loop's steps, the API's statements).
    func withEngine<T>(_ body: (Engine) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(engine)
    }

    /// Loads the catalog kept by earlier runs, if any; why it no longer loads otherwise (the
    /// statement's text as the file, and its diagnostics).
    func loadCatalog() -> (file: SourceFile, diagnostics: [Diagnostic], message: String?)? {
        guard let data = FileManager.default.contents(atPath: catalogPath) else { return nil }
        let whole = SourceFile(name: catalogPath, bytes: [UInt8](data))
        guard let j = try? JSONValue.parse(bytes: whole.bytes), let list = j["statements"]?.arrayValue else {
            return (whole, [], "\(catalogPath) is not a catalog (a JSON object with \"statements\")")
        }
        lock.lock()
        defer { lock.unlock() }
        for (i, e) in list.enumerated() {
            guard let sql = e["sql"]?.stringValue else { return (whole, [], "statement \(i + 1) of \(catalogPath) has no \"sql\"") }
            let file = SourceFile(name: "\(catalogPath), statement \(i + 1)", text: sql)
            let parsed = Parser.parse(bytes: file.bytes)
            if parsed.hasErrors { return (file, parsed.diagnostics, nil) }
            let query = e["query"]?.int64Value.map { Int($0) }
            if let q = query {
                guard q >= engine.nextQueryId else {
                    return (file, [], "query \(q) of the catalog has the number of a query of the files the server was started with; start it with the same files as before")
                }
                engine.nextQueryId = q
            }
            do { try engine.load(parsed.script) } catch { return (file, error.diagnostics, error.message) }
            entries.append((sql, query))
        }
        if let next = j["next_query"]?.int64Value { engine.nextQueryId = max(engine.nextQueryId, Int(next)) }
        return nil
    }

    /// Runs one statement on the engine: what it printed, or nil after its refusal went into
    /// `answer` (a diagnostic without a place is put on the statement).
    private func load(_ s: Statement, _ file: SourceFile, _ answer: inout SQLAnswer) -> String? {
        let before = engine.output.count
        do { try engine.load(Script(statements: [s])) } catch {
            for d in error.diagnostics {
                answer.errors.append(SQLAnswer.error(Diagnostic(id: d.id, severity: d.severity, message: d.message, span: d.span ?? s.loc.span, notes: d.notes, help: d.help), in: file))
            }
            if let m = error.message { answer.errors.append(SQLAnswer.error(Diagnostic(id: "engine.error", message: m, span: s.loc.span), in: file)) }
            return nil
        }
        return engine.output[before...].joined(separator: "\n")
    }

    /// Whether a catalog statement defines the object of that kind and name.
    static func defines(_ sql: String, _ kind: Drop.Kind, _ name: String) -> Bool {
        guard let statement = Parser.parse(sql).script.statements.first else { return false }
        let n = name.lowercased()
        switch (kind, statement.kind) {
        case (.stream, .createStream(let c)): return c.name.name.lowercased() == n
        case (.stream, .createStreamAs(let c)): return c.name.name.lowercased() == n
        case (.sink, .createSink(let c)): return c.name.name.lowercased() == n
        case (.alert, .createAlert(let a)): return a.name.name.lowercased() == n
        case (.table, .createTable(let c)): return c.name.name.lowercased() == n
        case (.view, .createView(let v)): return v.name.name.lowercased() == n
        case (.firehose, .createFirehose(let c)): return c.name.name.lowercased() == n
        default: return false
        }
    }

    /// Statements the catalog keeps: what defines something, and the queries that run on.
    static func kept(_ kind: StatementKind) -> Bool {
        switch kind {
        case .createStream, .createStreamAs, .createView, .createFirehose, .createTable, .createSink, .createAlert, .insert: return true
        default: return false
        }
    }

    func execute(_ text: String, _ options: SQLOptions) -> SQLAnswer {
        let file = SourceFile(name: "request", text: text)
        let parsed = Parser.parse(bytes: file.bytes)
        if parsed.hasErrors { return SQLAnswer(errors: parsed.diagnostics.map { SQLAnswer.error($0, in: file) }) }
        var answer = SQLAnswer()
        lock.lock()
        defer { lock.unlock() }
        if options.check {
            // As `sluice check` checks a file, against the catalog as it is: nothing runs.
            do {
                let plans = try engine.plans(parsed.script)
                answer.results = plans.map { ["query": .string($0.label), "target": .string($0.target), "plan": .string($0.physical)] }
            } catch {
                for d in error.diagnostics {
                    answer.errors.append(SQLAnswer.error(d, in: file))
                }
                if let m = error.message { answer.errors.append(SQLAnswer.error(Diagnostic(id: "engine.error", message: m, span: nil), in: file)) }
            }
            return answer
        }
        defer {
            let touched = parsed.script.statements.contains { s in
                switch s.kind {
                case .createFirehose: return true
                case .drop(let d): return d.kind == .firehose
                default: return false
                }
            }
            if touched { firehosesChanged?(engine.firehoses.map(\.config)) }
        }
        for s in parsed.script.statements {
            let statementText = file.text(s.loc.span)
            var result: JSONObject = ["statement": .string(statementText)]
            switch s.kind {
            case .query(let q):
                guard parsed.script.statements.count == 1 else {
                    answer.errors.append(SQLAnswer.error(Diagnostic(id: "api.push-query", message: "a push query (a SELECT on its own) is sent alone: its answer is its rows as they come",
                                                                    span: s.loc.span), in: file))
                    return answer
                }
                return push(q, statementText, options, file: file, span: s.loc.span)
            case .print(let p):
                // PRINT s [FROM BEGINNING] [LIMIT n]: a push query of s's records, from the latest
                // unless FROM BEGINNING.
                guard parsed.script.statements.count == 1 else {
                    answer.errors.append(SQLAnswer.error(Diagnostic(id: "api.push-query", message: "PRINT is sent alone: its answer is the records as they come", span: s.loc.span), in: file))
                    return answer
                }
                guard engine.describe(p.name.name)?.hasPrefix("stream ") == true else {
                    answer.errors.append(SQLAnswer.error(Diagnostic(id: "bind.unknown-stream", message: "no stream named '\(p.name.name)'", span: p.name.loc.span), in: file))
                    return answer
                }
                let text = "SELECT * FROM \(Printer.name(p.name))" + (p.limit.map { " LIMIT \($0)" } ?? "")
                guard case .query(let q)? = Parser.parse(text).script.statements.first?.kind else { return answer }
                var o = options
                o.start = p.fromBeginning ? .earliest : .latest
                return push(q, statementText, o, file: file, span: s.loc.span)
            case .describe(let name):
                guard let text = engine.describe(name.name) else {
                    answer.errors.append(SQLAnswer.error(Diagnostic(id: "bind.unknown-name", message: "no stream, table or view named '\(name.name)'", span: s.loc.span), in: file))
                    return answer
                }
                result["output"] = .string(text)
                if let definition = engine.definitionStatement(name.name) { result["definition"] = .string(definition) }
            case .drop(let d) where d.kind == .query:
                // The query stops and its statement leaves the catalog (a query of the server's
                // files comes back with them when the server starts again).
                let id = Int(d.name.name)
                if let at = entries.firstIndex(where: { $0.query == id && $0.query != nil }),
                   case .createStreamAs = Parser.parse(entries[at].sql).script.statements.first?.kind {
                    answer.errors.append(SQLAnswer.error(Diagnostic(id: "plan.query-defines-stream", message: "query \(id!) is the query of a CREATE STREAM ... AS, whose stream other statements may read",
                                                                    span: s.loc.span, help: "DROP STREAM drops the stream and its query together"), in: file))
                    return answer
                }
                guard load(s, file, &answer) != nil else { return answer }
                if let at = entries.firstIndex(where: { $0.query == id && $0.query != nil }) {
                    let removed = entries.remove(at: at)
                    do { try save() } catch {
                        entries.insert(removed, at: at)
                        answer.errors.append(SQLAnswer.error(Diagnostic(id: "api.catalog", message: "the query stopped, but the catalog could not forget it: \(error)", span: s.loc.span), in: file))
                        return answer
                    }
                }
            case .drop(let d):
                // The object goes, and with it the statements of the catalog that defined it.
                guard let output = load(s, file, &answer) else { return answer }
                if !output.isEmpty { result["output"] = .string(output) }
                let kept = entries
                entries.removeAll { Self.defines($0.sql, d.kind, d.name.name) }
                if entries.count != kept.count {
                    do { try save() } catch {
                        entries = kept
                        answer.errors.append(SQLAnswer.error(Diagnostic(id: "api.catalog", message: "dropped, but the catalog could not forget it: \(error)", span: s.loc.span), in: file))
                        return answer
                    }
                }
            case .set:
                // The SQL API keeps no session between requests: a request says how it wants its rows.
                answer.errors.append(SQLAnswer.error(Diagnostic(id: "api.session-setting", message: "SET changes a session, and the SQL API has none: each request says how it wants its rows",
                                                                span: s.loc.span, help: "send JSON: {\"sql\": \"SELECT ...\", \"start\": \"latest\", \"rows\": \"objects\"} (sluice repl keeps SET in its session)"), in: file))
                return answer
            default:
                let query = engine.nextQueryId
                guard let output = load(s, file, &answer) else { return answer }
                if !output.isEmpty { result["output"] = .string(output) }
                let started = engine.nextQueryId > query ? query : nil
                if let q = started { result["query"] = .int(Int64(q)) }
                if Self.kept(s.kind) {
                    entries.append((statementText, started))
                    do {
                        try save()
                    } catch {
                        entries.removeLast()
                        answer.errors.append(SQLAnswer.error(Diagnostic(id: "api.catalog", message: "the statement runs, but the catalog could not keep it: \(error)", span: s.loc.span), in: file))
                        return answer
                    }
                    result["kept"] = true
                }
            }
            answer.results.append(.object(result))
        }
        return answer
    }

    /// A push query: started now (its errors answered at once), then run as the response is
    /// written: a line with the columns, a line per row (`{"row": [...]}`), and a closing line
    /// saying why it ended (`done`: a LIMIT was reached; `server stopping`; `error` with a
    /// message); blank lines while it waits. A client that closes the connection cancels it. It
    /// reads its streams from the start (TRIM_HORIZON), as the REPL does by default, or with
    /// `"start": "latest"` only what arrives after it starts (`"last N"`: each shard's last N records first).
    private func push(_ q: Query, _ text: String, _ options: SQLOptions, file: SourceFile, span: SourceSpan) -> SQLAnswer {
        let rows = RowBuffer()
        let query: AdHocQuery
        do {
            query = try engine.startAdHoc(q, from: options.start) { rows.add($0) }
        } catch {
            var answer = SQLAnswer()
            for d in error.diagnostics { answer.errors.append(SQLAnswer.error(d, in: file)) }
            if let m = error.message { answer.errors.append(SQLAnswer.error(Diagnostic(id: "engine.error", message: m, span: span), in: file)) }
            return answer
        }
        let header: JSONValue = ["statement": .string(text), "columns": .array(query.columns.map { .string($0) }), "changes": .bool(query.emitsChanges)]
        let columns = query.columns.count
        let encoder = RecordEncoder(format: .json, columns: query.columns)
        let owned = EngineOwned(query)
        return SQLAnswer(stream: { [self] write, stopping in
            let query = owned.value
            func end(_ why: String, _ message: String? = nil) {
                var o: JSONObject = ["end": .string(why)]
                if let m = message { o["message"] = .string(m) }
                _ = write(Array((JSONValue.object(o).serialized() + "\n").utf8))
            }
            guard write(Array((header.serialized() + "\n").utf8)) else { return withEngine { $0.stop(query) } }
            var idle = 0
            while true {
                let busy: Bool, done: Bool
                do {
                    (busy, done) = try withEngine { e in (try e.step(query), query.done) }
                } catch {
                    withEngine { $0.stop(query) }
                    return end("error", "\(error)")
                }
                var ended = false
                if options.untilEnd && !busy && !done && rows.isEmpty {
                    // What the streams hold is read: the input ends, the open windows close.
                    do { try withEngine { try $0.finish(query) } } catch {
                        withEngine { $0.stop(query) }
                        return end("error", "\(error)")
                    }
                    ended = true
                }
                let taken = rows.take()
                if !taken.isEmpty {
                    var bytes: [UInt8] = []
                    for r in taken {
                        bytes += Array(#"{"row":"#.utf8)
                        if options.objects {
                            encoder.append(Array(r.prefix(columns)), to: &bytes)
                            bytes.removeLast()  // the encoder's line break
                        } else {
                            bytes.append(91)
                            for (i, v) in r.prefix(columns).enumerated() {
                                if i > 0 { bytes.append(44) }
                                RecordEncoder.json(v, &bytes)
                            }
                            bytes.append(93)
                        }
                        bytes += Array("}\n".utf8)
                    }
                    // The client went: the query is cancelled.
                    guard write(bytes) else { return withEngine { $0.stop(query) } }
                }
                if done || ended {
                    withEngine { $0.stop(query) }
                    return end(ended ? "end of input" : "done")
                }
                if stopping() {
                    withEngine { $0.stop(query) }
                    return end("server stopping")
                }
                if !busy && taken.isEmpty {
                    // Nothing to read: a blank line each second while idle, which clients skip,
                    // tells whether the client is still there (a query nobody reads is cancelled).
                    idle += 1
                    if idle % 20 == 0 && !write([10]) { return withEngine { $0.stop(query) } }
                    usleep(50_000)
                } else {
                    idle = 0
                }
            }
        })
    }

    /// Writes the catalog: the whole file anew beside it, flushed to disk and renamed over it,
    /// so a crash leaves the old catalog or the new one.
    private func save() throws {
        let list: [JSONValue] = entries.map { e in
            var o: JSONObject = ["sql": .string(e.sql)]
            if let q = e.query { o["query"] = .int(Int64(q)) }
            return .object(o)
        }
        let text = JSONValue.object(["version": 1, "statements": .array(list), "next_query": .int(Int64(engine.nextQueryId))]).serialized(pretty: true) + "\n"
        let temp = catalogPath + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n <= 0 { close(fd); throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            done += n
        }
        guard fsync(fd) == 0, close(fd) == 0, rename(temp, catalogPath) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let folder = FileNames.directory(of: catalogPath)
        let dir = open(folder.isEmpty ? "." : folder, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
    }
}

/// Rows a push query produced, between the engine's step (under its lock) and the response's
/// writer.
final class RowBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [[Value]] = []
    func add(_ r: [[Value]]) { lock.withLock { rows += r } }
    func take() -> [[Value]] { lock.withLock { let r = rows; rows = []; return r } }
    var isEmpty: Bool { lock.withLock { rows.isEmpty } }
}

/// Something of the engine's that a response's thread holds, touched only under the engine's lock.
final class EngineOwned<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
