import Testing
@testable import SluiceCore

/// The byte-level regular expressions REGEXP_EXTRACT uses for the common forms: the same first
/// match and groups as the general engine (Swift's, Java's rules), on fixed cases and on random
/// patterns and texts; what it does not cover it refuses, so the general engine takes it. (`\d`,
/// `\w` and `\s` are ASCII classes, Java's; Swift's take other scripts too, so the random
/// patterns leave them out and the fixed cases use them on ASCII.)
@Suite("Byte-level regular expressions")
struct ByteRegexTests {
    /// The texts of the whole match and the groups, by this engine (nil: no match).
    static func ours(_ pattern: String, _ text: String) -> [String?]? {
        guard let r = ByteRegex(pattern) else { Issue.record("not compiled: \(pattern)"); return nil }
        var s = text
        let outcome = s.withUTF8 { r.firstMatch($0) }
        switch outcome {
        case .match(let groups):
            return s.withUTF8 { b in groups.map { g in g.map { String(decoding: UnsafeBufferPointer(rebasing: b[$0]), as: UTF8.self) } } }
        case .noMatch: return nil
        case .gaveUp:
            Issue.record("gave up: \(pattern) on \(text)")
            return nil
        }
    }

    /// The same by Swift's engine.
    static func theirs(_ pattern: String, _ text: String) -> [String?]? {
        guard let r = try? Regex(pattern), let m = text.firstMatch(of: r) else { return nil }
        return (0..<m.output.count).map { m.output[$0].substring.map(String.init) }
    }

    @Test func fixedCases() {
        let cases: [(String, String, [String?]?)] = [
            ("(&|^)channel_id=([^&]*)", "https://x.com/a/item.htm?query=1&channel_id=42&x=1", ["&channel_id=42", "&", "42"]),
            ("(&|^)channel_id=([^&]*)", "channel_id=7", ["channel_id=7", "", "7"]),
            ("(&|^)channel_id=([^&]*)", "https://x.com/?query=1", nil),
            ("a|ab", "ab", ["a"]),
            ("(a|ab)(c|bcd)", "abcd", ["abcd", "a", "bcd"]),
            ("a+?b", "aaab", ["aaab"]),
            ("<.+>", "<a><b>", ["<a><b>"]),
            ("<.+?>", "<a><b>", ["<a>"]),
            ("x{2,3}", "xxxxx", ["xxx"]),
            ("x{2}", "x", nil),
            ("x{2,}y", "xxxxy", ["xxxxy"]),
            ("\\d+\\.\\d*", "v 12.5 z", ["12.5"]),
            ("[A-Za-z_]\\w*", "9 ab_1 c", ["ab_1"]),
            ("^\\s*(\\S+)", "  héllo world", ["  héllo", "héllo"]),
            ("(.)x", "éx", ["éx", "é"]),
            ("[^&]+$", "a&bé", ["bé"]),
            ("(a)|(b)", "b", ["b", nil, "b"]),
            ("(?:ab)+", "ababa", ["abab"]),
            ("colou?r", "the color", ["color"]),
            ("$", "abc", [""]),
            ("[-a]+", "x-a-", ["-a-"]),
            ("[a\\-z]+", "-z", ["-z"]),
            ("a.c", "a\nc", nil),
        ]
        for (pattern, text, want) in cases {
            let got = Self.ours(pattern, text)
            #expect(got == want, "\(pattern) on \(text)")
            #expect(got == Self.theirs(pattern, text), "\(pattern) on \(text): the general engine differs")
        }
    }

    @Test func formsItDoesNotCoverAreLeftToTheGeneralEngine() {
        for p in ["(?=a)b", "(a)\\1", "(?<name>a)", "(?i)a", "\\bword", "(a*)*", "(a|)+", "[[:alpha:]]", "[é]", "\\p{L}", "a++", "\\x41", "(", "a{3,2}"] {
            #expect(ByteRegex(p) == nil, "\(p)")
        }
    }

    /// Random patterns over a small alphabet against random texts: the same matches and groups as
    /// the general engine.
    @Test func agreesWithTheGeneralEngineOnRandomPatterns() {
        var rng = SplitMix64(seed: 2021)
        func pick<T>(_ xs: [T]) -> T { xs[rng.below(xs.count)] }
        func atom(_ depth: Int) -> String {
            switch rng.below(depth > 2 ? 5 : 8) {
            case 0, 1: return pick(["a", "b", "é", "&", "="])
            case 2: return "."
            case 3: return pick(["[ab]", "[^&]", "[a-c=]", "[^a]", "[^&=]", "[0-9]"])
            case 4: return pick(["^", "$", "a", "b"])
            case 5: return "(" + alternation(depth + 1) + ")"
            case 6: return "(?:" + alternation(depth + 1) + ")"
            default: return "(" + sequence(depth + 1) + ")"
            }
        }
        func quantified(_ depth: Int) -> String {
            let a = atom(depth)
            if a == "^" || a == "$" { return a }
            switch rng.below(8) {
            case 0: return a + "*"
            case 1: return a + "+"
            case 2: return a + "?"
            case 3: return a + pick(["*?", "+?", "??", "{2}", "{1,2}", "{0,3}?"])
            default: return a
            }
        }
        func sequence(_ depth: Int) -> String { (0..<(1 + rng.below(3))).map { _ in quantified(depth) }.joined() }
        func alternation(_ depth: Int) -> String { (0..<(1 + rng.below(2))).map { _ in sequence(depth) }.joined(separator: "|") }
        var compared = 0
        for _ in 0..<1500 {
            let pattern = alternation(0)
            guard let r = ByteRegex(pattern) else { continue }  // a body that matches nothing in a loop: the general engine's
            _ = r
            for _ in 0..<6 {
                let text = String((0..<rng.below(9)).map { _ in pick(["a", "b", "é", "&", "=", "1"] as [Character]) })
                #expect(Self.ours(pattern, text) == Self.theirs(pattern, text), "\(pattern) on '\(text)'")
                compared += 1
            }
        }
        #expect(compared > 3000)
    }
}
