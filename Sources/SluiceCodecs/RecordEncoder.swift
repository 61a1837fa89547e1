public import SluiceCore

/// Writes result rows as DIALECT.md §6 says:
/// - JSON lines: one object per row, keys in SELECT order; TIMESTAMP as ISO-8601 UTC with
///   milliseconds (`2024-01-01T00:01:00.000Z`); DOUBLE in shortest round-trip form; NULL as `null`.
/// - CSV: a header row, RFC 4180 quoting, the same value forms; NULL as an empty field.
public struct RecordEncoder: Sendable {
    public enum Format: String, Sendable { case json, csv }

    public let format: Format
    public let columns: [String]
    private let keys: [[UInt8]]

    public init(format: Format, columns: [String]) {
        self.format = format
        self.columns = columns
        keys = columns.map { name in
            var k: [UInt8] = []
            JSONValue.writeString(name, to: &k)
            k.append(UInt8(ascii: ":"))
            return k
        }
    }

    /// The header line (CSV only; empty for JSON lines).
    public var header: [UInt8] {
        guard format == .csv else { return [] }
        var out: [UInt8] = []
        for (i, c) in columns.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            RecordEncoder.csvField(Array(c.utf8), &out)
        }
        out.append(10)
        return out
    }

    /// Appends one row (values in column order), ending with a newline.
    public func append(_ row: [Value], to out: inout [UInt8]) {
        switch format {
        case .json:
            out.append(UInt8(ascii: "{"))
            for (i, v) in row.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: keys[i])
                RecordEncoder.json(v, &out)
            }
            out.append(UInt8(ascii: "}"))
        case .csv:
            for (i, v) in row.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                switch v {
                case .null: break
                case .double(let d) where !d.isFinite: break  // no number to write: NULL, as JSON writes null
                case .string(let s): RecordEncoder.csvField(Array(s.utf8), &out)
                default: RecordEncoder.csvField(Array(RecordEncoder.text(v).utf8), &out)
                }
            }
        }
        out.append(10)
    }

    public static func json(_ v: Value, _ out: inout [UInt8]) {
        switch v {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): JSONValue.writeDouble(d, to: &out)
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .timestamp(let t):
            out.append(34)
            out.append(contentsOf: TimeFormat.iso8601(t).utf8)
            out.append(34)
        case .interval(let ms): out.append(contentsOf: String(ms).utf8)
        case .decimal(let d): out.append(contentsOf: d.description.utf8)  // a JSON number, every digit of its scale
        }
    }

    /// The text of a value in CSV (and in any other text form): the same forms as JSON, unquoted.
    public static func text(_ v: Value) -> String {
        switch v {
        case .null: return ""
        case .bool(let b): return b ? "true" : "false"
        case .int(let i), .interval(let i): return String(i)
        case .double(let d): return d.isFinite ? d.description : ""
        case .string(let s): return s
        case .timestamp(let t): return TimeFormat.iso8601(t)
        case .decimal(let d): return d.description
        }
    }

    /// A CSV field, quoted when it holds a comma, a quote, a line break, or leading/trailing space,
    /// or is empty (so that "" stays apart from NULL).
    static func csvField(_ bytes: [UInt8], _ out: inout [UInt8]) {
        let needsQuotes = bytes.isEmpty || bytes.contains { $0 == 44 || $0 == 34 || $0 == 10 || $0 == 13 }
            || bytes.first == 32 || bytes.last == 32
        guard needsQuotes else {
            out.append(contentsOf: bytes)
            return
        }
        out.append(34)
        for b in bytes {
            if b == 34 { out.append(34) }
            out.append(b)
        }
        out.append(34)
    }
}
