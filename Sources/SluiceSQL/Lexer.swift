public import SluiceCore

/// The lexer: UTF-8 bytes in, tokens with byte spans out. It never fails: text it cannot read
/// becomes an `.error` token and a diagnostic, and lexing goes on.
public struct Lexer {
    public struct Output: Sendable {
        public var tokens: [Token]
        public var diagnostics: [Diagnostic]
        /// Spans of comments, in order (the formatter puts them back).
        public var comments: [SourceSpan]
    }

    /// Byte classes, one table lookup per byte.
    private static let identStart: [Bool] = (0..<256).map { b in
        (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 || b >= 0x80
    }
    private static let identPart: [Bool] = (0..<256).map { b in
        (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 || (b >= 48 && b <= 57) || b >= 0x80 || b == 36
    }

    public static func tokenize(_ text: String) -> Output {
        tokenize(Array(text.utf8))
    }

    public static func tokenize(_ bytes: [UInt8]) -> Output {
        var tokens: [Token] = []
        tokens.reserveCapacity(bytes.count / 4 + 1)
        var diagnostics: [Diagnostic] = []
        var comments: [SourceSpan] = []
        let n = bytes.count
        var i = 0
        func add(_ k: TokenKind, _ s: Int, _ e: Int) { tokens.append(Token(k, SourceSpan(start: s, end: e))) }
        while i < n {
            let c = bytes[i]
            let start = i
            switch c {
            case 32, 9, 10, 13, 12, 11:
                i += 1
            case UInt8(ascii: "-") where i + 1 < n && bytes[i + 1] == UInt8(ascii: "-"):
                while i < n && bytes[i] != 10 { i += 1 }
                comments.append(SourceSpan(start: start, end: i))
            case UInt8(ascii: "/") where i + 1 < n && bytes[i + 1] == UInt8(ascii: "*"):
                i += 2
                var depth = 1
                while i < n && depth > 0 {
                    if bytes[i] == UInt8(ascii: "*") && i + 1 < n && bytes[i + 1] == UInt8(ascii: "/") {
                        depth -= 1
                        i += 2
                    } else if bytes[i] == UInt8(ascii: "/") && i + 1 < n && bytes[i + 1] == UInt8(ascii: "*") {
                        depth += 1
                        i += 2
                    } else {
                        i += 1
                    }
                }
                if depth > 0 {
                    diagnostics.append(Diagnostic(id: "syntax.unterminated-comment", message: "this comment is never closed",
                                                  span: SourceSpan(start: start, end: start + 2), help: "close it with */"))
                }
                comments.append(SourceSpan(start: start, end: i))
            case UInt8(ascii: "'"):
                i += 1
                var closed = false
                while i < n {
                    if bytes[i] == UInt8(ascii: "'") {
                        if i + 1 < n && bytes[i + 1] == UInt8(ascii: "'") { i += 2; continue }
                        i += 1
                        closed = true
                        break
                    }
                    i += 1
                }
                if closed {
                    add(.string, start, i)
                } else {
                    diagnostics.append(Diagnostic(id: "syntax.unterminated-string", message: "this string is never closed",
                                                  span: SourceSpan(start: start, end: start + 1),
                                                  help: "end it with ' (write '' for a quote inside a string)"))
                    add(.error, start, i)
                }
            case UInt8(ascii: "\""):
                i += 1
                var closed = false
                while i < n {
                    if bytes[i] == UInt8(ascii: "\"") {
                        if i + 1 < n && bytes[i + 1] == UInt8(ascii: "\"") { i += 2; continue }
                        i += 1
                        closed = true
                        break
                    }
                    i += 1
                }
                if closed && i - start > 2 {
                    add(.quotedIdentifier, start, i)
                } else if closed {
                    diagnostics.append(Diagnostic(id: "syntax.empty-identifier", message: "a quoted name cannot be empty",
                                                  span: SourceSpan(start: start, end: i)))
                    add(.error, start, i)
                } else {
                    diagnostics.append(Diagnostic(id: "syntax.unterminated-identifier", message: "this quoted name is never closed",
                                                  span: SourceSpan(start: start, end: start + 1), help: "end it with \""))
                    add(.error, start, i)
                }
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                i = number(bytes, i, &diagnostics)
                add(.number, start, i)
            case UInt8(ascii: ".") where i + 1 < n && bytes[i + 1] >= 48 && bytes[i + 1] <= 57:
                i = number(bytes, i, &diagnostics)
                add(.number, start, i)
            case _ where identStart[Int(c)]:
                i += 1
                while i < n && identPart[Int(bytes[i])] { i += 1 }
                if let bad = invalidUTF8(bytes, start, i) {
                    diagnostics.append(Diagnostic(id: "syntax.bad-character", message: "this text is not valid UTF-8",
                                                  span: SourceSpan(start: bad, end: bad + 1)))
                    add(.error, start, i)
                } else if let kw = keyword(bytes, start, i) {
                    add(.keyword(kw), start, i)
                } else {
                    add(.identifier, start, i)
                }
            default:
                if let (p, len) = punct(bytes, i) {
                    add(.punct(p), i, i + len)
                    i += len
                } else {
                    let shown = c >= 32 && c < 127 ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x" + String(c, radix: 16)
                    diagnostics.append(Diagnostic(id: "syntax.bad-character", message: "unexpected character \(shown)",
                                                  span: SourceSpan(start: i, end: i + 1)))
                    add(.error, i, i + 1)
                    i += 1
                }
            }
        }
        tokens.append(Token(.eof, SourceSpan(start: n, end: n)))
        return Output(tokens: tokens, diagnostics: diagnostics, comments: comments)
    }

    /// Digits, an optional fraction and an optional exponent. Letters glued to a number are an error.
    private static func number(_ b: [UInt8], _ start: Int, _ diags: inout [Diagnostic]) -> Int {
        var i = start
        let n = b.count
        func digits() { while i < n && b[i] >= 48 && b[i] <= 57 { i += 1 } }
        digits()
        if i < n && b[i] == UInt8(ascii: ".") {
            i += 1
            digits()
        }
        if i < n && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            var j = i + 1
            if j < n && (b[j] == UInt8(ascii: "+") || b[j] == UInt8(ascii: "-")) { j += 1 }
            if j < n && b[j] >= 48 && b[j] <= 57 {
                i = j
                digits()
            } else {
                diags.append(Diagnostic(id: "syntax.bad-number", message: "the exponent of this number has no digits",
                                        span: SourceSpan(start: start, end: j)))
                return j
            }
        }
        if i < n && identPart[Int(b[i])] {
            var j = i
            while j < n && identPart[Int(b[j])] { j += 1 }
            diags.append(Diagnostic(id: "syntax.bad-number", message: "a number cannot run into a name",
                                    span: SourceSpan(start: start, end: j), help: "put a space or an operator between them"))
            return j
        }
        return i
    }

    /// Keywords in an open-addressing table keyed by an FNV-1a hash of the upper-case spelling,
    /// so recognising a word allocates nothing.
    private static let keywordSlots: [(hash: UInt32, spelling: [UInt8], keyword: Keyword)?] = {
        var slots = [(hash: UInt32, spelling: [UInt8], keyword: Keyword)?](repeating: nil, count: 1024)
        for k in Keyword.allCases {
            let bytes = Array(k.rawValue.utf8)
            var h: UInt32 = 2_166_136_261
            for c in bytes { h = (h ^ UInt32(c)) &* 16_777_619 }
            var i = Int(h & 1023)
            while slots[i] != nil { i = (i + 1) & 1023 }
            slots[i] = (h, bytes, k)
        }
        return slots
    }()

    private static func keyword(_ b: [UInt8], _ s: Int, _ e: Int) -> Keyword? {
        let len = e - s
        guard len >= 2 && len <= 34 else { return nil }
        var h: UInt32 = 2_166_136_261
        for k in s..<e {
            let c = b[k]
            if c >= 0x80 { return nil }
            h = (h ^ UInt32(c >= 97 && c <= 122 ? c - 32 : c)) &* 16_777_619
        }
        return keywordSlots.withUnsafeBufferPointer { slots in
            var i = Int(h & 1023)
            while let slot = slots[i] {
                if slot.hash == h && slot.spelling.count == len {
                    var same = true
                    for k in 0..<len {
                        let c = b[s + k]
                        if (c >= 97 && c <= 122 ? c - 32 : c) != slot.spelling[k] { same = false; break }
                    }
                    if same { return slot.keyword }
                }
                i = (i + 1) & 1023
            }
            return nil
        }
    }

    /// The offset of the first byte of an invalid UTF-8 sequence in `b[s..<e]`, if any.
    private static func invalidUTF8(_ b: [UInt8], _ s: Int, _ e: Int) -> Int? {
        var i = s
        while i < e {
            let c = b[i]
            if c < 0x80 { i += 1; continue }
            let len: Int
            if c & 0xE0 == 0xC0 && c >= 0xC2 { len = 2 } else if c & 0xF0 == 0xE0 { len = 3 } else if c & 0xF8 == 0xF0 && c <= 0xF4 { len = 4 } else { return i }
            guard i + len <= e else { return i }
            for k in 1..<len where b[i + k] & 0xC0 != 0x80 { return i }
            i += len
        }
        return nil
    }

    private static func punct(_ b: [UInt8], _ i: Int) -> (Punct, Int)? {
        let c = b[i]
        let next: UInt8 = i + 1 < b.count ? b[i + 1] : 0
        switch c {
        case UInt8(ascii: "("): return (.leftParen, 1)
        case UInt8(ascii: ")"): return (.rightParen, 1)
        case UInt8(ascii: ","): return (.comma, 1)
        case UInt8(ascii: ";"): return (.semicolon, 1)
        case UInt8(ascii: "."): return (.dot, 1)
        case UInt8(ascii: "*"): return (.star, 1)
        case UInt8(ascii: "+"): return (.plus, 1)
        case UInt8(ascii: "-"): return (.minus, 1)
        case UInt8(ascii: "/"): return (.slash, 1)
        case UInt8(ascii: "%"): return (.percent, 1)
        case UInt8(ascii: "="): return next == UInt8(ascii: ">") ? (.arrow, 2) : (.eq, 1)
        case UInt8(ascii: "<"):
            if next == UInt8(ascii: ">") { return (.neq, 2) }
            return next == UInt8(ascii: "=") ? (.le, 2) : (.lt, 1)
        case UInt8(ascii: ">"): return next == UInt8(ascii: "=") ? (.ge, 2) : (.gt, 1)
        case UInt8(ascii: "!"): return next == UInt8(ascii: "=") ? (.bangEq, 2) : nil
        case UInt8(ascii: "|"): return next == UInt8(ascii: "|") ? (.concat, 2) : nil
        default: return nil
        }
    }

    /// The value of a string token: quotes removed, `''` turned into `'`.
    public static func stringValue(_ bytes: [UInt8], _ span: SourceSpan) -> String {
        var out = [UInt8]()
        var i = span.start + 1
        let end = span.end - 1
        while i < end {
            out.append(bytes[i])
            i += bytes[i] == UInt8(ascii: "'") ? 2 : 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The name inside a quoted identifier: quotes removed, `""` turned into `"`.
    public static func quotedValue(_ bytes: [UInt8], _ span: SourceSpan) -> String {
        var out = [UInt8]()
        var i = span.start + 1
        let end = span.end - 1
        while i < end {
            out.append(bytes[i])
            i += bytes[i] == UInt8(ascii: "\"") ? 2 : 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
