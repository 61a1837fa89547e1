import Foundation
import Testing

/// Every `queries/*.sql` runs as its `-- run:` line says, and its output files equal the snapshots
/// in `Snapshots/queries/<name>/`. Set RECORD_SNAPSHOTS=1 to write the snapshots anew.
@Suite("Saved queries")
struct SavedQueriesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let snapshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots/queries")

    static var queries: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("queries").path)) ?? [])
            .filter { $0.hasSuffix(".sql") }.sorted()
    }

    @Test func thereAreSavedQueries() { #expect(Self.queries.count >= 2) }

    @Test(arguments: queries)
    func runLineProducesTheSnapshot(_ name: String) throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("queries/\(name)"), encoding: .utf8)
        let header = text.split(separator: "\n").prefix { $0.hasPrefix("--") || $0.isEmpty }
        #expect(header.count >= 3, "\(name) starts with a comment block saying what it shows")
        guard let runLine = header.first(where: { $0.hasPrefix("-- run: sluice ") }) else {
            Issue.record("\(name) has no '-- run: sluice ...' line")
            return
        }
        // Paths in the run line are relative to the repository; the outputs go to a scratch folder.
        let args = runLine.dropFirst("-- run: sluice ".count).split(separator: " ").map { word -> String in
            var w = String(word)
            for prefix in ["queries/", "samples/"] {
                if w.hasPrefix(prefix) { w = Self.root.appendingPathComponent(w).path }
                if let r = w.range(of: "=" + prefix) { w = String(w[..<r.lowerBound]) + "=" + Self.root.appendingPathComponent(String(w[w.index(after: r.lowerBound)...])).path }
            }
            return w
        }
        let dir = TempDir()
        // Files a query names itself (a reference table's `file = 'samples/...'`) resolve against
        // the working directory, as when it runs from the repository root.
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/samples", withDestinationPath: Self.root.appendingPathComponent("samples").path)
        let r = try CLI.run(args, cwd: dir.path)
        let stdout = r.stdout
        #expect(r.status == 0, "\(name): \(r.stderr)")
        let outDir = URL(fileURLWithPath: dir.path).appendingPathComponent("out")
        var produced = Self.files(under: outDir)
        // What a push query (a bare SELECT) printed is pinned too, as the snapshot's `stdout`.
        if !stdout.isEmpty { produced["stdout"] = stdout }
        #expect(!produced.isEmpty, "\(name) wrote no output")
        let snapDir = Self.snapshots.appendingPathComponent(String(name.dropLast(4)))
        if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" {
            try? FileManager.default.removeItem(at: snapDir)
            for (f, content) in produced {
                let target = snapDir.appendingPathComponent(f)
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try content.write(to: target, atomically: true, encoding: .utf8)
            }
            return
        }
        let expected = Self.files(under: snapDir)
        #expect(produced.keys.sorted() == expected.keys.sorted(), "\(name): files \(produced.keys.sorted()) vs snapshot \(expected.keys.sorted())")
        for (f, got) in produced.sorted(by: { $0.key < $1.key }) {
            guard let want = expected[f] else { continue }
            #expect(got == want, "\(name): out/\(f) differs from its snapshot (RECORD_SNAPSHOTS=1 rewrites it)")
        }
    }

    /// Every file under a directory (hidden ones, like a firehose's staging area, left out), by
    /// relative path. Firehose object keys carry the time they were written and a UUID: those parts
    /// read `TIME` and `UUID`, so a snapshot holds what is deterministic (prefix, name, version, content).
    static func files(under root: URL) -> [String: String] {
        var out: [String: String] = [:]
        guard let e = FileManager.default.enumerator(atPath: root.path) else { return out }
        while let rel = e.nextObject() as? String {
            if rel.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root.appendingPathComponent(rel).path, isDirectory: &isDir), !isDir.boolValue else { continue }
            var key = rel
            for (pattern, replacement) in [(#"\d{4}/\d{2}/\d{2}/\d{2}/"#, "TIME/"), (#"\d{4}(-\d{2}){5}-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"#, "TIME-UUID")] {
                key = key.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
            }
            out[key] = (try? String(contentsOf: root.appendingPathComponent(rel), encoding: .utf8)) ?? "<unreadable>"
        }
        return out
    }
}
