public import SluiceCore

/// An object key prefix with Firehose's `!{namespace:value}` expressions:
/// - `!{timestamp:yyyy-MM-dd}`: the arrival time (UTC) of the oldest record in the object, in a
///   Java DateTimeFormatter pattern (letters y M d H m s S; text in single quotes);
/// - `!{firehose:error-output-type}` (error prefixes: `processing-failed`, ...);
/// - `!{firehose:random-string}`: 11 random letters and digits;
/// - `!{partitionKeyFromQuery:name}`: the value of partition key `name` of the object's records.
///
/// A prefix without expressions gets the time path `YYYY/MM/dd/HH/` appended (the classic
/// layout); one with expressions is used as written.
public struct PrefixTemplate: Sendable, Equatable {
    enum TimePart: Sendable, Equatable {
        case literal(String)
        /// A pattern letter and how many times it repeats.
        case field(Character, Int)
    }

    enum Part: Sendable, Equatable {
        case literal(String)
        case timestamp([TimePart])
        case errorOutputType
        case randomString
        case partitionKey(String)
    }

    let parts: [Part]
    public var hasExpressions: Bool { parts.contains { if case .literal = $0 { return false }; return true } }
    /// The partition keys the prefix reads.
    public var partitionKeys: [String] { parts.compactMap { if case .partitionKey(let k) = $0 { return k }; return nil } }

    public init(_ text: String, field: String = "prefix") throws(DeliveryError) {
        func bad(_ m: String) -> DeliveryError { DeliveryError(.invalidArgument, "\(field): \(m)") }
        var parts: [Part] = []
        var literal = ""
        var rest = Substring(text)
        while !rest.isEmpty {
            if rest.hasPrefix("!{") {
                guard let close = rest.firstIndex(of: "}") else { throw bad("'!{' without a closing '}'") }
                let body = rest[rest.index(rest.startIndex, offsetBy: 2)..<close]
                rest = rest[rest.index(after: close)...]
                guard let colon = body.firstIndex(of: ":") else { throw bad("'!{\(body)}' is not of the form !{namespace:value}") }
                let ns = String(body[..<colon]), value = String(body[body.index(after: colon)...])
                if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
                switch ns {
                case "timestamp": parts.append(.timestamp(try PrefixTemplate.timePattern(value, bad)))
                case "firehose":
                    switch value {
                    case "error-output-type": parts.append(.errorOutputType)
                    case "random-string": parts.append(.randomString)
                    default: throw bad("unknown !{firehose:\(value)} (known: error-output-type, random-string)")
                    }
                case "partitionKeyFromQuery":
                    guard !value.isEmpty else { throw bad("!{partitionKeyFromQuery:} needs a key name") }
                    parts.append(.partitionKey(value))
                case "partitionKeyFromLambda":
                    throw bad("!{partitionKeyFromLambda:...} needs a Lambda; use partition_keys and !{partitionKeyFromQuery:...}")
                default:
                    throw bad("unknown namespace '\(ns)' in !{\(body)} (known: timestamp, firehose, partitionKeyFromQuery)")
                }
            } else {
                literal.append(rest.first!)
                rest = rest.dropFirst()
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        self.parts = parts
    }

    static func timePattern(_ p: String, _ bad: (String) -> DeliveryError) throws(DeliveryError) -> [TimePart] {
        var out: [TimePart] = []
        let chars = Array(p)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "'" {
                // Quoted text; '' is a quote.
                var text = ""
                i += 1
                while i < chars.count {
                    if chars[i] == "'" {
                        if i + 1 < chars.count && chars[i + 1] == "'" { text.append("'"); i += 2; continue }
                        break
                    }
                    text.append(chars[i])
                    i += 1
                }
                guard i < chars.count else { throw bad("unterminated quote in the timestamp pattern '\(p)'") }
                i += 1
                out.append(.literal(text.isEmpty ? "'" : text))
            } else if c.isLetter {
                guard "yMdHmsS".contains(c) else {
                    throw bad("pattern letter '\(c)' in '\(p)' is not supported (y M d H m s S; quote text as 'text')")
                }
                var n = 1
                while i + n < chars.count && chars[i + n] == c { n += 1 }
                out.append(.field(c, n))
                i += n
            } else {
                out.append(.literal(String(c)))
                i += 1
            }
        }
        return out
    }

    static func format(_ pattern: [TimePart], _ millis: Int64) -> String {
        let f = TimeFormat.fields(millis)
        var s = ""
        func pad(_ v: Int, _ width: Int) -> String {
            let t = String(v)
            return t.count >= width ? t : String(repeating: "0", count: width - t.count) + t
        }
        for p in pattern {
            switch p {
            case .literal(let t): s += t
            case .field(let c, let n):
                switch c {
                case "y": s += n == 2 ? pad(f.year % 100, 2) : pad(f.year, n)
                case "M": s += pad(f.month, n)
                case "d": s += pad(f.day, n)
                case "H": s += pad(f.hour, n)
                case "m": s += pad(f.minute, n)
                case "s": s += pad(f.second, n)
                default: s += pad(f.millisecond, 3).prefix(n) + String(repeating: "0", count: max(0, n - 3))
                }
            }
        }
        return s
    }

    /// `YYYY/MM/dd/HH/` of a time.
    public static func timePath(_ millis: Int64) -> String {
        let f = TimeFormat.fields(millis)
        func p2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(f.year)/\(p2(f.month))/\(p2(f.day))/\(p2(f.hour))/"
    }

    /// The prefix for an object whose oldest record arrived at `time`.
    public func evaluate(time: Int64, keys: [String: String], errorType: String? = nil, random: String) -> String {
        var s = ""
        for p in parts {
            switch p {
            case .literal(let t): s += t
            case .timestamp(let pattern): s += PrefixTemplate.format(pattern, time)
            case .errorOutputType: s += errorType ?? ""
            case .randomString: s += random
            case .partitionKey(let k): s += keys[k] ?? ""
            }
        }
        if !hasExpressions { s += PrefixTemplate.timePath(time) }
        return s
    }
}
