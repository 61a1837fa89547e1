/// A regular expression matched on a string's UTF-8 bytes by a backtracking machine, for the
/// common forms (REGEXP_EXTRACT's per-row work): literals, `.`, classes (`[a-z]`, `[^&]`, `\d`,
/// `\w`, `\s` and their negations), anchors `^` `$`, groups `(...)` and `(?:...)`, alternation,
/// and the quantifiers `*` `+` `?` `{m}` `{m,}` `{m,n}`, greedy or lazy (`*?`). Matching follows
/// Perl's leftmost, priority-ordered rule, as Java's and Swift's engines do. `.` and a negated
/// class take a whole character (all its bytes); a class names ASCII characters only, and `\d`,
/// `\w` and `\s` are ASCII classes, as in Java (Flink's engine). A pattern
/// with anything else (lookaround, back-references, named groups, flags, word boundaries,
/// non-ASCII in a class) is not compiled (`init` returns nil), and the caller uses the general
/// engine.
public struct ByteRegex: Sendable {
    enum Op: Sendable {
        /// One byte in the set (ASCII members only).
        case set(ByteSet)
        /// One character whose first byte is not in the set (a negated class, or `.` without `\n`).
        case notSet(ByteSet)
        case byte(UInt8)
        /// Go on at both, the first preferred.
        case split(Int, Int)
        case jump(Int)
        /// Record the position in capture slot n.
        case save(Int)
        case lineStart, lineEnd
        case match
    }

    struct ByteSet: Sendable {
        var bits: (UInt64, UInt64) = (0, 0)  // bytes 0-127
        mutating func insert(_ b: UInt8) { if b < 64 { bits.0 |= 1 << UInt64(b) } else { bits.1 |= 1 << UInt64(b - 64) } }
        func contains(_ b: UInt8) -> Bool { b < 64 ? bits.0 & (1 << UInt64(b)) != 0 : b < 128 && bits.1 & (1 << UInt64(b - 64)) != 0 }
    }

    indirect enum Node {
        case empty
        case set(ByteSet, negated: Bool)
        case literal(UInt8)
        case group(Node, capture: Int?)
        case concat([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?, greedy: Bool)
        case lineStart, lineEnd
    }

    let program: [Op]
    /// Capturing groups (group 0, the whole match, not counted).
    public let groups: Int
    /// The bytes a match can begin with, unless it can be empty (then any position may start one).
    let firstBytes: [Bool]
    let canBeEmpty: Bool
    /// Bytes every match contains (the longest run of literals at the top level): a text without
    /// them has no match, found without running the machine.
    let required: [UInt8]

    public init?(_ pattern: String) {
        var p = Parse(bytes: Array(pattern.utf8))
        guard let node = p.alternation(), p.i == p.bytes.count, p.groups <= 32 else { return nil }
        groups = p.groups
        var code: [Op] = [.save(0)]
        guard !ByteRegex.loopsOnNothing(node), ByteRegex.emit(node, &code) else { return nil }
        code += [.save(1), .match]
        program = code
        let (first, empty) = ByteRegex.first(node)
        firstBytes = first
        canBeEmpty = empty
        required = ByteRegex.requiredLiteral(node)
    }

    /// The bytes that can begin a match of a node, and whether it can match nothing.
    static func first(_ n: Node) -> ([Bool], Bool) {
        var set = [Bool](repeating: false, count: 256)
        switch n {
        case .empty, .lineStart, .lineEnd: return (set, true)
        case .literal(let b): set[Int(b)] = true; return (set, false)
        case .set(let s, let negated):
            for b in 0..<256 { set[b] = negated ? !(b < 128 && s.contains(UInt8(b))) : (b < 128 && s.contains(UInt8(b))) }
            return (set, false)
        case .group(let x, _): return first(x)
        case .repetition(let x, let min, _, _):
            let (f, e) = first(x)
            return (f, e || min == 0)
        case .concat(let items):
            for x in items {
                let (f, e) = first(x)
                for b in 0..<256 where f[b] { set[b] = true }
                if !e { return (set, false) }
            }
            return (set, true)
        case .alternation(let branches):
            var empty = false
            for x in branches {
                let (f, e) = first(x)
                for b in 0..<256 where f[b] { set[b] = true }
                empty = empty || e
            }
            return (set, empty)
        }
    }

    /// The longest run of literal bytes in the top-level sequence (each match has it).
    static func requiredLiteral(_ n: Node) -> [UInt8] {
        guard case .concat(let items) = n else {
            if case .literal(let b) = n { return [b] }
            return []
        }
        var best: [UInt8] = [], run: [UInt8] = []
        for x in items {
            if case .literal(let b) = x { run.append(b); if run.count > best.count { best = run } } else { run = [] }
        }
        return best
    }

    /// Whether `p` occurs in `s`.
    static func contains(_ s: UnsafeBufferPointer<UInt8>, _ p: [UInt8]) -> Bool {
        guard let first = p.first else { return true }
        let m = p.count
        var i = 0
        while i + m <= s.count {
            if s[i] == first {
                var j = 1
                while j < m && s[i + j] == p[j] { j += 1 }
                if j == m { return true }
            }
            i += 1
        }
        return false
    }

    // MARK: Parsing

    struct Parse {
        let bytes: [UInt8]
        var i = 0
        var groups = 0

        var atEnd: Bool { i >= bytes.count }
        var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

        mutating func alternation() -> Node? {
            var branches: [Node] = []
            repeat {
                guard let c = concatenation() else { return nil }
                branches.append(c)
            } while eat(UInt8(ascii: "|"))
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        mutating func eat(_ b: UInt8) -> Bool {
            if peek == b { i += 1; return true }
            return false
        }

        mutating func concatenation() -> Node? {
            var items: [Node] = []
            while let c = peek, c != UInt8(ascii: "|"), c != UInt8(ascii: ")") {
                guard let atom = atom(), let q = quantified(atom) else { return nil }
                items.append(q)
            }
            return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concat(items)
        }

        mutating func quantified(_ atom: Node) -> Node? {
            var node = atom
            while let c = peek {
                var min = 0, max: Int? = nil
                switch c {
                case UInt8(ascii: "*"): i += 1
                case UInt8(ascii: "+"): i += 1; min = 1
                case UInt8(ascii: "?"): i += 1; max = 1
                case UInt8(ascii: "{"):
                    guard let (lo, hi) = braces() else { return nil }
                    (min, max) = (lo, hi)
                default: return node
                }
                if case .lineStart = node { return nil }
                if case .lineEnd = node { return nil }
                let greedy = !eat(UInt8(ascii: "?"))
                if peek == UInt8(ascii: "+") { return nil }  // possessive: not here
                node = .repetition(node, min: min, max: max, greedy: greedy)
            }
            return node
        }

        /// `{m}`, `{m,}`, `{m,n}` (at most 1,000).
        mutating func braces() -> (Int, Int?)? {
            i += 1
            func number() -> Int? {
                var n = 0, digits = 0
                while let d = peek, d >= 48, d <= 57 { n = n * 10 + Int(d - 48); digits += 1; i += 1; if n > 1000 { return nil } }
                return digits > 0 ? n : nil
            }
            guard let lo = number() else { return nil }
            var hi: Int? = lo
            if eat(UInt8(ascii: ",")) { hi = peek == UInt8(ascii: "}") ? nil : number(); if peek != UInt8(ascii: "}") { return nil } }
            guard eat(UInt8(ascii: "}")), hi.map({ $0 >= lo }) ?? true else { return nil }
            return (lo, hi)
        }

        mutating func atom() -> Node? {
            guard let c = peek else { return nil }
            i += 1
            switch c {
            case UInt8(ascii: "("):
                var capture: Int? = nil
                if eat(UInt8(ascii: "?")) {
                    guard eat(UInt8(ascii: ":")) else { return nil }  // lookaround, named groups, flags: not here
                } else {
                    groups += 1
                    capture = groups
                }
                guard let inner = alternation(), eat(UInt8(ascii: ")")) else { return nil }
                return .group(inner, capture: capture)
            case UInt8(ascii: "["): return bracket()
            case UInt8(ascii: "."):
                var s = ByteSet()
                s.insert(10)
                return .set(s, negated: true)
            case UInt8(ascii: "^"): return .lineStart
            case UInt8(ascii: "$"): return .lineEnd
            case UInt8(ascii: "\\"): return escape(inClass: false).map { $0.negated ? .set($0.set, negated: true) : $0.single.map { .literal($0) } ?? .set($0.set, negated: false) }
            case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"), UInt8(ascii: "{"), UInt8(ascii: ")"): return nil
            default:
                guard c >= 0x80 else { return .literal(c) }
                // A character of several bytes is one atom (a quantifier after it repeats all of it).
                let n = ByteRegex.width(c)
                guard i + n - 1 <= bytes.count else { return nil }
                let rest = bytes[i..<(i + n - 1)]
                i += n - 1
                return .group(.concat([.literal(c)] + rest.map { .literal($0) }), capture: nil)
            }
        }

        /// An escape after `\`: a class (\d \w \s and negations) or one byte.
        mutating func escape(inClass: Bool) -> (set: ByteSet, negated: Bool, single: UInt8?)? {
            guard let c = peek else { return nil }
            i += 1
            var s = ByteSet()
            func range(_ a: Character, _ b: Character) { for x in a.asciiValue!...b.asciiValue! { s.insert(x) } }
            switch c {
            case UInt8(ascii: "d"), UInt8(ascii: "D"):
                range("0", "9")
                return (s, c == UInt8(ascii: "D"), nil)
            case UInt8(ascii: "w"), UInt8(ascii: "W"):
                range("a", "z"); range("A", "Z"); range("0", "9"); s.insert(UInt8(ascii: "_"))
                return (s, c == UInt8(ascii: "W"), nil)
            case UInt8(ascii: "s"), UInt8(ascii: "S"):
                for x in [9, 10, 11, 12, 13, 32] as [UInt8] { s.insert(x) }
                return (s, c == UInt8(ascii: "S"), nil)
            case UInt8(ascii: "t"): s.insert(9); return (s, false, 9)
            case UInt8(ascii: "n"): s.insert(10); return (s, false, 10)
            case UInt8(ascii: "r"): s.insert(13); return (s, false, 13)
            default:
                // An escaped punctuation character stands for itself; letters and digits are other escapes (not here).
                guard c < 128, !(c >= 48 && c <= 57), !((c | 0x20) >= 97 && (c | 0x20) <= 122) else { return nil }
                s.insert(c)
                return (s, false, c)
            }
        }

        /// `[...]` after its `[`: ASCII members, ranges and escapes.
        mutating func bracket() -> Node? {
            let negated = eat(UInt8(ascii: "^"))
            var s = ByteSet()
            var first = true
            while let c = peek, c != UInt8(ascii: "]") || first {
                first = false
                i += 1
                var low: UInt8
                if c == UInt8(ascii: "\\") {
                    guard let e = escape(inClass: true) else { return nil }
                    guard let single = e.single else {
                        guard !e.negated else { return nil }
                        for b in 0..<128 as Range<UInt8> where e.set.contains(b) { s.insert(b) }
                        continue
                    }
                    low = single
                } else if c == UInt8(ascii: "[") {
                    return nil  // POSIX classes and nested sets: not here
                } else {
                    low = c
                }
                guard low < 128 else { return nil }
                if peek == UInt8(ascii: "-"), i + 1 < bytes.count, bytes[i + 1] != UInt8(ascii: "]") {
                    i += 1
                    guard var high = peek, high < 128 else { return nil }
                    i += 1
                    if high == UInt8(ascii: "\\") {
                        guard let e = escape(inClass: true), let single = e.single else { return nil }
                        high = single
                    }
                    guard high >= low, high < 128 else { return nil }
                    for b in low...high { s.insert(b) }
                } else {
                    s.insert(low)
                }
            }
            guard eat(UInt8(ascii: "]")) else { return nil }
            return .set(s, negated: negated)
        }
    }

    // MARK: Compiling

    /// Whether a node can match the empty string.
    static func nullable(_ n: Node) -> Bool {
        switch n {
        case .empty, .lineStart, .lineEnd: return true
        case .set, .literal: return false
        case .group(let x, _): return nullable(x)
        case .concat(let items): return items.allSatisfy(nullable)
        case .alternation(let branches): return branches.contains(where: nullable)
        case .repetition(let x, let min, _, _): return min == 0 || nullable(x)
        }
    }

    /// Whether an unbounded repetition has a body that can match nothing (`(a*)*`): a
    /// backtracking machine would loop on it, so such a pattern goes to the general engine.
    static func loopsOnNothing(_ n: Node) -> Bool {
        switch n {
        case .empty, .lineStart, .lineEnd, .set, .literal: return false
        case .group(let x, _): return loopsOnNothing(x)
        case .concat(let items): return items.contains(where: loopsOnNothing)
        case .alternation(let branches): return branches.contains(where: loopsOnNothing)
        case .repetition(let x, _, let max, _): return (max == nil && nullable(x)) || loopsOnNothing(x)
        }
    }

    /// Appends the code of a node; false when the program would be too large.
    static func emit(_ n: Node, _ code: inout [Op]) -> Bool {
        guard code.count < 20_000 else { return false }
        switch n {
        case .empty: return true
        case .set(let s, let negated): code.append(negated ? .notSet(s) : .set(s)); return true
        case .literal(let b): code.append(.byte(b)); return true
        case .lineStart: code.append(.lineStart); return true
        case .lineEnd: code.append(.lineEnd); return true
        case .group(let inner, let capture):
            if let c = capture { code.append(.save(2 * c)) }
            guard emit(inner, &code) else { return false }
            if let c = capture { code.append(.save(2 * c + 1)) }
            return true
        case .concat(let items):
            for x in items { guard emit(x, &code) else { return false } }
            return true
        case .alternation(let branches):
            // split L1, next; L1: branch; jump end; ...
            var jumps: [Int] = []
            for (k, b) in branches.enumerated() {
                if k < branches.count - 1 {
                    let split = code.count
                    code.append(.split(split + 1, 0))
                    guard emit(b, &code) else { return false }
                    jumps.append(code.count)
                    code.append(.jump(0))
                    code[split] = .split(split + 1, code.count)
                } else {
                    guard emit(b, &code) else { return false }
                }
            }
            for j in jumps { code[j] = .jump(code.count) }
            return true
        case .repetition(let x, let min, let max, let greedy):
            for _ in 0..<min { guard emit(x, &code) else { return false } }
            if let max {
                // Up to max - min optional copies, each skipping the rest when not taken.
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(code.count)
                    code.append(.split(0, 0))
                    guard emit(x, &code) else { return false }
                }
                for s in splits { code[s] = greedy ? .split(s + 1, code.count) : .split(code.count, s + 1) }
            } else {
                // L: split body, end; body; jump L
                let loop = code.count
                code.append(.split(0, 0))
                guard emit(x, &code) else { return false }
                code.append(.jump(loop))
                code[loop] = greedy ? .split(loop + 1, code.count) : .split(code.count, loop + 1)
            }
            return true
        }
    }

    // MARK: Matching

    public enum Outcome: Equatable {
        /// The byte ranges of the whole match (group 0) and of each group (nil: it took no part).
        case match([Range<Int>?])
        case noMatch
        /// The search took too many steps (a pathological pattern and text): ask the general engine.
        case gaveUp
    }

    /// The first match in `s`.
    public func firstMatch(_ s: UnsafeBufferPointer<UInt8>) -> Outcome {
        if !required.isEmpty && !ByteRegex.contains(s, required) { return .noMatch }
        var start = 0
        let slots = 2 * (groups + 1)
        var caps = [Int](repeating: -1, count: slots)
        var stack: [(pc: Int, sp: Int, slot: Int, old: Int)] = []
        var budget = 1_000_000
        while start <= s.count {
            // A position whose byte cannot begin a match is passed over (unless a match may be empty).
            if !canBeEmpty && (start == s.count || !firstBytes[Int(s[start])]) {
                guard start < s.count else { break }
                start += 1
                while start < s.count && s[start] & 0xC0 == 0x80 { start += 1 }
                continue
            }
            switch run(s, from: start, &caps, &stack, &budget) {
            case true?: return .match((0...groups).map { g in caps[2 * g] >= 0 && caps[2 * g + 1] >= 0 ? caps[2 * g]..<caps[2 * g + 1] : nil })
            case nil: return .gaveUp
            case false?: break
            }
            guard start < s.count else { break }
            // The next character's start.
            start += 1
            while start < s.count && s[start] & 0xC0 == 0x80 { start += 1 }
        }
        return .noMatch
    }

    /// The length of the character whose first byte is `b`.
    @inline(__always)
    static func width(_ b: UInt8) -> Int { b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4 }

    /// Backtracking from `start`: a stack of choices to go back to, and of capture slots to restore
    /// (pc -1), so that a choice abandoned undoes the captures it made.
    /// Nil when the step budget ran out.
    private func run(_ s: UnsafeBufferPointer<UInt8>, from start: Int, _ caps: inout [Int], _ stack: inout [(pc: Int, sp: Int, slot: Int, old: Int)],
                     _ budget: inout Int) -> Bool? {
        for k in caps.indices { caps[k] = -1 }
        stack.removeAll(keepingCapacity: true)
        var pc = 0, sp = start
        while true {
            budget -= 1
            if budget < 0 { return nil }
            var failed = false
            switch program[pc] {
            case .byte(let b):
                if sp < s.count && s[sp] == b { sp += 1; pc += 1 } else { failed = true }
            case .set(let set):
                if sp < s.count && set.contains(s[sp]) { sp += 1; pc += 1 } else { failed = true }
            case .notSet(let set):
                if sp < s.count && !set.contains(s[sp]) { sp += ByteRegex.width(s[sp]); pc += 1 } else { failed = true }
            case .split(let a, let b):
                stack.append((b, sp, -1, 0))
                pc = a
            case .jump(let t): pc = t
            case .save(let n):
                stack.append((-1, 0, n, caps[n]))
                caps[n] = sp
                pc += 1
            case .lineStart:
                if sp == 0 { pc += 1 } else { failed = true }
            case .lineEnd:
                if sp == s.count { pc += 1 } else { failed = true }
            case .match: return true
            }
            if failed {
                // Back to the latest choice, undoing the captures made since.
                while true {
                    guard let top = stack.popLast() else { return false }
                    if top.pc < 0 { caps[top.slot] = top.old; continue }
                    pc = top.pc
                    sp = top.sp
                    break
                }
            }
        }
    }
}
