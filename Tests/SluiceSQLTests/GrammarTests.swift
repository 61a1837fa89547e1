import Foundation
import Testing
import SluiceCore
@testable import SluiceSQL

/// Ties `grammar/` and `queries/` to the code, so the documentation cannot drift from the parser.
@Suite("grammar/ and queries/ agree with the parser")
struct GrammarTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func read(_ relative: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
    }

    static func files(under relative: String, ext: String) -> [String] {
        let dir = root.appendingPathComponent(relative).path
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        return e.compactMap { $0 as? String }.filter { $0.hasSuffix("." + ext) }.sorted().map { relative + "/" + $0 }
    }

    /// The keywords of a `.list` file: one per line, `#` comments.
    static func list(_ name: String) throws -> [String] {
        try read("grammar/keywords/\(name).list").split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    @Test func keywordListsEqualTheLexerTables() throws {
        let reserved = try Self.list("reserved")
        let nonreserved = try Self.list("nonreserved")
        let noAlias = try Self.list("no-bare-alias")
        #expect(reserved == reserved.sorted(), "reserved.list is sorted")
        #expect(nonreserved == nonreserved.sorted(), "nonreserved.list is sorted")
        #expect(Set(reserved) == Set(Keyword.reserved.map(\.rawValue)))
        #expect(Set(nonreserved) == Set(Keyword.allCases.filter { !$0.isReserved }.map(\.rawValue)))
        #expect(Set(noAlias) == Set(Keyword.noBareAlias.map(\.rawValue)))
        #expect(reserved.count + nonreserved.count == Keyword.allCases.count)
        // And the lexer recognises each of them, in any case.
        for k in reserved + nonreserved {
            #expect(Lexer.tokenize(k.lowercased()).tokens.first?.kind == .keyword(Keyword(rawValue: k)!), "\(k)")
        }
    }

    @Test func precedenceTableEqualsTheParsers() throws {
        let text = try Self.read("grammar/precedence.md")
        let lines = text.split(separator: "\n").map(String.init)
        guard let header = lines.firstIndex(where: { $0.replacingOccurrences(of: " ", with: "") == "|rank|operators|associativity|" }) else {
            Issue.record("grammar/precedence.md has no '| rank | operators | associativity |' table")
            return
        }
        var levels: [Precedence.Level] = []
        for line in lines[(header + 2)...] {
            guard line.hasPrefix("|") else { break }
            let cells = Self.cells(line)
            guard cells.count >= 4, let rank = Int(cells[1]), let assoc = Precedence.Associativity(rawValue: cells[3]) else {
                Issue.record("bad row: \(line)")
                continue
            }
            let ops = cells[2].components(separatedBy: ", ").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "` ")) }
            levels.append(Precedence.Level(rank: rank, operators: ops, associativity: assoc))
        }
        #expect(levels == Precedence.levels)
    }

    /// The cells of a Markdown table row: `|` inside backticks or written `\|` does not split.
    static func cells(_ row: String) -> [String] {
        var cells: [String] = [], cell = "", inCode = false
        var chars = Array(row)[...]
        while let c = chars.popFirst() {
            if c == "\\" && chars.first == "|" {
                cell.append("|")
                chars = chars.dropFirst()
            } else if c == "`" {
                inCode.toggle()
                cell.append(c)
            } else if c == "|" && !inCode {
                cells.append(cell.trimmingCharacters(in: .whitespaces))
                cell = ""
            } else {
                cell.append(c)
            }
        }
        cells.append(cell.trimmingCharacters(in: .whitespaces))
        return cells
    }

    /// Fenced SQL blocks of a Markdown text: (language, body, line).
    static func blocks(_ text: String) -> [(lang: String, body: String, line: Int)] {
        var out: [(String, String, Int)] = []
        var current: (lang: String, lines: [String], line: Int)? = nil
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if var c = current {
                if t == "```" {
                    out.append((c.lang, c.lines.joined(separator: "\n"), c.line))
                    current = nil
                } else {
                    c.lines.append(String(line))
                    current = c
                }
            } else if t.hasPrefix("```") {
                current = (String(t.dropFirst(3)), [], i + 2)
            }
        }
        return out
    }

    @Test func everySQLBlockInGrammarParsesAndRoundTrips() throws {
        let docs = Self.files(under: "grammar", ext: "md")
        #expect(docs.count >= 13, "grammar/README.md, precedence.md and a reference page per statement")
        var sqlBlocks = 0, errorBlocks = 0
        for doc in docs {
            for b in Self.blocks(try Self.read(doc)) {
                let r = Parser.parse(b.body)
                switch b.lang {
                case "sql":
                    sqlBlocks += 1
                    #expect(!r.hasErrors, "\(doc):\(b.line): \(r.diagnostics.map(\.description))")
                    #expect(!r.script.statements.isEmpty, "\(doc):\(b.line) holds no statement")
                    let again = Parser.parse(Printer.print(r.script))
                    #expect(again.script == r.script, "\(doc):\(b.line) does not round-trip")
                case "sql-error":
                    errorBlocks += 1
                    #expect(r.hasErrors, "\(doc):\(b.line) is marked sql-error but parses")
                default: break
                }
            }
        }
        #expect(sqlBlocks >= 30)
        _ = errorBlocks
    }

    @Test func everyStatementHasAnEBNFFileAndAReferencePage() throws {
        let ebnf = Set(Self.files(under: "grammar/statements", ext: "ebnf").map { ($0 as NSString).lastPathComponent })
        let pages = Set(Self.files(under: "grammar/reference", ext: "md").map { ($0 as NSString).lastPathComponent })
        for s in ["create_stream", "create_view", "create_firehose", "create_table", "create_sink", "create_alert", "insert", "select",
                  "explain", "describe", "show", "drop", "set", "print"] {
            #expect(ebnf.contains(s + ".ebnf"), "grammar/statements/\(s).ebnf")
            #expect(pages.contains(s.replacingOccurrences(of: "_", with: "-") + ".md"), "grammar/reference/\(s).md")
        }
        for f in ["grammar/lexical.ebnf", "grammar/common.ebnf", "grammar/expressions.ebnf", "grammar/README.md"] {
            #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(f).path), "\(f)")
        }
    }

    /// Every diagnostic id the front end can emit is documented in grammar/README.md.
    @Test func diagnosticIdsAreDocumented() throws {
        let readme = try Self.read("grammar/README.md")
        var ids = Set<String>()
        for file in Self.files(under: "Sources/SluiceSQL", ext: "swift") {
            let text = try Self.read(file)
            var rest = Substring(text)
            while let r = rest.range(of: "\"syntax.") {
                let tail = rest[r.lowerBound...].dropFirst()
                if let end = tail.firstIndex(of: "\"") { ids.insert(String(tail[..<end])) }
                rest = rest[r.upperBound...]
            }
        }
        #expect(ids.count >= 15)
        for id in ids.sorted() { #expect(readme.contains(id), "grammar/README.md does not document \(id)") }
    }

    /// Every SQL example of the design's dialect sketch parses. The examples are kept in
    /// `Tests/SluiceSQLTests/Fixtures/dialect-examples.sql` (tests read nothing beside the repository).
    @Test func everyExampleOfTheDialectSketchParses() throws {
        let text = try Self.read("Tests/SluiceSQLTests/Fixtures/dialect-examples.sql")
        let examples = text.components(separatedBy: "\n-- example\n").dropFirst()
        #expect(examples.count >= 4)
        for e in examples {
            let r = Parser.parse(e)
            #expect(!r.hasErrors, "\(e.prefix(60)): \(r.diagnostics.map(\.description))")
        }
    }

    @Test func everySavedQueryParses() throws {
        for file in Self.files(under: "queries", ext: "sql") {
            let r = Parser.parse(try Self.read(file))
            #expect(!r.hasErrors, "\(file): \(r.diagnostics.map(\.description))")
        }
    }
}
