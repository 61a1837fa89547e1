import Foundation
import SluiceCore
import SluiceEngine
import SluiceSQL
import SluiceStreams
import Synchronization

/// Set by SIGINT or SIGTERM: a running job stops at the next step.
let stopRequested = Atomic<Bool>(false)

/// `sluice run FILE.sql [--data-dir DIR] [--input STREAM=FILE ...] [--until-end]`
struct RunCommand {
    let out: OutputStream
    let err: OutputStream

    static let usage = """
        usage: sluice run FILE.sql [--data-dir DIR] [--input STREAM=FILE ...] [--until-end]
          Executes every statement of FILE.sql. --input loads a JSON-lines or CSV file into a declared stream
          through the normal put path first. With --until-end the run stops once every input is read and every
          window has closed; without it, it runs until SIGINT or SIGTERM, which stop it at a checkpoint (open
          windows kept). Each query takes a checkpoint every 10 s in DIR/queries/; running the same file again
          over the same data directory continues from there, and file sinks are cut back to what the checkpoint
          had written, so no row is written twice.
          With --input and neither --data-dir nor $SLUICE_DATA_DIR, the run is a replay in a scratch data
          directory removed at exit, so running it twice gives the same result; name a data directory to keep it.
        """

    /// A query file read and parsed, or nil after its syntax errors (or why it cannot be read) went to `err`.
    static func readQueryFile(_ path: String, _ err: OutputStream) -> (SourceFile, ParseResult)? {
        guard let data = FileManager.default.contents(atPath: path) else {
            err.line("error: cannot read \(path)")
            return nil
        }
        let file = SourceFile(name: path, bytes: [UInt8](data))
        let parsed = Parser.parse(bytes: file.bytes)
        if parsed.hasErrors {
            for d in parsed.diagnostics { err.write(DiagnosticRenderer.render(d, in: file)) }
            return nil
        }
        return (file, parsed)
    }

    func run(_ argv: ArraySlice<String>) throws -> Int32 {
        let a = try Arguments(argv, valued: ["data-dir", "input", "fsync"], booleans: ["until-end"])
        guard a.positionals.count == 1 else {
            throw UsageError(a.positionals.isEmpty ? "missing the query file\n" + RunCommand.usage : "one query file at a time")
        }
        guard let (file, parsed) = RunCommand.readQueryFile(a.positionals[0], err) else { return 1 }
        var inputs: [(String, String)] = []
        for spec in a.values("input") {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else { throw UsageError("--input takes STREAM=FILE, not '\(spec)'") }
            inputs.append((String(spec[..<eq]), String(spec[spec.index(after: eq)...])))
        }
        var scratch: String? = nil
        var storeArgs = a
        if !inputs.isEmpty && a.value("data-dir") == nil && (ProcessInfo.processInfo.environment["SLUICE_DATA_DIR"] ?? "").isEmpty {
            scratch = NSTemporaryDirectory() + "sluice-run-\(getpid())"
            storeArgs = try Arguments(["--data-dir", scratch!] + argv, valued: ["data-dir", "input", "fsync"], booleans: ["until-end"])
        }
        let store = try SluiceMain.openStore(storeArgs, warnings: err)
        defer {
            store.close()
            if let s = scratch { try? FileManager.default.removeItem(atPath: s) }
        }
        let engine = Engine(store: store)
        do {
            try engine.load(parsed.script)
        } catch {
            for d in error.diagnostics { err.write(DiagnosticRenderer.render(d, in: file)) }
            if let m = error.message { err.line("error: \(m)") }
            return 1
        }
        for text in engine.output { out.line(text) }
        out.flush()
        for q in engine.resumedQueries { err.line("\(q): resumed from its checkpoint") }
        do {
            for (stream, file) in inputs {
                let n = try engine.loadInput(stream: stream, path: file)
                err.line("loaded \(n) records from \(file) into \(stream)")
            }
            err.flush()
            if a.flag("until-end") {
                try engine.runUntilEnd()
            } else {
                signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
                signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
                while !stopRequested.load(ordering: .relaxed) {
                    if try !engine.step() { usleep(100_000) }
                }
                if scratch == nil {
                    // A long-running job: stop at a checkpoint, open windows kept; running the
                    // same file again over the same data directory continues where this stopped.
                    try engine.stop()
                    err.line("stopped at a checkpoint; run the same file over \(store.configuration.dataDirectory) to continue")
                } else {
                    try engine.finish()
                }
            }
        } catch {
            err.line("error: \(error)")
            return 1
        }
        for c in engine.counters {
            err.line("\(c.name): \(c.recordsIn) records in, \(c.rowsOut) rows out, \(c.bad) bad, \(c.late) late")
        }
        return 0
    }
}
