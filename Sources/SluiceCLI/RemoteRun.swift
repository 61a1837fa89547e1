import Foundation
import SluiceCore
import SluiceServer
import SluiceSQL

/// `sluice run FILE.sql` while a server holds the data directory (or with `--server URL`): the
/// file's statements go to the server's SQL API in order, where its definitions join the
/// server's catalog and its persistent queries run on; each SELECT on its own is a push query
/// whose rows print as the run prints them without a server (a JSON object per row). With
/// `--until-end` a SELECT ends once it has read what its streams hold; without it, it runs until
/// SIGINT or SIGTERM. Refusals print against the file, with its lines and carets.
struct RemoteRun {
    let client: APIClient
    let out: OutputStream
    let err: OutputStream

    func run(_ file: SourceFile, _ script: Script, untilEnd: Bool) throws -> Int32 {
        var group: [Statement] = []
        var kept = 0, queries = 0
        func submit() throws -> Bool {
            guard !group.isEmpty else { return true }
            defer { group.removeAll() }
            let (status, answer) = try client.sql(text(of: group, in: file))
            for r in answer["results"]?.arrayValue ?? [] {
                if let o = r["output"]?.stringValue { out.line(o) }
                if r["kept"] == .bool(true) { kept += 1 }
            }
            out.flush()
            guard status == 200 else {
                report(answer["errors"]?.arrayValue ?? [], file)
                return false
            }
            return true
        }
        for s in script.statements {
            guard case .query = s.kind else {
                group.append(s)
                continue
            }
            guard try submit() else { return 1 }
            queries += 1
            guard try push(s, file, untilEnd: untilEnd) else { return 1 }
        }
        guard try submit() else { return 1 }
        err.line("submitted to the server at \(client.url): \(kept) \(kept == 1 ? "statement" : "statements") kept in its catalog"
                 + (queries > 0 ? ", \(queries) \(queries == 1 ? "SELECT" : "SELECTs") run" : "") + "; its queries run there (SHOW QUERIES)")
        return 0
    }

    /// The statements' text at their places in the file, everything else blanked (line breaks
    /// kept): the server's lines and columns are the file's.
    func text(of statements: [Statement], in file: SourceFile) -> String {
        var bytes = file.bytes.map { $0 == 10 ? UInt8(10) : UInt8(32) }
        for s in statements {
            let r = max(0, s.loc.span.start)..<min(file.bytes.count, s.loc.span.end)
            bytes.replaceSubrange(r, with: file.bytes[r])
            // And the semicolon that ends it, where the file has one.
            var j = r.upperBound
            while j < file.bytes.count, [32, 9, 10, 13].contains(file.bytes[j]) { j += 1 }
            if j < file.bytes.count && file.bytes[j] == 59 { bytes[j] = 59 }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A push query: its rows as they come, until it ends (or is stopped: SIGINT/SIGTERM close
    /// the connection, which cancels it on the server). False after an error.
    func push(_ s: Statement, _ file: SourceFile, untilEnd: Bool) throws -> Bool {
        var failed = false
        var refusal: JSONValue? = nil
        let status = try client.streamLines("/v1/sql", json: ["sql": .string(text(of: [s], in: file)), "until_end": .bool(untilEnd), "rows": "objects"]) { line in
            if stopRequested.load(ordering: .relaxed) { return false }
            if line.hasPrefix(#"{"row":"#) && line.hasSuffix("}") {
                out.line(String(line.dropFirst(7).dropLast()))
                out.flush()
            } else if line.hasPrefix(#"{"end":"#), let j = try? JSONValue.parse(bytes: Array(line.utf8)) {
                if j["end"]?.stringValue == "error" {
                    err.line("error: \(j["message"]?.stringValue ?? "the query failed")")
                    failed = true
                }
                return false
            } else if line.hasPrefix(#"{"results""#) {
                refusal = try? JSONValue.parse(bytes: Array(line.utf8))
            }
            return true
        }
        if status != 200 {
            report(refusal?["errors"]?.arrayValue ?? [], file)
            return false
        }
        return !failed
    }

    /// The server's diagnostics, drawn against the file.
    func report(_ errors: [JSONValue], _ file: SourceFile) {
        for e in errors {
            var span: SourceSpan? = nil
            if let l = e["line"]?.int64Value, let c = e["column"]?.int64Value {
                let start = offset(file, line: Int(l), column: Int(c))
                let end = e["end_line"]?.int64Value.flatMap { el in e["end_column"]?.int64Value.map { offset(file, line: Int(el), column: Int($0)) } } ?? start
                span = SourceSpan(start: start, end: max(start, end))
            }
            let d = Diagnostic(id: e["id"]?.stringValue ?? "api.error", message: e["message"]?.stringValue ?? "refused", span: span,
                               help: e["help"]?.stringValue)
            if span != nil { err.write(DiagnosticRenderer.render(d, in: file)) } else { err.line("error: \(d.message)") }
        }
        err.flush()
    }

    /// The byte offset of a 1-based line and column (columns count characters).
    func offset(_ file: SourceFile, line: Int, column: Int) -> Int {
        var start = 0, l = 1
        while l < line, let nl = file.bytes[start...].firstIndex(of: 10) {
            start = nl + 1
            l += 1
        }
        let text = file.line(line)
        let prefix = text.prefix(max(0, column - 1))
        return start + prefix.utf8.count
    }
}
