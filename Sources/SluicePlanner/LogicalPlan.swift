public import SluiceCore

/// A named, typed column of a plan's output.
public struct OutputColumn: Sendable, Equatable {
    public var name: String
    public var type: ColumnType
}

/// A column a source produces: a declared column, or ROWTIME (the record's arrival time).
public enum SourceColumn: Sendable, Equatable {
    case field(ColumnDefinition)
    case rowtime
    /// The shard a record was read from (`shardId-000000000001`), as Kinesis names it.
    case shardId

    public var name: String {
        switch self {
        case .field(let c): return c.name
        case .rowtime: return "ROWTIME"
        case .shardId: return "SHARD_ID"
        }
    }
    public var type: ColumnType {
        switch self {
        case .field(let c): return c.type
        case .rowtime: return .timestamp
        case .shardId: return .varchar
        }
    }
}

public struct SourceNode: Sendable, Equatable {
    public var stream: StreamDefinition
    /// The columns decoded, in output order (projection pruning narrows them).
    public var columns: [SourceColumn]
    /// A filter applied as records are decoded (filter push-down).
    public var predicate: BoundExpr?
}

public enum WindowKind: Sendable, Equatable {
    case tumble(size: Int64)
    case hop(size: Int64, advance: Int64)
    /// `SESSION(rel PARTITION BY keys, ts, GAP g)`: per key, records less than `gap` apart form a
    /// session `[first, last + gap)`; the keys are the query's GROUP BY columns.
    case session(gap: Int64)
    /// `STAGGER(rel PARTITION BY keys, ts, SIZE s)`: per key, a window `[first, first + size)`
    /// opened by the key's first record not in an open one; the keys are the GROUP BY columns.
    case stagger(size: Int64)

    public var size: Int64 { switch self { case .tumble(let s), .hop(let s, _), .stagger(let s): return s; case .session(let g): return g } }
    public var advance: Int64 { switch self { case .tumble(let s), .session(let s), .stagger(let s): return s; case .hop(_, let a): return a } }
    /// SESSION and STAGGER: windows per key that open with a record, not on a fixed grid.
    public var perKey: Bool { switch self { case .session, .stagger: return true; default: return false } }
}

/// An aggregate call: function name (canonical: COUNT, SUM, AVG, MIN, MAX, STDDEV_SAMP, ...),
/// its argument (nil for COUNT(*)), DISTINCT, and the output name.
public struct AggregateCall: Sendable, Equatable {
    public var function: String
    public var argument: BoundExpr?
    public var distinct: Bool
    public var type: ColumnType
    public var name: String
    /// PERCENTILE's p (a constant in 0...1).
    public var parameter: Double? = nil
    /// FIRST_VALUE / LAST_VALUE: the event time that orders the values (the window's time
    /// column, or the stream's event-time column or ROWTIME).
    public var time: BoundExpr? = nil
    /// LAG / LEAD: the value when there is no row that far (a constant).
    public var fallback: BoundExpr? = nil

    public var text: String {
        if function == "NTH_VALUE" || function == "EXP_AVG" {
            let p = parameter.map { function == "EXP_AVG" ? "INTERVAL '\(Int64($0))' MILLISECOND" : String(Int64($0)) } ?? ""
            return "\(function)(\(argument?.text ?? ""), \(p))"
        }
        if function == "LAG" || function == "LEAD" {
            return "\(function)(\(argument?.text ?? "")\(parameter.map { ", \(Int64($0))" } ?? "")\(fallback.map { ", \($0.text)" } ?? ""))"
        }
        return "\(function)(\(distinct ? "DISTINCT " : "")\(argument?.text ?? "*")\(parameter.map { ", \($0)" } ?? ""))"
    }
}

/// An OVER window (sliding, per row): its partition, the time column that orders it, its frame
/// and the aggregates computed over it. Calls with the same window share one node.
public struct OverWindow: Sendable, Equatable {
    public enum Frame: Sendable, Equatable {
        /// `RANGE INTERVAL ... PRECEDING`
        case range(millis: Int64)
        /// `ROWS n PRECEDING`
        case rows(Int64)
    }
    public var partition: [BoundExpr]
    public var timeColumn: Int
    public var frame: Frame
    public var aggregates: [AggregateCall]

    var text: String {
        let f: String
        switch frame {
        case .range(let ms): f = "range=\(Duration(millis: ms))"
        case .rows(let n): f = "rows=\(n)"
        }
        return "partition=[\(partition.map(\.text).joined(separator: ", "))] \(f) aggs=[\(aggregates.map(\.text).joined(separator: ", "))]"
    }
}

/// HOTSPOTS' parameters: the points it looks at, how near counts as near, points per hotspot.
public struct HotspotParameters: Sendable, Equatable {
    public var windowSize: Int
    public var scanRadius: Double
    public var minimumPoints: Int
}

/// `RANDOM_CUT_FOREST[_WITH_EXPLANATION]`: one streaming random cut forest per partition over
/// some numeric input columns, rows scored in event-time order. Output: the input's columns, then
/// `anomaly_score`, then (with the explanation) `<column>_attribution` and `<column>_direction` per
/// input column and `anomaly_explanation`. `FLAT_LINE` (`flatLine`): per partition how long the
/// columns have stayed within `tolerance`; output `flat_rows` and `anomaly_score`.
public struct AnomalyDetection: Sendable, Equatable {
    /// FLAT_LINE rather than a forest (whose parameters then do not apply).
    public var flatLine = false
    /// Kinesis Data Analytics' output columns: ANOMALY_SCORE and, with the explanation,
    /// ANOMALY_EXPLANATION alone.
    public var kdaColumns = false
    public var tolerance = 0.0
    /// HOTSPOTS rather than a forest: its window of points, scan radius and points per hotspot.
    public var hotspots: HotspotParameters? = nil
    /// The input columns the forest reads, by index, and their names.
    public var columns: [Int]
    public var columnNames: [String]
    public var partition: [BoundExpr]
    /// The event-time column that orders the rows.
    public var timeColumn: Int
    /// The time column is a window's end: rows at the watermark are complete (the window closed).
    public var timeIsWindowEnd: Bool
    public var explanation: Bool
    public var trees: Int
    public var sampleSize: Int
    public var shingle: Int
    /// nil: 1 / (10 · sample_size).
    public var timeDecay: Double?
    /// nil: 1 + sample_size / 4.
    public var outputAfter: Int?
    public var seed: UInt64
    /// `depth` or `displacement` (`scores`); nil: the forest's default.
    public var score: String? = nil
    public static let scores = ["depth", "displacement"]
    /// At most this many forests; a new partition beyond them evicts the one used least recently.
    public var maxPartitions: Int = AnomalyDetection.defaultMaxPartitions
    public static let defaultMaxPartitions = 10_000

    /// The columns the node adds after its input's.
    public var addedColumns: [OutputColumn] {
        if hotspots != nil { return [OutputColumn(name: "HOTSPOTS_RESULT", type: .varchar)] }
        if flatLine { return [OutputColumn(name: "flat_rows", type: .bigint), OutputColumn(name: "anomaly_score", type: .double)] }
        if kdaColumns {
            return [OutputColumn(name: "ANOMALY_SCORE", type: .double)] + (explanation ? [OutputColumn(name: "ANOMALY_EXPLANATION", type: .varchar)] : [])
        }
        var out = [OutputColumn(name: "anomaly_score", type: .double)]
        guard explanation else { return out }
        for n in columnNames {
            out.append(OutputColumn(name: "\(n)_attribution", type: .double))
            out.append(OutputColumn(name: "\(n)_direction", type: .varchar))
        }
        out.append(OutputColumn(name: "anomaly_explanation", type: .varchar))
        return out
    }

    var text: String {
        if let h = hotspots {
            return "HOTSPOTS columns=[\(columnNames.joined(separator: ", "))] partition=[\(partition.map(\.text).joined(separator: ", "))] "
                + "window_size=\(h.windowSize) scan_radius=\(h.scanRadius) minimum_points=\(h.minimumPoints)"
        }
        if flatLine {
            return "FLAT_LINE columns=[\(columnNames.joined(separator: ", "))] partition=[\(partition.map(\.text).joined(separator: ", "))] tolerance=\(tolerance)"
                + (maxPartitions != Self.defaultMaxPartitions ? " max_partitions=\(maxPartitions)" : "")
        }
        var params = "trees=\(trees) sample_size=\(sampleSize) shingle=\(shingle)"
        if let d = timeDecay { params += " time_decay=\(d)" }
        if let o = outputAfter { params += " output_after=\(o)" }
        params += " seed=\(seed)"
        if let score { params += " score=\(score)" }
        if maxPartitions != Self.defaultMaxPartitions { params += " max_partitions=\(maxPartitions)" }
        // Scores are 0 until a partition's forest has seen this many rows: EXPLAIN says so.
        params += " warm_up=\(outputAfter ?? 1 + sampleSize / 4)"
        return "columns=[\(columnNames.joined(separator: ", "))] partition=[\(partition.map(\.text).joined(separator: ", "))] \(params)"
            + (explanation ? " explanation" : "")
    }
}

/// A join of a stream with a reference table on equal keys: each input row meets the rows of the
/// table's current version whose key columns equal its key expressions (NULL keys meet nothing).
public struct LookupJoin: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable { case inner = "inner", left = "left" }
    public var table: TableDefinition
    public var kind: Kind
    /// Expressions over the input, one per key column of the table, of that column's type.
    public var streamKeys: [BoundExpr]
    /// Indexes of the table's key columns.
    public var tableKeys: [Int]
    /// The rest of the ON condition, over the joined row (input columns, then the table's).
    public var residual: BoundExpr?
}

/// An interval join of two streams: rows with equal keys whose times satisfy
/// `left.time + lower <= right.time <= left.time + upper`, inner or LEFT.
public struct IntervalJoin: Sendable, Equatable {
    public var kind: LookupJoin.Kind
    /// Key expressions over the left input and over the right input, pairwise of one type.
    public var leftKeys: [BoundExpr]
    public var rightKeys: [BoundExpr]
    /// The event-time columns of each input.
    public var leftTime: Int
    public var rightTime: Int
    public var lower: Int64
    public var upper: Int64
    /// The rest of the ON condition, over the joined row (left columns, then right).
    public var residual: BoundExpr?
}

/// Top-N and dedup: `ROW_NUMBER() | RANK() | DENSE_RANK() OVER (PARTITION BY ... ORDER BY ...)`
/// bounded by the enclosing query's `WHERE rank <= N`. Per partition, the rows ranked within the
/// first N are kept. Without a window the result is updating: a row that enters the top N is
/// `+I`, one pushed out `-D`, and (when the rank is output) a row whose rank moves `-U` / `+U`.
/// Partitioned by a window's bounds, a window's rows are ranked once it closes, and go out as
/// they are (Flink's window Top-N).
public struct TopN: Sendable, Equatable {
    public enum Function: String, Sendable, Equatable { case rowNumber = "ROW_NUMBER", rank = "RANK", denseRank = "DENSE_RANK" }
    public struct Key: Sendable, Equatable {
        public var expr: BoundExpr
        public var descending: Bool
    }
    public var function: Function
    public var partition: [BoundExpr]
    public var order: [Key]
    /// The largest rank kept: nil until the enclosing query's WHERE bounds it (a plan with an
    /// unbounded rank is refused).
    public var limit: Int64?
    /// The rank column's name, and whether it is output (dropped when nothing reads it, so a
    /// change of rank emits nothing).
    public var name: String
    public var rankOutput: Bool = true
    /// Windowed: the input column holding each row's window_end; a window's rows are ranked when
    /// the watermark passes its end.
    public var windowEnd: Int?
    /// Without a window: a partition untouched for `stateTTL` of event time (the largest
    /// `state_ttl` of the input's streams, when each declares one) is forgotten, its rows left as
    /// emitted; `timeColumn` is the input's event time that touches it.
    public var timeColumn: Int? = nil
    public var stateTTL: Int64? = nil

    var text: String {
        let keys = order.map { $0.expr.text + ($0.descending ? " DESC" : "") }
        return "\(function.rawValue) partition=[\(partition.map(\.text).joined(separator: ", "))] order=[\(keys.joined(separator: ", "))] "
            + "limit=\(limit.map(String.init) ?? "none")" + (rankOutput ? " as \(name)" : "") + (windowEnd != nil ? " per window" : "")
            + (stateTTL.map { " state_ttl=\(Duration(millis: $0))" } ?? "")
    }
}

/// A state TTL: state that the input's event time (column `timeColumn`) has not touched for
/// `millis` is forgotten (Flink's state TTL), what it emitted standing as it is.
public struct StateTTL: Sendable, Equatable {
    public var timeColumn: Int
    public var millis: Int64
}

public enum EmitMode: Sendable, Equatable {
    case final
    case changes(everyMillis: Int64?)
}

public indirect enum LogicalPlan: Sendable, Equatable {
    /// Source: clicks columns=[...] [filter=...]
    case source(SourceNode)
    /// Filter: predicate
    case filter(LogicalPlan, BoundExpr)
    /// Project: expr AS name, ...
    case project(LogicalPlan, [BoundExpr], names: [String])
    /// WindowAggregate: window time=col keys=[...] aggs=[...] emit=...
    /// Output: window_start, window_end, keys..., aggregates...
    case windowAggregate(LogicalPlan, window: WindowKind, timeColumn: Int, keys: [BoundExpr], keyNames: [String], aggregates: [AggregateCall], emit: EmitMode)
    /// Aggregate (no window, EMIT CHANGES): keys..., aggregates...
    case aggregate(LogicalPlan, keys: [BoundExpr], keyNames: [String], aggregates: [AggregateCall], emit: EmitMode, ttl: StateTTL?)
    /// OverWindow: partition=[...] range=... aggs=[...]
    /// Output: the input's columns, then one per aggregate.
    case over(LogicalPlan, OverWindow)
    /// AnomalyDetection: columns=[...] partition=[...] parameters
    /// Output: the input's columns, then the score (and explanation) columns.
    case anomaly(LogicalPlan, AnomalyDetection)
    /// LookupJoin: table on keys
    /// Output: the input's columns, then the table's.
    case lookupJoin(LogicalPlan, LookupJoin)
    /// IntervalJoin: kind keys time bounds (two sources)
    /// Output: the left input's columns, then the right's.
    case intervalJoin(LogicalPlan, LogicalPlan, IntervalJoin)
    /// Limit: n
    case limit(LogicalPlan, Int64)
    /// UnionAll: the rows of both inputs, as they come (columns named by the first)
    case union(LogicalPlan, LogicalPlan)
    /// WindowRows (Output: the input's columns, then window_start, window_end, window_time).
    /// A window function's rows without aggregation: HOP's, each row once per window that holds
    /// it, as it comes; SESSION's, each row when its session (per `partition` key) closes. The
    /// window's start, end and window_time follow the row's columns.
    case windowRows(LogicalPlan, timeColumn: Int, window: WindowKind, partition: [BoundExpr])
    /// TopN: function partition order limit
    /// Output: the input's columns, then the rank (unless pruned), then the change kind (unwindowed).
    case topN(LogicalPlan, TopN)

    /// Whether the plan's rows are changes of earlier rows (an aggregate without a window, a
    /// window with EMIT CHANGES, a Top-N without a window): such a plan's last column is `op`,
    /// the change kind of each row (ChangeKind), and an operator above it must take changes.
    public var isUpdating: Bool {
        switch self {
        case .aggregate: return true
        case .windowAggregate(_, _, _, _, _, _, let emit): return emit != .final
        case .topN(_, let t): return t.windowEnd == nil
        case .filter(let c, _), .limit(let c, _): return c.isUpdating
        // A projection carries the changes when it keeps the input's change kind as its last column.
        case .project(let c, let exprs, _):
            guard c.isUpdating, case .column(let i, _, _)? = exprs.last else { return false }
            return i == c.schema.count - 1
        // A union of updating inputs (Planner.planUnion gives an append-only one an op column).
        case .union(let l, let r): return l.isUpdating || r.isUpdating
        case .source, .over, .anomaly, .lookupJoin, .intervalJoin, .windowRows: return false
        }
    }

    static let changeColumn = OutputColumn(name: "op", type: .varchar)

    public var schema: [OutputColumn] {
        switch self {
        case .source(let s): return s.columns.map { OutputColumn(name: $0.name, type: $0.type) }
        case .filter(let p, _), .limit(let p, _): return p.schema
        case .project(_, let exprs, let names): return zip(exprs, names).map { OutputColumn(name: $1, type: $0.type) }
        case .windowAggregate(_, _, _, let keys, let keyNames, let aggs, let emit):
            return [OutputColumn(name: "window_start", type: .timestamp), OutputColumn(name: "window_end", type: .timestamp)]
                + zip(keys, keyNames).map { OutputColumn(name: $1, type: $0.type) } + aggs.map { OutputColumn(name: $0.name, type: $0.type) }
                + (emit == .final ? [] : [LogicalPlan.changeColumn])
        case .aggregate(_, let keys, let keyNames, let aggs, _, _):
            return zip(keys, keyNames).map { OutputColumn(name: $1, type: $0.type) } + aggs.map { OutputColumn(name: $0.name, type: $0.type) }
                + [LogicalPlan.changeColumn]
        case .topN(let p, let t):
            return p.schema + (t.rankOutput ? [OutputColumn(name: t.name, type: .bigint)] : []) + (t.windowEnd == nil ? [LogicalPlan.changeColumn] : [])
        case .over(let p, let w): return p.schema + w.aggregates.map { OutputColumn(name: $0.name, type: $0.type) }
        case .anomaly(let p, let a): return p.schema + a.addedColumns
        case .lookupJoin(let p, let j): return p.schema + j.table.columns.map { OutputColumn(name: $0.name, type: $0.type) }
        case .intervalJoin(let l, let r, _): return l.schema + r.schema
        case .union(let l, _): return l.schema
        case .windowRows(let p, _, _, _): return p.schema + ["window_start", "window_end", "window_time"].map { OutputColumn(name: $0, type: .timestamp) }
        }
    }

    /// The plan as indented text, one node per line (EXPLAIN).
    public var explain: String { lines(0).joined(separator: "\n") }

    private func lines(_ depth: Int) -> [String] {
        let pad = String(repeating: "  ", count: depth)
        switch self {
        case .source(let s):
            var line = "Source: \(s.stream.name) columns=[\(s.columns.map(\.name).joined(separator: ", "))]"
            if let w = s.stream.watermark { line += " watermark=\(w.column) - \(Duration(millis: w.delayMillis))" }
            if let p = s.predicate { line += " filter=\(p.text)" }
            return [pad + line]
        case .filter(let p, let e): return [pad + "Filter: \(e.text)"] + p.lines(depth + 1)
        case .project(let p, let exprs, let names):
            let items = zip(exprs, names).map { e, n in e.text == n ? n : "\(e.text) AS \(n)" }
            return [pad + "Project: \(items.joined(separator: ", "))"] + p.lines(depth + 1)
        case .windowAggregate(let p, let w, let t, let keys, _, let aggs, let emit):
            let win: String
            switch w {
            case .tumble(let s): win = "tumble(size=\(Duration(millis: s)))"
            case .hop(let s, let a): win = "hop(size=\(Duration(millis: s)), advance=\(Duration(millis: a)))"
            case .session(let g): win = "session(gap=\(Duration(millis: g)))"
            case .stagger(let s): win = "stagger(size=\(Duration(millis: s)))"
            }
            let time = p.schema[t].name
            return [pad + "WindowAggregate: \(win) time=\(time) keys=[\(keys.map(\.text).joined(separator: ", "))] "
                    + "aggs=[\(aggs.map(\.text).joined(separator: ", "))] emit=\(emit.text)"] + p.lines(depth + 1)
        case .aggregate(let p, let keys, _, let aggs, let emit, let ttl):
            return [pad + "Aggregate: keys=[\(keys.map(\.text).joined(separator: ", "))] aggs=[\(aggs.map(\.text).joined(separator: ", "))] emit=\(emit.text)"
                    + (ttl.map { " state_ttl=\(Duration(millis: $0.millis))" } ?? "")]
                + p.lines(depth + 1)
        case .over(let p, let w):
            return [pad + "OverWindow: \(w.text) order=\(p.schema[w.timeColumn].name)"] + p.lines(depth + 1)
        case .anomaly(let p, let a):
            return [pad + "AnomalyDetection: \(a.text) order=\(p.schema[a.timeColumn].name)"] + p.lines(depth + 1)
        case .lookupJoin(let p, let j):
            let keys = zip(j.streamKeys, j.tableKeys).map { "\($0.text) = \(j.table.name).\(j.table.columns[$1].name)" }
            return [pad + "LookupJoin: \(j.kind.rawValue) \(j.table.name) on [\(keys.joined(separator: ", "))]" + (j.residual.map { " and \($0.text)" } ?? "")]
                + p.lines(depth + 1)
        case .intervalJoin(let l, let r, let j):
            let keys = zip(j.leftKeys, j.rightKeys).map { "\($0.text) = \($1.text)" }
            let lt = l.schema[j.leftTime].name, rt = r.schema[j.rightTime].name
            return [pad + "IntervalJoin: \(j.kind.rawValue) on [\(keys.joined(separator: ", "))] right.\(rt) in [left.\(lt) + \(Duration.signed(j.lower)), left.\(lt) + \(Duration.signed(j.upper))]"
                    + (j.residual.map { " and \($0.text)" } ?? "")] + l.lines(depth + 1) + r.lines(depth + 1)
        case .limit(let p, let n): return [pad + "Limit: \(n)"] + p.lines(depth + 1)
        case .union(let l, let r): return [pad + "UnionAll"] + l.lines(depth + 1) + r.lines(depth + 1)
        case .windowRows(let p, let t, let w, let partition):
            switch w {
            case .session(let gap):
                return [pad + "SessionRows: time=\(p.schema[t].name) gap=\(Duration(millis: gap)) partition=[\(partition.map(\.text).joined(separator: ", "))]"] + p.lines(depth + 1)
            case .stagger(let size):
                return [pad + "StaggerRows: time=\(p.schema[t].name) size=\(Duration(millis: size)) partition=[\(partition.map(\.text).joined(separator: ", "))]"] + p.lines(depth + 1)
            default:
                return [pad + "HopRows: time=\(p.schema[t].name) size=\(Duration(millis: w.size)) advance=\(Duration(millis: w.advance))"] + p.lines(depth + 1)
            }
        case .topN(let p, let t): return [pad + "TopN: \(t.text)"] + p.lines(depth + 1)
        }
    }
}

extension EmitMode {
    var text: String {
        switch self {
        case .final: return "final"
        case .changes(let every?): return "changes every \(Duration(millis: every))"
        case .changes(nil): return "changes"
        }
    }
}

/// Milliseconds written the short way: 90s, 5m, 1h30m, 250ms.
public struct Duration: CustomStringConvertible, Sendable {
    public var millis: Int64
    public init(millis: Int64) { self.millis = millis }
    /// With a minus sign when negative.
    static func signed(_ ms: Int64) -> String { ms < 0 ? "-\(Duration(millis: -ms))" : "\(Duration(millis: ms))" }
    public var description: String {
        if millis == 0 { return "0s" }
        var rest = millis, out = ""
        for (unit, ms) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where rest >= ms {
            out += "\(rest / ms)\(unit)"
            rest %= ms
        }
        if rest > 0 { out += "\(rest)ms" }
        return out
    }
}
