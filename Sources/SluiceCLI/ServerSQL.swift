import Foundation
import Glibc
import SluiceCore
import SluiceEngine
import SluiceServer
import SluiceSQL

/// The server's engine, shared by its run loop and the SQL API: one lock keeps them apart (the
/// engine is single-threaded), and every definition and persistent query that the API accepts
/// is kept in the data directory's catalog (`catalog.sql`, rewritten atomically), which the
/// server loads again when it starts, so that what a client created comes back after a
/// restart and its queries resume from their checkpoints.
final class ServerSQL: SQLBackend, @unchecked Sendable {
    private let lock = NSLock()
    private let engine: Engine
    let catalogPath: String

    init(engine: Engine, dataDirectory: String) {
        self.engine = engine
        catalogPath = dataDirectory + "/catalog.sql"
    }

    /// Runs `body` with the engine to itself (the run loop's steps, the API's statements).
    func withEngine<T>(_ body: (Engine) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(engine)
    }

    /// Loads the catalog kept by earlier runs, if any; the diagnostics when it no longer loads.
    func loadCatalog() -> (file: SourceFile, diagnostics: [Diagnostic], message: String?)? {
        guard let data = FileManager.default.contents(atPath: catalogPath) else { return nil }
        let file = SourceFile(name: catalogPath, bytes: [UInt8](data))
        let parsed = Parser.parse(bytes: file.bytes)
        if parsed.hasErrors { return (file, parsed.diagnostics, nil) }
        lock.lock()
        defer { lock.unlock() }
        do { try engine.load(parsed.script) } catch { return (file, error.diagnostics, error.message) }
        return nil
    }

    /// Statements the catalog keeps: what defines something, and the queries that run on.
    static func kept(_ kind: StatementKind) -> Bool {
        switch kind {
        case .createStream, .createStreamAs, .createView, .createFirehose, .createTable, .createSink, .createAlert, .insert: return true
        default: return false
        }
    }

    func execute(_ text: String) -> SQLAnswer {
        let file = SourceFile(name: "request", text: text)
        let parsed = Parser.parse(bytes: file.bytes)
        if parsed.hasErrors { return SQLAnswer(errors: parsed.diagnostics.map { SQLAnswer.error($0, in: file) }) }
        var answer = SQLAnswer()
        lock.lock()
        defer { lock.unlock() }
        for s in parsed.script.statements {
            let statementText = file.text(s.loc.span)
            var result: JSONObject = ["statement": .string(statementText)]
            switch s.kind {
            case .query:
                answer.errors.append(SQLAnswer.error(Diagnostic(id: "api.push-query", message: "a SELECT on its own is a push query, which /v1/sql does not stream",
                                                                span: s.loc.span, help: "INSERT INTO a sink or stream, or CREATE STREAM ... AS SELECT"), in: file))
                return answer
            case .describe(let name):
                guard let text = engine.describe(name.name) else {
                    answer.errors.append(SQLAnswer.error(Diagnostic(id: "bind.unknown-name", message: "no stream, table or view named '\(name.name)'", span: s.loc.span), in: file))
                    return answer
                }
                result["output"] = .string(text)
            case .set, .drop:
                answer.errors.append(SQLAnswer.error(Diagnostic(id: "plan.unsupported", message: "this statement is not supported by the server yet", span: s.loc.span), in: file))
                return answer
            default:
                let before = engine.output.count
                do {
                    try engine.load(Script(statements: [s]))
                } catch {
                    for d in error.diagnostics { answer.errors.append(SQLAnswer.error(d, in: file)) }
                    if let m = error.message { answer.errors.append(SQLAnswer.error(Diagnostic(id: "engine.error", message: m, span: s.loc.span), in: file)) }
                    return answer
                }
                let output = engine.output[before...].joined(separator: "\n")
                if !output.isEmpty { result["output"] = .string(output) }
                if Self.kept(s.kind) {
                    do {
                        try keep(statementText)
                    } catch {
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

    /// Adds a statement to the catalog: the whole file is written anew beside it, flushed to
    /// disk and renamed over it, so a crash leaves the old catalog or the new one.
    private func keep(_ statement: String) throws {
        var text = (FileManager.default.contents(atPath: catalogPath)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
        text += statement + ";\n"
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
        let dir = open((catalogPath as NSString).deletingLastPathComponent, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
    }
}
