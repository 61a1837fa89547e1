import SluiceCore
import SluiceSQL

/// Top-N and dedup in Flink's form: `ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...) AS rn` in
/// a subquery's SELECT list (also RANK and DENSE_RANK), bounded by `WHERE rn <= N` (or `< N`,
/// `= 1`) in the query around it.
extension Planner {
    static let rankingFunctions: Set<String> = ["ROW_NUMBER", "RANK", "DENSE_RANK"]

    static func isRanking(_ f: FunctionCall) -> Bool {
        f.over != nil && !f.name.quoted && rankingFunctions.contains(f.name.name.uppercased())
    }

    /// The SELECT list's ranking call as a `.topN` node over `input` (its rank a column after the
    /// input's); nil when the list has none.
    func planRank(_ q: Query, _ from: BoundFrom, _ input: LogicalPlan) throws(PlanError) -> (LogicalPlan, Scope, Hook?)? {
        var ranking: [(FunctionCall, NodeSpan, Identifier?)] = []
        var others: [NodeSpan] = []
        for item in q.items {
            guard case .expression(let e, let alias, _) = item else { continue }
            if case .function(let f) = e.kind, Planner.isRanking(f) {
                ranking.append((f, e.loc, alias))
                continue
            }
            var nested: NodeSpan? = nil
            Planner.visit(e) { sub in
                guard case .function(let f) = sub.kind, f.over != nil else { return }
                if Planner.isRanking(f) { nested = nested ?? sub.loc } else { others.append(sub.loc) }
            }
            if let n = nested {
                throw Planner.error("plan.rank-position", "a ranking function is a select item of its own: ROW_NUMBER() OVER (...) AS rn", n,
                                    help: "rank in a subquery, and compute with rn in the query around it")
            }
        }
        guard let (f, loc, alias) = ranking.first else { return nil }
        let name = f.name.name.uppercased()
        if ranking.count > 1 {
            throw Planner.error("plan.unsupported", "a query ranks once: more than one ranking function in one SELECT list is not supported", ranking[1].1)
        }
        if let o = others.first {
            throw Planner.error("plan.unsupported", "a query that ranks rows cannot also compute OVER aggregates; compute them in a subquery", o)
        }
        guard f.arguments.isEmpty, !f.star, !f.distinct, f.filter == nil else {
            throw Planner.error("bind.bad-arguments", "\(name) takes no arguments: \(name)() OVER (PARTITION BY ... ORDER BY ...)", loc)
        }
        let over = f.over!
        let example = "\(name)() OVER (PARTITION BY auction ORDER BY price DESC) AS rn"
        if over.frame != nil {
            throw Planner.error("plan.over-frame", "\(name) ranks the whole partition: it takes no ROWS or RANGE frame", over.loc, help: example)
        }
        guard !over.orderBy.isEmpty else {
            throw Planner.error("plan.rank-order", "\(name) ranks rows by an order: add ORDER BY to its OVER clause", over.loc,
                                help: example + " (ORDER BY ts DESC keeps the latest row: dedup)")
        }
        try Planner.refuseUpdating(input, name, loc)
        var partition: [BoundExpr] = []
        for p in over.partitionBy { partition.append(try bind(p, from.scope)) }
        var order: [TopN.Key] = []
        for o in over.orderBy {
            let e = try bind(o.expr, from.scope)
            guard e.type != .boolean else {
                throw Planner.error("bind.type-mismatch", "\(name) orders by numbers, strings or times, not \(e.type.rawValue)", o.expr.loc)
            }
            order.append(TopN.Key(expr: e, descending: o.descending))
        }
        // Partitioned by a window's end (and start), a window's rows are ranked once it closes.
        let ends = Planner.windowEndColumns(of: input)
        var windowEnd: Int? = nil
        for case .column(let i, _, _) in partition where ends.contains(i) { windowEnd = i }
        let function: TopN.Function = name == "RANK" ? .rank : name == "DENSE_RANK" ? .denseRank : .rowNumber
        let column = alias?.name ?? Printer.expr(Expr(.function(f)))
        var t = TopN(function: function, partition: partition, order: order, limit: nil, name: column, windowEnd: windowEnd)
        if windowEnd == nil, let ttl = Planner.stateTTL(for: input) {
            // Idle partitions go when every stream read says how long its rows matter.
            t.timeColumn = ttl.timeColumn
            t.stateTTL = ttl.millis
        }
        let plan = LogicalPlan.topN(input, t)
        var scope = from.scope
        let index = input.schema.count
        scope.entries.append(Scope.Entry(qualifier: nil, name: column, type: .bigint, hidden: true))
        if plan.isUpdating { scope.entries.append(Scope.Entry(qualifier: nil, name: ChangeKind.column, type: .varchar, hidden: true, changeKind: true)) }
        let hook: Hook = { e throws(PlanError) in
            guard case .function(let g) = e.kind, Planner.isRanking(g) else { return nil }
            return .column(index, name: column, .bigint)
        }
        return (plan, scope, hook)
    }

    /// The output columns of a plan that hold a window's end: a window's window_end, kept as it is
    /// (or a tumbling window function's).
    static func windowEndColumns(of p: LogicalPlan) -> Set<Int> {
        switch p {
        case .windowAggregate: return [1]
        case .filter(let c, _), .limit(let c, _): return windowEndColumns(of: c)
        // A Top-N per window keeps its rows' windows.
        case .topN(let c, let t) where t.windowEnd != nil: return windowEndColumns(of: c)
        case .windowRows(let c, _, _, _): return windowEndColumns(of: c).union([c.schema.count + 1])
        case .project(let c, let exprs, _):
            let ends = windowEndColumns(of: c)
            return Set(exprs.indices.filter { k in
                switch exprs[k] {
                case .column(let i, _, _): return ends.contains(i)
                case .arithmetic("+", .call("FLOOR_TIME", _, _), .literal(.interval, _), _): return true
                default: return false
                }
            })
        default: return []
        }
    }

    /// A filter whose conjuncts bound a rank below it (`rn <= N`, `rn < N`, `rn = 1`, `N >= rn`):
    /// the bounds go into the Top-N, and the filter keeps the rest.
    static func boundingRanks(_ p: LogicalPlan) -> LogicalPlan {
        guard case .filter(var input, let predicate) = p else { return p }
        var rest: [BoundExpr] = []
        for c in predicate.conjuncts {
            if let (column, n) = rankBound(c), let bounded = bound(input, column: column, limit: n) {
                input = bounded
            } else {
                rest.append(c)
            }
        }
        guard let first = rest.first else { return input }
        return .filter(input, rest.dropFirst().reduce(first) { .and($0, $1) })
    }

    /// `column <= n` and the like: the column and the largest rank they let through.
    private static func rankBound(_ e: BoundExpr) -> (Int, Int64)? {
        guard case .compare(var op, var a, var b) = e else { return nil }
        if case .literal = a, case .column = b {
            swap(&a, &b)
            op = ["<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="][op] ?? op
        }
        guard case .column(let c, _, _) = a, case .literal(.int(let n), _) = b else { return nil }
        switch op {
        case "<=": return (c, n)
        case "<": return (c, n - 1)
        case "=" where n == 1: return (c, 1)
        default: return nil
        }
    }

    /// The plan with the Top-N whose rank is output column `column` bounded by `limit`, through
    /// the projections and filters above it; nil when the column is not a rank.
    private static func bound(_ p: LogicalPlan, column: Int, limit: Int64) -> LogicalPlan? {
        switch p {
        case .project(let c, let exprs, let names):
            guard column < exprs.count, case .column(let i, _, _) = exprs[column], let b = bound(c, column: i, limit: limit) else { return nil }
            return .project(b, exprs, names: names)
        case .filter(let c, let e):
            return bound(c, column: column, limit: limit).map { .filter($0, e) }
        case .topN(let c, var t) where t.rankOutput && column == c.schema.count:
            t.limit = min(t.limit ?? .max, max(0, limit))
            return .topN(c, t)
        default: return nil
        }
    }

    /// Refuses a Top-N below `p` that nothing bounds: it would keep every row of its partitions.
    static func refuseUnboundedRank(_ p: LogicalPlan, _ loc: NodeSpan?) throws(PlanError) {
        switch p {
        case .topN(let c, let t):
            if t.limit == nil {
                throw Planner.error("plan.rank-needs-limit", "\(t.function.rawValue)() keeps every row of its partition unless the query around it keeps the first N", loc,
                                    help: "SELECT * FROM (SELECT *, \(t.function.rawValue)() OVER (...) AS \(t.name) FROM ...) WHERE \(t.name) <= 10")
            }
            try refuseUnboundedRank(c, loc)
        case .source: return
        case .filter(let c, _), .project(let c, _, _), .limit(let c, _), .over(let c, _), .anomaly(let c, _), .lookupJoin(let c, _),
             .windowAggregate(let c, _, _, _, _, _, _), .aggregate(let c, _, _, _, _, _), .windowRows(let c, _, _, _):
            try refuseUnboundedRank(c, loc)
        case .intervalJoin(let l, let r, _), .union(let l, let r):
            try refuseUnboundedRank(l, loc)
            try refuseUnboundedRank(r, loc)
        }
    }
}
