public import SluiceCore
public import SluiceSQL

/// A declared column of a stream or table: its name as declared, its type, and where a JSON
/// record keeps it (`PATH '$.page.url'`; by default the name).
public struct ColumnDefinition: Sendable, Equatable {
    public var name: String
    public var type: ColumnType
    public var path: [String]
    /// A `DATE` or `TIME` column: a TIMESTAMP whose values keep only that part.
    public var part: TimePart? = nil
    public init(name: String, type: ColumnType, path: [String]? = nil, part: TimePart? = nil) {
        self.name = name
        self.type = type
        self.path = path ?? [name]
        self.part = part
    }
}

/// What a query needs to know about a stream.
public struct StreamDefinition: Sendable, Equatable {
    public var name: String
    public var columns: [ColumnDefinition]
    /// `WATERMARK FOR column AS column - INTERVAL ...`: the event-time column and the delay.
    public var watermark: (column: String, delayMillis: Int64)?
    /// The `WITH (...)` options, keys lower-cased.
    public var options: [String: OptionValue]
    /// Where it was declared (for notes in diagnostics).
    public var span: SourceSpan?
    /// Where a derived stream's event time comes from (DESCRIBE says it), nil for a declared stream.
    public var timeOrigin: String? = nil

    public init(name: String, columns: [ColumnDefinition], watermark: (column: String, delayMillis: Int64)? = nil,
                options: [String: OptionValue] = [:], span: SourceSpan? = nil) {
        self.name = name
        self.columns = columns
        self.watermark = watermark
        self.options = options
        self.span = span
    }

    public static func == (a: StreamDefinition, b: StreamDefinition) -> Bool {
        a.name == b.name && a.columns == b.columns && a.watermark?.column == b.watermark?.column
            && a.watermark?.delayMillis == b.watermark?.delayMillis && a.options == b.options
    }

    public func column(_ name: String) -> ColumnDefinition? {
        columns.first { $0.name == name } ?? columns.first { $0.name.lowercased() == name.lowercased() }
    }
}

/// A reference table (`CREATE TABLE ... WITH (file, format, header, refresh)`): rows read from a
/// file and re-read every `refreshMillis`; a stream joins it on its current version.
public struct TableDefinition: Sendable, Equatable {
    public var name: String
    public var columns: [ColumnDefinition]
    /// The PRIMARY KEY columns (at most one row per key), empty when none is declared.
    public var primaryKey: [String]
    public var file: String
    /// `json` or `csv`.
    public var format: String
    public var header: Bool
    public var delimiter: UInt8
    public var refreshMillis: Int64?
    public var span: SourceSpan?

    public init(name: String, columns: [ColumnDefinition], primaryKey: [String] = [], file: String, format: String = "csv",
                header: Bool = true, delimiter: UInt8 = 44, refreshMillis: Int64? = nil, span: SourceSpan? = nil) {
        self.name = name
        self.columns = columns
        self.primaryKey = primaryKey
        self.file = file
        self.format = format
        self.header = header
        self.delimiter = delimiter
        self.refreshMillis = refreshMillis
        self.span = span
    }

    public static func == (a: TableDefinition, b: TableDefinition) -> Bool {
        a.name == b.name && a.columns == b.columns && a.primaryKey == b.primaryKey && a.file == b.file && a.format == b.format
            && a.header == b.header && a.delimiter == b.delimiter && a.refreshMillis == b.refreshMillis
    }
}

/// The names a query can refer to. The engine implements it over what has been declared.
public protocol Catalog: Sendable {
    func stream(named name: String) -> StreamDefinition?
    /// Every name known, for "did you mean".
    var streamNames: [String] { get }
    func table(named name: String) -> TableDefinition?
    var tableNames: [String] { get }
    /// A view's query (CREATE VIEW), read as a subquery where the view is named.
    func view(named name: String) -> Query?
    var viewNames: [String] { get }
}

extension Catalog {
    public func table(named name: String) -> TableDefinition? { nil }
    public var tableNames: [String] { [] }
    public func view(named name: String) -> Query? { nil }
    public var viewNames: [String] { [] }
}

/// A catalog held in memory (tests, and the engine's own bookkeeping).
public struct MemoryCatalog: Catalog {
    public var streams: [String: StreamDefinition] = [:]
    public var tables: [String: TableDefinition] = [:]
    public init(_ streams: [StreamDefinition] = [], tables: [TableDefinition] = []) {
        for s in streams { self.streams[s.name.lowercased()] = s }
        for t in tables { self.tables[t.name.lowercased()] = t }
    }
    public func stream(named name: String) -> StreamDefinition? { streams[name.lowercased()] }
    public var streamNames: [String] { streams.values.map(\.name).sorted() }
    public mutating func add(_ s: StreamDefinition) { streams[s.name.lowercased()] = s }
    public func table(named name: String) -> TableDefinition? { tables[name.lowercased()] }
    public var tableNames: [String] { tables.values.map(\.name).sorted() }
    public mutating func add(_ t: TableDefinition) { tables[t.name.lowercased()] = t }
    public var views: [String: (name: String, query: Query)] = [:]
    public func view(named name: String) -> Query? { views[name.lowercased()]?.query }
    public var viewNames: [String] { views.values.map(\.name).sorted() }
    public mutating func addView(_ name: String, _ q: Query) { views[name.lowercased()] = (name, q) }
}

extension ColumnType {
    init(_ t: TypeName) {
        switch t.type {
        case .boolean: self = .boolean
        case .bigint: self = .bigint
        case .double: self = .double
        case .varchar: self = .varchar
        case .timestamp: self = .timestamp
        case .interval: self = .interval
        case .decimal: self = .decimal(precision: t.length ?? 10, scale: t.scale ?? 0)
        }
    }
}
