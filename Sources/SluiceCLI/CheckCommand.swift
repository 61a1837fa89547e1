import Foundation
import SluiceCore
import SluiceSQL

/// `sluice check FILE.sql ...` and `sluice fmt FILE.sql`.
struct CheckCommand {
    let out: OutputStream
    let err: OutputStream

    static let checkUsage = "usage: sluice check FILE.sql ... ('-' reads standard input)"
    static let fmtUsage = "usage: sluice fmt [--write] FILE.sql ... ('-' reads standard input; --write rewrites the files)"

    /// Reports every diagnostic of every file. Exits 0 when all are clean, 1 otherwise (whatever
    /// the input, a bad command line included).
    func check(_ argv: ArraySlice<String>) -> Int32 {
        let files: [String]
        do {
            let a = try Arguments(argv, valued: [])
            files = a.positionals
        } catch {
            err.line("error: \(error.message)\n\(CheckCommand.checkUsage)")
            return 1
        }
        if files.isEmpty {
            err.line("error: no files to check\n\(CheckCommand.checkUsage)")
            return 1
        }
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
        }
        if errors > 0 {
            err.line("\(errors) error\(errors == 1 ? "" : "s") in \(files.count) file\(files.count == 1 ? "" : "s")")
            return 1
        }
        out.line("ok: \(statements) statement\(statements == 1 ? "" : "s") in \(files.count) file\(files.count == 1 ? "" : "s")")
        return 0
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
