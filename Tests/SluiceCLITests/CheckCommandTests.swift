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
            \(p):2:1: error[syntax.unexpected-token]: expected a statement (CREATE, INSERT, SELECT, EXPLAIN, DESCRIBE, SHOW, DROP, SET), found name SELEC
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
        // Unreadable files, no files, unknown options, binary garbage: 1, never anything else.
        #expect(try CLI.run(["check", dir.path + "/missing.sql"]).status == 1)
        #expect(try CLI.run(["check", dir.path]).status == 1)
        #expect(try CLI.run(["check"]).status == 1)
        #expect(try CLI.run(["check", "--bogus", "x.sql"]).status == 1)
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
}
