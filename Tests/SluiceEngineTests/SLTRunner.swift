import Foundation
import Testing
import SluiceCore
import SluiceCodecs
import SluiceSQL
import SluiceStreams
@testable import SluiceEngine

/// The streaming sqllogictest format (the design notes' model-codebases.md, §5), on a manual clock.
///
///     statement ok | statement error <substring>     SQL to load (DDL, sinks, INSERT INTO)
///     query <name>                                    a SELECT whose rows `expect <name>` checks
///     ingest <stream> [shard=<n>]                      one JSON record per line, put through the store
///     advance <duration>                               moves processing time (10s, 500ms, 2m)
///     close                                            end of input: every window closes
///     restart | restart crash                          stop at a checkpoint (or die without one), reopen
///                                                      the store and the engine, start the same queries
///     expect <name>                                    rows emitted since the last expect, after ----
///     expect error <substring>                         the engine stopped with an error containing it
///     write <path>                                     writes the lines that follow to a file ($IN
///                                                      is a scratch input directory; `(empty)`
///                                                      alone writes an empty file)
///     expect files                                     every file under $OUT (the scratch output
///                                                      directory statements may name): its path, then
///                                                      its lines indented (gzip decompressed, UUIDs
///                                                      shown as <uuid>)
///
/// Records are separated by blank lines; `#` starts a comment. After `ingest` and `advance` the
/// engine runs until it has read everything. Rows are tab-separated: NULL, (empty) for '',
/// timestamps in ISO-8601 (milliseconds only when not zero). SLT_COMPLETE=1 rewrites every
/// `expect` block from what the engine actually emitted.
struct SLTRunner {
    struct Failure: CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line): \(message)" }
    }

    let path: String
    var failures: [Failure] = []
    private var rewritten: [String]

    init(path: String) {
        self.path = path
        rewritten = []
    }

    static func render(_ v: Value) -> String {
        switch v {
        case .null: return "NULL"
        case .string(let s): return s.isEmpty ? "(empty)" : s.replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\n", with: "\\n")
        case .timestamp(let t):
            let iso = TimeFormat.iso8601(t)
            return t % 1000 == 0 ? String(iso.dropLast(5)) + "Z" : iso
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) + ".0" : String(format: "%.12g", d)
        default: return v.description
        }
    }

    /// Every file under `root` (staged objects excepted): its path, then its lines indented.
    static func files(_ root: String) -> [String] {
        var out: [String] = []
        let e = FileManager.default.enumerator(atPath: root)
        var paths: [String] = []
        while let p = e?.nextObject() as? String {
            var isDir: ObjCBool = false
            if p.hasPrefix(".sluice-staging") || p.contains("/.sluice-staging") { continue }
            if FileManager.default.fileExists(atPath: root + "/" + p, isDirectory: &isDir), !isDir.boolValue { paths.append(p) }
        }
        let uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        var shown: [(String, [UInt8])] = []
        for p in paths {
            var bytes = [UInt8](FileManager.default.contents(atPath: root + "/" + p) ?? Data())
            if p.hasSuffix(".gz") { bytes = Gzip.decompress(bytes) ?? Array("<not gzip>".utf8) }
            shown.append((p.replacingOccurrences(of: uuid, with: "<uuid>", options: .regularExpression), bytes))
        }
        for (p, bytes) in shown.sorted(by: { $0.0 < $1.0 }) {
            out.append(p)
            var text = String(decoding: bytes, as: UTF8.self)
            if text.hasSuffix("\n") { text.removeLast() } else if !text.isEmpty { text += "<no newline at the end>" }
            if !text.isEmpty { out += text.components(separatedBy: "\n").map { "  " + $0 } }
        }
        return out
    }

    mutating func run() throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        let dir = NSTemporaryDirectory() + "sluice-slt-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let clock = ManualClock(millis: 1_704_067_200_000)
        var config = StoreConfiguration(dataDirectory: dir, clock: clock)
        config.fsync = .never
        var store = try StreamStore(configuration: config)
        defer { store.close() }
        var engine = Engine(store: store, clock: clock)
        // What was loaded and started, to do again after a restart.
        var loaded: [Script] = []
        var started: [(name: String, query: Query)] = []
        final class Captured { var rows: [String: [[Value]]] = [:] }
        let captured = Captured()
        var ingested = 0

        // An error the engine stopped with; `expect error` checks it, and an unexpected one fails.
        var engineError: (line: Int, text: String)?
        var currentLine = 0
        func settle(finishing: Bool = false) {
            do {
                // Steps until a pass reads nothing (a `where` clause here would not stop the loop).
                var n = 0
                while n < 10_000, try engine.step() { n += 1 }
                if finishing { try engine.finish() }
            } catch {
                if engineError == nil { engineError = (currentLine, error.description) }
            }
        }

        var i = 0
        while i < lines.count {
            let line = lines[i].trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") {
                rewritten.append(lines[i])
                i += 1
                continue
            }
            // A record: its first line, then lines up to a blank line (for expect: ---- and rows).
            let start = i
            var body: [String] = []
            i += 1
            while i < lines.count && !lines[i].trimmingCharacters(in: .whitespaces).isEmpty {
                body.append(lines[i])
                i += 1
            }
            let words = line.split(separator: " ").map(String.init)
            func fail(_ m: String) { failures.append(Failure(line: start + 1, message: m)) }
            currentLine = start + 1
            if let e = engineError, !(words[0] == "expect" && words.count > 1 && words[1] == "error") {
                failures.append(Failure(line: e.line, message: "the engine stopped: \(e.text)"))
                engineError = nil
            }
            var keepBody = true
            switch words[0] {
            case "statement":
                let sql = body.joined(separator: "\n").replacingOccurrences(of: "$OUT", with: dir + "/out").replacingOccurrences(of: "$IN", with: dir + "/in")
                let parsed = Parser.parse(sql)
                var problem: String? = parsed.hasErrors ? parsed.diagnostics.map { "\($0.id) \($0.message)" }.joined(separator: "; ") : nil
                if problem == nil {
                    do {
                        try engine.load(parsed.script)
                        loaded.append(parsed.script)
                    } catch {
                        problem = error.diagnostics.map { "\($0.id) \($0.message)" }.joined(separator: "; ") + (error.message ?? "")
                    }
                }
                if words.count > 1 && words[1] == "ok" {
                    if let e = problem { fail("statement failed: \(e)") }
                } else if words.count > 1 && words[1] == "error" {
                    let want = words.dropFirst(2).joined(separator: " ")
                    if let e = problem {
                        if !want.isEmpty && !e.contains(want) { fail("error '\(e)' does not contain '\(want)'") }
                    } else {
                        fail("statement succeeded but an error was expected")
                    }
                } else {
                    fail("statement ok or statement error")
                }
            case "query":
                guard words.count == 2 else { fail("query <name>"); break }
                let name = words[1]
                let (s, diags) = Parser.parseStatement(body.joined(separator: "\n"))
                guard case .query(let q)? = s?.kind else { fail("not a SELECT: \(diags)"); break }
                captured.rows[name] = []
                do {
                    try engine.start(query: q, label: name) { rows in captured.rows[name, default: []] += rows }
                    started.append((name, q))
                } catch {
                    fail("query \(name): \(error)")
                }
            case "ingest":
                guard words.count >= 2 else { fail("ingest <stream>"); break }
                var shard: Int? = nil
                for w in words.dropFirst(2) where w.hasPrefix("shard=") { shard = Int(w.dropFirst(6)) }
                let shards = (try? store.describeStreamSummary(name: words[1]).openShardCount) ?? 1
                for record in body {
                    let ehk = shard.map { String(HashKey.evenRanges(count: shards)[$0].lowerBound) }
                    do {
                        ingested += 1
                        _ = try store.putRecord(stream: words[1], data: Array(record.utf8), partitionKey: "k\(ingested)", explicitHashKey: ehk)
                    } catch {
                        fail("ingest: \(error)")
                    }
                }
                settle()
            case "write":
                guard words.count == 2 else { fail("write <path>"); break }
                let target = words[1].replacingOccurrences(of: "$IN", with: dir + "/in")
                do {
                    try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try (body == ["(empty)"] ? "" : body.map { $0 + "\n" }.joined()).write(toFile: target, atomically: true, encoding: .utf8)
                } catch {
                    fail("write: \(error)")
                }
            case "advance":
                guard words.count == 2, let ms = Units.millis(words[1]) else { fail("advance <duration>"); break }
                clock.advance(by: ms)
                settle()
            case "restart":
                // `restart`: every query stops at a checkpoint; `restart crash`: the process dies
                // (no checkpoint beyond the periodic ones). Either way the store is reopened from
                // its directory and the same statements and queries start again.
                let crash = words.count > 1 && words[1] == "crash"
                if !crash {
                    do { try engine.stop() } catch { fail("stop: \(error)") }
                }
                store.close()
                do {
                    store = try StreamStore(configuration: config)
                    engine = Engine(store: store, clock: clock)
                    for script in loaded { try engine.load(script) }
                    for (name, q) in started {
                        try engine.start(query: q, label: name) { rows in captured.rows[name, default: []] += rows }
                    }
                } catch {
                    fail("restart: \(error)")
                }
                settle()
            case "close":
                settle(finishing: true)
            case "expect" where words.count > 1 && words[1] == "error":
                let want = words.dropFirst(2).joined(separator: " ")
                if let e = engineError {
                    if !e.text.contains(want) { fail("the engine stopped with '\(e.text)', which does not contain '\(want)'") }
                } else {
                    fail("expected the engine to stop with an error containing '\(want)'")
                }
                engineError = nil
            case "expect":
                guard words.count == 2 else { fail("expect <name>"); break }
                let name = words[1]
                let actual = name == "files" ? SLTRunner.files(dir + "/out")
                    : (captured.rows[name] ?? []).map {
                        $0.map(SLTRunner.render).joined(separator: "\t").replacingOccurrences(of: dir + "/in", with: "$IN")
                            .replacingOccurrences(of: dir + "/out", with: "$OUT")
                    }
                captured.rows[name] = []
                let expected = Array(body.drop { $0 != "----" }.dropFirst())
                if ProcessInfo.processInfo.environment["SLT_COMPLETE"] == "1" {
                    rewritten.append(lines[start])
                    rewritten.append("----")
                    rewritten += actual
                    keepBody = false
                } else if actual != expected {
                    fail("\(name) emitted\n" + actual.joined(separator: "\n") + "\nbut expected\n" + expected.joined(separator: "\n"))
                }
            default:
                fail("unknown record '\(words[0])'")
            }
            if keepBody {
                rewritten.append(lines[start])
                rewritten += body
            }
        }
        if let e = engineError { failures.append(Failure(line: e.line, message: "the engine stopped: \(e.text)")) }
        if ProcessInfo.processInfo.environment["SLT_COMPLETE"] == "1" {
            try rewritten.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
    }
}

@Suite("Streaming .slt files")
struct SLTTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("slt").path

    /// Every .slt file, or those whose path contains SLT_ONLY when it is set.
    static var files: [String] {
        let only = ProcessInfo.processInfo.environment["SLT_ONLY"]
        return (FileManager.default.enumerator(atPath: dir)?.compactMap { $0 as? String } ?? [])
            .filter { $0.hasSuffix(".slt") && (only == nil || $0.contains(only!)) }.sorted()
    }

    @Test func thereAreSLTFiles() { #expect(Self.files.count >= 5 || ProcessInfo.processInfo.environment["SLT_ONLY"] != nil) }

    @Test(arguments: files)
    func file(_ name: String) throws {
        var r = SLTRunner(path: Self.dir + "/" + name)
        try r.run()
        for f in r.failures { Issue.record("\(name):\(f)") }
    }
}
