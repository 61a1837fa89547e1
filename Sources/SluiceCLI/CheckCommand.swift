import Foundation
import SluiceCore
import SluiceSQL
import SluiceEngine
import SluiceServer
import SluiceStreams

/// `sluice check FILE.sql ...` and `sluice fmt FILE.sql`.
struct CheckCommand {
    let out: OutputStream
    let err: OutputStream

    static let checkUsage = """
        usage: sluice check [--syntax-only] [--data-dir DIR | --server URL] FILE.sql ...   ('-' reads standard input)
          Reports every diagnostic of each file, with its line and a caret: syntax, then what `sluice run
          --dry-run` checks (unknown streams and columns, types, what cannot run as a stream), against a
          scratch store: no data directory is opened. When a server holds the data directory (or with
          --server), the file is checked against the server's catalog instead, so it may use what the server
          defines; nothing runs there. --syntax-only runs the parser alone. Exits 0 when every file is
          clean, 1 when one has an error, 2 for a wrong command line.
        """
    static let fmtUsage = "usage: sluice fmt [--write] FILE.sql ... ('-' reads standard input; --write rewrites the files)"

    /// Reports every diagnostic of every file. Exits 0 when all are clean, 1 otherwise; a wrong
    /// command line is a usage error (2).
    func check(_ argv: ArraySlice<String>) throws -> Int32 {
        let a = try Arguments(argv, valued: ["data-dir", "server"], booleans: ["syntax-only"])
        let files = a.positionals
        if files.isEmpty { throw UsageError("no files to check\n" + CheckCommand.checkUsage) }
        let server = a.flag("syntax-only") ? nil : try SluiceMain.server(a)
        var errors = 0, statements = 0
        for path in files {
            guard let source = read(path) else {
                errors += 1
                continue
            }
            let r = Parser.parse(bytes: source.bytes)
            statements += r.script.statements.count
            for d in r.diagnostics {
                err.write(DiagnosticRenderer.render(d, in: source))
                if d.severity == .error { errors += 1 }
            }
            if r.hasErrors || a.flag("syntax-only") { continue }
            if let client = server {
                errors += try serverErrors(client, r.script, source)
            } else {
                errors += semanticErrors(r.script, source)
            }
        }
        if errors > 0 {
            err.line("\(errors) error\(errors == 1 ? "" : "s") in \(files.count) file\(files.count == 1 ? "" : "s")")
            return 1
        }
        out.line("ok: \(statements) statement\(statements == 1 ? "" : "s") in \(files.count) file\(files.count == 1 ? "" : "s")")
        return 0
    }

    /// What `run --dry-run` checks, against a scratch store removed at once: the number of errors
    /// reported.
    private func semanticErrors(_ script: Script, _ source: SourceFile) -> Int {
        do {
            _ = try planOnScratchStore(script, "check")
            return 0
        } catch let e as EngineError {
            for d in e.diagnostics { err.write(DiagnosticRenderer.render(d, in: source)) }
            if let m = e.message { err.line("\(source.name): error: \(m)") }
            return max(1, e.diagnostics.filter { $0.severity == .error }.count)
        } catch {
            err.line("\(source.name): error: \(error)")
            return 1
        }
    }

    /// The file checked by the server against its catalog (its statements at their places, so
    /// the diagnostics come back to the file's lines): the number of errors reported.
    private func serverErrors(_ client: APIClient, _ script: Script, _ source: SourceFile) throws -> Int {
        let (status, answer) = try client.sql(ServerPlaces.text(of: script.statements, in: source), check: true)
        let diagnostics = ServerPlaces.diagnostics(answer["errors"]?.arrayValue ?? [], source)
        for d in diagnostics { err.write(DiagnosticRenderer.render(d, in: source)) }
        let count = diagnostics.filter { $0.severity == .error }.count
        if status != 200 && count == 0 {
            err.line("\(source.name): error: the server at \(client.url) answered \(status)")
            return 1
        }
        return count
    }

    /// Prints each file in canonical form (or rewrites it with --write); a file with errors is
    /// left alone and its diagnostics reported.
    func fmt(_ argv: ArraySlice<String>) throws -> Int32 {
        let a = try Arguments(argv, valued: [], booleans: ["write"])
        if a.positionals.isEmpty { throw UsageError("no files to format\n" + CheckCommand.fmtUsage) }
        var status: Int32 = 0
        for path in a.positionals {
            guard let source = read(path) else {
                status = 1
                continue
            }
            switch Formatter.format(source.text) {
            case .failure(let f):
                for d in f.diagnostics { err.write(DiagnosticRenderer.render(d, in: source)) }
                status = 1
            case .success(let text):
                if a.flag("write") && path != "-" {
                    if text != source.text {
                        do {
                            try text.write(toFile: path, atomically: true, encoding: .utf8)
                        } catch {
                            err.line("error: cannot write \(path): \(error.localizedDescription)")
                            status = 1
                        }
                    }
                } else {
                    out.write(text)
                }
            }
        }
        return status
    }

    private func read(_ path: String) -> SourceFile? {
        if path == "-" {
            return SourceFile(name: "<stdin>", bytes: [UInt8](FileHandle.standardInput.readDataToEndOfFile()))
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
              let d = FileManager.default.contents(atPath: path)
        else {
            err.line("error: cannot read \(path)")
            return nil
        }
        return SourceFile(name: path, bytes: [UInt8](d))
    }
}
