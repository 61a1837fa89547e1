import Foundation
import Glibc
import Testing

/// The real `sluice` binary on a pseudo-terminal: what a user types (keys, control characters,
/// escape sequences) goes in, the screen's bytes come out.
final class PTYSession {
    let master: Int32
    let process = Process()
    private(set) var screen = ""

    init(_ args: [String], cwd: String, environment: [String: String]) throws {
        // posix_openpt and friends are not in Swift's Glibc module: /dev/ptmx, then the ioctls
        // they are made of (TIOCSPTLCK to unlock, TIOCGPTN for the slave's number).
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0, number: UInt32 = 0
        guard master >= 0, ioctl(master, UInt(0x4004_5431), &unlock) == 0, ioctl(master, UInt(0x8004_5430), &number) == 0 else {
            throw POSIXError(.ENODEV)
        }
        let name = "/dev/pts/\(number)"
        var size = winsize(ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)
        guard let slave = FileHandle(forUpdatingAtPath: name) else { throw POSIXError(.ENODEV) }
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = args
        process.currentDirectoryURL = URL(fileURLWithPath: cwd)
        var env = ProcessInfo.processInfo.environment
        env["SLUICE_DATA_DIR"] = nil
        env["TERM"] = "xterm"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardInput = slave
        process.standardOutput = slave
        process.standardError = slave
        try process.run()
        try slave.close()
    }

    deinit {
        if process.isRunning { process.terminate() }
        close(master)
    }

    func type(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
    }

    /// Reads the screen until `text` shows up after `from` (an offset into the screen), or the
    /// time runs out; returns whether it did.
    @discardableResult
    func wait(for text: String, after from: Int = 0, seconds: Double = 15) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if String(screen.dropFirst(from)).contains(text) { return true }
            var p = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) > 0 {
                var buf = [UInt8](repeating: 0, count: 4096)
                let n = read(master, &buf, buf.count)
                if n > 0 { screen += String(decoding: buf[0..<n], as: UTF8.self) } else if n < 0 && errno != EINTR && errno != EAGAIN { break }
            }
        }
        return String(screen.dropFirst(from)).contains(text)
    }

    var mark: Int { screen.count }

    /// Waits for the process to exit (reading the screen meanwhile); false (and the process
    /// terminated) if it is still running after `seconds`.
    func exited(seconds: Double = 15) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { _ = wait(for: "\u{0}", seconds: 0.1) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            return false
        }
        process.waitUntilExit()
        return true
    }
}

@Suite("REPL")
struct ReplTests {
    static func workdir() throws -> TempDir {
        let dir = TempDir()
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/samples", withDestinationPath: SamplesTests.root.appendingPathComponent("samples").path)
        return dir
    }

    static let ddl = "CREATE STREAM payments (type VARCHAR, merchant VARCHAR, status VARCHAR, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH (shards = 2, partition_key = 'merchant', format = 'json');"

    /// Typing on a terminal: a multi-line statement, completion, history across runs (Up, Ctrl-R),
    /// Ctrl-C stopping a push query and not the REPL, line editing, Ctrl-D to leave.
    /// On a terminal `.load` runs beside the prompt: a paced load goes on while a query reads
    /// what it has put, `.load` tells how far it is, `.load stop` stops it.
    @Test func aPacedLoadRunsBesideThePrompt() throws {
        let dir = try Self.workdir()
        let s = try PTYSession(["repl", "--data-dir", dir.path + "/data"], cwd: dir.path, environment: ["SLUICE_HISTORY": dir.path + "/history", "HOME": dir.path])
        #expect(s.wait(for: "sluice> "), "\(s.screen)")
        var m = s.mark
        s.type(Self.ddl + "\r")
        #expect(s.wait(for: "OK", after: m), "\(s.screen)")
        m = s.mark
        // 15 minutes of payments at 10x: a minute and a half, of which the test sees the start.
        s.type(".load samples/payments.jsonl INTO payments PACED 10\r")
        #expect(s.wait(for: "in the background (.load shows how far it is, .load stop stops it)", after: m), "\(s.screen.suffix(300))")
        m = s.mark
        s.type("SELECT merchant FROM payments LIMIT 3;\r")
        #expect(s.wait(for: "(3 rows)", after: m), "\(s.screen.suffix(400))")
        m = s.mark
        s.type(".load\r")
        #expect(s.wait(for: "loading samples/payments.jsonl into payments: ", after: m) && s.wait(for: "records put (paced, 10.0x)", after: m), "\(s.screen.suffix(300))")
        m = s.mark
        s.type(".load stop\r")
        #expect(s.wait(for: "into payments (stopped)", after: m), "\(s.screen.suffix(300))")
        s.type("\u{4}")
        #expect(s.exited(), "\(s.screen.suffix(300))")
    }

    @Test func aSessionOnAPseudoTerminal() throws {
        let dir = try Self.workdir()
        let env = ["SLUICE_HISTORY": dir.path + "/history", "HOME": dir.path]
        let s = try PTYSession(["repl", "--data-dir", dir.path + "/data"], cwd: dir.path, environment: env)
        #expect(s.wait(for: "sluice> "), "\(s.screen)")
        // A statement over three lines: the continuation prompt, then OK.
        var m = s.mark
        s.type("CREATE STREAM payments (type VARCHAR, merchant VARCHAR, status VARCHAR,\r")
        #expect(s.wait(for: "...> ", after: m))
        s.type("  amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)\r")
        s.type("  WITH (shards = 2, partition_key = 'merchant', format = 'json');\r")
        #expect(s.wait(for: "OK", after: m), "\(s.screen)")
        m = s.mark
        s.type(".load samples/payments.jsonl INTO payments\r")
        #expect(s.wait(for: "loaded 5389 records", after: m))
        // Completion: "paym" + Tab becomes "payments " (the only candidate); "SEL" + Tab is SELECT.
        m = s.mark
        s.type("SEL\tmerchant FROM paym\t")
        #expect(s.wait(for: "SELECT merchant FROM payments ", after: m), "\(s.screen.suffix(300))")
        // Line editing: Ctrl-A and a word typed at the start; Ctrl-E; then a push query that runs
        // until Ctrl-C (no LIMIT, it waits for more records after reading the 5,389).
        s.type("\u{15}")  // Ctrl-U: clear the line
        m = s.mark
        s.type("merchant FROM payments WHERE amount > 990;\u{1}SELECT \u{5}\r")
        #expect(s.wait(for: "merchant", after: m))
        #expect(s.wait(for: "records/s", after: m), "the status line shows: \(s.screen.suffix(400))")
        s.type("\u{3}")
        #expect(s.wait(for: "rows, stopped)", after: m), "\(s.screen.suffix(400))")
        #expect(s.wait(for: "sluice> ", after: m))
        // The REPL is still there: a SELECT with LIMIT ends by itself.
        m = s.mark
        s.type("SELECT merchant, amount FROM payments WHERE amount > 900 LIMIT 2;\r")
        #expect(s.wait(for: "(2 rows)", after: m), "\(s.screen.suffix(400))")
        s.type("\u{4}")
        #expect(s.exited(), "Ctrl-D ends the session: \(s.screen.suffix(300))")
        #expect(s.process.terminationStatus == 0)
        let history = try String(contentsOfFile: dir.path + "/history", encoding: .utf8)
        #expect(history.contains("LIMIT 2;") && history.contains("\\n  amount DOUBLE"), "\(history)")

        // A second run: Up brings back the last statement; Ctrl-R finds an older one.
        let t = try PTYSession(["repl", "--data-dir", dir.path + "/data"], cwd: dir.path, environment: env)
        #expect(t.wait(for: "sluice> "))
        m = t.mark
        t.type("\u{1b}[A")
        #expect(t.wait(for: "LIMIT 2;", after: m), "\(t.screen.suffix(300))")
        t.type("\u{15}\u{12}.load")
        #expect(t.wait(for: "(reverse-i-search)`.load': .load samples/payments.jsonl INTO payments", after: m), "\(t.screen.suffix(300))")
        t.type("\u{7}\u{15}.quit\r")
        #expect(t.exited(), ".quit ends the session")
        #expect(t.process.terminationStatus == 0)
    }

    /// Without a terminal the REPL reads plain lines: `sluice < script.sql`. Its output is pinned
    /// in Snapshots/repl/session.out (RECORD_SNAPSHOTS=1 rewrites it); errors go to stderr with
    /// carets and make the exit status 1.
    /// PRINT: a stream's records (FROM BEGINNING: from its oldest), with a LIMIT; an unknown
    /// stream is pointed at.
    @Test func printShowsAStreamsRecords() throws {
        let dir = try Self.workdir()
        let r = try CLI.run(["--data-dir", dir.path + "/data"], stdin: Self.ddl + "\n.load samples/payments.jsonl INTO payments\nPRINT payments FROM BEGINNING LIMIT 2;\nPRINT paymnts;\n", cwd: dir.path)
        #expect(r.status == 1)
        #expect(r.stdout.contains("type") && r.stdout.contains("merchant") && r.stdout.contains("(2 rows)"), "\(r.stdout)")
        #expect(r.stderr.contains("<input>:1:7: error[bind.unknown-stream]: no stream named 'paymnts'") && r.stderr.contains("did you mean 'payments'?"), "\(r.stderr)")
        let file = dir.path + "/print.sql"
        try (Self.ddl + "\nPRINT payments;\n").write(toFile: file, atomically: true, encoding: .utf8)
        let run = try CLI.run(["run", file, "--data-dir", dir.path + "/data2"])
        #expect(run.status == 1 && run.stderr.contains("error[plan.unsupported]: PRINT tails a stream as records arrive"), "\(run.stderr)")
    }

    /// `.sample` shows the last records that decode, and says how many of those it read do not
    /// (records at the end of a stream that do not decode made it seem to end before them).
    @Test func sampleSaysWhatDoesNotDecode() throws {
        let dir = try Self.workdir()
        try "{\"type\":\"a\"}\nnot json at all\n{\"type\":\"b\"}\n\u{1}\u{2}binary\n".write(toFile: dir.path + "/mixed.jsonl", atomically: true, encoding: .utf8)
        let r = try CLI.run(["--data-dir", dir.path + "/data"], stdin: Self.ddl + "\n.load mixed.jsonl INTO payments\n.sample payments 5\n", cwd: dir.path)
        #expect(r.stdout.contains("(2 of the last records of payments; 2 of the 4 records read do not decode as its columns, such as: "), "\(r.stdout)")
    }

    @Test func aScriptOnStandardInput() throws {
        let dir = try Self.workdir()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots/repl/session.sql")
        let expected = script.deletingPathExtension().appendingPathExtension("out")
        let r = try CLI.run(["--data-dir", dir.path + "/data"], stdin: try String(contentsOf: script, encoding: .utf8), cwd: dir.path)
        let (stdout, stderr) = (r.stdout, r.stderr)
        #expect(r.status == 1, "one statement of the script is wrong on purpose")
        #expect(stderr.contains("error[bind.unknown-column]: unknown column 'nope'") && stderr.contains("^^^^"), "\(stderr)")
        #expect(stderr.contains("unknown setting 'colour'") && stderr.contains("unknown command '.bogus'"))
        #expect(stderr.contains("no stream named 'paymnts' (did you mean 'payments'?)") && stderr.contains("no stream named 'nope'; declare it"))
        #expect(stderr.contains("error: cannot read samples") || stderr.contains("samples is not text"), "\(stderr)")
        if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" {
            try stdout.write(to: expected, atomically: true, encoding: .utf8)
            return
        }
        #expect(stdout == (try String(contentsOf: expected, encoding: .utf8)), "REPL transcript differs:\n\(stdout)")
    }

    /// `.load ... PACED SPEED` puts each record when its event time comes round (divided by the
    /// speed): three records two seconds apart at speed 4 cannot all be in before a second has
    /// passed (a lower bound, which no machine can beat), and all three are there afterwards.
    @Test func pacedLoadFollowsEventTime() throws {
        let dir = try Self.workdir()
        try "{\"k\":\"a\",\"ts\":\"2024-01-01T00:00:00Z\"}\n{\"k\":\"b\",\"ts\":\"2024-01-01T00:00:02Z\"}\n{\"k\":\"c\",\"ts\":\"2024-01-01T00:00:04Z\"}\n"
            .write(toFile: dir.path + "/three.jsonl", atomically: true, encoding: .utf8)
        let script = "CREATE STREAM e (k VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');\n.load three.jsonl INTO e PACED 4\nSELECT k FROM e;\n.load three.jsonl INTO e PACED 0\n"
        let started = Date()
        let r = try CLI.run(["--data-dir", dir.path + "/data"], stdin: script, cwd: dir.path)
        #expect(Date().timeIntervalSince(started) >= 1.0, "4 s of event time at speed 4 take at least 1 s")
        #expect(r.stdout.contains("loaded 3 records from three.jsonl into e\n"), "\(r.stdout)")
        #expect(r.stdout.contains("(3 rows)"))
        #expect(r.stderr.contains("usage: .load FILE INTO STREAM [PACED [SPEED]]"), "speed 0 is refused: \(r.stderr)")
    }

    /// An error of SET or DESCRIBE shows as soon as the statement ran, before the next one is typed.
    @Test func errorsOfSetAndDescribeShowAtOnce() throws {
        let dir = TempDir()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.executable)
        p.arguments = ["--data-dir", dir.path + "/data"]
        let inp = Pipe(), err = Pipe()
        p.standardInput = inp
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        defer { try? inp.fileHandleForWriting.close(); p.waitUntilExit() }
        for (statement, expected) in [("SET nope = 1;\n", "unknown setting 'nope'"), ("DESCRIBE nothing_here;\n", "no stream or table named 'nothing_here'")] {
            inp.fileHandleForWriting.write(Data(statement.utf8))
            var seen = ""
            let deadline = Date().addingTimeInterval(10)
            let fd = err.fileHandleForReading.fileDescriptor
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while Date() < deadline && !seen.contains(expected) {
                if poll(&pfd, 1, 200) > 0 {
                    var buf = [UInt8](repeating: 0, count: 4096)
                    let n = read(fd, &buf, buf.count)
                    if n <= 0 { break }
                    seen += String(decoding: buf[0..<n], as: UTF8.self)
                }
            }
            #expect(seen.contains(expected), "\(statement) said nothing before the next statement: \(seen)")
        }
    }

    /// `.explain` with an error says it once, against the line as typed.
    @Test func explainWithAnErrorSaysItOnceAgainstTheTypedLine() throws {
        let dir = TempDir()
        let r = try CLI.run(["--data-dir", dir.path + "/data"], stdin: "CREATE STREAM s (a BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts);\n.explain SELECT nope FROM s\n")
        #expect(r.stderr.components(separatedBy: "unknown column 'nope'").count == 2, "\(r.stderr)")
        #expect(r.stderr.contains(".explain SELECT nope FROM s"), "\(r.stderr)")
        #expect(r.stderr.contains("                ^^^^"), "the caret under nope: \(r.stderr)")
        let ok = try CLI.run(["--data-dir", dir.path + "/data2"], stdin: "CREATE STREAM s (a BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts);\n.explain SELECT a FROM s\n")
        #expect(ok.stdout.contains("Source: s") && ok.stdout.contains("StreamSourceExec"), "\(ok.stdout)")
    }

    /// Ctrl-R, a few letters, Enter: the found line runs at once (as in bash and readline).
    @Test func reverseSearchThenEnterRunsTheLine() throws {
        let dir = try Self.workdir()
        let env = ["SLUICE_HISTORY": dir.path + "/history", "HOME": dir.path]
        let s = try PTYSession(["repl", "--data-dir", dir.path + "/data"], cwd: dir.path, environment: env)
        #expect(s.wait(for: "sluice> "), "\(s.screen)")
        var m = s.mark
        s.type("SET result_mode = 'json';\r")
        #expect(s.wait(for: "result_mode = 'json'", after: m))
        s.type("SET start = 'LATEST';\r")
        #expect(s.wait(for: "start = 'LATEST'", after: m))
        m = s.mark
        s.type("\u{12}result\r")
        // The statement's own output line (the search prompt shows the match after "SET ").
        #expect(s.wait(for: "\nresult_mode = 'json'", after: m, seconds: 5), "Enter ran the match: \(s.screen.suffix(300).debugDescription)")
        s.type(".quit\r")
        #expect(s.exited())
    }

    /// A global aggregate with EMIT CHANGES on a terminal is one row updated in place, and the
    /// end counts the rows the user saw (not the updates); the status line gives the watermark's
    /// lag behind the newest event read, in human units.
    @Test func aLiveTableCountsWhatTheUserSaw() throws {
        let dir = try Self.workdir()
        let env = ["SLUICE_HISTORY": dir.path + "/history", "HOME": dir.path]
        let s = try PTYSession(["repl", "--data-dir", dir.path + "/data"], cwd: dir.path, environment: env)
        #expect(s.wait(for: "sluice> "), "\(s.screen)")
        var m = s.mark
        s.type(Self.ddl + "\r")
        #expect(s.wait(for: "OK", after: m))
        s.type(".load samples/payments.jsonl INTO payments\r")
        #expect(s.wait(for: "loaded 5389 records", after: m))
        m = s.mark
        s.type("SELECT COUNT(*) AS n, MAX(ts) AS newest FROM payments EMIT CHANGES;\r")
        #expect(s.wait(for: "5389", after: m), "\(s.screen.suffix(300))")
        #expect(s.wait(for: "behind the newest event", after: m), "\(s.screen.suffix(400))")
        s.type("\u{3}")
        #expect(s.wait(for: "(1 row, stopped)", after: m), "\(s.screen.suffix(400).debugDescription)")
        s.type(".quit\r")
        #expect(s.exited())
    }

    /// A line wider than the terminal (120 columns here) is redrawn in place: each keystroke moves
    /// the cursor up to the line's first row and clears below, instead of starting a new copy.
    @Test func aWrappedLineIsRedrawnInPlace() throws {
        let dir = try Self.workdir()
        let env = ["SLUICE_HISTORY": dir.path + "/history", "HOME": dir.path]
        let s = try PTYSession(["repl", "--data-dir", dir.path + "/data"], cwd: dir.path, environment: env)
        #expect(s.wait(for: "sluice> "), "\(s.screen)")
        let long = "SELECT " + (0..<30).map { "c\($0)" }.joined(separator: ", ") + " FROM somewhere_far_away WHERE x > 1"
        #expect(long.count + 8 > 120 && long.count + 8 < 240)
        s.type(long)
        #expect(s.wait(for: "x > 1", seconds: 5))
        let m = s.mark
        s.type("2")  // one more character at the end of the second row
        #expect(s.wait(for: "x > 12", after: m, seconds: 5))
        let redraw = String(s.screen.dropFirst(m))
        #expect(redraw.hasPrefix("\u{1b}[1A\r\u{1b}[J"), "up to the first row, then clear: \(redraw.prefix(40).debugDescription)")
        #expect(redraw.components(separatedBy: "sluice> ").count == 2, "one copy of the line")
        s.type("\u{3}")
        s.type(".quit\r")
        #expect(s.exited())
    }
}
