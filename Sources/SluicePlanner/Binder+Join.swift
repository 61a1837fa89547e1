import SluiceCore
import SluiceSQL

extension Planner {
    /// `left JOIN right ON ...`: a stream with a reference table (a lookup join).
    func bindJoin(_ j: Join) throws(PlanError) -> BoundFrom {
        if case .subquery(let q, let alias, let loc) = j.right {
            return try bindIntervalJoin(j, right: try subquery(q, alias: alias, loc))
        }
        guard case .relation(let name, let alias, _) = j.right else {
            throw Planner.error("plan.unsupported", "the right side of a JOIN names a table or a stream, or is a subquery", j.right.loc)
        }
        if let table = catalog.table(named: name.name) {
            return try bindLookupJoin(j, table, qualifier: (alias ?? name).name)
        }
        if catalog.stream(named: name.name) != nil || catalog.view(named: name.name) != nil {
            return try bindIntervalJoin(j, right: try relation(name, alias: alias))
        }
        let help = closestMatch(name.name, in: catalog.tableNames + catalog.streamNames).map { "did you mean '\($0)'?" }
        throw Planner.error("bind.unknown-table", "unknown table or stream '\(name.name)'", name.loc, help: help)
    }

    /// The conjuncts of `a AND b AND ...`.
    static func conjuncts(_ e: Expr) -> [Expr] {
        if case .binary(.and, let l, let r) = e.kind { return conjuncts(l) + conjuncts(r) }
        return [e]
    }

    func bindLookupJoin(_ j: Join, _ table: TableDefinition, qualifier: String) throws(PlanError) -> BoundFrom {
        let kind: LookupJoin.Kind
        switch j.kind {
        case .inner: kind = .inner
        case .left: kind = .left
        case .right, .full:
            throw Planner.error("plan.unsupported", "\(j.kind.rawValue) of a stream with table \(table.name) would keep table rows waiting for stream rows forever",
                                j.loc, help: "use JOIN or LEFT JOIN, with the stream on the left")
        }
        let left = try bindFrom(j.left)
        try Planner.refuseUpdating(left.plan, "a join with table \(table.name)", j.left.loc)
        let width = left.scope.entries.count
        var scope = left.scope
        scope.entries += table.columns.map { Scope.Entry(qualifier: qualifier, name: $0.name, type: $0.type) }
        var streamKeys: [BoundExpr] = [], tableKeys: [Int] = []
        var residual: BoundExpr? = nil
        for c in Planner.conjuncts(j.condition) {
            try noAggregates(c, "ON")
            let b = try bind(c, scope)
            try requireBoolean(b, c.loc, "ON")
            if case .compare("=", let x, let y) = b {
                func streamSide(_ e: BoundExpr) -> Bool { !e.columns.isEmpty && e.columns.allSatisfy { $0 < width } }
                var pair: (BoundExpr, Int)? = nil
                if case .column(let t, _, _) = y, t >= width, streamSide(x) { pair = (x, t - width) }
                if case .column(let t, _, _) = x, t >= width, streamSide(y) { pair = (y, t - width) }
                if let (e, column) = pair, !tableKeys.contains(column) {
                    let type = table.columns[column].type
                    streamKeys.append(e.type == type ? e : .cast(e, type))
                    tableKeys.append(column)
                    continue
                }
            }
            residual = residual.map { .and($0, b) } ?? b
        }
        guard !tableKeys.isEmpty else {
            throw Planner.error("plan.join-keys", "a join with table \(table.name) needs ON to equate a stream expression with a column of the table",
                                j.condition.loc, help: "ON c.url = \(qualifier).\(table.columns[0].name)")
        }
        let join = LookupJoin(table: table, kind: kind, streamKeys: streamKeys, tableKeys: tableKeys, residual: residual)
        return BoundFrom(plan: .lookupJoin(left.plan, join), scope: scope, window: left.window, partition: left.partition)
    }

    /// `a JOIN b ON a.k = b.k AND b.ts BETWEEN a.ts AND a.ts + INTERVAL ...` over two streams or
    /// subqueries: equal keys, and bounds on both sides of the right time relative to the left
    /// time, each side's time being its event time (a stream's event-time column, a windowed
    /// subquery's window_time). Two windows' rows join on equal window_time (a window join).
    func bindIntervalJoin(_ j: Join, right: (LogicalPlan, Scope)) throws(PlanError) -> BoundFrom {
        let kind: LookupJoin.Kind
        switch j.kind {
        case .inner: kind = .inner
        case .left: kind = .left
        case .right, .full:
            throw Planner.error("plan.unsupported", "\(j.kind.rawValue) of two streams is not supported", j.loc, help: "use JOIN or LEFT JOIN, with the preserved stream on the left")
        }
        let (lp, ls): (LogicalPlan, Scope)
        switch j.left {
        case .relation(let leftName, let leftAlias, _) where catalog.stream(named: leftName.name) != nil || catalog.view(named: leftName.name) != nil:
            (lp, ls) = try relation(leftName, alias: leftAlias)
        case .subquery(let q, let leftAlias, let loc):
            (lp, ls) = try subquery(q, alias: leftAlias, loc)
        case .join(let inner):
            // a JOIN b ON ... JOIN c ON ...: c joins the rows of a and b (their event time a's),
            // with a and b's names in scope.
            let b = try bindJoin(inner)
            (lp, ls) = (b.plan, b.scope)
        default:
            throw Planner.error("plan.unsupported", "a join of two streams reads a stream, a subquery or a join on each side: the left side of JOIN must be one", j.left.loc)
        }
        let (rp, rs) = right
        try Planner.refuseUpdating(lp, "a join of two streams", j.left.loc)
        try Planner.refuseUpdating(rp, "a join of two streams", j.right.loc)
        let width = ls.entries.count
        let scope = Scope(entries: ls.entries + rs.entries)
        // Each side's event time (DIALECT.md §4).
        func timeColumn(_ p: LogicalPlan, _ loc: NodeSpan) throws(PlanError) -> Int {
            guard let t = Planner.eventTime(of: p) else {
                throw Planner.error("plan.join-needs-time", "a join of two streams meets rows by event time, and this side has none", loc,
                                    help: "select the stream's event-time column as it is, or window_time of a window, in the subquery")
            }
            return t
        }
        let lt = try timeColumn(lp, j.left.loc), rt = width + (try timeColumn(rp, j.right.loc))
        /// `column + offset` when `e` is a time column of either side, plus or minus an interval.
        func timeTerm(_ e: BoundExpr) -> (column: Int, offset: Int64)? {
            switch e {
            case .column(let c, _, _) where c == lt || c == rt: return (c, 0)
            case .arithmetic("+", .column(let c, _, _), .literal(.interval(let ms), _), _) where c == lt || c == rt: return (c, ms)
            case .arithmetic("+", .literal(.interval(let ms), _), .column(let c, _, _), _) where c == lt || c == rt: return (c, ms)
            case .arithmetic("-", .column(let c, _, _), .literal(.interval(let ms), _), _) where c == lt || c == rt: return (c, -ms)
            default: return nil
            }
        }
        var leftKeys: [BoundExpr] = [], rightKeys: [BoundExpr] = []
        var lower: Int64? = nil, upper: Int64? = nil
        var residual: BoundExpr? = nil
        for c in Planner.conjuncts(j.condition) {
            try noAggregates(c, "ON")
            let bound = try bind(c, scope)
            try requireBoolean(bound, c.loc, "ON")
            for b in bound.conjuncts {
                if case .compare(let op, let x, let y) = b {
                    // A time bound: normalized to `right.time - left.time op k`.
                    if let a = timeTerm(x), let t = timeTerm(y), a.column != t.column {
                        let rightFirst = a.column == rt
                        let k = rightFirst ? t.offset - a.offset : a.offset - t.offset
                        let flipped: String
                        switch op {
                        case "<": flipped = rightFirst ? "<" : ">"
                        case "<=": flipped = rightFirst ? "<=" : ">="
                        case ">": flipped = rightFirst ? ">" : "<"
                        case ">=": flipped = rightFirst ? ">=" : "<="
                        default: flipped = op
                        }
                        switch flipped {
                        case ">=": lower = max(lower ?? .min, k)
                        case ">": lower = max(lower ?? .min, k + 1)
                        case "<=": upper = min(upper ?? .max, k)
                        case "<": upper = min(upper ?? .max, k - 1)
                        case "=": lower = max(lower ?? .min, k); upper = min(upper ?? .max, k)
                        default: residual = residual.map { .and($0, b) } ?? b
                        }
                        continue
                    }
                    if op == "=" {
                        func onlyLeft(_ e: BoundExpr) -> Bool { !e.columns.isEmpty && e.columns.allSatisfy { $0 < width } }
                        func onlyRight(_ e: BoundExpr) -> Bool { !e.columns.isEmpty && e.columns.allSatisfy { $0 >= width } }
                        var pair: (BoundExpr, BoundExpr)? = nil
                        if onlyLeft(x) && onlyRight(y) { pair = (x, y) }
                        if onlyRight(x) && onlyLeft(y) { pair = (y, x) }
                        if var (l, r) = pair {
                            if l.type != r.type {
                                let common: ColumnType = Planner.isNumeric(l.type) && Planner.isNumeric(r.type) ? Planner.commonNumeric(l.type, r.type) : .varchar
                                if l.type != common { l = .cast(l, common) }
                                if r.type != common { r = .cast(r, common) }
                            }
                            leftKeys.append(l)
                            rightKeys.append(r.remapped { $0 - width })
                            continue
                        }
                    }
                }
                residual = residual.map { .and($0, b) } ?? b
            }
        }
        // Without bounds on a side, the streams' retention bounds it (a regular join with state_ttl):
        // a left row waits for right rows for the left stream's ttl, a right row for left rows for the right's.
        let leftTTL = Planner.stateTTL(lp), rightTTL = Planner.stateTTL(rp)
        if upper == nil, let t = leftTTL { upper = t }
        if lower == nil, let t = rightTTL { lower = -t }
        let lname = ls.entries[lt].qualifier.map { $0 + "." } ?? "", rname = rs.entries[rt - width].qualifier.map { $0 + "." } ?? ""
        let example = "\(rname)\(rs.entries[rt - width].name) BETWEEN \(lname)\(ls.entries[lt].name) AND \(lname)\(ls.entries[lt].name) + INTERVAL '15' MINUTE"
        if leftKeys.isEmpty, let lo = lower, lo == upper {
            // Equal times (two windows' rows on window_time): the time is the key.
            let time = BoundExpr.column(lt, name: ls.entries[lt].name, .timestamp)
            leftKeys = [lo == 0 ? time : .arithmetic("+", time, .literal(.interval(lo), .interval), .timestamp)]
            rightKeys = [.column(rt - width, name: rs.entries[rt - width].name, .timestamp)]
        }
        guard !leftKeys.isEmpty else {
            throw Planner.error("plan.join-keys", "a join of two streams needs ON to equate an expression of each", j.condition.loc,
                                help: "ON a.k = b.k AND \(example)")
        }
        guard let lo = lower, let hi = upper else {
            let streams = [Planner.sourceOf(lp)?.stream.name, Planner.sourceOf(rp)?.stream.name].compactMap { $0 }
            throw Planner.error("plan.join-interval", "a join of two streams needs the right time bounded on both sides by the left time, or its state would grow forever",
                                j.condition.loc,
                                help: "add \(example), or say how long each stream's rows are kept: WITH (state_ttl = '1h') in CREATE STREAM "
                                    + streams.joined(separator: " and "))
        }
        guard lo <= hi else {
            throw Planner.error("plan.join-interval", "the time bounds of this join leave no interval: right time - left time must be at least \(Duration.signed(lo)) and at most \(Duration.signed(hi))", j.condition.loc)
        }
        if kind == .left, residual != nil {
            throw Planner.error("plan.unsupported", "the ON of a LEFT join of two streams holds key equalities and time bounds only", j.condition.loc,
                                help: "move the other conditions to WHERE")
        }
        let join = IntervalJoin(kind: kind, leftKeys: leftKeys, rightKeys: rightKeys, leftTime: lt, rightTime: rt - width, lower: lo, upper: hi, residual: residual)
        return BoundFrom(plan: .intervalJoin(lp, rp, join), scope: scope)
    }

    /// The state TTL of an operator over `input` that keeps state per key without a window (an
    /// aggregate, a Top-N): the largest `state_ttl` of the streams it reads, when each declares
    /// one, on the input's event time; nil without (an updating input has no event time).
    static func stateTTL(for input: LogicalPlan) -> StateTTL? {
        guard let time = eventTime(of: input) else { return nil }
        let ttls = sourceNodes(of: input).map { stateTTL(.source($0)) }
        guard !ttls.isEmpty, ttls.allSatisfy({ $0 != nil }) else { return nil }
        return StateTTL(timeColumn: time, millis: ttls.map { $0! }.max()!)
    }

    /// The retention a side's stream declares (`state_ttl`), in milliseconds of event time.
    static func stateTTL(_ p: LogicalPlan) -> Int64? {
        guard let v = sourceOf(p)?.stream.options["state_ttl"] else { return nil }
        switch v {
        case .string(let t): return Units.millis(t)
        case .interval(let i): return i.millis
        default: return nil
        }
    }
}
