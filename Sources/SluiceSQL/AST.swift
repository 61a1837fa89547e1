public import SluiceCore

/// Where a node came from. Positions are metadata: two nodes that differ only in where they were
/// written are equal, so `parse(print(ast)) == ast` holds although printing moves text around.
public struct NodeSpan: Sendable, Hashable {
    public var span: SourceSpan
    public init(_ span: SourceSpan) { self.span = span }
    public static let none = NodeSpan(SourceSpan(start: 0, end: 0))
    public static func == (_: NodeSpan, _: NodeSpan) -> Bool { true }
    public func hash(into hasher: inout Hasher) {}
}

/// A name as written: `userId`, or `"user id"` in double quotes. Matching names is the binder's
/// business (case-insensitive, DuckDB style); the AST keeps the spelling.
public struct Identifier: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var quoted: Bool
    public var loc: NodeSpan

    public init(_ name: String, quoted: Bool = false, loc: NodeSpan = .none) {
        self.name = name
        self.quoted = quoted
        self.loc = loc
    }

    public var description: String { name }
}

/// A whole file: its statements, in order.
public struct Script: Sendable, Equatable {
    public var statements: [Statement]
    public init(statements: [Statement]) { self.statements = statements }
}

public struct Statement: Sendable, Equatable {
    public var kind: StatementKind
    public var loc: NodeSpan
}

public indirect enum StatementKind: Sendable, Equatable {
    /// `CREATE STREAM clicks (user_id VARCHAR, ..., WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH (...)`
    case createStream(CreateStream)
    /// `CREATE STREAM page_minutes [WITH (...)] AS SELECT ...`
    case createStreamAs(CreateStreamAs)
    /// `CREATE VIEW name AS SELECT ...`: a named query, read as a subquery where it is named.
    case createView(CreateView)
    /// `CREATE FIREHOSE archive [(...)] WITH (destination = 'file:out/archive', ...)`
    case createFirehose(CreateFirehose)
    /// `CREATE TABLE pages (url VARCHAR PRIMARY KEY, owner VARCHAR) WITH (file = ..., ...)`
    case createTable(CreateTable)
    /// `CREATE SINK out WITH (type = 'file', path = 'out/x.jsonl', format = 'json')`
    case createSink(CreateSink)
    /// `CREATE ALERT name [SEVERITY 'x'] AS SELECT ... FIRE WHEN ... [RESOLVE WHEN ...] [PER ...] ...`
    case createAlert(CreateAlert)
    /// `INSERT INTO target SELECT ...`
    case insert(Insert)
    /// `SELECT ...` on its own: a push query.
    case query(Query)
    /// `EXPLAIN [LOGICAL | PHYSICAL] statement`
    case explain(Explain)
    /// `EXPLAIN n`: running query n's operators, each with the rows that entered it so far.
    case explainQuery(Int)
    /// `DESCRIBE name`
    case describe(Identifier)
    /// `SHOW STREAMS | FIREHOSES | TABLES | SINKS | QUERIES | ALERTS`
    case show(ShowTarget)
    /// `DROP STREAM | FIREHOSE | TABLE | VIEW | SINK | QUERY | ALERT [IF EXISTS] name`
    case drop(Drop)
    /// `SET name = value`
    case set(SetOption)
    /// `PRINT stream [FROM BEGINNING] [LIMIT n]`: a stream's records as they arrive, decoded.
    case print(PrintStream)
}

public enum DataType: String, Sendable, Equatable, CaseIterable {
    case boolean = "BOOLEAN", bigint = "BIGINT", double = "DOUBLE", varchar = "VARCHAR", timestamp = "TIMESTAMP", interval = "INTERVAL"
    case decimal = "DECIMAL"
}

/// The part of a time a `DATE` or `TIME` column keeps.
public enum TimePart: String, Sendable, Equatable {
    case date = "DATE", time = "TIME"
}

/// A type as written, in canonical form (`INT` is `BIGINT`, `TEXT` is `VARCHAR`, ...).
public struct TypeName: Sendable, Equatable {
    public var type: DataType
    /// `DATE` and `TIME`: a TIMESTAMP that keeps only that part (midnight UTC of its day, or its
    /// time of day on 1970-01-01).
    public var part: TimePart? = nil
    /// `VARCHAR(n)`: kept for the printer, not enforced. `TIMESTAMP(p)`: the precision, kept for
    /// the printer. `DECIMAL(p, s)`: the precision (10 when not written, as Flink).
    public var length: Int?
    /// `DECIMAL(p, s)`: the scale (0 when not written).
    public var scale: Int? = nil
    public var loc: NodeSpan
}

/// `name TYPE [PATH '$.a.b'] [PRIMARY KEY] [NOT NULL]`
public struct ColumnDefinition: Sendable, Equatable {
    public var name: Identifier
    public var type: TypeName
    public var path: StringLiteral?
    public var primaryKey: Bool
    public var notNull: Bool
    public var loc: NodeSpan
}

/// `WATERMARK FOR ts AS ts - INTERVAL '5' SECOND`
public struct WatermarkDefinition: Sendable, Equatable {
    public var column: Identifier
    public var expression: Expr
    public var loc: NodeSpan
}

public struct StringLiteral: Sendable, Equatable {
    public var value: String
    public var loc: NodeSpan
}

/// One `key = value` of a `WITH (...)` list. Keys are any word; values are literals or names.
public struct WithOption: Sendable, Equatable {
    public var key: Identifier
    public var value: OptionValue
    public var loc: NodeSpan
}

public enum OptionValue: Sendable, Equatable {
    case string(String)
    /// A number as written.
    case number(String)
    case bool(Bool)
    case name(Identifier)
    /// `INTERVAL '5' SECOND`
    case interval(IntervalLiteral)
}

public struct CreateStream: Sendable, Equatable {
    public var orReplace: Bool
    public var name: Identifier
    public var columns: [ColumnDefinition]
    public var watermark: WatermarkDefinition?
    public var options: [WithOption]
}

public struct CreateStreamAs: Sendable, Equatable {
    public var orReplace: Bool
    public var name: Identifier
    public var options: [WithOption]
    public var query: Query
}

public struct CreateView: Sendable, Equatable {
    public var orReplace: Bool
    public var name: Identifier
    public var query: Query
}

public struct CreateFirehose: Sendable, Equatable {
    public var orReplace: Bool
    public var name: Identifier
    public var columns: [ColumnDefinition]
    public var options: [WithOption]
}

public struct CreateTable: Sendable, Equatable {
    public var orReplace: Bool
    public var name: Identifier
    public var columns: [ColumnDefinition]
    public var options: [WithOption]
}

public struct CreateSink: Sendable, Equatable {
    public var orReplace: Bool
    public var name: Identifier
    public var options: [WithOption]
}

public struct CreateAlert: Sendable, Equatable {
    public var orReplace: Bool
    public var name: Identifier
    public var severity: StringLiteral?
    public var query: Query
    /// `FIRE WHEN cond`; nil when the alert fires on silence instead.
    public var fireWhen: Expr?
    /// `FIRE WHEN SILENT FOR interval`: a key that has sent no row for the interval fires.
    public var silentFor: IntervalLiteral? = nil
    public var resolveWhen: Expr?
    public var per: [Identifier]
    public var cooldown: IntervalLiteral?
    public var message: StringLiteral?
    public var notify: [StringLiteral]
    /// Where each clause was written, for the formatter (not compared).
    public var clauseLocs: ClauseLocations
}

/// Positions of optional clauses (compare equal always, like `NodeSpan`).
public struct ClauseLocations: Sendable, Equatable {
    public var spans: [String: SourceSpan] = [:]
    public static func == (_: ClauseLocations, _: ClauseLocations) -> Bool { true }
    public init() {}
}

public struct Insert: Sendable, Equatable {
    public var target: Identifier
    public var query: Query
    /// KDA's `CREATE PUMP name AS INSERT INTO ...`: the pump's name.
    public var pump: Identifier? = nil
    /// KDA's `INSERT INTO s (a, b)`: the target's columns the query's fill, in order.
    public var columns: [Identifier] = []
    /// The query's columns fill the target's by position (KDA), not by name.
    public var byPosition = false
    public var orReplace = false
}

public struct Explain: Sendable, Equatable {
    public enum Level: String, Sendable { case logical = "LOGICAL", physical = "PHYSICAL" }
    /// Nil when neither word was written (logical).
    public var level: Level?
    public var statement: Statement
}

public enum ShowTarget: String, Sendable, Equatable, CaseIterable {
    case streams = "STREAMS", firehoses = "FIREHOSES", tables = "TABLES", sinks = "SINKS", queries = "QUERIES", alerts = "ALERTS"
}

/// `PRINT clicks [FROM BEGINNING] [LIMIT 10]`
public struct PrintStream: Sendable, Equatable {
    public var name: Identifier
    public var fromBeginning: Bool
    public var limit: Int64?
}

public struct Drop: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case stream = "STREAM", firehose = "FIREHOSE", table = "TABLE", view = "VIEW", sink = "SINK", query = "QUERY", alert = "ALERT"
    }
    public var kind: Kind
    public var ifExists: Bool
    public var name: Identifier
}

public struct SetOption: Sendable, Equatable {
    public var name: Identifier
    public var value: OptionValue
}

// MARK: - Queries

/// `SELECT [DISTINCT] items [FROM from] [WHERE cond] [GROUP BY exprs] [HAVING cond]
///  [EMIT FINAL | EMIT CHANGES [EVERY interval]] [LIMIT n]`
public struct Query: Sendable, Equatable {
    public var distinct: Bool
    public var items: [SelectItem]
    public var from: FromItem?
    public var whereClause: Expr?
    public var groupBy: [Expr]
    public var having: Expr?
    public var emit: Emit?
    public var limit: Int64?
    public var loc: NodeSpan
    /// Where each clause begins (for the formatter; not compared).
    public var clauseLocs: ClauseLocations
    /// `UNION ALL SELECT ...`: the branches after this one (SELECT to HAVING each); this query's
    /// EMIT and LIMIT apply to the whole union.
    public var unionAll: [Query] = []

    public init(distinct: Bool, items: [SelectItem], from: FromItem?, whereClause: Expr?, groupBy: [Expr], having: Expr?,
                emit: Emit?, limit: Int64?, loc: NodeSpan, clauseLocs: ClauseLocations, unionAll: [Query] = []) {
        self.distinct = distinct
        self.items = items
        self.from = from
        self.whereClause = whereClause
        self.groupBy = groupBy
        self.having = having
        self.emit = emit
        self.limit = limit
        self.loc = loc
        self.clauseLocs = clauseLocs
        self.unionAll = unionAll
    }
}

public enum SelectItem: Sendable, Equatable {
    /// `*` or `c.*`, without the columns `EXCLUDE (a, b)` names
    case wildcard(qualifier: Identifier?, exclude: [Identifier] = [], loc: NodeSpan)
    /// `expr [AS alias]`
    case expression(Expr, alias: Identifier?, loc: NodeSpan)
}

public enum Emit: Sendable, Equatable {
    /// `EMIT FINAL`: one row per window and group when the window closes.
    case final
    /// `EMIT CHANGES [EVERY interval]`: a row per update, or at most one per interval.
    case changes(every: IntervalLiteral?)
}

public indirect enum FromItem: Sendable, Equatable {
    /// `clicks [AS] c`
    case relation(name: Identifier, alias: Identifier?, loc: NodeSpan)
    /// `(SELECT ...) [AS] alias`
    case subquery(Query, alias: Identifier?, loc: NodeSpan)
    /// `TUMBLE(...)`, `HOP(...)`, `SESSION(...)` with an optional alias
    case window(WindowFunction, alias: Identifier?, loc: NodeSpan)
    /// `RANDOM_CUT_FOREST[_WITH_EXPLANATION](...)` or `FLAT_LINE(...)` with an optional alias
    case anomaly(AnomalyFunction, alias: Identifier?, loc: NodeSpan)
    /// `left [INNER | LEFT [OUTER] | RIGHT [OUTER] | FULL [OUTER]] JOIN right ON condition`
    case join(Join)
}

extension FromItem {
    /// Where the item was written.
    public var loc: NodeSpan {
        switch self {
        case .relation(_, _, let l), .subquery(_, _, let l), .window(_, _, let l), .anomaly(_, _, let l): return l
        case .join(let j): return j.loc
        }
    }
}

public struct Join: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case inner = "JOIN", left = "LEFT JOIN", right = "RIGHT JOIN", full = "FULL JOIN"
    }
    public var kind: Kind
    public var left: FromItem
    public var right: FromItem
    public var condition: Expr
    public var loc: NodeSpan
    /// KDA's windowed join (`FROM a OVER (RANGE ...) JOIN b OVER (...)`): each side's window, nil
    /// for a side that is its current row only. The condition already holds the time bounds; a
    /// pump's ROWTIME for a row that met nothing is its own plus its side's window (KDA's rule).
    public var kdaWindows: KDAJoinWindows? = nil
}

public struct KDAJoinWindows: Sendable, Equatable {
    public var left: IntervalLiteral?
    public var right: IntervalLiteral?
}

/// The window table functions (their column names follow Flink: `window_start`, `window_end`).
public enum WindowFunction: Sendable, Equatable {
    /// `TUMBLE(rel, time_col, INTERVAL '1' MINUTE)` (the size may also be written `SIZE INTERVAL ...`)
    case tumble(relation: FromItem, timeColumn: Expr, size: IntervalLiteral)
    /// `HOP(rel, time_col, SIZE INTERVAL '5' MINUTE, ADVANCE INTERVAL '1' MINUTE)`
    case hop(relation: FromItem, timeColumn: Expr, size: IntervalLiteral, advance: IntervalLiteral)
    /// `SESSION(rel PARTITION BY key, time_col, GAP INTERVAL '30' MINUTE)`
    case session(relation: FromItem, partitionBy: [Expr], timeColumn: Expr, gap: IntervalLiteral)
    /// `STAGGER(rel PARTITION BY key, time_col, SIZE INTERVAL '1' MINUTE)`: per key, a window that
    /// opens at the key's first row and lasts `size` (Kinesis Data Analytics' stagger window).
    case stagger(relation: FromItem, partitionBy: [Expr], timeColumn: Expr, size: IntervalLiteral)
}

/// `RANDOM_CUT_FOREST(rel, COLUMNS (a, b), PARTITION BY k, trees => 100, ...)`, `FLAT_LINE(...)`
public struct AnomalyFunction: Sendable, Equatable {
    public enum Detector: Sendable, Equatable { case randomCutForest, flatLine, hotspots }
    public var detector: Detector = .randomCutForest
    public var withExplanation: Bool
    public var relation: FromItem
    public var columns: [Identifier]
    public var partitionBy: [Expr]
    public var parameters: [NamedArgument]
    /// KDA's `TABLE(RANDOM_CUT_FOREST(CURSOR(...), ...))`: every numeric column of the cursor, KDA's
    /// output columns, the parameters given by position (already named here).
    public var kda = false
}

/// `name => value`
public struct NamedArgument: Sendable, Equatable {
    public var name: Identifier
    public var value: Expr
    public init(name: Identifier, value: Expr) {
        self.name = name
        self.value = value
    }
}

// MARK: - Expressions

public struct Expr: Sendable, Equatable {
    public var kind: ExprKind
    public var loc: NodeSpan

    public init(_ kind: ExprKind, _ loc: NodeSpan = .none) {
        self.kind = kind
        self.loc = loc
    }
}

public enum UnaryOperator: String, Sendable, CaseIterable {
    case not = "NOT", minus = "-", plus = "+"
}

public enum BinaryOperator: String, Sendable, CaseIterable {
    case or = "OR", and = "AND"
    case eq = "=", neq = "<>", lt = "<", le = "<=", gt = ">", ge = ">="
    case concat = "||"
    case add = "+", subtract = "-"
    case multiply = "*", divide = "/", modulo = "%"
}

public enum TimeUnit: String, Sendable, CaseIterable {
    case millisecond = "MILLISECOND", second = "SECOND", minute = "MINUTE", hour = "HOUR", day = "DAY"
    case month = "MONTH", year = "YEAR", dow = "DOW", doy = "DOY", epoch = "EPOCH"

    /// Units an interval can be written in.
    public var isIntervalUnit: Bool { [.millisecond, .second, .minute, .hour, .day].contains(self) }

    public var millis: Int64? {
        switch self {
        case .millisecond: return 1
        case .second: return 1000
        case .minute: return 60_000
        case .hour: return 3_600_000
        case .day: return 86_400_000
        default: return nil
        }
    }
}

/// `INTERVAL '5' SECOND`, `INTERVAL '1.5' HOUR`; `INTERVAL '5 seconds'` is read as `INTERVAL '5' SECOND`.
public struct IntervalLiteral: Sendable, Equatable {
    /// The amount as written (a decimal).
    public var value: String
    public var unit: TimeUnit
    public var loc: NodeSpan

    /// The longest interval written in SQL: 10,000 years.
    public static let maxMillis: Int64 = 315_576_000_000_000

    public init(value: String, unit: TimeUnit, loc: NodeSpan = .none) {
        self.value = value
        self.unit = unit
        self.loc = loc
    }

    /// The length in milliseconds.
    public var millis: Int64 {
        let v = Double(value) ?? 0
        // The parser refuses amounts beyond `IntervalLiteral.maxMillis`.
        return Int64(checking: v * Double(unit.millis ?? 0)) ?? .max
    }
}

public enum Literal: Sendable, Equatable {
    /// A number as written: `42`, `3.5`, `1e-3`.
    case number(String)
    case string(String)
    case bool(Bool)
    case null
    case interval(IntervalLiteral)
    /// `TIMESTAMP '2024-01-01 00:00:05'`
    case timestamp(String)
}

public indirect enum ExprKind: Sendable, Equatable {
    case literal(Literal)
    /// `name` or `qualifier.name`
    case column(qualifier: Identifier?, name: Identifier)
    case unary(UnaryOperator, Expr)
    case binary(BinaryOperator, Expr, Expr)
    /// `x IS [NOT] NULL`
    case isNull(Expr, negated: Bool)
    /// `x [NOT] BETWEEN low AND high`
    case between(Expr, low: Expr, high: Expr, negated: Bool)
    /// `x [NOT] IN (a, b, ...)`
    case inList(Expr, [Expr], negated: Bool)
    /// `x [NOT] LIKE pattern [ESCAPE 'c']`
    case like(Expr, pattern: Expr, escape: Expr?, negated: Bool)
    /// `f(args)`, `COUNT(*)`, `COUNT(DISTINCT x)`, optionally `OVER (...)`
    case function(FunctionCall)
    /// `CAST(x AS type)`
    case cast(Expr, TypeName)
    /// `CASE [operand] WHEN ... THEN ... [ELSE ...] END`
    case caseWhen(operand: Expr?, branches: [CaseBranch], otherwise: Expr?)
    /// `EXTRACT(HOUR FROM ts)`
    case extract(TimeUnit, Expr)
    /// `FLOOR(ts TO MINUTE)`
    case floorTo(Expr, TimeUnit)
    /// `SUBSTRING(s FROM start [FOR length])`
    case substring(Expr, from: Expr, forLength: Expr?)
    /// `TRIM([BOTH | LEADING | TRAILING] [chars] FROM s)`
    case trim(TrimSide, characters: Expr?, Expr)
}

public struct CaseBranch: Sendable, Equatable {
    public var when: Expr
    public var then: Expr
    public init(when: Expr, then: Expr) {
        self.when = when
        self.then = then
    }
}

public enum TrimSide: String, Sendable, CaseIterable { case both = "BOTH", leading = "LEADING", trailing = "TRAILING" }

public struct FunctionCall: Sendable, Equatable {
    public var name: Identifier
    public var arguments: [Expr]
    public var distinct: Bool
    /// `COUNT(*)`
    public var star: Bool
    public var over: OverClause?
    /// An aggregate's `FILTER (WHERE condition)`: only the rows for which it holds are aggregated.
    public var filter: Expr? = nil
}

/// `OVER (PARTITION BY k ORDER BY ts RANGE INTERVAL '1' MINUTE PRECEDING)` or `... ROWS 10 PRECEDING`
public struct OverClause: Sendable, Equatable {
    public var partitionBy: [Expr]
    /// ORDER BY's keys: one time column for an aggregate's window; any keys, ASC or DESC, for
    /// ROW_NUMBER, RANK and DENSE_RANK.
    public var orderBy: [OrderItem]
    public var frame: Frame?
    public var loc: NodeSpan

    public init(partitionBy: [Expr], orderBy: [OrderItem], frame: Frame?, loc: NodeSpan) {
        self.partitionBy = partitionBy
        self.orderBy = orderBy
        self.frame = frame
        self.loc = loc
    }

    public enum Frame: Sendable, Equatable {
        case range(IntervalLiteral)
        case rows(Int64)
    }
}

/// A key of ORDER BY in an OVER clause.
public struct OrderItem: Sendable, Equatable {
    public var expr: Expr
    public var descending: Bool
    public init(_ expr: Expr, descending: Bool = false) {
        self.expr = expr
        self.descending = descending
    }
}
