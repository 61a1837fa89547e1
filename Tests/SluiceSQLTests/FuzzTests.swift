import Testing
import SluiceCore
@testable import SluiceSQL

@Suite("Round trip and fuzzing")
struct FuzzTests {
    /// parse(print(ast)) == ast for thousands of random statements of every kind.
    @Test(arguments: 0..<4)
    func printedStatementsParseBackToTheSameTree(_ seed: Int) {
        var g = SQLGenerator(seed: UInt64(seed))
        var failures = 0
        for i in 0..<2500 {
            let s = g.statement()
            let text = Printer.print(s)
            let r = Parser.parse(text)
            if r.hasErrors || r.script.statements != [s] {
                failures += 1
                if failures <= 3 {
                    Issue.record("seed \(seed) case \(i) did not round-trip:\n\(text)\n\(r.diagnostics.map(\.description).joined(separator: "\n"))")
                }
            }
        }
        #expect(failures == 0)
    }

    /// Mutated statements and random bytes always end in a tree or diagnostics, never a crash or
    /// a hang; anything that parses prints and parses again to the same tree.
    @Test(arguments: 0..<4)
    func mutationsNeverCrash(_ seed: Int) {
        var g = SQLGenerator(seed: UInt64(1000 + seed))
        let fragments = ["(", ")", ",", ";", "'", "\"", "--", "/*", "*/", "SELECT", "FROM", "WHERE", "AND", "NOT", "INTERVAL", "'5'", "=",
                         "=>", "||", "-", "CASE", "END", "JOIN", "ON", "TUMBLE(", "OVER (", "BETWEEN", "IN (", "\u{0}", "\u{FF}", "é", "\n"]
        var parsed = 0, rejected = 0
        for _ in 0..<5000 {
            var bytes = Array(Printer.print(g.statement()).utf8)
            for _ in 0...g.below(4) {
                switch g.below(5) {
                case 0 where !bytes.isEmpty: bytes.remove(at: g.below(bytes.count))
                case 1: bytes.insert(contentsOf: Array(g.pick(fragments).utf8), at: g.below(bytes.count + 1))
                case 2 where bytes.count > 1:
                    let i = g.below(bytes.count), j = g.below(bytes.count)
                    bytes.swapAt(i, j)
                case 3 where !bytes.isEmpty:
                    let i = g.below(bytes.count)
                    bytes.removeSubrange(i..<min(bytes.count, i + g.below(12)))
                default: bytes.insert(UInt8(truncatingIfNeeded: g.next()), at: g.below(bytes.count + 1))
                }
            }
            let r = Parser.parse(bytes: bytes)
            if r.hasErrors {
                rejected += 1
                #expect(r.diagnostics.allSatisfy { $0.span.map { $0.start >= 0 && $0.end <= bytes.count } ?? true })
            } else {
                parsed += 1
                let again = Parser.parse(Printer.print(r.script))
                #expect(!again.hasErrors && again.script == r.script, "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
        #expect(parsed > 100 && rejected > 100)
    }

    @Test func randomBytesNeverCrash() {
        var g = SQLGenerator(seed: 99)
        for _ in 0..<3000 {
            let bytes = (0..<g.below(200)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            _ = Parser.parse(bytes: bytes)
        }
        // Token soup from the dialect's own words.
        let words = Keyword.allCases.map(\.rawValue) + Punct.allCases.map(\.rawValue) + ["a", "'s'", "1", "\"q\""]
        for _ in 0..<3000 {
            let text = (0..<g.below(60)).map { _ in g.pick(words) }.joined(separator: " ")
            _ = Parser.parse(text)
        }
    }
}
