/// Value types of the engine (DIALECT.md §2). TIMESTAMP is UTC epoch milliseconds; INTERVAL is
/// milliseconds; DECIMAL(p, s) is exact, its unscaled value in 64 bits (p up to 18).
public enum ColumnType: Sendable, Hashable {
    case boolean, bigint, double, varchar, timestamp, interval
    case decimal(precision: Int, scale: Int)

    /// The type as SQL writes it: `BIGINT`, `DECIMAL(10, 2)`.
    public var rawValue: String {
        switch self {
        case .boolean: return "BOOLEAN"
        case .bigint: return "BIGINT"
        case .double: return "DOUBLE"
        case .varchar: return "VARCHAR"
        case .timestamp: return "TIMESTAMP"
        case .interval: return "INTERVAL"
        case .decimal(let p, let s): return "DECIMAL(\(p), \(s))"
        }
    }

    /// Reads `rawValue` back (as saved definitions hold it).
    public init?(rawValue: String) {
        switch rawValue {
        case "BOOLEAN": self = .boolean
        case "BIGINT": self = .bigint
        case "DOUBLE": self = .double
        case "VARCHAR": self = .varchar
        case "TIMESTAMP": self = .timestamp
        case "INTERVAL": self = .interval
        default:
            guard rawValue.hasPrefix("DECIMAL("), rawValue.hasSuffix(")") else { return nil }
            let parts = rawValue.dropFirst(8).dropLast().split(separator: ",").map { Int(String($0.filter { $0 != " " })) }
            guard parts.count == 2, let p = parts[0], let s = parts[1], (1...Decimal64.maxPrecision).contains(p), (0...p).contains(s) else { return nil }
            self = .decimal(precision: p, scale: s)
        }
    }

    /// Whether values of the type are 64-bit integers in storage (BIGINT, TIMESTAMP, INTERVAL and
    /// DECIMAL's unscaled values).
    public var isIntegerStored: Bool {
        switch self {
        case .bigint, .timestamp, .interval, .decimal: return true
        default: return false
        }
    }

    /// DECIMAL's scale; nil for other types.
    public var decimalScale: Int? { if case .decimal(_, let s) = self { return s }; return nil }
}

/// One value, for rows at the edges (tests, results, literals). Hot paths work on columns.
public enum Value: Sendable, Hashable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case timestamp(Int64)
    case interval(Int64)
    case decimal(Decimal64)

    public var isNull: Bool { if case .null = self { return true }; return false }

    public var description: String {
        switch self {
        case .null: return "NULL"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d.description
        case .string(let s): return s
        case .timestamp(let t): return TimeFormat.iso8601(t)
        case .interval(let ms): return "\(ms) ms"
        case .decimal(let d): return d.description
        }
    }
}

/// A named, typed field of a schema. Names keep their declared spelling and match
/// case-insensitively (DIALECT.md §1).
public struct Field: Sendable, Hashable {
    public var name: String
    public var type: ColumnType
    public init(_ name: String, _ type: ColumnType) {
        self.name = name
        self.type = type
    }
}

public struct Schema: Sendable, Hashable {
    public var fields: [Field]
    public init(_ fields: [Field]) { self.fields = fields }

    /// The position of a field by name, ignoring case.
    public func index(of name: String) -> Int? {
        fields.firstIndex { $0.name == name } ?? fields.firstIndex { $0.name.lowercased() == name.lowercased() }
    }
}

/// A column of one type, values in contiguous storage, with a validity bitmap when it holds NULLs.
/// Strings are one byte buffer plus offsets.
public struct Column: Sendable {
    public enum Storage: Sendable {
        case bool(ContiguousArray<Bool>)
        case int(ContiguousArray<Int64>)
        case double(ContiguousArray<Double>)
        /// `offsets[i]..<offsets[i+1]` is the UTF-8 of row i.
        case string(bytes: ContiguousArray<UInt8>, offsets: ContiguousArray<Int32>)
    }

    public var type: ColumnType
    public var storage: Storage
    /// Nil when no value is NULL; otherwise `valid[i]` says whether row i has a value.
    public var valid: ContiguousArray<Bool>?

    public var count: Int {
        switch storage {
        case .bool(let a): return a.count
        case .int(let a): return a.count
        case .double(let a): return a.count
        case .string(_, let o): return max(0, o.count - 1)
        }
    }

    public func isNull(_ i: Int) -> Bool { valid.map { !$0[i] } ?? false }

    /// Rows `range` of the column.
    public func slice(_ range: Range<Int>) -> Column {
        var c = self
        switch storage {
        case .bool(let a): c.storage = .bool(ContiguousArray(a[range]))
        case .int(let a): c.storage = .int(ContiguousArray(a[range]))
        case .double(let a): c.storage = .double(ContiguousArray(a[range]))
        case .string(let bytes, let offsets):
            let lo = Int(offsets[range.lowerBound]), hi = Int(offsets[range.upperBound])
            c.storage = .string(bytes: ContiguousArray(bytes[lo..<hi]), offsets: ContiguousArray(offsets[range.lowerBound...range.upperBound].map { $0 - Int32(lo) }))
        }
        if let v = valid { c.valid = ContiguousArray(v[range]) }
        return c
    }

    public func value(_ i: Int) -> Value {
        if isNull(i) { return .null }
        switch storage {
        case .bool(let a): return .bool(a[i])
        case .int(let a):
            switch type {
            case .timestamp: return .timestamp(a[i])
            case .interval: return .interval(a[i])
            case .decimal(_, let s): return .decimal(Decimal64(unscaled: a[i], scale: s))
            default: return .int(a[i])
            }
        case .double(let a): return .double(a[i])
        case .string(let bytes, let offsets):
            return .string(String(decoding: bytes[Int(offsets[i])..<Int(offsets[i + 1])], as: UTF8.self))
        }
    }
}

/// Rows in columns, the unit that flows between operators.
public struct Batch: Sendable {
    public var schema: Schema
    public var columns: [Column]
    public var count: Int

    public init(schema: Schema, columns: [Column], count: Int) {
        self.schema = schema
        self.columns = columns
        self.count = count
    }

    public func row(_ i: Int) -> [Value] { columns.map { $0.value(i) } }

    /// Rows `range`, copied a column at a time (typed arrays and string bytes, no values built).
    public func slice(_ range: Range<Int>) -> Batch {
        Batch(schema: schema, columns: columns.map { $0.slice(range) }, count: range.count)
    }

    /// Every row, built a column at a time: each column's storage is looked at once, not once per
    /// row (`row(_:)` in a loop retains and releases it for every value).
    public func rows() -> [[Value]] {
        var out = (0..<count).map { _ in [Value]() }
        for i in out.indices { out[i].reserveCapacity(columns.count) }
        for c in columns { c.appendValues(to: &out) }
        return out
    }

    /// Every row's values one after another in one array (row i at `i * columns.count`), built
    /// a column at a time: rows without an array each.
    public func rowMajorValues() -> [Value] {
        let width = columns.count
        var out = [Value](repeating: .null, count: count * width)
        out.withUnsafeMutableBufferPointer { buffer in
            for (c, column) in columns.enumerated() { column.storeValues(into: buffer, offset: c, stride: width) }
        }
        return out
    }
}

extension Column {
    /// Stores value i of this column at `offset + i * stride`, for every row.
    func storeValues(into out: UnsafeMutableBufferPointer<Value>, offset: Int, stride: Int) {
        var at = offset
        func each(_ make: (Int) -> Value) {
            for i in 0..<count {
                out[at] = make(i)
                at += stride
            }
        }
        switch storage {
        case .bool(let a): each { .bool(a[$0]) }
        case .int(let a):
            switch type {
            case .timestamp: each { .timestamp(a[$0]) }
            case .interval: each { .interval(a[$0]) }
            case .decimal(_, let s): each { .decimal(Decimal64(unscaled: a[$0], scale: s)) }
            default: each { .int(a[$0]) }
            }
        case .double(let a): each { .double(a[$0]) }
        case .string: each { value($0) }
        }
        // What the storage holds for a NULL is a placeholder.
        if let valid { for i in 0..<count where !valid[i] { out[offset + i * stride] = .null } }
    }

    /// Appends value i of this column to `rows[i]`, for every row.
    func appendValues(to rows: inout [[Value]]) {
        let n = Swift.min(rows.count, count)
        switch storage {
        case .bool(let a): for i in 0..<n { rows[i].append(.bool(a[i])) }
        case .int(let a):
            switch type {
            case .timestamp: for i in 0..<n { rows[i].append(.timestamp(a[i])) }
            case .interval: for i in 0..<n { rows[i].append(.interval(a[i])) }
            case .decimal(_, let s): for i in 0..<n { rows[i].append(.decimal(Decimal64(unscaled: a[i], scale: s))) }
            default: for i in 0..<n { rows[i].append(.int(a[i])) }
            }
        case .double(let a): for i in 0..<n { rows[i].append(.double(a[i])) }
        case .string:
            for i in 0..<n { rows[i].append(value(i)) }
        }
        // What the storage holds for a NULL is a placeholder.
        if let valid { for i in 0..<n where !valid[i] { rows[i][rows[i].count - 1] = .null } }
    }
}

/// Appends values of one type; `finish()` makes the column.
public struct ColumnBuilder: Sendable {
    public let type: ColumnType
    @usableFromInline var bools = ContiguousArray<Bool>()
    @usableFromInline var ints = ContiguousArray<Int64>()
    @usableFromInline var doubles = ContiguousArray<Double>()
    @usableFromInline var bytes = ContiguousArray<UInt8>()
    @usableFromInline var offsets: ContiguousArray<Int32> = [0]
    @usableFromInline var valid: ContiguousArray<Bool>? = nil
    @usableFromInline var rows = 0
    public var count: Int { rows }

    public init(_ type: ColumnType, capacity: Int = 0) {
        self.type = type
        switch type {
        case .boolean: bools.reserveCapacity(capacity)
        case .bigint, .timestamp, .interval, .decimal: ints.reserveCapacity(capacity)
        case .double: doubles.reserveCapacity(capacity)
        case .varchar: offsets.reserveCapacity(capacity + 1)
        }
    }

    @inlinable
    mutating func markValid(_ ok: Bool) {
        if !ok && valid == nil { valid = ContiguousArray(repeating: true, count: count) }
        if valid != nil { valid!.append(ok) }
        rows += 1
    }

    public mutating func appendNull() {
        switch type {
        case .boolean: bools.append(false)
        case .bigint, .timestamp, .interval, .decimal: ints.append(0)
        case .double: doubles.append(0)
        case .varchar: offsets.append(Int32(bytes.count))
        }
        markValid(false)
    }

    @inlinable public mutating func append(int v: Int64) { ints.append(v); markValid(true) }
    @inlinable public mutating func append(double v: Double) { doubles.append(v); markValid(true) }
    @inlinable public mutating func append(bool v: Bool) { bools.append(v); markValid(true) }
    @inlinable public mutating func append(utf8 v: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: v)
        offsets.append(Int32(bytes.count))
        markValid(true)
    }
    public mutating func append(string v: String) {
        bytes.append(contentsOf: v.utf8)
        offsets.append(Int32(bytes.count))
        markValid(true)
    }

    /// Appends any value, converting as the column type requires; false when it cannot.
    public mutating func append(_ v: Value) -> Bool {
        switch (type, v) {
        case (_, .null): appendNull()
        case (.boolean, .bool(let b)): append(bool: b)
        case (.bigint, .int(let i)), (.timestamp, .timestamp(let i)), (.interval, .interval(let i)): append(int: i)
        case (.double, .double(let d)): append(double: d)
        case (.double, .int(let i)): append(double: Double(i))
        case (.double, .decimal(let d)): append(double: d.doubleValue)
        case (.decimal(let p, let s), .decimal(let d)):
            guard let r = d.rescaled(to: s), r.fits(precision: p) else { return false }
            append(int: r.unscaled)
        case (.decimal(let p, let s), .int(let i)):
            guard let r = Decimal64(i).rescaled(to: s), r.fits(precision: p) else { return false }
            append(int: r.unscaled)
        case (.varchar, .string(let s)): append(string: s)
        default: return false
        }
        return true
    }

    /// Removes the last value (a record that failed half way through decoding).
    public mutating func removeLast() {
        guard count > 0 else { return }
        switch type {
        case .boolean: bools.removeLast()
        case .bigint, .timestamp, .interval, .decimal: ints.removeLast()
        case .double: doubles.removeLast()
        case .varchar:
            offsets.removeLast()
            bytes.removeSubrange(Int(offsets.last!)...)
        }
        valid?.removeLast()
        rows -= 1
    }

    public mutating func finish() -> Column {
        let storage: Column.Storage
        switch type {
        case .boolean: storage = .bool(bools)
        case .bigint, .timestamp, .interval, .decimal: storage = .int(ints)
        case .double: storage = .double(doubles)
        case .varchar: storage = .string(bytes: bytes, offsets: offsets)
        }
        let c = Column(type: type, storage: storage, valid: valid)
        self = ColumnBuilder(type)
        return c
    }
}
