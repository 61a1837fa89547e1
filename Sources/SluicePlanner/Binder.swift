public import SluiceCore
public import SluiceSQL

/// Why a statement cannot be planned: one or more diagnostics with stable ids
/// (`bind.unknown-column`, `plan.window-needs-watermark`, ...), pointing into the SQL.
public struct PlanError: Error, Sendable {
    public var diagnostics: [Diagnostic]
    init(_ d: Diagnostic) { diagnostics = [d] }
}

/// Names visible to an expression: the input columns, with the name of the relation they come from.
struct Scope {
    struct Entry {
        var qualifier: String?
        var name: String
        var type: ColumnType
        /// ROWTIME is not part of `*`.
        var hidden: Bool = false
        /// The change kind of an updating input (its `op` column): carried along, never named.
        var changeKind: Bool = false
        /// Another name the column answers to: a stream's ROWTIME is also its records'
        /// APPROXIMATE_ARRIVAL_TIME (KDA's name for when a record reached the stream, which in
        /// Sluice is the same time), unless the stream declares a column of that name.
        var also: String? = nil
    }

    var entries: [Entry]
}

extension Scope {
    /// The scope of a plan's output columns under one qualifier (an updating plan's change kind
    /// hidden, and a ROWTIME column too: a row's time, which `*` leaves out as a stream's).
    init(_ p: LogicalPlan, qualifier: String?) {
        entries = p.schema.map { Entry(qualifier: qualifier, name: $0.name, type: $0.type, hidden: $0.name.uppercased() == "ROWTIME" && $0.type == .timestamp) }
        if p.isUpdating {
            entries[entries.count - 1].hidden = true
            entries[entries.count - 1].changeKind = true
        }
    }
}

/// Turns a parsed query into a logical plan: resolves names against the catalog and the query's
/// own scopes, types every expression, and rejects what cannot run as a stream (DIALECT.md §4),
/// each with a diagnostic that points at the offending text.
public struct Planner: Sendable {
    public let catalog: any Catalog

    public init(catalog: any Catalog) { self.catalog = catalog }

    /// The most windows of a HOP one record may be in (size / advance): a day by seconds is
    /// 86,400; a thousand days by seconds, a row per window for every record, is refused.
    public static let maxWindowsPerRecord: Int64 = 100_000

    static func error(_ id: String, _ message: String, _ loc: NodeSpan?, help: String? = nil, notes: [Diagnostic.Note] = []) -> PlanError {
        PlanError(Diagnostic(id: id, message: message, span: loc?.span, notes: notes, help: help))
    }

    // MARK: - Queries

    public func plan(_ query: Query) throws(PlanError) -> LogicalPlan {
        let p = try planBody(query)
        try Planner.refuseUnboundedRank(p, query.loc)
        if p.isUpdating, query.emit == nil {
            if case .topN? = Planner.updatingNode(p) {
                throw Planner.error("plan.updating-needs-emit-changes", "a Top-N without a window changes its rows as better ones come, so its result is a changelog",
                                    query.loc, help: "add EMIT CHANGES to emit each change (op +I, -U, +U, -D), or rank per window (PARTITION BY window_start, window_end)")
            }
            throw Planner.error("plan.unwindowed-aggregate-needs-emit-changes",
                                "an aggregate without a window never ends on a stream, so it has no final row", query.loc,
                                help: "add EMIT CHANGES to emit a row per update, or aggregate over TUMBLE or HOP windows")
        }
        return p
    }

    /// The node that makes a plan updating (below filters and projections).
    static func updatingNode(_ p: LogicalPlan) -> LogicalPlan? {
        switch p {
        case .filter(let c, _), .limit(let c, _), .project(let c, _, _): return updatingNode(c)
        default: return p.isUpdating ? p : nil
        }
    }

    /// Refuses an updating input where an operator takes rows that stay as they are.
    static func refuseUpdating(_ p: LogicalPlan, _ what: String, _ loc: NodeSpan?) throws(PlanError) {
        guard p.isUpdating else { return }
        throw Planner.error("plan.updating-input", "\(what) takes rows that stay as they are, but this input is an updating result (its rows change earlier ones)", loc,
                            help: "an aggregate without a window (GROUP BY ... EMIT CHANGES) and filters and projections take changes; "
                                + "or make the input append-only: a window with EMIT FINAL, or a Top-N per window")
    }

    /// A projection of an updating input keeps its change kind as the last column, `op`.
    static func keepingChanges(_ input: LogicalPlan, _ exprs: [BoundExpr], _ names: [String], _ loc: NodeSpan) throws(PlanError) -> LogicalPlan {
        guard input.isUpdating else { return .project(input, exprs, names: names) }
        if names.contains(where: { $0.lowercased() == ChangeKind.column }) {
            throw Planner.error("plan.duplicate-column", "an updating result carries each row's change kind in a column named op: name this column otherwise", loc)
        }
        let op = input.schema.count - 1
        return .project(input, exprs + [.column(op, name: ChangeKind.column, .varchar)], names: names + [ChangeKind.column])
    }

    /// A query, at any depth: the outermost one is checked further by `plan(_:)`.
    func planBody(_ query: Query) throws(PlanError) -> LogicalPlan {
        if !query.unionAll.isEmpty { return try planUnion(query) }
        var q = query
        // GROUP BY FLOOR(t TO MINUTE) or STEP(t BY ...) without EMIT: a tumbling window.
        if q.emit == nil, let window = Planner.monotonicGroupBy(q) { q = window }
        guard let fromItem = q.from else {
            throw Planner.error("plan.unsupported", "a continuous query reads a stream: add FROM", q.loc)
        }
        var from = try bindFrom(fromItem)
        if q.distinct {
            // SELECT DISTINCT over a window is a GROUP BY of its columns: each distinct row once per window.
            let aggregates = q.items.contains { if case .expression(let e, _, _) = $0 { return Planner.containsAggregate(e) }; return false }
            guard from.window != nil, q.groupBy.isEmpty, !aggregates, q.having == nil else {
                throw Planner.error("plan.unsupported", from.window == nil
                                    ? "SELECT DISTINCT on a stream never ends, so a row could never be known distinct; use a window"
                                    : "SELECT DISTINCT with GROUP BY or aggregates is not supported: the groups are already distinct", q.loc,
                                    help: from.window == nil ? "SELECT DISTINCT window_start, window_end, url FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE)" : nil)
            }
            var keys: [Expr] = []
            for item in q.items {
                guard case .expression(let e, _, _) = item else {
                    throw Planner.error("plan.unsupported", "SELECT DISTINCT * over a window is not supported; list the columns", q.loc)
                }
                keys.append(e)
            }
            for w in ["window_start", "window_end"] where !keys.contains(where: { if case .column(qualifier: nil, name: let n) = $0.kind { return n.name.lowercased() == w }; return false }) {
                keys.append(Expr(.column(qualifier: nil, name: Identifier(w))))
            }
            q.groupBy = keys
            q.distinct = false
        }
        var plan = from.plan
        let aggregatingQuery = !q.groupBy.isEmpty || q.items.contains { item in
            if case .expression(let e, _, _) = item { return Planner.containsAggregate(e) }
            return false
        } || (q.having.map(Planner.containsAggregate) ?? false)
        if !aggregatingQuery, let w = from.window, case .hop = w.kind {
            // HOP's rows: each row once per window that holds it, with that window's bounds.
            plan = .windowRows(plan, timeColumn: w.timeColumn, window: w.kind, partition: [])
            from.scope.entries += ["window_start", "window_end", "window_time"].map { Scope.Entry(qualifier: w.qualifier, name: $0, type: .timestamp) }
            from.window = nil
            from.plan = plan
        }
        if !aggregatingQuery, let w = from.window, w.kind.perKey {
            // SESSION's rows: each row with its session's bounds, once the session has closed
            // (until then its end is not known).
            plan = .windowRows(plan, timeColumn: w.timeColumn, window: w.kind, partition: from.partition)
            from.scope.entries += ["window_start", "window_end", "window_time"].map { Scope.Entry(qualifier: w.qualifier, name: $0, type: .timestamp) }
            from.window = nil
            from.plan = plan
        }
        if !aggregatingQuery, let w = from.window, case .tumble(let size) = w.kind {
            // Rows of a tumbling window function without aggregation (Flink's window TVF): each
            // row with its window's bounds and window_time, as it comes.
            let t = BoundExpr.column(w.timeColumn, name: from.scope.entries[w.timeColumn].name, .timestamp)
            let start = BoundExpr.call("FLOOR_TIME", [t, .literal(.interval(size), .interval)], .timestamp)
            let end = BoundExpr.arithmetic("+", start, .literal(.interval(size), .interval), .timestamp)
            let windowTime = BoundExpr.arithmetic("-", end, .literal(.interval(1), .interval), .timestamp)
            let entries = from.scope.entries
            let kept: [BoundExpr] = entries.indices.map { BoundExpr.column($0, name: entries[$0].name, entries[$0].type) }
            plan = .project(plan, kept + [start, end, windowTime], names: entries.map { $0.name } + ["window_start", "window_end", "window_time"])
            from.scope.entries += ["window_start", "window_end", "window_time"].map { Scope.Entry(qualifier: w.qualifier, name: $0, type: .timestamp) }
            from.window = nil
            from.plan = plan
        }
        if let w = q.whereClause {
            try noAggregates(w, "WHERE")
            let predicate = try bind(w, from.scope)
            try requireBoolean(predicate, w.loc, "WHERE")
            plan = Planner.boundingRanks(.filter(plan, predicate))
        }
        // A rank below this query is bounded by now (by this WHERE): else its state would grow forever.
        try Planner.refuseUnboundedRank(plan, q.loc)
        if aggregatingQuery {
            plan = try planAggregate(q, from, plan)
        } else {
            if q.having != nil { throw Planner.error("plan.having-without-group-by", "HAVING needs GROUP BY or aggregates", q.loc) }
            if case .final? = q.emit {
                throw Planner.error("plan.emit-final-needs-window", "EMIT FINAL applies to windowed aggregates", q.loc,
                                    help: "a query without a window emits each row as it comes")
            }
            // OVER windows add their aggregates as columns after the input's.
            let (overPlan, overScope, overHook) = try planOver(q, from, plan)
            plan = overPlan
            var exprs: [BoundExpr] = [], names: [String] = []
            for item in q.items {
                switch item {
                case .wildcard(let qualifier, let exclude, let loc):
                    let matching = from.scope.entries.enumerated().filter { !$0.element.hidden && (qualifier == nil || $0.element.qualifier?.lowercased() == qualifier!.name.lowercased()) }
                    if matching.isEmpty { throw Planner.error("bind.unknown-relation", "no relation named '\(qualifier?.name ?? "")' in FROM", loc) }
                    // Matched as a column reference matches: a quoted name exactly, an unquoted one in any case.
                    func named(_ x: Identifier, _ n: String) -> Bool { x.quoted ? n == x.name : n.lowercased() == x.name.lowercased() }
                    for x in exclude where !matching.contains(where: { named(x, $0.element.name) }) {
                        throw Planner.error("bind.unknown-column", "EXCLUDE names \(x.name), which \(qualifier.map { $0.name + ".*" } ?? "*") does not give",
                                            x.loc, help: "the columns it gives: " + matching.map(\.element.name).joined(separator: ", "))
                    }
                    for (i, e) in matching where !exclude.contains(where: { named($0, e.name) }) {
                        exprs.append(.column(i, name: e.name, e.type))
                        names.append(e.name)
                    }
                case .expression(let e, let alias, _):
                    exprs.append(try bind(e, overScope, hook: overHook))
                    names.append(Planner.outputName(e, alias))
                }
            }
            try checkUniqueNames(names, q)
            plan = try Planner.keepingChanges(plan, exprs, names, q.loc)
        }
        if let n = q.limit { plan = .limit(plan, n) }
        return plan
    }

    static func outputName(_ e: Expr, _ alias: Identifier?) -> String {
        if let a = alias { return a.name }
        if case .column(_, let n) = e.kind { return n.name }
        return Printer.expr(e)
    }

    func checkUniqueNames(_ names: [String], _ q: Query) throws(PlanError) {
        var seen = Set<String>()
        for n in names where !seen.insert(n.lowercased()).inserted {
            throw Planner.error("bind.duplicate-column", "two output columns are named '\(n)'", q.loc, help: "give one of them another name with AS")
        }
    }

    // MARK: - FROM

    struct BoundFrom {
        var plan: LogicalPlan
        var scope: Scope
        var window: (name: String, kind: WindowKind, timeColumn: Int, qualifier: String?)?
        /// SESSION's PARTITION BY expressions, bound.
        var partition: [BoundExpr] = []
    }

    func bindFrom(_ item: FromItem) throws(PlanError) -> BoundFrom {
        switch item {
        case .relation(let name, let alias, _):
            let (plan, scope) = try relation(name, alias: alias)
            return BoundFrom(plan: plan, scope: scope)
        case .window(let w, let alias, let loc):
            let (relation, timeExpr, kind, fname): (FromItem, Expr, WindowKind, String)
            switch w {
            case .tumble(let r, let t, let size):
                guard size.millis > 0 else { throw Planner.error("plan.bad-window", "a window's size must be positive", size.loc) }
                (relation, timeExpr, kind, fname) = (r, t, .tumble(size: size.millis), "TUMBLE")
            case .hop(let r, let t, let size, let advance):
                guard size.millis > 0, advance.millis > 0 else {
                    throw Planner.error("plan.bad-window", "a window's size and advance must be positive", size.loc)
                }
                // Each record is in size / advance windows, each a row of its own.
                guard size.millis / advance.millis <= Planner.maxWindowsPerRecord else {
                    throw Planner.error("plan.bad-window", "a record would be in \(size.millis / advance.millis) windows of this HOP (its size over its advance); at most \(Planner.maxWindowsPerRecord)",
                                        size.loc, help: "a larger ADVANCE, or a smaller SIZE")
                }
                (relation, timeExpr, kind, fname) = (r, t, .hop(size: size.millis, advance: advance.millis), "HOP")
            case .session(let r, _, let t, let gap):
                guard gap.millis > 0 else { throw Planner.error("plan.bad-window", "a session's gap must be positive", gap.loc) }
                (relation, timeExpr, kind, fname) = (r, t, .session(gap: gap.millis), "SESSION")
            case .stagger(let r, _, let t, let size):
                guard size.millis > 0 else { throw Planner.error("plan.bad-window", "a stagger window's size must be positive", size.loc) }
                (relation, timeExpr, kind, fname) = (r, t, .stagger(size: size.millis), "STAGGER")
            }
            var plan: LogicalPlan, scope: Scope, qualifier: String?
            switch relation {
            case .relation(let rname, _, _):
                (plan, scope) = try self.relation(rname, alias: alias ?? rname)
                qualifier = (alias ?? rname).name
            case .subquery(let q, let subAlias, let sloc):
                (plan, scope) = try subquery(q, alias: alias ?? subAlias, sloc)
                qualifier = (alias ?? subAlias)?.name
                try Planner.refuseUpdating(plan, fname, sloc)
            default:
                throw Planner.error("plan.unsupported", "\(fname) reads a stream or a subquery", relation.loc)
            }
            let time = try bind(timeExpr, scope)
            guard case .column(let index, let colName, let type) = time else {
                throw Planner.error("plan.window-needs-watermark", "the time argument of \(fname) must be a column", timeExpr.loc)
            }
            guard type == .timestamp else {
                throw Planner.error("bind.type-mismatch", "the time column of \(fname) must be a TIMESTAMP, not \(type.rawValue)", timeExpr.loc)
            }
            if case .subquery(_, _, let sloc) = relation, !Planner.timeColumns(of: plan).contains(index) {
                // A subquery's rows carry event time in the column that kept its input's: the
                // stream's event-time column selected as it is, or a window's window_time.
                let has = Planner.eventTime(of: plan).map { " (the subquery's is \(plan.schema[$0].name))" } ?? ""
                throw Planner.error("plan.window-needs-watermark", "\(fname) over a subquery needs the subquery's event-time column\(has), not \(colName)", timeExpr.loc,
                                    help: "select the stream's event-time column as it is (or window_time of a window) in the subquery and window on it",
                                    notes: [Diagnostic.Note("the subquery", span: sloc.span)])
            }
            if case .source(var s) = plan, colName.uppercased() == "ROWTIME", s.stream.watermark != nil {
                // A processing-time window over a stream with an event time (Flink's PROCTIME()):
                // this query's time is the arrival time, and its watermark follows it.
                s.stream.watermark = nil
                plan = .source(s)
            }
            if case .source(let s) = plan, colName.uppercased() != "ROWTIME" {
                guard let w = s.stream.watermark, w.column.lowercased() == colName.lowercased() else {
                    var notes: [Diagnostic.Note] = []
                    if let span = s.stream.span { notes.append(Diagnostic.Note("\(s.stream.name) is declared here", span: span)) }
                    throw Planner.error("plan.window-needs-watermark",
                                        "\(fname) on \(colName) needs \(colName) to be the stream's event time", timeExpr.loc,
                                        help: "declare WATERMARK FOR \(colName) AS \(colName) - INTERVAL '5' SECOND in CREATE STREAM \(s.stream.name), or window on ROWTIME (processing time)",
                                        notes: notes)
                }
            }
            var partition: [BoundExpr] = []
            if case .session(_, let keys, _, _) = w {
                for k in keys { partition.append(try bind(k, scope)) }
            }
            if case .stagger(_, let keys, _, _) = w {
                for k in keys { partition.append(try bind(k, scope)) }
            }
            return BoundFrom(plan: plan, scope: scope, window: (fname, kind, index, qualifier), partition: partition)
        case .anomaly(let f, let alias, let loc):
            return try bindAnomaly(f, alias: alias, loc: loc)
        case .subquery(let q, let alias, let loc):
            let (plan, scope) = try subquery(q, alias: alias, loc)
            return BoundFrom(plan: plan, scope: scope)
        case .join(let j):
            return try bindJoin(j)
        }
    }

    /// A subquery in FROM: its plan, and its output columns named under its alias.
    func subquery(_ q: Query, alias: Identifier?, _ loc: NodeSpan) throws(PlanError) -> (LogicalPlan, Scope) {
        if q.limit != nil {
            throw Planner.error("plan.unsupported", "LIMIT in a subquery is not supported (it would end the whole query)", loc,
                                help: "put LIMIT on the outermost query")
        }
        let p = try planBody(q)
        return (p, Scope(p, qualifier: alias?.name))
    }

    /// The output column that carries a plan's event time (DIALECT.md §4), if any: a stream's
    /// event-time column (its WATERMARK column, else ROWTIME) kept as it is through filters,
    /// projections, OVER windows, forests and lookups; a window's `window_time` (window_end minus
    /// 1 ms: rows of a window come out once the watermark passes its end, so a window above puts
    /// them in the window of their last instant); an interval join's left time. An aggregate
    /// without a window has none.
    public static func eventTime(of p: LogicalPlan) -> Int? { timeColumns(of: p).min() }

    /// Every output column that carries the plan's event time (a query may keep its stream's
    /// time column and also output a tumbling window function's window_time, at or after it).
    public static func timeColumns(of p: LogicalPlan) -> Set<Int> {
        switch p {
        case .source(let s):
            let name = s.stream.watermark?.column ?? "ROWTIME"
            return s.columns.firstIndex { $0.name.lowercased() == name.lowercased() }.map { [$0] } ?? []
        case .filter(let c, _), .limit(let c, _), .over(let c, _), .anomaly(let c, _), .lookupJoin(let c, _):
            return timeColumns(of: c)
        // A Top-N per window keeps its input's time; without a window its rows are changes, not events.
        case .topN(let c, let t): return t.windowEnd == nil ? [] : timeColumns(of: c)
        case .project(let c, let exprs, _):
            if isWindowed(c) { return Set(exprs.indices.filter { exprs[$0] == windowTime }) }
            let times = timeColumns(of: c)
            return Set(exprs.indices.filter { k in
                switch exprs[k] {
                case .column(let i, _, _): return times.contains(i)
                // A tumbling window function's rows: their window_time.
                case .arithmetic("-", .arithmetic("+", .call("FLOOR_TIME", let args, _), _, _), .literal(.interval(1), _), _):
                    if case .column(let i, _, _)? = args.first { return times.contains(i) }
                    return false
                default: return false
                }
            })
        case .intervalJoin(_, _, let j): return [j.leftTime]
        // A union's time: a column that carries both inputs' event time.
        case .union(let l, let r): return timeColumns(of: l).intersection(timeColumns(of: r))
        // A row's window_time is at or after its time: the input's watermark holds for it too.
        case .windowRows(let c, _, _, _): return timeColumns(of: c).union([c.schema.count + 2])
        case .windowAggregate, .aggregate: return []
        }
    }

    /// The watermark a stream fed by this plan (CREATE STREAM ... AS) declares, and where its time
    /// comes from: a window's `window_time`, with no delay (a window's rows come out in the order
    /// of their ends); a stream's event-time column kept as it is, with the largest delay of the
    /// plan's streams (its rows are as much out of order as theirs). Nil for processing time (a
    /// stream without a watermark, whose time in the new stream is its own ROWTIME) and for a
    /// plan without event time.
    public static func derivedWatermark(of p: LogicalPlan) -> (column: String, delayMillis: Int64, origin: String)? {
        guard let t = eventTime(of: p) else { return nil }
        let column = p.schema[t].name
        let streams = sourceNodes(of: p).map(\.stream)
        guard !streams.isEmpty, streams.allSatisfy({ $0.watermark != nil }) else { return nil }
        let names = streams.map(\.name).joined(separator: ", ")
        if hasWindowTime(p, t) {
            return (column, 0, "\(column) of the query's window over \(names), in the order windows close (no delay)")
        }
        let delay = streams.map { $0.watermark!.delayMillis }.max()!
        return (column, delay, "\(column): the event time of \(names), kept by the query (delay \(Duration(millis: delay)))")
    }

    /// Whether output column `t` of a plan is a window's window_time (directly or kept by projections above it).
    static func hasWindowTime(_ p: LogicalPlan, _ t: Int) -> Bool {
        switch p {
        case .project(let c, let exprs, _):
            if isWindowed(c) { return exprs[t] == windowTime }
            guard case .column(let i, _, _) = exprs[t] else { return false }
            return hasWindowTime(c, i)
        case .filter(let c, _), .limit(let c, _), .over(let c, _), .anomaly(let c, _), .lookupJoin(let c, _), .topN(let c, _):
            return t < c.schema.count && hasWindowTime(c, t)
        case .union(let l, let r): return hasWindowTime(l, t) && hasWindowTime(r, t)
        case .windowRows(let c, _, _, _): return t == c.schema.count + 2 || (t < c.schema.count && hasWindowTime(c, t))
        default: return false
        }
    }

    /// Whether a plan is a window's rows before their projection (the aggregate, then HAVING).
    static func isWindowed(_ p: LogicalPlan) -> Bool {
        switch p {
        case .windowAggregate: return true
        case .filter(let c, _): return isWindowed(c)
        default: return false
        }
    }

    /// `window_time` over a window's rows: window_end minus 1 ms (Flink's), the rows' event time.
    static let windowTime: BoundExpr = .arithmetic("-", .column(1, name: "window_end", .timestamp), .literal(.interval(1), .interval), .timestamp)

    /// A name in FROM: a view (its query, as a subquery under the name) or a stream.
    func relation(_ name: Identifier, alias: Identifier?) throws(PlanError) -> (LogicalPlan, Scope) {
        if let q = catalog.view(named: name.name) { return try subquery(q, alias: alias ?? name, name.loc) }
        return try source(name, alias: alias)
    }

    /// A source over every column of a stream, plus ROWTIME.
    func source(_ name: Identifier, alias: Identifier?) throws(PlanError) -> (LogicalPlan, Scope) {
        guard let s = catalog.stream(named: name.name) else {
            if let t = catalog.table(named: name.name) {
                throw Planner.error("bind.table-not-stream", "\(t.name) is a reference table, whose rows do not arrive: a query (or a KDA CURSOR) reads a stream", name.loc,
                                    help: "join the table to a stream: FROM s JOIN \(t.name) ON ...")
            }
            let help = closestMatch(name.name, in: catalog.streamNames + catalog.viewNames).map { "did you mean '\($0)'?" }
            throw Planner.error("bind.unknown-stream", "unknown stream '\(name.name)'", name.loc, help: help)
        }
        // ROWTIME, and SHARD_ID unless the stream declares a column of that name: pseudo-columns,
        // left out of `*` (and out of the plan when nothing reads them).
        let declaresShard = s.columns.contains { $0.name.uppercased() == "SHARD_ID" }
        let columns = s.columns.map { SourceColumn.field($0) } + [.rowtime] + (declaresShard ? [] : [.shardId])
        let q = (alias ?? name).name
        let declaresArrival = s.columns.contains { $0.name.uppercased() == "APPROXIMATE_ARRIVAL_TIME" }
        let scope = Scope(entries: columns.map {
            Scope.Entry(qualifier: q, name: $0.name, type: $0.type, hidden: $0 == .rowtime || $0 == .shardId,
                        also: $0 == .rowtime && !declaresArrival ? "APPROXIMATE_ARRIVAL_TIME" : nil)
        })
        return (.source(SourceNode(stream: s, columns: columns, predicate: nil)), scope)
    }

    // MARK: - Aggregation

    static let aggregateNames: Set<String> = ["COUNT", "SUM", "AVG", "MIN", "MAX", "STDDEV", "STDDEV_SAMP", "STDDEV_POP", "VAR_SAMP", "VAR_POP",
                                              "VARIANCE", "PERCENTILE", "APPROX_COUNT_DISTINCT", "FIRST_VALUE", "LAST_VALUE"]

    static func isAggregate(_ f: FunctionCall) -> Bool { !f.name.quoted && f.over == nil && aggregateNames.contains(f.name.name.uppercased()) }

    public static func containsAggregate(_ e: Expr) -> Bool {
        var found = false
        visit(e) { if case .function(let f) = $0.kind, isAggregate(f) { found = true } }
        return found
    }

    /// Calls `f` on `e` and every sub-expression.
    static func visit(_ e: Expr, _ f: (Expr) -> Void) {
        f(e)
        switch e.kind {
        case .literal, .column: break
        case .unary(_, let x), .isNull(let x, _), .cast(let x, _), .extract(_, let x), .floorTo(let x, _): visit(x, f)
        case .binary(_, let a, let b): visit(a, f); visit(b, f)
        case .between(let x, let lo, let hi, _): visit(x, f); visit(lo, f); visit(hi, f)
        case .inList(let x, let l, _): visit(x, f); l.forEach { visit($0, f) }
        case .like(let x, let p, let esc, _): visit(x, f); visit(p, f); if let e = esc { visit(e, f) }
        case .function(let c): c.arguments.forEach { visit($0, f) }
        case .caseWhen(let o, let bs, let other):
            if let o { visit(o, f) }
            for b in bs { visit(b.when, f); visit(b.then, f) }
            if let other { visit(other, f) }
        case .substring(let s, let from, let len): visit(s, f); visit(from, f); if let l = len { visit(l, f) }
        case .trim(_, let chars, let x): if let c = chars { visit(c, f) }; visit(x, f)
        }
    }

    func noAggregates(_ e: Expr, _ clause: String) throws(PlanError) {
        var bad: Expr? = nil
        Planner.visit(e) { if bad == nil, case .function(let f) = $0.kind, Planner.isAggregate(f) { bad = $0 } }
        if let b = bad {
            // The id names the clause in one word run: "WHERE" → aggregate-in-where, "a FILTER condition" → aggregate-in-filter-condition.
            let slug = clause.lowercased().split(separator: " ").filter { $0 != "a" && $0 != "an" }.joined(separator: "-")
            throw Planner.error("plan.aggregate-in-\(slug)", "aggregates are not allowed in \(clause)", b.loc,
                                help: clause == "WHERE" ? "filter on an aggregate with HAVING" : nil)
        }
    }

    func planAggregate(_ q: Query, _ from: BoundFrom, _ input: LogicalPlan) throws(PlanError) -> LogicalPlan {
        var windowColumns: [String] = []
        var keys: [BoundExpr] = [], keyNames: [String] = []
        for g in q.groupBy {
            if from.window != nil, case .column(_, let n) = g.kind, ["window_start", "window_end", "window_time"].contains(n.name.lowercased()) {
                windowColumns.append(n.name.lowercased())
                continue
            }
            try noAggregates(g, "GROUP BY")
            let k = try bind(g, from.scope)
            if !keys.contains(k) {
                keys.append(k)
                keyNames.append(k.text)
            }
        }
        let emit: EmitMode
        if let w = from.window {
            if windowColumns.isEmpty {
                throw Planner.error("plan.window-group-by", "a query over \(w.name) groups by window_start and window_end", q.loc,
                                    help: "add GROUP BY window_start, window_end")
            }
            switch q.emit {
            case nil, .final?: emit = .final
            case .changes(let every)?: emit = .changes(everyMillis: every?.millis)
            }
            try Planner.refuseUpdating(input, "a window", q.loc)
            if w.kind.perKey {
                if case .changes = emit {
                    throw Planner.error("plan.unsupported", w.name == "SESSION" ? "SESSION windows emit final rows only (a session may still merge with a later one)"
                                            : "\(w.name) windows emit final rows only", q.loc,
                                        help: "remove EMIT CHANGES")
                }
                let grouped = Set(keys.map(\.text)), partitioned = Set(from.partition.map(\.text))
                if grouped != partitioned {
                    throw Planner.error("plan.session-keys", "a query over \(w.name) groups by its PARTITION BY columns: GROUP BY window_start, window_end, "
                                        + from.partition.map(\.text).joined(separator: ", "), q.loc)
                }
            }
        } else {
            // Its rows are changes; the outermost query says so with EMIT CHANGES (checked in plan(_:)).
            if case .final? = q.emit {
                throw Planner.error("plan.unwindowed-aggregate-needs-emit-changes",
                                    "an aggregate without a window never ends on a stream, so it has no final row", q.loc,
                                    help: "use EMIT CHANGES to emit a row per update, or aggregate over TUMBLE or HOP windows")
            }
            var every: Int64? = nil
            if case .changes(let e)? = q.emit { every = e?.millis }
            emit = .changes(everyMillis: every)
        }
        // The aggregate calls of SELECT and HAVING, each once.
        var aggregates: [AggregateCall] = []
        var firstError: PlanError? = nil
        func collect(_ e: Expr) {
            Planner.visit(e) { sub in
                guard firstError == nil, case .function(let f) = sub.kind, Planner.isAggregate(f) else { return }
                do throws(PlanError) {
                    let call = try bindAggregate(f, sub.loc, from.scope)
                    if !aggregates.contains(where: { $0.text == call.text }) { aggregates.append(call) }
                } catch {
                    firstError = error
                }
            }
        }
        for item in q.items {
            switch item {
            case .wildcard(_, _, let loc):
                throw Planner.error("plan.not-grouped", "* cannot be used with GROUP BY", loc, help: "list the grouped columns and aggregates")
            case .expression(let e, _, _): collect(e)
            }
        }
        if let h = q.having { collect(h) }
        if let e = firstError { throw e }
        for i in aggregates.indices { aggregates[i].name = aggregates[i].text }
        for a in aggregates where input.isUpdating && ["APPROX_COUNT_DISTINCT", "PERCENTILE", "FIRST_VALUE", "LAST_VALUE"].contains(a.function) {
            throw Planner.error("plan.updating-input", "\(a.function) cannot take an updating input: it cannot forget a value its input withdraws", q.loc,
                                help: "use COUNT(DISTINCT ...) instead of APPROX_COUNT_DISTINCT, or MIN/MAX instead of FIRST_VALUE/LAST_VALUE")
        }
        // FIRST_VALUE and LAST_VALUE go by event time: the window's, else the stream's (or ROWTIME).
        for i in aggregates.indices where ["FIRST_VALUE", "LAST_VALUE"].contains(aggregates[i].function) {
            let column: Int?
            if let w = from.window {
                column = w.timeColumn
            } else {
                let name = Planner.sourceOf(input)?.stream.watermark?.column ?? "ROWTIME"
                column = from.scope.entries.firstIndex { $0.name.lowercased() == name.lowercased() }
            }
            if let c = column { aggregates[i].time = .column(c, name: from.scope.entries[c].name, .timestamp) }
        }

        // The aggregate's output, and how SELECT and HAVING refer to it.
        var plan: LogicalPlan
        var outScope = Scope(entries: [])
        let windowed = from.window != nil
        if let w = from.window {
            plan = .windowAggregate(input, window: w.kind, timeColumn: w.timeColumn, keys: keys, keyNames: keyNames, aggregates: aggregates, emit: emit)
            outScope.entries = [Scope.Entry(qualifier: w.qualifier, name: "window_start", type: .timestamp),
                                Scope.Entry(qualifier: w.qualifier, name: "window_end", type: .timestamp)]
        } else {
            plan = .aggregate(input, keys: keys, keyNames: keyNames, aggregates: aggregates, emit: emit, ttl: Planner.stateTTL(for: input))
        }
        let keyBase = outScope.entries.count
        for (k, n) in zip(keys, keyNames) {
            var qualifier: String? = nil
            if case .column(let i, _, _) = k { qualifier = from.scope.entries[i].qualifier }
            outScope.entries.append(Scope.Entry(qualifier: qualifier, name: n, type: k.type))
        }
        let aggBase = outScope.entries.count
        for a in aggregates { outScope.entries.append(Scope.Entry(qualifier: nil, name: a.name, type: a.type, hidden: true)) }
        if plan.isUpdating { outScope.entries.append(Scope.Entry(qualifier: nil, name: ChangeKind.column, type: .varchar, hidden: true, changeKind: true)) }

        /// SELECT and HAVING see the window columns, the keys and the aggregates.
        let rewrite: (Expr) throws(PlanError) -> BoundExpr? = { e throws(PlanError) in
            if case .function(let f) = e.kind, Planner.isAggregate(f) {
                let call = try bindAggregate(f, e.loc, from.scope)
                let i = aggregates.firstIndex { $0.text == call.text }!
                return .column(aggBase + i, name: aggregates[i].name, call.type)
            }
            if case .column(_, let n) = e.kind, windowed, ["window_start", "window_end", "window_time"].contains(n.name.lowercased()) {
                if n.name.lowercased() == "window_time" { return Planner.windowTime }
                let i = n.name.lowercased() == "window_start" ? 0 : 1
                return .column(i, name: n.name.lowercased(), .timestamp)
            }
            if case .literal = e.kind { return nil }
            if let b = try? bind(e, from.scope), let i = keys.firstIndex(of: b) {
                return .column(keyBase + i, name: keyNames[i], b.type)
            }
            if case .column(let qual, let n) = e.kind {
                if (try? bind(e, from.scope)) != nil {
                    throw Planner.error("plan.not-grouped", "'\((qual.map { $0.name + "." } ?? "") + n.name)' must be in GROUP BY or inside an aggregate", e.loc)
                }
            }
            return nil
        }
        if let h = q.having {
            let predicate = try bind(h, outScope, hook: rewrite)
            try requireBoolean(predicate, h.loc, "HAVING")
            plan = .filter(plan, predicate)
        }
        var exprs: [BoundExpr] = [], names: [String] = []
        for item in q.items {
            guard case .expression(let e, let alias, _) = item else { continue }
            exprs.append(try bind(e, outScope, hook: rewrite))
            names.append(Planner.outputName(e, alias))
        }
        try checkUniqueNames(names, q)
        return try Planner.keepingChanges(plan, exprs, names, q.loc)
    }

    func bindAggregate(_ f: FunctionCall, _ loc: NodeSpan, _ scope: Scope) throws(PlanError) -> AggregateCall {
        if let c = f.filter {
            // AGG(x) FILTER (WHERE c) aggregates CASE WHEN c THEN x END (COUNT(*): of 1): the
            // aggregates that take it skip NULLs, so the rows where c does not hold count for nothing.
            let name = f.name.name.uppercased()
            guard ["COUNT", "SUM", "AVG", "MIN", "MAX", "STDDEV", "STDDEV_SAMP", "STDDEV_POP", "VARIANCE", "VAR_SAMP", "VAR_POP",
                   "APPROX_COUNT_DISTINCT"].contains(name) else {
                throw Planner.error("plan.unsupported", "FILTER (WHERE ...) is supported on COUNT, SUM, AVG, MIN, MAX, the deviations and variances and APPROX_COUNT_DISTINCT, not \(name)", loc)
            }
            try noAggregates(c, "a FILTER condition")
            let condition = try bind(c, scope)
            guard condition.type == .boolean || Planner.isNull(condition) else {
                throw Planner.error("bind.type-mismatch", "FILTER (WHERE ...) takes a condition (BOOLEAN), not \(condition.type.rawValue): \(condition.text)", c.loc)
            }
            var plain = f
            plain.filter = nil
            var call = try bindAggregate(plain, loc, scope)
            let value = call.argument ?? .literal(.int(1), .bigint)
            call.argument = .caseWhen([BoundCase(condition: condition, value: value)], otherwise: nil, value.type)
            return call
        }
        var name = f.name.name.uppercased()
        if name == "PERCENTILE" {
            guard f.arguments.count == 2, !f.star, !f.distinct else {
                throw Planner.error("bind.bad-arguments", "PERCENTILE takes a number and a fraction: PERCENTILE(latency_ms, 0.99)", loc)
            }
            for a in f.arguments { try noAggregates(a, "an aggregate") }
            let arg = try bind(f.arguments[0], scope)
            guard Planner.isNumeric(arg.type) else { throw typeError(name, arg, loc) }
            let p = try bind(f.arguments[1], scope)
            var fraction: Double? = nil
            if case .literal(.double(let d), _) = p { fraction = d }
            if case .literal(.decimal(let d), _) = p { fraction = d.doubleValue }
            if case .literal(.int(let i), _) = p { fraction = Double(i) }
            guard let q = fraction, q >= 0, q <= 1 else {
                throw Planner.error("bind.bad-arguments", "PERCENTILE's second argument must be a constant between 0 and 1, not \(p.text)", loc)
            }
            return AggregateCall(function: name, argument: arg, distinct: false, type: .double, name: "", parameter: q)
        }
        if name == "STDDEV" { name = "STDDEV_SAMP" }
        if name == "VARIANCE" { name = "VAR_SAMP" }
        for a in f.arguments { try noAggregates(a, "an aggregate") }
        if f.star {
            guard name == "COUNT" else { throw Planner.error("bind.bad-arguments", "\(name)(*) is not a thing; only COUNT(*) counts rows", loc) }
            return AggregateCall(function: "COUNT", argument: nil, distinct: false, type: .bigint, name: "")
        }
        guard f.arguments.count == 1 else {
            throw Planner.error("bind.bad-arguments", "\(name) takes one argument, not \(f.arguments.count)", loc)
        }
        let arg = try bind(f.arguments[0], scope)
        if f.distinct && name != "COUNT" {
            throw Planner.error("plan.unsupported", "DISTINCT is supported in COUNT only", loc)
        }
        let type: ColumnType
        switch name {
        case "COUNT", "APPROX_COUNT_DISTINCT": type = .bigint
        case "FIRST_VALUE", "LAST_VALUE": type = arg.type
        case "SUM":
            guard Planner.isNumeric(arg.type) else { throw typeError(name, arg, loc) }
            if case .decimal(_, let s) = arg.type { type = .decimal(precision: Decimal64.maxPrecision, scale: s) } else { type = arg.type }
        case "AVG":
            guard Planner.isNumeric(arg.type) else { throw typeError(name, arg, loc) }
            if case .decimal(_, let s) = arg.type { type = .decimal(precision: Decimal64.maxPrecision, scale: Decimal64.averageScale(s)) } else { type = .double }
        case "MIN", "MAX":
            guard arg.type != .boolean else { throw typeError(name, arg, loc) }
            type = arg.type
        default:
            guard Planner.isNumeric(arg.type) else { throw typeError(name, arg, loc) }
            type = .double
        }
        return AggregateCall(function: name, argument: arg, distinct: f.distinct, type: type, name: "")
    }

    /// Every source of a plan, left to right (two for a join of two streams).
    public static func sourceNodes(of p: LogicalPlan) -> [SourceNode] {
        switch p {
        case .source(let s): return [s]
        case .filter(let c, _), .project(let c, _, _), .limit(let c, _), .over(let c, _), .anomaly(let c, _), .lookupJoin(let c, _),
             .windowAggregate(let c, _, _, _, _, _, _), .aggregate(let c, _, _, _, _, _), .topN(let c, _): return sourceNodes(of: c)
        case .intervalJoin(let l, let r, _), .union(let l, let r): return sourceNodes(of: l) + sourceNodes(of: r)
        case .windowRows(let c, _, _, _): return sourceNodes(of: c)
        }
    }

    static func sourceOf(_ p: LogicalPlan) -> SourceNode? {
        switch p {
        case .source(let s): return s
        case .filter(let c, _), .project(let c, _, _), .limit(let c, _), .over(let c, _), .anomaly(let c, _), .lookupJoin(let c, _), .intervalJoin(let c, _, _),
             .union(let c, _), .windowRows(let c, _, _, _): return sourceOf(c)
        default: return nil
        }
    }

    func typeError(_ function: String, _ arg: BoundExpr, _ loc: NodeSpan) -> PlanError {
        Planner.error("bind.type-mismatch", "\(function) needs a number, not \(arg.type.rawValue) (\(arg.text))", loc)
    }

    func requireBoolean(_ e: BoundExpr, _ loc: NodeSpan, _ clause: String) throws(PlanError) {
        if e.type != .boolean, !(e == .literal(.null, e.type)) {
            throw Planner.error("bind.type-mismatch", "\(clause) needs a condition (BOOLEAN), not \(e.type.rawValue)", loc)
        }
    }
}
