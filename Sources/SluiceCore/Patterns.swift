/// The text patterns users write in function calls: DATE_FORMAT's (Java's date pattern letters,
/// as Flink takes them) and REGEXP_EXTRACT's regular expressions.

/// A date pattern: `yyyy-MM-dd HH:mm:ss.SSS`, `'quoted text'`, `''` for a quote. Letters: y (year),
/// M (month: MM digits, MMM a short name, MMMM the full name), d (day of month), H (hour 0-23),
/// h (hour 1-12), a (AM/PM), m (minute), s (second), S (milliseconds), E (EEE a short day name,
/// EEEE the full name). A run of a letter pads numbers to its length (`yy` keeps two digits).
/// Times are formatted in UTC.
public struct DateFormatPattern: Sendable {
    enum Piece: Sendable {
        case text(String)
        case field(Character, Int)
    }

    let pieces: [Piece]

    static let letters: Set<Character> = ["y", "M", "d", "H", "h", "a", "m", "s", "S", "E"]
    static let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
    static let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    /// The pattern compiled, or what is wrong with it.
    public static func compile(_ pattern: String) -> Result<DateFormatPattern, PatternError> {
        var pieces: [Piece] = []
        let chars = Array(pattern)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "'" {
                // '' is a quote; 'text' is text.
                if i + 1 < chars.count && chars[i + 1] == "'" {
                    pieces.append(.text("'"))
                    i += 2
                    continue
                }
                var text = ""
                var j = i + 1
                var closed = false
                while j < chars.count {
                    if chars[j] == "'" {
                        if j + 1 < chars.count && chars[j + 1] == "'" { text.append("'"); j += 2; continue }
                        closed = true
                        break
                    }
                    text.append(chars[j])
                    j += 1
                }
                guard closed else { return .failure(PatternError("the quote at position \(i + 1) of '\(pattern)' is not closed")) }
                pieces.append(.text(text))
                i = j + 1
            } else if c.isLetter && c.isASCII {
                guard letters.contains(c) else {
                    return .failure(PatternError("'\(c)' in '\(pattern)' is not a pattern letter Sluice knows (y M d H h a m s S E; quote text as 'text')"))
                }
                var n = 1
                while i + n < chars.count && chars[i + n] == c { n += 1 }
                pieces.append(.field(c, n))
                i += n
            } else {
                pieces.append(.text(String(c)))
                i += 1
            }
        }
        return .success(DateFormatPattern(pieces: pieces))
    }

    /// What is wrong with a pattern (nil: nothing).
    public static func problem(_ pattern: String) -> String? {
        if case .failure(let e) = compile(pattern) { return e.message }
        return nil
    }

    /// The timestamp (epoch milliseconds, UTC) `text` spells in this pattern, as Kinesis Data
    /// Analytics' CHAR_TO_TIMESTAMP reads it (Java's SimpleDateFormat): the pattern's fields in
    /// order, each a run of digits (exactly as many as letters when the next piece is a field too),
    /// a month or day name for MMM and E, AM or PM for a; text between them must match; what
    /// follows the last piece is ignored. Fields the pattern lacks are 1970-01-01 00:00:00.000.
    /// Two-digit years (`yy`) are 1946 to 2045. Nil when the text does not fit.
    public func parse(_ text: String) -> Int64? {
        let chars = Array(text)
        var i = 0
        var year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0, milli = 0
        var pm: Bool? = nil, hour12 = false
        func digits(_ max: Int) -> Int? {
            var v = 0, n = 0
            while i < chars.count, n < max, let d = chars[i].wholeNumberValue, chars[i].isASCII {
                v = v * 10 + d
                i += 1
                n += 1
            }
            return n == 0 ? nil : v
        }
        func name(_ names: [String]) -> Int? {
            let rest = String(chars[i...]).lowercased()
            // The full name first, then the three-letter one.
            for (k, n) in names.enumerated() where rest.hasPrefix(n.lowercased()) { i += n.count; return k }
            for (k, n) in names.enumerated() where rest.hasPrefix(n.prefix(3).lowercased()) { i += 3; return k }
            return nil
        }
        for (k, p) in pieces.enumerated() {
            switch p {
            case .text(let s):
                for c in s {
                    guard i < chars.count, chars[i] == c else { return nil }
                    i += 1
                }
            case .field(let c, let n):
                let packed: Bool = { if k + 1 < pieces.count, case .field = pieces[k + 1] { return true } else { return false } }()
                let width = packed ? n : Int.max
                switch c {
                case "M" where n >= 3:
                    guard let m = name(Self.months) else { return nil }
                    month = m + 1
                case "E":
                    guard name(Self.days) != nil else { return nil }
                case "a":
                    let rest = String(chars[i...]).uppercased()
                    if rest.hasPrefix("AM") { pm = false } else if rest.hasPrefix("PM") { pm = true } else { return nil }
                    i += 2
                default:
                    guard let v = digits(width) else { return nil }
                    switch c {
                    case "y": year = n == 2 ? (v < 46 ? 2000 + v : 1900 + v) : v
                    case "M": month = v
                    case "d": day = v
                    case "H": hour = v
                    case "h": hour = v; hour12 = true
                    case "m": minute = v
                    case "s": second = v
                    default: milli = v
                    }
                }
            }
        }
        if hour12 {
            guard (1...12).contains(hour) else { return nil }
            hour = hour % 12 + (pm == true ? 12 : 0)
        }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60, milli < 1000 else { return nil }
        let days = TimeFormat.daysFromCivil(year: year, month: month, day: day)
        return ((Int64(days) * 24 + Int64(hour)) * 60 + Int64(minute)) * 60_000 + Int64(second) * 1000 + Int64(milli)
    }

    /// A timestamp (epoch milliseconds) in this pattern, in UTC.
    public func format(_ t: Int64) -> String {
        let f = TimeFormat.fields(t)
        var out = ""
        func pad(_ v: Int, _ n: Int) {
            let s = String(v)
            if s.count < n { out += String(repeating: "0", count: n - s.count) }
            out += s
        }
        for p in pieces {
            switch p {
            case .text(let s): out += s
            case .field(let c, let n):
                switch c {
                case "y": n == 2 ? pad(((f.year % 100) + 100) % 100, 2) : pad(f.year, n)
                case "M":
                    if n >= 4 { out += Self.months[f.month - 1] } else if n == 3 { out += Self.months[f.month - 1].prefix(3) } else { pad(f.month, n) }
                case "d": pad(f.day, n)
                case "H": pad(f.hour, n)
                case "h": pad(f.hour % 12 == 0 ? 12 : f.hour % 12, n)
                case "a": out += f.hour < 12 ? "AM" : "PM"
                case "m": pad(f.minute, n)
                case "s": pad(f.second, n)
                case "S": pad(f.millisecond, max(n, 3))
                default:
                    // E: the day of the week.
                    let dow = TimeFormat.dayOfWeek(t)
                    out += n >= 4 ? Self.days[dow] : String(Self.days[dow].prefix(3))
                }
            }
        }
        return out
    }

}

public struct PatternError: Error, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// Regular expressions as REGEXP_EXTRACT takes them.
public enum RegexCheck {
    /// The number of capture groups of a valid pattern, nil for an invalid one.
    public static func groups(_ pattern: String) -> Int? {
        guard (try? Regex(pattern)) != nil else { return nil }
        // The capturing parentheses, outside character classes and escapes.
        var count = 0, escaped = false, inClass = false
        let chars = Array(pattern)
        for (i, c) in chars.enumerated() {
            if escaped { escaped = false; continue }
            switch c {
            case "\\": escaped = true
            case "[": inClass = true
            case "]": inClass = false
            case "(" where !inClass:
                if i + 1 < chars.count && chars[i + 1] == "?" {
                    // (?<name>...) and (?P<name>...) capture; (?:...), lookarounds and flags do not.
                    if i + 2 < chars.count && (chars[i + 2] == "<" || chars[i + 2] == "P") && !(i + 3 < chars.count && (chars[i + 3] == "=" || chars[i + 3] == "!")) { count += 1 }
                } else {
                    count += 1
                }
            default: break
            }
        }
        return count
    }
}

/// SQL's SIMILAR TO patterns as regular expressions: `%` any text, `_` one character, `( ) | [ ]
/// * + ? { }` as in regular expressions, every other character itself (an ESCAPE character makes
/// the next one itself); the whole text must match.
public enum SimilarPattern {
    public static func regex(_ pattern: String, escape: Character?) -> String? {
        var out = "^(?:"
        var chars = pattern.makeIterator()
        var inClass = false
        while let c = chars.next() {
            if let e = escape, c == e {
                guard let n = chars.next() else { return nil }
                out += NSRegularExpressionEscape.literal(n)
                continue
            }
            if inClass {
                if c == "]" { inClass = false }
                out += c == "\\" ? "\\\\" : String(c)
                continue
            }
            switch c {
            case "%": out += ".*"
            case "_": out += "."
            case "[": inClass = true; out += "["
            case "(", ")", "|", "*", "+", "?", "{", "}": out.append(c)
            default: out += NSRegularExpressionEscape.literal(c)
            }
        }
        guard !inClass else { return nil }
        return out + ")$"
    }
}

enum NSRegularExpressionEscape {
    /// A character matching itself in a regular expression.
    static func literal(_ c: Character) -> String {
        "\\^$.|?*+()[]{}/".contains(c) ? "\\" + String(c) : String(c)
    }
}
