import Foundation
import Testing

@Suite("sluice check and sluice fmt")
struct CheckCommandTests {
    let dir = TempDir()

    func file(_ name: String, _ text: String) -> String {
        let p = dir.path + "/" + name
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }

    @Test func cleanFilesExitZero() throws {
        let a = file("a.sql", "CREATE STREAM s (ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND);\nSELECT * FROM s;")
        let b = file("b.sql", "-- nothing but a comment\n")
        let r = try CLI.run(["check", a, b])
        #expect(r.status == 0)
        #expect(r.stdout == "ok: 2 statements in 2 files\n")
        #expect(r.stderr.isEmpty)
    }

    @Test func everyErrorIsReportedWithPositionAndCaret() throws {
        let p = file("bad.sql", "SELECT a FROM t;\nSELEC b FROM t;\nSELECT c FROM t WHERE ;\n")
        let r = try CLI.run(["check", p])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == """
            \(p):2:1: error[syntax.unexpected-token]: expected a statement (CREATE, INSERT, SELECT, EXPLAIN, DESCRIBE, SHOW, DROP, SET, PRINT), found name SELEC
              |
            2 | SELEC b FROM t;
              | ^^^^^
              = help: did you mean SELECT?
            \(p):3:23: error[syntax.unexpected-token]: expected an expression, found ';'
              |
            3 | SELECT c FROM t WHERE ;
              |                       ^
            2 errors in 1 file

            """)
    }

    @Test func standardInputAndAnyInputExitZeroOrOne() throws {
        #expect(try CLI.run(["check", "-"], stdin: "SHOW STREAMS;").status == 0)
        let bad = try CLI.run(["check", "-"], stdin: "SHOW STREAM;")
        #expect(bad.status == 1 && bad.stderr.hasPrefix("<stdin>:1:6: error[syntax.unexpected-token]"))
        // Unreadable files and binary garbage: 1; a wrong command line (no files, an unknown option): 2.
        #expect(try CLI.run(["check", dir.path + "/missing.sql"]).status == 1)
        #expect(try CLI.run(["check", dir.path]).status == 1)
        #expect(try CLI.run(["check"]).status == 2)
        #expect(try CLI.run(["check", "--bogus", "x.sql"]).status == 2)
        var g = UInt64(12345)
        for _ in 0..<5 {
            var bytes = [UInt8]()
            for _ in 0..<500 {
                g = g &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                bytes.append(UInt8(truncatingIfNeeded: g >> 33))
            }
            let p = dir.path + "/garbage.sql"
            _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
            let r = try CLI.run(["check", p])
            #expect(r.status == 1)
            #expect(r.stderr.contains("error["))
        }
    }

    @Test func fmtPrintsCanonicalSQLAndKeepsComments() throws {
        let p = file("f.sql", "select a,b from t -- why\nwhere a>1;")
        let r = try CLI.run(["fmt", p])
        #expect(r.status == 0)
        #expect(r.stdout == "SELECT a, b\nFROM t -- why\nWHERE a > 1;\n")
        let w = try CLI.run(["fmt", "--write", p])
        #expect(w.status == 0 && w.stdout.isEmpty)
        #expect(try String(contentsOfFile: p, encoding: .utf8) == "SELECT a, b\nFROM t -- why\nWHERE a > 1;\n")
        let bad = file("g.sql", "select from;")
        let rb = try CLI.run(["fmt", "--write", bad])
        #expect(rb.status == 1 && rb.stderr.contains("error[syntax.unexpected-token]"))
        #expect(try String(contentsOfFile: bad, encoding: .utf8) == "select from;")
    }

    /// `check` runs the checks of `run --dry-run` (names, types, streaming rules), not only the
    /// parser; `--syntax-only` runs the parser alone.
    @Test func checkFindsWhatOnlyPlanningFinds() throws {
        let ddl = "CREATE STREAM s (url VARCHAR, ms DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');\n"
        for (sql, id) in [("SELECT nope FROM s;", "bind.unknown-column"), ("SELECT url FROM missing;", "bind.unknown-stream"),
                          ("SELECT url FROM s WHERE url + 1 > 2;", "bind."), ("SELECT url, COUNT(*) AS n FROM s GROUP BY url;", "plan.unwindowed-aggregate-needs-emit-changes")] {
            let p = file("semantic.sql", ddl + sql)
            let r = try CLI.run(["check", p])
            #expect(r.status == 1, "\(sql): \(r.stdout) \(r.stderr)")
            #expect(r.stderr.contains("error") && (id.isEmpty || r.stderr.contains(id)), "\(sql): \(r.stderr)")
            #expect(try CLI.run(["check", "--syntax-only", p]).status == 0, "\(sql)")
        }
        let good = file("good.sql", ddl + "SELECT url, ms FROM s WHERE ms > 1;")
        #expect(try CLI.run(["check", good]).status == 0)
    }
}

@Suite("Usage: --help everywhere, exit 2 for a wrong command line")
struct UsageTests {
    static let commands: [[String]] = [["repl"], ["run"], ["serve"], ["check"], ["fmt"], ["demo"], ["stream"], ["stream", "put"], ["stream", "get"],
                                       ["firehose"], ["firehose", "create"], ["gen"], ["gen", "bids"], ["bench"], ["bench", "queries"]]

    @Test(arguments: commands)
    func everyCommandPrintsItsUsageOnHelp(_ command: [String]) throws {
        for flag in ["--help", "-h"] {
            let r = try CLI.run(command + [flag])
            #expect(r.status == 0, "\(command) \(flag): \(r.stderr)")
            #expect(r.stdout.contains("usage: sluice"), "\(command) \(flag): \(r.stdout)")
            #expect(r.stderr.isEmpty)
        }
    }

    @Test func theTopLevelHelpListsEveryCommandTheREPLFirst() throws {
        let r = try CLI.run(["--help"])
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let first = lines.firstIndex { $0.contains("sluice [repl]") }
        #expect(first != nil && first! < (lines.firstIndex { $0.contains("sluice run") } ?? 0))
        for c in ["run", "serve", "check", "fmt", "demo", "stream", "firehose", "gen", "bench"] { #expect(r.stdout.contains("sluice \(c)"), "\(c)") }
        for g in ["clicks", "sensors", "payments", "logs", "shapes", "bids"] { #expect(r.stdout.contains(g), "gen \(g)") }
        for b in ["stream", "decode", "queries", "firehose", "serve", "rcf", "anomalies", "parse"] { #expect(r.stdout.contains(b), "bench \(b)") }
    }

    @Test(arguments: [["run"], ["run", "a.sql", "--bogus"], ["serve", "--listen", "nope"], ["check"], ["fmt"], ["demo", "extra"],
                      ["stream", "nope"], ["stream", "create"], ["firehose", "nope"], ["gen", "nope"], ["bench", "nope"], ["nope"], ["check", "--bogus", "x.sql"]])
    func aWrongCommandLineExitsTwo(_ command: [String]) throws {
        let r = try CLI.run(command)
        #expect(r.status == 2, "\(command): \(r.stderr)")
    }
}
