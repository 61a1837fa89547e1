import SluiceCore

/// Kinesis Data Analytics' log parsers in a select list. Each gives a row of fields (`COLUMN1`,
/// `COLUMN2`, ... or the names a description gives) that the query around reads as
/// `t.rec.COLUMN1`; Sluice has no row values, so the item becomes one item per field, named
/// `rec.COLUMN1` (`rec` the item's alias, or a name the FROM's `AS t(rec)` gives it), and
/// `t.rec.COLUMN1` reads it.
///
/// - `REGEX_LOG_PARSE(s, regex)`: a field per capturing group of a match of the whole text (Java's
///   rules); NULL fields when it does not match.
/// - `W3C_LOG_PARSE(s, 'COMMON' | 'COMMON WITH VHOST' | 'NCSA EXTENDED')`: the fields of those
///   formats (host, logname, user, [time], request, status, bytes; the virtual host first; referer
///   and user agent after), the request's quotes taken off.
/// - `VARIABLE_COLUMN_LOG_PARSE(s, n | 'name TYPE type, ...', delimiter)`: the fields between
///   delimiters, converted to their types.
/// - `FIXED_COLUMN_LOG_PARSE(s, 'name TYPE type START n [FOR length], ...')`: fields at fixed
///   places (from 0), converted to their types.
/// - `FAST_REGEX_LOG_PARSE(s, fast_regex)` (also spelt `..._PARSER`): a field per group of a
///   pattern in the Fast Regex syntax, matched lazily over the whole text (`fastRegex`).
/// - `SYS_LOG_PARSE(s)`: a syslog line `Mon DD HH:MM:SS rest` as COLUMN1, the TIMESTAMP (in the
///   year of the row's ROWTIME: the line has none), and COLUMN2, the rest.
extension Parser {
    static let logParsers: Set<String> = ["REGEX_LOG_PARSE", "W3C_LOG_PARSE", "VARIABLE_COLUMN_LOG_PARSE", "FIXED_COLUMN_LOG_PARSE",
                                          "FAST_REGEX_LOG_PARSE", "FAST_REGEX_LOG_PARSER", "SYS_LOG_PARSE"]
    /// The name of a log parser's row when nothing names it (renamed by `AS t(name)`).
    static let unnamedLogRow = "EXPR$0"

    static let w3cFormats: [String: String] = [
        "COMMON": #"(\S+) (\S+) (\S+) (\[[^\]]*\]) "([^"]*)" (\S+) (\S+)"#,
        "COMMON WITH VHOST": #"(\S+) (\S+) (\S+) (\S+) (\[[^\]]*\]) "([^"]*)" (\S+) (\S+)"#,
        "NCSA EXTENDED": #"(\S+) (\S+) (\S+) (\[[^\]]*\]) "([^"]*)" (\S+) (\S+) "([^"]*)" "([^"]*)""#,
    ]

    /// A select item in KDA's SQL: a log parser's call becomes an item per field.
    mutating func parseKDASelectItems() throws(ParseError) -> [SelectItem] {
        let item = try parseSelectItem()
        guard dialect == .kda, case .expression(let e, let alias, let loc) = item, case .function(let f) = e.kind, !f.name.quoted,
              Parser.logParsers.contains(f.name.name.uppercased()), f.over == nil else { return [item] }
        let row = alias?.name ?? Parser.unnamedLogRow
        return try logFields(f, e.loc).map { name, value in
            .expression(value, alias: Identifier(row + "." + name, quoted: true, loc: loc), loc: loc)
        }
    }

    /// A log parser's fields: each one's name and the expression that computes it.
    private func logFields(_ f: FunctionCall, _ loc: NodeSpan) throws(ParseError) -> [(String, Expr)] {
        let name = f.name.name.uppercased()
        func fail(_ m: String) -> ParseError { error("\(name): \(m)", id: "syntax.kda-log-parser", at: loc.span) }
        func text(_ i: Int) throws(ParseError) -> String {
            guard i < f.arguments.count, case .literal(.string(let s)) = f.arguments[i].kind else { throw fail("argument \(i + 1) is a string literal") }
            return s
        }
        func call(_ fn: String, _ args: [Expr]) -> Expr {
            Expr(.function(FunctionCall(name: Identifier(fn, loc: loc), arguments: args, distinct: false, star: false, over: nil)), loc)
        }
        func string(_ s: String) -> Expr { Expr(.literal(.string(s)), loc) }
        func number(_ n: Int) -> Expr { Expr(.literal(.number(String(n))), loc) }
        guard let source = f.arguments.first else { throw fail("the text to parse comes first") }
        /// Fields by the groups of a regular expression over the whole text.
        func groups(_ regex: String) throws(ParseError) -> [(String, Expr)] {
            guard let n = RegexCheck.groups(regex), n > 0 else { throw fail("'\(regex)' is not a regular expression with groups") }
            let whole = "^(?:" + regex + ")$"
            return (1...n).map { ("COLUMN\($0)", call("REGEXP_EXTRACT", [source, string(whole), number($0)])) }
        }
        /// `name TYPE type [NOT NULL] ...` descriptions: the name, its type (nil: VARCHAR) and the rest of the words.
        func columns(_ description: String) throws(ParseError) -> [(name: String, type: TypeName?, rest: [String])] {
            try description.split(separator: ",").map { part throws(ParseError) in
                let words = part.split(separator: " ").map(String.init)
                guard let n = words.first else { throw fail("a column of '\(description)' has no name") }
                guard words.count >= 3, words[1].uppercased() == "TYPE" else { return (n, nil, Array(words.dropFirst())) }
                let typeText = words[2]
                let sub = Parser.parse("CREATE STREAM t (c \(typeText));", dialect: .kda)
                guard !sub.hasErrors, case .createStream(let c)? = sub.script.statements.first?.kind, var type = c.columns.first?.type else {
                    throw fail("'\(typeText)' is not a type")
                }
                type.loc = loc
                return (n.trimmingCharacters(in: ["\""]), type, Array(words.dropFirst(3)))
            }
        }
        func typed(_ e: Expr, _ type: TypeName?) -> Expr { type.map { Expr(.cast(e, $0), loc) } ?? e }
        switch name {
        case "REGEX_LOG_PARSE":
            guard f.arguments.count == 2 else { throw fail("takes the text and a regular expression (a column list is not read)") }
            return try groups(try text(1))
        case "FAST_REGEX_LOG_PARSE", "FAST_REGEX_LOG_PARSER":
            guard f.arguments.count == 2 else { throw fail("takes the text and a Fast Regex pattern") }
            let pattern = try text(1)
            let regex: String
            do throws(FastRegexError) { regex = try Parser.fastRegex(pattern) } catch { throw fail("'\(pattern)': \(error.message)") }
            return try groups(regex)
        case "SYS_LOG_PARSE":
            guard f.arguments.count == 1 else { throw fail("takes the text of one syslog line") }
            // Month, day (space padded), time, and the rest; the timestamp in the year of ROWTIME.
            let line = "^([A-Za-z]{3}) +([0-9]{1,2}) ([0-9]{2}:[0-9]{2}:[0-9]{2}) (.*)$"
            func part(_ k: Int) -> Expr { call("REGEXP_EXTRACT", [source, string(line), number(k)]) }
            let year = Expr(.cast(Expr(.extract(.year, Expr(.column(qualifier: nil, name: Identifier("ROWTIME", loc: loc)), loc)), loc), TypeName(type: .varchar, loc: loc)), loc)
            func concat(_ parts: [Expr]) -> Expr { parts.dropFirst().reduce(parts[0]) { Expr(.binary(.concat, $0, $1), loc) } }
            let stamp = concat([year, string(" "), part(1), string(" "), part(2), string(" "), part(3)])
            return [("COLUMN1", call("CHAR_TO_TIMESTAMP", [string("yyyy MMM d HH:mm:ss"), stamp])), ("COLUMN2", part(4))]
        case "W3C_LOG_PARSE":
            let format = try text(1).uppercased()
            guard let regex = Parser.w3cFormats[format] else {
                throw fail("the format '\(format)' is not read; COMMON, COMMON WITH VHOST and NCSA EXTENDED are (or REGEX_LOG_PARSE with a regular expression)")
            }
            return try groups(regex)
        case "VARIABLE_COLUMN_LOG_PARSE":
            guard f.arguments.count == 3 else { throw fail("takes the text, the columns and the delimiter (escape and quote characters are not read)") }
            let delimiter = try text(2)
            let list: [(name: String, type: TypeName?, rest: [String])]
            if case .literal(.number(let n)) = f.arguments[1].kind, let count = Int(n), count > 0, count <= 1000 {
                list = (1...count).map { ("COLUMN\($0)", nil, []) }
            } else {
                list = try columns(try text(1))
            }
            return list.enumerated().map { k, c in (c.name, typed(call("SPLIT_PART", [source, string(delimiter), number(k + 1)]), c.type)) }
        default:  // FIXED_COLUMN_LOG_PARSE
            return try columns(try text(1)).map { c throws(ParseError) in
                let words = c.rest.map { $0.uppercased() }
                guard let s = words.firstIndex(of: "START"), s + 1 < words.count, let start = Int(words[s + 1]), start >= 0 else {
                    throw fail("column \(c.name) needs START n (its first character, from 0)")
                }
                var args = [source, number(start + 1)]
                if let l = words.firstIndex(of: "FOR"), l + 1 < words.count, let length = Int(words[l + 1]), length >= 0 { args.append(number(length)) }
                return (c.name, typed(Expr(.substring(source, from: args[1], forLength: args.count > 2 ? args[2] : nil), loc), c.type))
            }
        }
    }

    /// KDA's `FROM (SELECT ...) AS t(a, b)`: the subquery's columns renamed in order; a log
    /// parser's row without a name takes the one its place gives.
    static func renamed(_ q: Query, _ names: [Identifier]) -> Query {
        var r = q
        var k = 0
        var i = 0
        while i < r.items.count, k < names.count {
            guard case .expression(let e, let alias, let loc) = r.items[i] else { i += 1; k += 1; continue }
            if let a = alias, a.name.hasPrefix(unnamedLogRow + ".") {
                // The row's fields, together, take the row's new name.
                while i < r.items.count, case .expression(let fe, let fa?, let floc) = r.items[i], fa.name.hasPrefix(unnamedLogRow + ".") {
                    r.items[i] = .expression(fe, alias: Identifier(names[k].name + fa.name.dropFirst(unnamedLogRow.count), quoted: true, loc: fa.loc), loc: floc)
                    i += 1
                }
            } else {
                r.items[i] = .expression(e, alias: names[k], loc: loc)
                i += 1
            }
            k += 1
        }
        return r
    }
}

/// A Fast Regex pattern Sluice cannot read, and why.
struct FastRegexError: Error { var message: String }

extension Parser {
    /// A Fast Regex pattern (KDA's FAST_REGEX_LOG_PARSE, the automaton syntax) as a regular
    /// expression of Sluice's, matched lazily: every quantifier takes as little as it can, so each
    /// group ends at the first place the rest can go on from (KDA's lazy scan; where KDA's scan,
    /// which never goes back, would find no match, this may still find one). `"..."` is a literal
    /// string, `\c` the character c itself (`\d` is `d`, as in the automaton syntax), `@` any
    /// string, `#` nothing, `()` the empty string; `.`, classes, `|`, groups and the quantifiers
    /// `? * + {n} {n,} {n,m}` as usual. Intersection `&`, complement `~` and `<...>` (named
    /// patterns, number ranges) are refused.
    static func fastRegex(_ pattern: String) throws(FastRegexError) -> String {
        let chars = Array(pattern)
        var out = ""
        var i = 0
        func literal(_ c: Character) -> String { c.isLetter || c.isNumber || c == " " || c == "_" ? String(c) : "\\" + String(c) }
        var inClass = false
        while i < chars.count {
            let c = chars[i]
            i += 1
            if inClass {
                switch c {
                case "]": inClass = false; out += "]"
                case "\\":
                    guard i < chars.count else { throw FastRegexError(message: "it ends with \\") }
                    out += literal(chars[i]); i += 1
                case "[", "&", "~": out += "\\" + String(c)
                default: out.append(c)
                }
                continue
            }
            switch c {
            case "\\":
                guard i < chars.count else { throw FastRegexError(message: "it ends with \\") }
                out += literal(chars[i]); i += 1
            case "\"":
                guard let close = chars[i...].firstIndex(of: "\"") else { throw FastRegexError(message: "a \" string is not closed") }
                out += chars[i..<close].map(literal).joined()
                i = close + 1
            case "@": out += "(?:.*?)"
            case "#": out += "(?!)"
            case "[":
                inClass = true
                out += "["
                if i < chars.count && chars[i] == "^" { out += "^"; i += 1 }
            case "*", "+", "?":
                out += String(c) + "?"
            case "{":
                guard let close = chars[i...].firstIndex(of: "}") else { throw FastRegexError(message: "a {n,m} repetition is not closed") }
                let body = String(chars[i..<close])
                guard !body.isEmpty, body.allSatisfy({ $0.isNumber || $0 == "," }) else { throw FastRegexError(message: "{\(body)} is not a repetition {n}, {n,} or {n,m}") }
                out += "{" + body + "}?"
                i = close + 1
            case "(", ")", "|", ".": out.append(c)
            case "&": throw FastRegexError(message: "intersection (&) is not read; write the pattern without it")
            case "~": throw FastRegexError(message: "complement (~) is not read; write the pattern without it")
            case "<": throw FastRegexError(message: "named patterns and number ranges (<...>) are not read; write them out ([0-9]+, alternatives)")
            default: out += literal(c)
            }
        }
        if inClass { throw FastRegexError(message: "a [class] is not closed") }
        return out
    }
}
