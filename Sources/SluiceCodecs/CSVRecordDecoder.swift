public import SluiceCore

/// Decodes CSV records (RFC 4180 quoting; a quoted field may hold line breaks) into typed
/// columns. Columns bind to fields by header name or by position. A record with more fields than
/// the header or the declared columns is refused (a field cannot silently go missing). An empty
/// unquoted value is NULL; `""` is the empty string.
/// Numbers, booleans and timestamps are read as in `JSONRecordDecoder` (timestamps as epoch
/// milliseconds or ISO-8601).
public struct CSVRecordDecoder {
    public let fields: [FieldSpec]
    /// `columns[i]` is the CSV column that field i reads.
    public let columns: [Int]
    public let delimiter: UInt8
    /// How many fields a record has (the header's or the declared columns' count); nil: any.
    public let width: Int?
    private var starts: [Int] = []
    private var ends: [Int] = []
    private var quoted: [Bool] = []
    private var scratch: [UInt8] = []

    /// Fields bound by position: field i reads column i.
    public init(fields: [FieldSpec], delimiter: UInt8 = UInt8(ascii: ",")) {
        self.init(fields: fields, columns: Array(fields.indices), delimiter: delimiter)
    }

    public init(fields: [FieldSpec], columns: [Int], delimiter: UInt8 = UInt8(ascii: ","), width: Int? = nil) {
        precondition(fields.count == columns.count)
        self.fields = fields
        self.columns = columns
        self.delimiter = delimiter
        self.width = width
    }

    /// Binds fields to the columns of a header line by name (exact spelling first, then ignoring case).
    public static func bind(fields: [FieldSpec], header: UnsafeRawBufferPointer, delimiter: UInt8 = UInt8(ascii: ","))
        -> Result<CSVRecordDecoder, DecodeError>
    {
        var probe = CSVRecordDecoder(fields: [], columns: [], delimiter: delimiter)
        guard probe.split(header) else { return .failure(DecodeError("the header line has an unterminated quote")) }
        let names = (0..<probe.starts.count).map { probe.text($0, header) }
        var columns: [Int] = []
        for f in fields {
            guard let i = names.firstIndex(of: f.name) ?? names.firstIndex(where: { $0.lowercased() == f.name.lowercased() }) else {
                return .failure(DecodeError("no column '\(f.name)' in the CSV header (\(names.joined(separator: ", ")))"))
            }
            columns.append(i)
        }
        return .success(CSVRecordDecoder(fields: fields, columns: columns, delimiter: delimiter, width: names.count))
    }

    /// Whether a line, read on from a record that was `inside` a quoted field, ends inside one
    /// (so the record goes on at the next line: RFC 4180 lets a quoted field hold line breaks).
    public static func endsInsideQuotes(_ line: UnsafeRawBufferPointer, delimiter: UInt8 = UInt8(ascii: ","), startingInside inside: Bool = false) -> Bool {
        var quoted = inside
        var atFieldStart = !inside
        var i = 0
        while i < line.count {
            let c = line[i]
            if quoted {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < line.count && line[i + 1] == UInt8(ascii: "\"") { i += 2; continue }
                    quoted = false
                }
            } else if c == delimiter {
                atFieldStart = true
                i += 1
                continue
            } else if c == UInt8(ascii: "\"") && atFieldStart {
                quoted = true
            }
            atFieldStart = false
            i += 1
        }
        return quoted
    }

    /// The values of one CSV line as text (quotes removed), or nil on an unterminated quote.
    public static func values(of line: UnsafeRawBufferPointer, delimiter: UInt8 = UInt8(ascii: ",")) -> [String]? {
        var d = CSVRecordDecoder(fields: [], columns: [], delimiter: delimiter)
        guard d.split(line) else { return nil }
        return (0..<d.starts.count).map { d.text($0, line) }
    }

    /// Splits a line into field ranges; false on an unterminated quote.
    private mutating func split(_ b: UnsafeRawBufferPointer) -> Bool {
        starts.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        quoted.removeAll(keepingCapacity: true)
        var n = b.count
        while n > 0 && (b[n - 1] == 10 || b[n - 1] == 13) { n -= 1 }
        var i = 0
        while true {
            if i < n && b[i] == UInt8(ascii: "\"") {
                let s = i + 1
                i += 1
                var closed = false
                while i < n {
                    if b[i] == UInt8(ascii: "\"") {
                        if i + 1 < n && b[i + 1] == UInt8(ascii: "\"") { i += 2; continue }
                        closed = true
                        break
                    }
                    i += 1
                }
                guard closed else { return false }
                starts.append(s)
                ends.append(i)
                quoted.append(true)
                i += 1
                while i < n && b[i] != delimiter { i += 1 }  // text after a closing quote is ignored
            } else {
                let s = i
                while i < n && b[i] != delimiter { i += 1 }
                starts.append(s)
                ends.append(i)
                quoted.append(false)
            }
            if i >= n { return true }
            i += 1  // delimiter
        }
    }

    private mutating func text(_ k: Int, _ b: UnsafeRawBufferPointer) -> String {
        String(decoding: value(k, b), as: UTF8.self)
    }

    /// The bytes of column k, with doubled quotes undone.
    private mutating func value(_ k: Int, _ b: UnsafeRawBufferPointer) -> [UInt8] {
        let raw = UnsafeRawBufferPointer(rebasing: b[starts[k]..<ends[k]])
        guard quoted[k], raw.contains(UInt8(ascii: "\"")) else { return Array(raw) }
        var out: [UInt8] = []
        var i = 0
        while i < raw.count {
            out.append(raw[i])
            i += raw[i] == UInt8(ascii: "\"") ? 2 : 1
        }
        return out
    }

    /// Decodes one record; on error nothing is appended.
    public mutating func decode(_ record: UnsafeRawBufferPointer, into builders: inout [ColumnBuilder]) -> DecodeError? {
        if let why = UTF8Check.problem(record) { return DecodeError(why) }
        guard split(record) else { return DecodeError("unterminated quote") }
        if let w = width, starts.count > w {
            return DecodeError("the record has \(starts.count) fields; \(w) are expected (the header's or the declared columns)")
        }
        var done = 0
        for (fi, f) in fields.enumerated() {
            let k = columns[fi]
            if let e = field(f, k, record, &builders[fi]) {
                for j in 0..<done { builders[j].removeLast() }
                return e
            }
            done += 1
        }
        return nil
    }

    private mutating func field(_ f: FieldSpec, _ k: Int, _ b: UnsafeRawBufferPointer, _ builder: inout ColumnBuilder) -> DecodeError? {
        guard k < starts.count else {
            return DecodeError("the record has \(starts.count) column\(starts.count == 1 ? "" : "s"); column \(k + 1) is missing", field: f.name)
        }
        if starts[k] == ends[k] && !quoted[k] {
            builder.appendNull()
            return nil
        }
        let bytes = value(k, b)
        return bytes.withUnsafeBytes { v -> DecodeError? in
            switch f.type {
            case .varchar:
                builder.append(utf8: v)
            case .bigint, .interval:
                guard let i = Int64(String(decoding: v, as: UTF8.self).trimmingSpaces) else {
                    return DecodeError("'\(String(decoding: v, as: UTF8.self))' is not a whole number", field: f.name)
                }
                builder.append(int: i)
            case .double:
                guard let d = Double(String(decoding: v, as: UTF8.self).trimmingSpaces) else {
                    return DecodeError("'\(String(decoding: v, as: UTF8.self))' is not a number", field: f.name)
                }
                builder.append(double: d)
            case .boolean:
                switch String(decoding: v, as: UTF8.self).trimmingSpaces.lowercased() {
                case "true", "t", "1": builder.append(bool: true)
                case "false", "f", "0": builder.append(bool: false)
                default: return DecodeError("'\(String(decoding: v, as: UTF8.self))' is not true or false", field: f.name)
                }
            case .timestamp:
                let t = String(decoding: v, as: UTF8.self).trimmingSpaces
                if let ms = Int64(t) {
                    if let why = JSONRecordDecoder.outOfRange(ms) { return DecodeError(why, field: f.name) }
                    builder.append(int: ms)
                } else if let ms = TimeFormat.parseISO8601(t) {
                    builder.append(int: ms)
                } else {
                    return DecodeError("'\(t)' is not a timestamp (epoch milliseconds or ISO-8601)", field: f.name)
                }
            case .decimal(let precision, let scale):
                let t = String(decoding: v, as: UTF8.self).trimmingSpaces
                guard let d = Decimal64.parse(Array(t.utf8), scale: scale), d.fits(precision: precision) else {
                    // A number too long for the column, or no number at all.
                    return DecodeError(Double(t) != nil ? "\(t) is out of the range of \(f.type.rawValue)" : "'\(t)' is not a number", field: f.name)
                }
                builder.append(int: d.unscaled)
            }
            return nil
        }
    }
}
