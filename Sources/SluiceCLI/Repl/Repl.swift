import Foundation
import Glibc
import SluiceCore
import SluiceEngine
import SluiceSQL
import SluiceStreams
import Synchronization

/// SIGINT while a push query runs from a script (stdin not a terminal): cancel that query.
let replInterrupt = Atomic<Bool>(false)

/// `sluice` (no arguments) or `sluice repl [--data-dir DIR]`: statements typed at a prompt run on
/// the data directory's store. On a terminal the line editor reads them (history in
/// ~/.sluice_history or $SLUICE_HISTORY); otherwise stdin is read as plain lines, so
/// `sluice < script.sql` works, and a push query there reads what its streams hold and ends.
struct ReplCommand {
    let out: OutputStream
    let err: OutputStream

    static let usage = """
        usage: sluice [repl] [--data-dir DIR] [--server URL]
          An interactive session: statements end with ';' (they may span lines). A SELECT is a push query
          that reads its streams from the start of their retention (SET start = 'LATEST' for new records
          only) and shows its rows as they come, until its LIMIT or Ctrl-C. Type .help for the meta commands.
          While `sluice serve` holds the data directory (or with --server URL), the session runs on the server:
          what it defines and starts stays there.
        """

    static let help = """
        Statements end with ';'. SELECT runs a push query (Ctrl-C stops it; LIMIT n ends it).
          CREATE STREAM / TABLE / SINK / ALERT / FIREHOSE, INSERT INTO, CREATE STREAM AS   declare and start
          SHOW STREAMS | TABLES | SINKS | QUERIES | ALERTS, DESCRIBE name, EXPLAIN [PHYSICAL] ...
          SET start = 'EARLIEST' | 'LATEST'        where a SELECT starts reading (default EARLIEST)
          SET result_mode = 'table' | 'changelog' | 'json'
          PRINT stream [FROM BEGINNING] [LIMIT n]  a stream's records as they arrive (from its start with FROM BEGINNING)
        Meta commands:
          .help                  this text
          .load FILE INTO STREAM [PACED [SPEED]]
                                 put a JSON-lines or CSV file into a declared stream, as fast as possible
                                 or at its recorded pace (event time, times SPEED); on a terminal it runs
                                 beside the prompt (.load alone shows how far it is, .load stop stops it),
                                 from a script it runs to its end (Ctrl-C stops it)
          .sample STREAM [N]     the last N records of a stream (default 5), decoded
          .infer FILE            propose a CREATE STREAM for a JSON-lines or CSV file
          .explain SELECT ...    the logical and physical plans of a query
          .timer on|off          print how long each statement took
          .quit                  leave (Ctrl-D too)
        """

    func run(_ argv: ArraySlice<String>) throws -> Int32 {
        let a = try Arguments(argv, valued: ["data-dir", "fsync", "server"], booleans: [])
        if let p = a.positionals.first { throw UsageError("unexpected argument '\(p)'\n" + ReplCommand.usage) }
        if let server = try SluiceMain.server(a) {
            // A server holds the data directory: the session is its client.
            if isatty(0) == 1 { out.line("connected to the server at \(server.url)") }
            return ReplSession(backend: RemoteReplBackend(client: server), out: out, err: err, terminal: isatty(0) == 1).run()
        }
        let store = try SluiceMain.openStore(a, warnings: err)
        defer { store.close() }
        let session = ReplSession(backend: LocalReplBackend(engine: Engine(store: store)), out: out, err: err, terminal: isatty(0) == 1)
        return session.run()
    }
}

final class ReplSession {
    let backend: any ReplBackend
    let out: OutputStream
    let err: OutputStream
    let terminal: Bool
    var startLatest = false
    var mode = ResultView.Mode.table
    var timer = false
    private var editor: LineEditor?
    private var failures = 0
    /// `.load`s running beside the prompt (a terminal session on its own engine).
    private var loads: [InputLoader] = []

    init(backend: any ReplBackend, out: OutputStream, err: OutputStream, terminal: Bool) {
        self.backend = backend
        self.out = out
        self.err = err
        self.terminal = terminal
    }

    static var historyPath: String {
        if let h = ProcessInfo.processInfo.environment["SLUICE_HISTORY"], !h.isEmpty { return h }
        return (ProcessInfo.processInfo.environment["HOME"] ?? ".") + "/.sluice_history"
    }

    func run() -> Int32 {
        // On a terminal, raw mode for the whole session: keys typed while a statement runs wait in
        // the input (Ctrl-C among them is read as a key, never a signal).
        let raw = terminal ? RawMode(fd: 0) : nil
        raw?.enable()
        defer { raw?.disable() }
        if terminal {
            let e = LineEditor(historyPath: ReplSession.historyPath, raw: raw)
            e.completer = { [unowned self] word in complete(word) }
            // Queries started with INSERT INTO keep running while the prompt waits.
            e.idle = { [unowned self] in
                backend.idle()
                // A load that ended while the prompt waited says so above the line being typed.
                if loads.contains(where: \.finished) { editor?.printAbove(endedLoads()) }
            }
            editor = e
            out.line("sluice \(SluiceMain.version): streaming SQL. Statements end with ';'. .help for help, Ctrl-D to leave.")
            out.flush()
        }
        // Ctrl-C never ends the session: it stops the running query or load (the line editor reads
        // it as a key; in cooked mode it arrives as SIGINT).
        signal(SIGINT) { _ in replInterrupt.store(true, ordering: .relaxed) }
        var text = ""
        while true {
            reportLoads()
            let prompt = text.isEmpty ? "sluice> " : "   ...> "
            let got: LineEditor.Outcome
            if let e = editor {
                got = e.read(prompt: prompt)
            } else {
                out.flush()
                got = readLine(strippingNewline: true).map { .line($0) } ?? .eof
            }
            switch got {
            case .eof:
                if !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { execute(text) }
                endLoads()
                backend.close()
                out.flush()
                return failures > 0 && !terminal ? 1 : 0
            case .interrupted:
                text = ""
                continue
            case .line(let line):
                if text.isEmpty && line.trimmingCharacters(in: .whitespaces).hasPrefix(".") {
                    editor?.remember(line)
                    if !meta(line.trimmingCharacters(in: .whitespaces)) {
                        endLoads()
                        backend.close()
                        out.flush()
                        return 0
                    }
                    continue
                }
                text += (text.isEmpty ? "" : "\n") + line
                if StatementText.isComplete(text) {
                    editor?.remember(text)
                    execute(text)
                    text = ""
                }
            }
        }
    }

    // MARK: - Statements

    /// Runs statements. `shown`: what the user typed, when `text` was made from it with the same
    /// length up to each position (a meta command): diagnostics are drawn against it.
    func execute(_ text: String, shown: String? = nil) {
        let started = Date()
        defer {
            if timer { out.line(String(format: "(%.3f s)", Date().timeIntervalSince(started))) }
            out.flush()
        }
        let parsedFile = SourceFile(name: "<input>", bytes: Array(text.utf8))
        let file = shown.map { SourceFile(name: "<input>", bytes: Array($0.utf8)) } ?? parsedFile
        let parsed = Parser.parse(bytes: parsedFile.bytes)
        if parsed.hasErrors {
            failures += 1
            for d in parsed.diagnostics { err.write(DiagnosticRenderer.render(d, in: file)) }
            err.flush()
            return
        }
        for statement in parsed.script.statements {
            switch statement.kind {
            case .query(let q):
                push(q, statement, file)
            case .print(let p):
                // PRINT s [FROM BEGINNING] [LIMIT n]: SELECT * FROM s [LIMIT n], from the latest
                // record unless FROM BEGINNING.
                guard backend.describe(p.name.name)?.hasPrefix("stream ") == true else {
                    report(EngineError(diagnostics: [Diagnostic(id: "bind.unknown-stream", message: "no stream named '\(p.name.name)'", span: p.name.loc.span,
                                                                help: closest(p.name.name, in: backend.completionNames).map { "did you mean '\($0)'?" })]), file)
                    break
                }
                let text = "SELECT * FROM \(Printer.name(p.name))" + (p.limit.map { " LIMIT \($0)" } ?? "") + ";"
                guard case .query(let q)? = Parser.parse(text).script.statements.first?.kind else { break }
                push(q, statement, file, from: p.fromBeginning ? .earliest : .latest)
            case .set(let s):
                set(s.name.name.lowercased(), Engine.optionText(s.value) ?? "")
            case .describe(let name):
                if let d = backend.describe(name.name) { out.line(d) } else {
                    failures += 1
                    err.line("error: no stream or table named '\(name.name)'")
                }
            default:
                do {
                    for line in try backend.load(statement, file) { out.line(line) }
                    if case .createStream = statement.kind { out.line("OK") }
                    if case .createTable = statement.kind { out.line("OK") }
                    if case .createSink = statement.kind { out.line("OK") }
                    if case .insert = statement.kind { out.line("started") }
                    if case .createAlert = statement.kind { out.line("started") }
                    if case .createStreamAs = statement.kind { out.line("started") }
                } catch {
                    report(error, file)
                }
            }
        }
        // What a statement said (an error of SET or DESCRIBE too) shows now, not after the next one.
        out.flush()
        err.flush()
    }

    private func report(_ error: EngineError, _ file: SourceFile) {
        failures += 1
        for d in error.diagnostics { err.write(DiagnosticRenderer.render(d, in: file)) }
        if let m = error.message { err.line("error: \(m)") }
        err.flush()
    }

    private func set(_ name: String, _ value: String) {
        switch (name, value.lowercased()) {
        case ("start", "latest"): startLatest = true
        case ("start", "earliest"), ("start", "trim_horizon"): startLatest = false
        case ("result_mode", let v):
            guard let m = ResultView.Mode(rawValue: v) else {
                failures += 1
                err.line("error: result_mode is 'table', 'changelog' or 'json', not '\(value)'")
                return
            }
            mode = m
        case ("start", _):
            failures += 1
            err.line("error: start is 'EARLIEST' or 'LATEST', not '\(value)'")
            return
        default:
            failures += 1
            let hint = closest(name, in: ["start", "result_mode"]).map { " (did you mean '\($0)'?)" } ?? ""
            err.line("error: unknown setting '\(name)'\(hint)")
            return
        }
        out.line("\(name) = '\(value)'")
    }

    /// Runs a SELECT until its LIMIT, Ctrl-C, or (from a script) the end of what its streams hold.
    private func push(_ q: Query, _ statement: Statement, _ file: SourceFile, from start: ReadStart? = nil) {
        var view: ResultView? = nil
        let query: any ReplPush
        do {
            query = try backend.startPush(q, statement, file, from: start ?? (startLatest ? .latest : .earliest), untilEnd: !terminal) { rows in view?.add(rows) }
        } catch {
            report(error, file)
            return
        }
        view = ResultView(columns: query.columns, mode: mode, changes: query.emitsChanges, terminal: terminal, out: out)
        defer { query.stop() }
        let started = Date()
        var lastStatus = Date.distantPast
        var lastRecords: Int64 = 0
        replInterrupt.store(false, ordering: .relaxed)
        var cancelled = false
        do {
            while !query.done {
                let busy = try query.step()
                if cancelRequested() {
                    cancelled = true
                    break
                }
                if !busy {
                    if !terminal && !query.endsByItself {
                        // A script's SELECT: what the streams hold has been read; end the input.
                        try query.finish()
                        break
                    }
                    usleep(terminal ? 50_000 : 10_000)
                }
                if terminal, Date().timeIntervalSince(lastStatus) >= 0.5, let c = query.counters {
                    let dt = max(0.001, Date().timeIntervalSince(lastStatus == .distantPast ? started : lastStatus))
                    let rate = Double(c.recordsIn - lastRecords) / dt
                    lastRecords = c.recordsIn
                    lastStatus = Date()
                    // Event time: how far the watermark is behind the newest record read (replayed
                    // data has no meaningful lag behind the wall clock).
                    var mark = "watermark -"
                    if let w = query.watermark, w > Int64.min / 2, w < Int64.max / 2 {
                        mark = "watermark \(TimeFormat.iso8601(w))"
                        if let t = query.newestEventTime { mark += " (\(TimeFormat.human(millis: t - w)) behind the newest event)" }
                    }
                    err.write("\r\u{1b}[K\(Int(rate)) records/s | \(c.recordsIn) read | \(mark) | late \(c.late) | bad \(c.bad) | Ctrl-C stops")
                    err.flush()
                }
            }
        } catch {
            if terminal { err.write("\r\u{1b}[K") }
            report(error, file)
            return
        }
        if terminal { err.write("\r\u{1b}[K") }
        err.flush()
        // The rows the user saw: a table updated in place counts its rows, not its updates.
        let n = view?.shownRows ?? 0
        out.line("(\(n) \(n == 1 ? "row" : "rows")\(cancelled ? ", stopped" : ""))")
    }

    /// Ctrl-C: a 0x03 byte on a terminal in raw mode, SIGINT otherwise.
    private func cancelRequested() -> Bool {
        if replInterrupt.exchange(false, ordering: .relaxed) { return true }
        guard terminal else { return false }
        var p = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        var typed: [UInt8] = []
        defer { if !typed.isEmpty { editor?.pushBack(typed) } }
        while poll(&p, 1, 0) > 0 {
            var b: UInt8 = 0
            guard Glibc.read(0, &b, 1) == 1 else { return false }
            if b == 3 { return true }
            typed.append(b)  // typed ahead: the next line begins with it
        }
        return false
    }

    // MARK: - Meta commands

    /// Runs a meta command; false for .quit.
    private func meta(_ line: String) -> Bool {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        switch words[0].lowercased() {
        case ".quit", ".exit", ".q":
            return false
        case ".help":
            out.line(ReplCommand.help)
        case ".timer":
            guard words.count == 2, ["on", "off"].contains(words[1].lowercased()) else {
                err.line("usage: .timer on|off")
                break
            }
            timer = words[1].lowercased() == "on"
        case ".explain":
            // `.explain q` is read as `EXPLAIN  q` (as long as what was typed, so that an error
            // points into the line as typed), once; the physical plan follows only when it planned.
            let query = String(line.dropFirst(".explain".count))
            let typed = line + (line.hasSuffix(";") ? "" : ";")
            let before = failures
            execute("EXPLAIN " + query + (line.hasSuffix(";") ? "" : ";"), shown: typed)
            if failures == before { execute("EXPLAIN PHYSICAL" + query + (line.hasSuffix(";") ? "" : ";")) }
        case ".load" where words.count == 1:
            // How far the loads beside the prompt are.
            reportLoads()
            if loads.isEmpty { out.line("no loads running") }
            for l in loads { out.line("loading \(l.path) into \(l.stream): \(l.put) records put" + (l.pace.map { " (paced, \($0)x)" } ?? "")) }
        case ".load" where words.count == 2 && words[1].lowercased() == "stop":
            if loads.isEmpty { out.line("no loads running") }
            for l in loads { l.stop() }
            endLoads()
        case ".load":
            let paced = words.count >= 5 && words[4].uppercased() == "PACED"
            let speed = paced && words.count == 6 ? Double(words[5].lowercased().replacingOccurrences(of: "x", with: "")) : paced ? 1 : nil
            guard (words.count == 4 || paced) && words.count <= 6, words[2].uppercased() == "INTO", !paced || (speed ?? 0) > 0 else {
                err.line("usage: .load FILE INTO STREAM [PACED [SPEED]]")
                break
            }
            guard backend.describe(words[3])?.hasPrefix("stream ") == true else {
                failures += 1
                err.line("error: no stream named '\(words[3])'; declare it with CREATE STREAM first")
                break
            }
            if terminal {
                // On a terminal the load runs beside the prompt, so queries can watch it arrive.
                do {
                    if let l = try backend.startLoad(stream: words[3], path: words[1], pace: speed) {
                        loads.append(l)
                        out.line("loading \(words[1]) into \(words[3]) in the background (.load shows how far it is, .load stop stops it)")
                        break
                    }
                } catch {
                    failures += 1
                    err.line("error: \(error)")
                    break
                }
            }
            replInterrupt.store(false, ordering: .relaxed)
            var interrupted = false
            do {
                let n = try backend.loadInput(stream: words[3], path: words[1], pace: speed) {
                    if cancelRequested() { interrupted = true }
                    return interrupted
                }
                out.line("loaded \(n) records from \(words[1]) into \(words[3])" + (interrupted ? " (stopped)" : ""))
            } catch {
                failures += 1
                err.line("error: \(error)")
            }
        case ".sample":
            guard words.count == 2 || words.count == 3, let n = words.count == 3 ? Int(words[2]) : 5, n > 0 else {
                err.line("usage: .sample STREAM [N]")
                break
            }
            sample(words[1], n)
        case ".infer":
            guard words.count == 2 else {
                err.line("usage: .infer FILE")
                break
            }
            do { out.line(try StreamInference.propose(path: words[1])) } catch {
                failures += 1
                err.line("error: \(error)")
            }
        default:
            let hint = closest(words[0], in: [".help", ".load", ".sample", ".infer", ".explain", ".timer", ".quit"]).map { " (did you mean '\($0)'?)" } ?? ""
            err.line("error: unknown command '\(words[0])'\(hint); .help lists them")
        }
        out.flush()
        err.flush()
        return true
    }

    /// The background loads that have ended, handed back to the engine: a line each.
    private func endedLoads() -> [String] {
        let ended = loads.filter(\.finished)
        loads.removeAll { $0.finished }
        return ended.map { l in
            backend.finishLoad(l)
            if let f = l.failure {
                failures += 1
                return "error: loading \(l.path) into \(l.stream) stopped after \(l.put) records: \(f)"
            }
            return "loaded \(l.put) records from \(l.path) into \(l.stream)" + (l.stopRequested ? " (stopped)" : "")
        }
    }

    /// Says which background loads have ended.
    private func reportLoads() {
        for line in endedLoads() { (line.hasPrefix("error:") ? err : out).line(line) }
        out.flush()
        err.flush()
    }

    /// The session ends (or `.load stop`): running loads stop at their next record.
    private func endLoads() {
        for l in loads { l.stop() }
        while loads.contains(where: { !$0.finished }) { usleep(10_000) }
        reportLoads()
    }

    /// The last `n` records of a stream, decoded into its declared columns.
    private func sample(_ stream: String, _ n: Int) {
        guard backend.describe(stream)?.hasPrefix("stream ") == true else {
            failures += 1
            err.line("error: no stream named '\(stream)'" + (closest(stream, in: backend.completionNames).map { " (did you mean '\($0)'?)" } ?? ""))
            return
        }
        let text = "SELECT * FROM \(Printer.name(Identifier(stream, quoted: true)));"
        let parsed = Parser.parse(text)
        guard let statement = parsed.script.statements.first, case .query(let q) = statement.kind else { return }
        var kept: [[Value]] = []
        do {
            // Each shard's last n records: the last n of the stream are among them.
            let query = try backend.startPush(q, statement, SourceFile(name: "<input>", text: text), from: .last(n), untilEnd: true) { rows in
                kept += rows
                if kept.count > n { kept.removeFirst(kept.count - n) }
            }
            defer { query.stop() }
            if query.endsByItself {
                while !query.done { if try !query.step() { usleep(10_000) } }
            } else {
                while try query.step() {}
            }
            let view = ResultView(columns: query.columns, mode: mode == .json ? .json : .table, changes: false, terminal: false, out: out)
            view.add(kept)
            // Records that do not decode are not among the rows: say so, or a stream whose last
            // records are bad seems to end before them.
            var bad = ""
            if let c = query.counters, c.bad > 0 {
                bad = "; \(c.bad) of the \(c.recordsIn) records read do not decode as its columns"
                    + (c.topReasons(1).first.map { ", such as: \($0.reason)" } ?? "")
            }
            out.line("(\(kept.count) of the last records of \(stream)\(bad))")
        } catch {
            report(error, SourceFile(name: "<input>", bytes: Array(".sample \(stream)".utf8)))
        }
    }

    // MARK: - Completion

    func complete(_ word: String) -> [String] {
        let lower = word.lowercased()
        var out: [String] = []
        for k in Keyword.allCases where k.rawValue.lowercased().hasPrefix(lower) { out.append(k.rawValue) }
        for n in backend.completionNames where n.lowercased().hasPrefix(lower) { out.append(n) }
        if word.hasPrefix(".") {
            for m in [".help", ".load", ".sample", ".infer", ".explain", ".timer", ".quit"] where m.hasPrefix(lower) { out.append(m) }
        }
        return Array(Set(out)).sorted()
    }
}
