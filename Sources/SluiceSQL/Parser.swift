public import SluiceCore

/// What parsing a text gives: the statements that parsed, every diagnostic, and the comments.
public struct ParseResult: Sendable {
    public var script: Script
    public var diagnostics: [Diagnostic]
    public var comments: [SourceSpan]
    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
}

/// A parse error on its way up to the statement boundary. `nil` means it was already reported
/// (by the lexer, for an error token).
struct ParseError: Error {
    var diagnostic: Diagnostic?
}

/// The SQL a text is written in: Sluice's own, or Kinesis Data Analytics' (grammar/kda.md), whose
/// forms parse into the same statements: unquoted names fold to upper case, `SELECT STREAM`,
/// `CREATE PUMP p AS INSERT INTO s [(columns)] SELECT ...` (columns matched by position), and
/// KDA's type names.
public enum Dialect: Sendable, Equatable {
    case sluice, kda
}

/// The recursive-descent parser. One function per production (`parseCreateStream`, `parseQuery`,
/// `parseExpr`, ...); expressions use precedence climbing (Pratt) over `Precedence`.
/// Every error ends the statement it is in: the parser reports it and resumes after the next `;`,
/// so each statement of a file gets its say. Nesting deeper than `maxDepth` is an error, never a
/// stack overflow.
public struct Parser {
    public static let maxDepth = 200

    let bytes: [UInt8]
    let tokens: [Token]
    var dialect: Dialect = .sluice
    /// KDA's `WINDOW name AS (...)` definitions of the SELECT being parsed, for `OVER name`.
    var namedWindows: [String: OverClause] = [:]
    /// KDA's window on a FROM stream of a join (`FROM s OVER (RANGE ...) AS a JOIN ...`), as the
    /// last FROM item read gave it, and where it was written.
    var joinWindow: (IntervalLiteral, SourceSpan)? = nil
    /// KDA's comma join just read by parseFromClause (`FROM a, b`): where it stands; the SELECT's
    /// WHERE becomes its condition.
    var commaJoin: SourceSpan? = nil
    var pos = 0
    var diagnostics: [Diagnostic] = []
    var depth = 0
    /// End of the last consumed token.
    var lastEnd = 0
    /// The last name taken as an alias without AS (a misspelt keyword often ends up there).
    var lastBareAlias: Token? = nil

    public static func parse(_ text: String, dialect: Dialect = .sluice) -> ParseResult {
        parse(bytes: Array(text.utf8), dialect: dialect)
    }

    public static func parse(bytes: [UInt8], dialect: Dialect = .sluice) -> ParseResult {
        let lexed = Lexer.tokenize(bytes)
        var p = Parser(bytes: bytes, tokens: lexed.tokens)
        p.dialect = dialect
        p.diagnostics = lexed.diagnostics
        let script = p.parseScript()
        // An unclosed string at the end often means an earlier string lacks its closing quote.
        for i in p.diagnostics.indices where p.diagnostics[i].id == "syntax.unterminated-string" {
            let at = p.diagnostics[i].span?.start ?? 0
            if let earlier = lexed.tokens.last(where: { $0.kind == .string && $0.span.end <= at }),
               bytes[earlier.span.start..<earlier.span.end].contains(10) {
                p.diagnostics[i].notes.append(Diagnostic.Note("the string here runs over several lines; is its closing quote missing?",
                                                              span: SourceSpan(start: earlier.span.start, end: earlier.span.start + 1)))
            }
        }
        let sorted = p.diagnostics.enumerated().sorted {
            ($0.element.span?.start ?? 0, $0.offset) < ($1.element.span?.start ?? 0, $1.offset)
        }.map(\.element)
        return ParseResult(script: script, diagnostics: sorted, comments: lexed.comments)
    }

    /// Parses text that must be exactly one statement (a trailing `;` is allowed).
    public static func parseStatement(_ text: String) -> (Statement?, [Diagnostic]) {
        let r = parse(text)
        if r.hasErrors { return (nil, r.diagnostics) }
        guard r.script.statements.count == 1 else {
            let d = Diagnostic(id: "syntax.expected-one-statement",
                               message: r.script.statements.isEmpty ? "expected a statement" : "expected one statement, found \(r.script.statements.count)",
                               span: SourceSpan(start: 0, end: 0))
            return (nil, [d])
        }
        return (r.script.statements[0], r.diagnostics)
    }

    init(bytes: [UInt8], tokens: [Token]) {
        self.bytes = bytes
        self.tokens = tokens
    }

    // MARK: - Script and recovery

    mutating func parseScript() -> Script {
        var statements: [Statement] = []
        while true {
            while eat(.semicolon) {}
            if current.kind == .eof { break }
            let start = pos
            lastBareAlias = nil
            do throws(ParseError) {
                let s = try parseStatement()
                if !eat(.semicolon) && current.kind != .eof {
                    if let alias = lastBareAlias, let kw = closestMatch(text(alias), in: Parser.clauseKeywords) {
                        throw error("'\(text(alias))' was read as an alias, and then \(describe(current)) does not fit",
                                    id: "syntax.unexpected-token", at: alias.span, help: "did you mean \(kw)?")
                    }
                    throw error("expected ';' after the statement, found \(describe(current))", id: "syntax.expected-semicolon",
                                help: "end each statement with ;")
                }
                statements.append(s)
            } catch {
                if let d = error.diagnostic { diagnostics.append(d) }
                recover(from: start)
            }
            depth = 0
        }
        return Script(statements: statements)
    }

    /// Skips to just after the next `;` (or the end).
    mutating func recover(from start: Int) {
        if pos == start && current.kind != .eof { advance() }
        while current.kind != .eof {
            if current.kind == .punct(.semicolon) {
                advance()
                return
            }
            advance()
        }
    }

    // MARK: - Token cursor

    var current: Token { tokens[pos] }

    func peek(_ offset: Int = 1) -> Token { tokens[min(pos + offset, tokens.count - 1)] }

    mutating func advance() {
        if pos < tokens.count - 1 {
            lastEnd = tokens[pos].span.end
            pos += 1
        }
    }

    func at(_ k: Keyword) -> Bool { current.kind == .keyword(k) }
    func at(_ p: Punct) -> Bool { current.kind == .punct(p) }

    mutating func eat(_ k: Keyword) -> Bool {
        if at(k) { advance(); return true }
        return false
    }

    mutating func eat(_ p: Punct) -> Bool {
        if at(p) { advance(); return true }
        return false
    }

    mutating func expect(_ k: Keyword, _ context: String = "") throws(ParseError) {
        guard eat(k) else { throw unexpected(expecting: ["\(k.rawValue)"], context: context) }
    }

    mutating func expect(_ p: Punct, _ context: String = "") throws(ParseError) {
        guard eat(p) else { throw unexpected(expecting: ["'\(p.rawValue)'"], context: context) }
    }

    func text(_ t: Token) -> String { String(decoding: bytes[t.span.start..<t.span.end], as: UTF8.self) }

    func describe(_ t: Token) -> String {
        switch t.kind {
        case .eof: return "the end of the input"
        case .keyword(let k): return "keyword \(k.rawValue)"
        case .identifier, .quotedIdentifier: return "name \(text(t))"
        case .string: return "string \(clip(text(t)))"
        case .number: return "number \(text(t))"
        case .punct(let p): return "'\(p.rawValue)'"
        case .error: return "'\(clip(text(t)))'"
        }
    }

    private func clip(_ s: String) -> String { s.count > 40 ? String(s.prefix(37)) + "..." : s }

    static let clauseKeywords = ["FROM", "WHERE", "GROUP", "HAVING", "EMIT", "LIMIT", "JOIN", "ON", "LEFT", "INNER"]

    func error(_ message: String, id: String = "syntax.unexpected-token", at span: SourceSpan? = nil, help: String? = nil) -> ParseError {
        if current.kind == .error && span == nil { return ParseError(diagnostic: nil) }
        var notes: [Diagnostic.Note] = []
        // A string running over several lines just before the error usually lacks a closing quote.
        for t in [pos > 0 ? tokens[pos - 1] : nil, current].compactMap({ $0 }) where t.kind == .string {
            if bytes[t.span.start..<t.span.end].contains(10) {
                notes.append(Diagnostic.Note("this string runs over several lines; is a closing quote missing?",
                                             span: SourceSpan(start: t.span.start, end: t.span.start + 1)))
                break
            }
        }
        return ParseError(diagnostic: Diagnostic(id: id, message: message, span: span ?? current.span, notes: notes, help: help))
    }

    /// "expected X, found Y", with "did you mean" when Y looks like a misspelt keyword of X.
    func unexpected(expecting: [String], context: String = "") -> ParseError {
        let list: String
        switch expecting.count {
        case 1: list = expecting[0]
        case 2: list = "\(expecting[0]) or \(expecting[1])"
        default: list = expecting.dropLast().joined(separator: ", ") + " or " + expecting.last!
        }
        var help: String? = nil
        if case .identifier = current.kind {
            let words = expecting.filter { $0.allSatisfy { $0.isUppercase || $0 == "_" } }
            if let m = closestMatch(text(current), in: words) { help = "did you mean \(m)?" }
        } else if case .keyword(let k) = current.kind, k.isReserved, expecting.contains(where: { $0.hasSuffix("name") }) {
            help = "\(k.rawValue) is a reserved word; write it in double quotes (\"\(text(current).lowercased())\") to use it as a name"
        }
        return error("expected \(list)\(context.isEmpty ? "" : " " + context), found \(describe(current))", help: help)
    }

    mutating func enter() throws(ParseError) {
        depth += 1
        if depth > Parser.maxDepth {
            throw error("the statement is nested more than \(Parser.maxDepth) levels deep", id: "syntax.nesting-too-deep",
                        help: "a run of operators (a + b + ...) nests one level per operator; a long list of alternatives is x IN (...)")
        }
    }

    mutating func leave() { depth -= 1 }

    func span(from start: Int) -> NodeSpan { NodeSpan(SourceSpan(start: start, end: max(start, lastEnd))) }

    // MARK: - Names and literals

    /// A name: an unquoted word that is not a reserved keyword, or a double-quoted name.
    mutating func parseIdentifier(_ what: String = "a name") throws(ParseError) -> Identifier {
        let t = current
        switch t.kind {
        case .identifier:
            advance()
            return Identifier(folded(t), loc: NodeSpan(t.span))
        case .quotedIdentifier:
            advance()
            return Identifier(Lexer.quotedValue(bytes, t.span), quoted: true, loc: NodeSpan(t.span))
        case .keyword(let k) where !k.isReserved:
            advance()
            return Identifier(folded(t), loc: NodeSpan(t.span))
        default:
            throw unexpected(expecting: [what])
        }
    }

    /// An unquoted name as written, or in KDA's SQL folded to upper case.
    func folded(_ t: Token) -> String { dialect == .kda ? text(t).uppercased() : text(t) }

    /// Whether the current token can be a name.
    var atIdentifier: Bool {
        switch current.kind {
        case .identifier, .quotedIdentifier: return true
        case .keyword(let k): return !k.isReserved
        default: return false
        }
    }

    /// Whether the current token can be an alias without `AS`.
    var atBareAlias: Bool {
        if atWindowedBy { return false }
        switch current.kind {
        case .identifier, .quotedIdentifier: return true
        case .keyword(let k): return !k.isReserved && !Keyword.noBareAlias.contains(k)
        default: return false
        }
    }

    /// Any word (for option keys): a name or any keyword.
    mutating func parseWord(_ what: String) throws(ParseError) -> Identifier {
        if case .keyword = current.kind {
            let t = current
            advance()
            return Identifier(text(t), loc: NodeSpan(t.span))
        }
        return try parseIdentifier(what)
    }

    mutating func parseString(_ what: String = "a string") throws(ParseError) -> StringLiteral {
        let t = current
        guard t.kind == .string else { throw unexpected(expecting: [what]) }
        advance()
        return StringLiteral(value: Lexer.stringValue(bytes, t.span), loc: NodeSpan(t.span))
    }

    mutating func parseInteger(_ what: String) throws(ParseError) -> Int64 {
        let t = current
        guard t.kind == .number else { throw unexpected(expecting: [what]) }
        guard let v = Int64(text(t)), v >= 0 else {
            throw error("expected \(what), found \(describe(t))", id: "syntax.bad-number")
        }
        advance()
        return v
    }

    /// `INTERVAL '5' SECOND`, `INTERVAL '1.5' HOURS` or `INTERVAL '5 seconds'`.
    mutating func parseIntervalLiteral() throws(ParseError) -> IntervalLiteral {
        let start = current.span.start
        try expect(.INTERVAL)
        let s = current
        guard s.kind == .string else { throw unexpected(expecting: ["a string such as '5'"], context: "after INTERVAL") }
        advance()
        let raw = Lexer.stringValue(bytes, s.span).trimmingCharacters(in: " ")
        if let unit = intervalUnit(current) {
            advance()
            guard Parser.isDecimal(raw) else {
                throw error("the amount of an interval must be a number, not '\(raw)'", id: "syntax.bad-interval", at: s.span,
                            help: "write it like INTERVAL '5' SECOND")
            }
            return try checkedInterval(IntervalLiteral(value: raw, unit: unit, loc: span(from: start)), s.span)
        }
        // The short form of the WITH options' durations: '60s', '500ms', '5m', '1.5h', '2d'.
        for (suffix, unit) in [("ms", TimeUnit.millisecond), ("s", .second), ("m", .minute), ("h", .hour), ("d", .day)] where raw.lowercased().hasSuffix(suffix) {
            let amount = String(raw.dropLast(suffix.count)).trimmingCharacters(in: " ")
            if Parser.isDecimal(amount) { return try checkedInterval(IntervalLiteral(value: amount, unit: unit, loc: span(from: start)), s.span) }
        }
        // The unit inside the string: '5 seconds'.
        let parts = raw.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, Parser.isDecimal(String(parts[0])), let kw = Keyword.lookup(parts[1]),
              let unit = Parser.unit(of: kw), unit.isIntervalUnit
        else {
            throw error("expected an interval unit (MILLISECOND, SECOND, MINUTE, HOUR or DAY) after '\(raw)'", id: "syntax.bad-interval",
                        at: s.span, help: "write it like INTERVAL '5' SECOND, INTERVAL '5 seconds' or INTERVAL '5s'")
        }
        return try checkedInterval(IntervalLiteral(value: String(parts[0]), unit: unit, loc: span(from: start)), s.span)
    }

    func checkedInterval(_ i: IntervalLiteral, _ at: SourceSpan) throws(ParseError) -> IntervalLiteral {
        let v = (Double(i.value) ?? 0) * Double(i.unit.millis ?? 0)
        guard v.isFinite, abs(v) <= Double(IntervalLiteral.maxMillis) else {
            throw error("the interval '\(i.value)' \(i.unit) is longer than 10,000 years", id: "syntax.bad-interval", at: at)
        }
        return i
    }

    func intervalUnit(_ t: Token) -> TimeUnit? {
        guard case .keyword(let k) = t.kind, let u = Parser.unit(of: k), u.isIntervalUnit else { return nil }
        return u
    }

    static func unit(of k: Keyword) -> TimeUnit? {
        switch k {
        case .MILLISECOND, .MILLISECONDS: return .millisecond
        case .SECOND, .SECONDS: return .second
        case .MINUTE, .MINUTES: return .minute
        case .HOUR, .HOURS: return .hour
        case .DAY, .DAYS: return .day
        case .MONTH: return .month
        case .YEAR: return .year
        case .DOW: return .dow
        case .DOY: return .doy
        case .EPOCH: return .epoch
        default: return nil
        }
    }

    /// `5`, `1.5`, `-2`, `.5`: a decimal as an interval amount.
    static func isDecimal(_ s: String) -> Bool {
        var t = Substring(s)
        if t.first == "-" || t.first == "+" { t = t.dropFirst() }
        guard !t.isEmpty, t != "." else { return false }
        var dot = false
        for c in t {
            if c == "." {
                if dot { return false }
                dot = true
            } else if !c.isASCII || !c.isNumber {
                return false
            }
        }
        return true
    }

    mutating func parseType() throws(ParseError) -> TypeName {
        let start = current.span.start
        if dialect == .kda, current.kind == .identifier {
            // KDA's type names beyond Sluice's: the narrower integers, CHAR(n), and VARBINARY(n)
            // and BINARY(n) as text (KDA's records are text, JSON or CSV: their bytes are the text).
            switch text(current).uppercased() {
            case "SMALLINT", "TINYINT":
                advance()
                return TypeName(type: .bigint, length: nil, loc: span(from: start))
            case "CHAR", "CHARACTER", "VARBINARY", "BINARY":
                advance()
                var length: Int? = nil
                if eat(.leftParen) {
                    length = Int(try parseInteger("a length"))
                    try expect(.rightParen)
                }
                return TypeName(type: .varchar, length: length, loc: span(from: start))
            default: break
            }
        }
        if current.kind == .identifier, let part = TimePart(rawValue: text(current).uppercased()) {
            advance()
            return TypeName(type: .timestamp, part: part, length: nil, loc: span(from: start))
        }
        guard case .keyword(let k) = current.kind else {
            throw unexpected(expecting: ["a type (BOOLEAN, BIGINT, DOUBLE, DECIMAL, VARCHAR, TIMESTAMP or INTERVAL)"])
        }
        let type: DataType
        switch k {
        case .BOOLEAN: type = .boolean
        case .BIGINT, .INT, .INTEGER: type = .bigint
        case .DOUBLE, .FLOAT, .REAL: type = .double
        case .VARCHAR, .TEXT, .STRING: type = .varchar
        case .TIMESTAMP: type = .timestamp
        case .INTERVAL: type = .interval
        case .DECIMAL, .DEC, .NUMERIC: type = .decimal
        default: throw unexpected(expecting: ["a type (BOOLEAN, BIGINT, DOUBLE, DECIMAL, VARCHAR, TIMESTAMP or INTERVAL)"])
        }
        advance()
        var length: Int? = nil
        if type == .varchar && eat(.leftParen) {
            length = Int(try parseInteger("a length"))
            try expect(.rightParen)
        } else if type == .timestamp && at(.leftParen) {
            // TIMESTAMP(p), as Flink and KDA write it: fractions of a second to p digits. Sluice's
            // timestamps are milliseconds, whatever p (0 to 9).
            let at = peek().span
            advance()
            let p = try parseInteger("a precision (0 to 9)")
            guard p <= 9 else { throw error("a TIMESTAMP precision is 0 to 9, not \(p)", id: "syntax.bad-type", at: at) }
            try expect(.rightParen)
            length = Int(p)
        } else if type == .decimal {
            // DECIMAL(p, s): exact, p digits of which s after the point; 64 bits hold p up to 18.
            // DECIMAL alone is DECIMAL(10, 0) and DECIMAL(p) is DECIMAL(p, 0), as in Flink.
            var p: Int64 = 10, s: Int64? = nil
            if at(.leftParen) {
                let at = peek().span
                advance()
                p = try parseInteger("a precision (1 to 18)")
                if eat(.comma) { s = try parseInteger("a scale (0 to the precision)") }
                try expect(.rightParen)
                guard p >= 1 && p <= 18 else {
                    throw error("a DECIMAL precision is 1 to 18 here (its values are exact in 64 bits), not \(p)", id: "syntax.bad-type", at: at,
                                help: "DOUBLE holds larger numbers, approximately")
                }
                if let s, s > p { throw error("a DECIMAL's scale (\(s)) cannot exceed its precision (\(p))", id: "syntax.bad-type", at: at) }
                return TypeName(type: type, length: Int(p), scale: s.map { Int($0) }, loc: span(from: start))
            }
            return TypeName(type: type, length: nil, scale: nil, loc: span(from: start))
        }
        return TypeName(type: type, length: length, loc: span(from: start))
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
