import Foundation
import Testing

/// Every `sql` block of README.md and grammar/reference/ runs, on the samples, through the REPL
/// (which takes every statement a file takes, and SET, DESCRIBE and SHOW): so the docs cannot
/// drift from what the code does. A block that does not run yet says so on its first line
/// (`-- not run: why`) and is only parsed (GrammarTests). The streams and tables the examples
/// take as given are declared first, unless the block declares them itself; the files the
/// examples name (`ref/pages.csv`, `ref/users.jsonl`) are written for them.
@Suite("Every SQL example of the docs runs")
struct DocExamplesTests {
    static let root = SamplesTests.root

    static let given: [(name: String, sql: String)] = [
        ("clicks", """
            CREATE STREAM clicks (user_id VARCHAR, session_id VARCHAR, url VARCHAR PATH '$.page.url', action VARCHAR, latency_ms DOUBLE,
              status BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH (format = 'json');
            """),
        ("payments", """
            CREATE STREAM payments (type VARCHAR, merchant VARCHAR, status VARCHAR, amount DOUBLE, ts TIMESTAMP,
              WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH (format = 'json');
            """),
        ("readings", """
            CREATE STREAM readings (sensor_id VARCHAR, site VARCHAR, temperature_c DOUBLE, humidity_pct DOUBLE, ts TIMESTAMP,
              WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH (format = 'csv', header = true);
            """),
        ("pages", "CREATE TABLE pages (url VARCHAR PRIMARY KEY, owner VARCHAR) WITH (file = 'ref/pages.csv', format = 'csv', header = true);"),
        ("page_minutes", """
            CREATE STREAM page_minutes AS SELECT window_end, url, COUNT(*) AS hits, AVG(latency_ms) AS avg_ms
              FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, url;
            """),
    ]

    static func blocks() throws -> [(file: String, line: Int, body: String)] {
        var files = ["README.md"]
        files += (try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("grammar/reference").path))
            .filter { $0.hasSuffix(".md") }.sorted().map { "grammar/reference/" + $0 }
        var out: [(String, Int, String)] = []
        for f in files {
            let lines = try String(contentsOf: root.appendingPathComponent(f), encoding: .utf8).components(separatedBy: "\n")
            var i = 0
            while i < lines.count {
                if lines[i] == "```sql" {
                    let start = i + 1
                    var j = start
                    while j < lines.count && lines[j] != "```" { j += 1 }
                    out.append((f, start, lines[start..<j].joined(separator: "\n")))
                    i = j
                }
                i += 1
            }
        }
        return out
    }

    @Test func everyExampleRunsOrSaysWhyNot() throws {
        let blocks = try Self.blocks()
        #expect(blocks.count > 30)
        var skipped = 0
        for b in blocks {
            if b.body.hasPrefix("-- not run: ") { skipped += 1; continue }
            let dir = TempDir()
            try FileManager.default.createSymbolicLink(atPath: dir.path + "/samples", withDestinationPath: Self.root.appendingPathComponent("samples").path)
            try FileManager.default.createDirectory(atPath: dir.path + "/ref", withIntermediateDirectories: true)
            try "url,owner\n/,web\n/checkout,payments\n/search,search\n".write(toFile: dir.path + "/ref/pages.csv", atomically: true, encoding: .utf8)
            try #"{"user_id":"u1003","address":{"country":"FR"},"plan":"pro"}"#.appending("\n").write(toFile: dir.path + "/ref/users.jsonl", atomically: true, encoding: .utf8)
            func declares(_ name: String) -> Bool {
                b.body.range(of: #"CREATE (OR REPLACE )?(STREAM|TABLE) \#(name)\b"#, options: [.regularExpression, .caseInsensitive]) != nil
            }
            var script = "", after = ""
            var dependents = ""
            for g in Self.given where !declares(g.name) {
                // A given that reads a stream the block declares follows the block.
                if Self.given.contains(where: { declares($0.name) && g.sql.contains("(\($0.name),") }) { dependents += g.sql + "\n" } else { script += g.sql + "\n" }
            }
            // The samples go in before the block, so its queries read them; into a stream the
            // block declares itself, after it.
            for s in ["clicks", "payments"] {
                if declares(s) { after += ".load samples/\(s).jsonl INTO \(s)\n" } else { script += ".load samples/\(s).jsonl INTO \(s)\n" }
            }
            script += b.body + "\n" + dependents + after
            let r = try CLI.run(["--data-dir", dir.path + "/data"], stdin: script, cwd: dir.path)
            #expect(r.status == 0, "\(b.file):\(b.line) does not run:\n\(r.stderr.split(separator: "\n").filter { $0.contains("error") }.prefix(3).joined(separator: "\n"))")
        }
        #expect(skipped < blocks.count / 4, "\(skipped) of \(blocks.count) examples do not run yet")
    }
}
