/// Takes the bytes written so far (to a file) and empties the buffer.
public typealias JSONFlush = (inout [UInt8]) -> Void

public enum JSONValueFlush {
    /// How many bytes a flushing write gathers before it hands them on (`write(to:flush:)`).
    public static let size = 1 << 20
}

/// JSON text produced when its document is written (`JSONValue.deferred`). Two are equal when
/// they write the same text. Made and written on one thread (a query's checkpoint).
public final class DeferredJSON: @unchecked Sendable, Equatable {
    let write: (inout [UInt8], JSONFlush?) -> Void

    public init(_ write: @escaping (inout [UInt8], JSONFlush?) -> Void) { self.write = write }

    /// The text, whole.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        write(&out, nil)
        return out
    }

    public static func == (a: DeferredJSON, b: DeferredJSON) -> Bool { a === b || a.bytes == b.bytes }
}

/// A JSON document as a value: used for API requests and responses, metadata files and CLI output.
/// Objects keep their keys in insertion order, so output reads the way it was built.
/// (The hot-path record decoders live in SluiceCodecs and never build these trees.)
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integral number that fits in 64 bits.
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
    /// JSON text written when the document is written (a large part of a checkpoint: its tree
    /// never exists whole, and with a flush its text is never whole in memory either). It reads
    /// the state it describes then, so a document holding it is written when it is made.
    case deferred(DeferredJSON)

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        // Text written with the document (a checkpoint's large parts) reads as what it says.
        if case .deferred(let d) = self, let parsed = try? JSONValue.parse(bytes: d.bytes), case .array(let a) = parsed { return a }
        return nil
    }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o }; return nil }
    public var int64Value: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
}

/// A JSON object with its keys in order.
public struct JSONObject: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    public private(set) var entries: [(key: String, value: JSONValue)] = []

    public init() {}
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        for (k, v) in elements { self[k] = v }
    }

    public subscript(key: String) -> JSONValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            if let i = entries.firstIndex(where: { $0.key == key }) {
                if let v = newValue { entries[i].value = v } else { entries.remove(at: i) }
            } else if let v = newValue {
                entries.append((key, v))
            }
        }
    }

    public var keys: [String] { entries.map(\.key) }
    public var isEmpty: Bool { entries.isEmpty }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var o = JSONObject()
        for (k, v) in elements { o[k] = v }
        self = .object(o)
    }
}

// MARK: - Writing

extension JSONValue {
    /// Compact JSON text (no spaces), or indented with two spaces when `pretty`.
    public func serialized(pretty: Bool = false) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(to: &out, pretty: pretty, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    public func write(to out: inout [UInt8], pretty: Bool = false, indent: Int = 0) {
        write(to: &out, pretty: pretty, indent: indent, flush: nil)
    }

    /// Written into `out`; with `flush`, which takes `out`'s bytes away (to a file), whenever
    /// `out` holds a megabyte or more between values.
    public func write(to out: inout [UInt8], pretty: Bool = false, indent: Int = 0, flush: JSONFlush?) {
        if let flush, out.count >= JSONValueFlush.size { flush(&out) }
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): JSONValue.writeDouble(d, to: &out)
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            if a.isEmpty { out.append(contentsOf: "[]".utf8); return }
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { newline(&out, indent + 1) }
                v.write(to: &out, pretty: pretty, indent: indent + 1, flush: flush)
            }
            if pretty { newline(&out, indent) }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            if o.isEmpty { out.append(contentsOf: "{}".utf8); return }
            out.append(UInt8(ascii: "{"))
            for (i, e) in o.entries.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { newline(&out, indent + 1) }
                JSONValue.writeString(e.key, to: &out)
                out.append(UInt8(ascii: ":"))
                if pretty { out.append(UInt8(ascii: " ")) }
                e.value.write(to: &out, pretty: pretty, indent: indent + 1, flush: flush)
            }
            if pretty { newline(&out, indent) }
            out.append(UInt8(ascii: "}"))
        case .deferred(let d): d.write(&out, flush)
        }
    }

    /// An array written element by element when the document is written: each element's tree
    /// exists only while it is written, and its text goes out as it grows. `element` reads the
    /// state then (the caller writes the document at once, or compares it as it is now).
    public static func rawArray<S: Sequence>(_ elements: S, _ element: @escaping (S.Element) -> JSONValue) -> JSONValue {
        .deferred(DeferredJSON { out, flush in
            out.append(UInt8(ascii: "["))
            var first = true
            for e in elements {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                element(e).write(to: &out, flush: flush)
            }
            out.append(UInt8(ascii: "]"))
        })
    }

    private func newline(_ out: inout [UInt8], _ indent: Int) {
        out.append(10)
        for _ in 0..<(indent * 2) { out.append(32) }
    }

    /// Shortest round-trip form; non-finite values have no JSON form and are written as `null`.
    public static func writeDouble(_ d: Double, to out: inout [UInt8]) {
        guard d.isFinite else { out.append(contentsOf: "null".utf8); return }
        out.append(contentsOf: d.description.utf8)
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Whether no byte is a control character, a quote or a backslash: eight bytes at a time (a
    /// checkpoint's base64 runs to hundreds of megabytes).
    static func needsNoEscape(_ b: UnsafeRawBufferPointer) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        var i = 0
        while i + 8 <= b.count {
            let x = b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let q = x ^ (ones &* 0x22), bs = x ^ (ones &* 0x5C)
            // A zero byte of q or bs, or a byte below 0x20 (bytes of 0x80 and up are never flagged).
            if (((q &- ones) & ~q) | ((bs &- ones) & ~bs) | ((x &- ones &* 0x20) & ~x)) & highs != 0 { return false }
            i += 8
        }
        while i < b.count {
            let c = b[i]
            if c < 32 || c == UInt8(ascii: "\"") || c == 92 { return false }
            i += 1
        }
        return true
    }

    /// A JSON string literal with the escapes RFC 8259 requires.
    public static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escape (names, base64 of checkpoints): copied whole.
        if s.utf8.withContiguousStorageIfAvailable({ needsNoEscape(UnsafeRawBufferPointer($0)) })
            ?? s.utf8.allSatisfy({ $0 >= 32 && $0 != UInt8(ascii: "\"") && $0 != 92 }) {
            out.append(contentsOf: s.utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): out.append(92); out.append(c)
            case 92: out.append(92); out.append(92)
            case 10: out.append(92); out.append(UInt8(ascii: "n"))
            case 13: out.append(92); out.append(UInt8(ascii: "r"))
            case 9: out.append(92); out.append(UInt8(ascii: "t"))
            case 8: out.append(92); out.append(UInt8(ascii: "b"))
            case 12: out.append(92); out.append(UInt8(ascii: "f"))
            case 0..<32:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 15)])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

// MARK: - Parsing

/// Why a text is not JSON, with the byte offset where that became clear.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

extension JSONValue {
    /// Parses one JSON document (RFC 8259); surrounding whitespace is allowed, anything else is not.
    /// Nesting deeper than `maxDepth` is an error rather than a stack overflow.
    public static func parse(_ text: String, maxDepth: Int = 512) throws(JSONParseError) -> JSONValue {
        var t = text
        let r = t.withUTF8 { buf in Result { () throws(JSONParseError) in try parse(bytes: UnsafeRawBufferPointer(buf), maxDepth: maxDepth) } }
        return try r.get()
    }

    public static func parse(bytes: [UInt8], maxDepth: Int = 512) throws(JSONParseError) -> JSONValue {
        let r = bytes.withUnsafeBytes { buf in Result { () throws(JSONParseError) in try parse(bytes: buf, maxDepth: maxDepth) } }
        return try r.get()
    }

    public static func parse(bytes: UnsafeRawBufferPointer, maxDepth: Int = 512) throws(JSONParseError) -> JSONValue {
        var p = JSONTreeParser(bytes: bytes, maxDepth: maxDepth)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.fail("unexpected text after the JSON value") }
        return v
    }
}

struct JSONTreeParser {
    let b: UnsafeRawBufferPointer
    let maxDepth: Int
    var i = 0

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        b = bytes
        self.maxDepth = maxDepth
    }

    func fail(_ m: String) -> JSONParseError { JSONParseError(message: m, offset: i) }

    mutating func skipSpace() {
        while i < b.count {
            let c = b[i]
            if c == 32 || c == 10 || c == 13 || c == 9 { i += 1 } else { break }
        }
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < maxDepth else { throw fail("JSON nested too deeply") }
        guard i < b.count else { throw fail("unexpected end of JSON") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var o = JSONObject()
            skipSpace()
            if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let k = try string()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipSpace()
                o[k] = try value(depth: depth + 1)
                skipSpace()
                guard i < b.count else { throw fail("unexpected end of JSON in an object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var a: [JSONValue] = []
            skipSpace()
            if i < b.count && b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
            while true {
                skipSpace()
                a.append(try value(depth: depth + 1))
                skipSpace()
                guard i < b.count else { throw fail("unexpected end of JSON in an array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw fail("unexpected end of JSON") }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { throw fail("unexpected character") }
        i += n
    }

    mutating func number() throws(JSONParseError) -> JSONValue {
        let start = i
        var isInt = true
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, b[i] >= 48, b[i] <= 57 else { throw fail("invalid number") }
        if b[i] == 48 {
            i += 1
        } else {
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            isInt = false
            i += 1
            guard i < b.count, b[i] >= 48, b[i] <= 57 else { throw fail("invalid number") }
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            isInt = false
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, b[i] >= 48, b[i] <= 57 else { throw fail("invalid number") }
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
        if isInt, let v = Int64(text) { return .int(v) }
        guard let d = Double(text) else { throw JSONParseError(message: "invalid number", offset: start) }
        return .double(d)
    }

    mutating func string() throws(JSONParseError) -> String {
        i += 1  // opening quote
        let start = i
        var escaped = false
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") { break }
            if c == 92 {
                escaped = true
                i += 2
                continue
            }
            if c < 32 { throw fail("control character in a string") }
            i += 1
        }
        guard i < b.count else { throw JSONParseError(message: "unterminated string", offset: start - 1) }
        let raw = UnsafeRawBufferPointer(rebasing: b[start..<i])
        i += 1
        let decoded: String?
        if escaped {
            var out: [UInt8] = []
            guard JSONText.unescape(raw, into: &out) else { throw JSONParseError(message: "bad escape in a string", offset: start) }
            decoded = String(validating: out, as: UTF8.self)
        } else {
            decoded = String(validating: raw, as: UTF8.self)
        }
        guard let s = decoded else { throw JSONParseError(message: "invalid UTF-8 in a string", offset: start) }
        return s
    }
}

/// JSON string escapes, shared by the tree parser and the record decoders.
public enum JSONText {
    /// Appends the text of a string's contents (the bytes between its quotes) with escapes undone.
    /// False on a malformed escape or an unpaired surrogate.
    public static func unescape(_ s: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        var i = 0
        while i < s.count {
            let c = s[i]
            if c != 92 { out.append(c); i += 1; continue }
            guard i + 1 < s.count else { return false }
            let e = s[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""), 92, UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(s, i) else { return false }
                i += 4
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard i + 6 <= s.count, s[i] == 92, s[i + 1] == UInt8(ascii: "u"), let low = hex4(s, i + 2),
                          low >= 0xDC00 && low < 0xE000 else { return false }
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    return false
                }
                guard let u = Unicode.Scalar(scalar) else { return false }
                out.append(contentsOf: String(Character(u)).utf8)
            default: return false
            }
        }
        return true
    }

    static func hex4(_ s: UnsafeRawBufferPointer, _ at: Int) -> UInt32? {
        guard at + 4 <= s.count else { return nil }
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = s[at + k]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: return nil
            }
            v = v << 4 | d
        }
        return v
    }
}
