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
            let (status, answer) = try client.sql(ServerPlaces.text(of: group, in: file))
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
            // A SELECT on its own (or a PRINT) is a push query of its own request.
            var pushes = false
            if case .query = s.kind { pushes = true }
            if case .print = s.kind { pushes = true }
            guard pushes else {
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

    /// A push query: its rows as they come, until it ends (or is stopped: SIGINT/SIGTERM close
    /// the connection, which cancels it on the server). False after an error.
    func push(_ s: Statement, _ file: SourceFile, untilEnd: Bool) throws -> Bool {
        var failed = false
        var refusal: JSONValue? = nil
        let status = try client.streamLines("/v1/sql", json: ["sql": .string(ServerPlaces.text(of: [s], in: file)), "until_end": .bool(untilEnd), "rows": "objects"]) { line in
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
        for d in ServerPlaces.diagnostics(errors, file) {
            if d.span != nil { err.write(DiagnosticRenderer.render(d, in: file)) } else { err.line("error: \(d.message)") }
        }
        err.flush()
    }
}
