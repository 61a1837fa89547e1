import SluiceCore
import SluiceSQL

extension Planner {
    typealias Hook = (Expr) throws(PlanError) -> BoundExpr?

    /// OVER windows of a query's SELECT list: one `.over` node per distinct window (partition,
    /// order and frame) above `input`, each adding its aggregates as columns. Returns the plan, the
    /// scope SELECT binds in, and the hook that binds each OVER call to its column.
    func planOver(_ q: Query, _ from: BoundFrom, _ input: LogicalPlan) throws(PlanError) -> (LogicalPlan, Scope, Hook?) {
        var calls: [(FunctionCall, NodeSpan)] = []
        for item in q.items {
            guard case .expression(let e, _, _) = item else { continue }
            Planner.visit(e) { if case .function(let f) = $0.kind, f.over != nil { calls.append((f, $0.loc)) } }
        }
        if let ranked = try planRank(q, from, input) { return ranked }
        if calls.isEmpty { return (input, from.scope, nil) }
        try Planner.refuseUpdating(input, "an OVER window", calls[0].1)
        var windows: [OverWindow] = []
        func index(of w: OverWindow) -> Int? {
            windows.firstIndex { $0.partition == w.partition && $0.timeColumn == w.timeColumn && $0.frame == w.frame }
        }
        for (f, loc) in calls {
            let (w, call) = try bindOver(f, loc, from, input)
            if let i = index(of: w) {
                if !windows[i].aggregates.contains(where: { $0.text == call.text }) { windows[i].aggregates.append(call) }
            } else {
                windows.append(w)
            }
        }
        var plan = input
        var scope = from.scope
        var columns: [[String: Int]] = []
        for w in windows {
            var cols: [String: Int] = [:]
            let base = plan.schema.count
            for (j, a) in w.aggregates.enumerated() {
                cols[a.text] = base + j
                scope.entries.append(Scope.Entry(qualifier: nil, name: a.name, type: a.type, hidden: true))
            }
            columns.append(cols)
            plan = .over(plan, w)
        }
        let frozen = windows
        let hook: Hook = { e throws(PlanError) in
            guard case .function(let f) = e.kind, f.over != nil else { return nil }
            let (w, call) = try bindOver(f, e.loc, from, input)
            let i = frozen.firstIndex { $0.partition == w.partition && $0.timeColumn == w.timeColumn && $0.frame == w.frame }!
            return .column(columns[i][call.text]!, name: call.name, call.type)
        }
        return (plan, scope, hook)
    }

    /// One `agg(x) OVER (PARTITION BY ... ORDER BY time RANGE|ROWS ... PRECEDING)` call.
    func bindOver(_ f: FunctionCall, _ loc: NodeSpan, _ from: BoundFrom, _ input: LogicalPlan) throws(PlanError) -> (OverWindow, AggregateCall) {
        let over = f.over!
        var plain = f
        plain.over = nil
        let offsetFunction = !f.name.quoted && ["LAG", "LEAD"].contains(f.name.name.uppercased())
        let analytic = !f.name.quoted && ["EXP_AVG", "NTH_VALUE"].contains(f.name.name.uppercased())
        guard Planner.isAggregate(plain) || offsetFunction || analytic else {
            throw Planner.error("plan.over-needs-aggregate", "\(f.name.name) is not an aggregate; an OVER window computes COUNT, SUM, AVG, MIN, MAX, LAG, LEAD, NTH_VALUE, EXP_AVG, ...", loc)
        }
        var call = offsetFunction ? try bindOffset(plain, loc, from.scope) : analytic ? try bindAnalytic(plain, loc, from.scope) : try bindAggregate(plain, loc, from.scope)
        let example = "OVER (PARTITION BY url ORDER BY ts RANGE INTERVAL '1' MINUTE PRECEDING)"
        guard let first = over.orderBy.first else {
            throw Planner.error("plan.over-order", "an OVER window is ordered by event time: add ORDER BY and the time column", over.loc, help: example)
        }
        guard over.orderBy.count == 1, !first.descending else {
            throw Planner.error("plan.over-order", "an aggregate's OVER window is ordered by one time column, ascending", over.loc, help: example)
        }
        let order = first.expr
        let time = try bind(order, from.scope)
        guard case .column(let timeColumn, let timeName, .timestamp) = time else {
            throw Planner.error("plan.over-order", "an OVER window is ordered by a TIMESTAMP column (the stream's event time or ROWTIME), not \(time.text)",
                                order.loc, help: example)
        }
        if timeName.uppercased() != "ROWTIME", let s = Planner.sourceOf(input), s.stream.watermark?.column.lowercased() != timeName.lowercased() {
            throw Planner.error("plan.window-needs-watermark", "an OVER window on \(timeName) needs \(timeName) to be the stream's event time", order.loc,
                                help: "declare WATERMARK FOR \(timeName) AS \(timeName) - INTERVAL '5' SECOND in CREATE STREAM \(s.stream.name), or order by ROWTIME (processing time)")
        }
        if offsetFunction, over.frame != nil {
            throw Planner.error("plan.over-frame", "\(call.function) reads one row before or after the current one: it takes no ROWS or RANGE frame", over.loc,
                                help: "\(call.function)(x, 2) OVER (PARTITION BY k ORDER BY ts) reads the row two before (after)")
        }
        // LAG keeps the rows it reaches back to; LEAD waits for the rows it reaches forward to.
        guard let frame = offsetFunction ? .rows(call.function == "LAG" ? Int64(call.parameter ?? 1) : 0) : over.frame else {
            throw Planner.error("plan.over-frame", "an OVER window on a stream needs a bounded frame, or its state would grow forever", over.loc,
                                help: "add RANGE INTERVAL '1' MINUTE PRECEDING or ROWS 10 PRECEDING")
        }
        let bounded: OverWindow.Frame
        switch frame {
        case .range(let i):
            guard i.millis > 0 else { throw Planner.error("plan.over-frame", "the RANGE of an OVER window must be positive", over.loc) }
            bounded = .range(millis: i.millis)
        case .rows(let n):
            guard n >= 0 else { throw Planner.error("plan.over-frame", "ROWS n PRECEDING needs n >= 0", over.loc) }
            bounded = .rows(n)
        }
        var partition: [BoundExpr] = []
        for p in over.partitionBy {
            try noAggregates(p, "an OVER window")
            let b = try bind(p, from.scope)
            if !partition.contains(b) { partition.append(b) }
        }
        if call.function == "FIRST_VALUE" || call.function == "LAST_VALUE" { call.time = time }
        call.name = call.text
        return (OverWindow(partition: partition, timeColumn: timeColumn, frame: bounded, aggregates: [call]), call)
    }

    /// KDA's analytic functions over an OVER window's frame: `NTH_VALUE(x, n)` (the n-th value
    /// from the frame's first row, NULL when it is shorter) and `EXP_AVG(x, INTERVAL ...)` (the
    /// average weighted by age, a weight halving every interval before the current row).
    func bindAnalytic(_ f: FunctionCall, _ loc: NodeSpan, _ scope: Scope) throws(PlanError) -> AggregateCall {
        let name = f.name.name.uppercased()
        let usage = name == "NTH_VALUE" ? "NTH_VALUE(x, n) OVER (...)" : "EXP_AVG(x, INTERVAL '10' SECOND) OVER (...)"
        guard f.arguments.count == 2, !f.star, !f.distinct, f.filter == nil else {
            throw Planner.error("bind.bad-arguments", "\(name) takes two arguments: \(usage)", loc)
        }
        for a in f.arguments { try noAggregates(a, name) }
        let x = try bind(f.arguments[0], scope)
        let p = try bind(f.arguments[1], scope)
        if name == "NTH_VALUE" {
            guard case .literal(.int(let n), _) = p, n >= 1, n <= 10_000 else {
                throw Planner.error("bind.bad-arguments", "NTH_VALUE's n is a whole number from 1 to 10000", f.arguments[1].loc, help: usage)
            }
            return AggregateCall(function: name, argument: x, distinct: false, type: x.type, name: "", parameter: Double(n))
        }
        guard Planner.isNumeric(x.type) else { throw mismatch(name, x, nil, loc) }
        guard case .literal(.interval(let ms), _) = p, ms > 0 else {
            throw Planner.error("bind.bad-arguments", "EXP_AVG's half-life is a positive interval", f.arguments[1].loc, help: usage)
        }
        return AggregateCall(function: name, argument: x, distinct: false, type: .double, name: "", parameter: Double(ms))
    }

    /// `LAG(x [, offset [, default]])` / `LEAD(...)`: the value of `x` `offset` rows (1 by default)
    /// before / after the current one in its partition, else `default` (a constant; NULL by default).
    func bindOffset(_ f: FunctionCall, _ loc: NodeSpan, _ scope: Scope) throws(PlanError) -> AggregateCall {
        let name = f.name.name.uppercased()
        let usage = "\(name)(x [, offset [, default]]) OVER (PARTITION BY k ORDER BY ts)"
        guard (1...3).contains(f.arguments.count), !f.star, !f.distinct, f.filter == nil else {
            throw Planner.error("bind.bad-arguments", "\(name) takes a value, an offset and a default: \(usage)", loc)
        }
        for a in f.arguments { try noAggregates(a, "\(name)") }
        let x = try bind(f.arguments[0], scope)
        var offset: Int64 = 1
        if f.arguments.count > 1 {
            guard case .literal(.int(let n), _) = try bind(f.arguments[1], scope), n >= 1, n <= 10_000 else {
                throw Planner.error("bind.bad-arguments", "\(name)'s offset is a whole number from 1 to 10000", f.arguments[1].loc, help: usage)
            }
            offset = n
        }
        var call = AggregateCall(function: name, argument: x, distinct: false, type: x.type, name: "", parameter: Double(offset))
        if f.arguments.count > 2 {
            let d = try bind(f.arguments[2], scope)
            guard d.columns.isEmpty else {
                throw Planner.error("bind.bad-arguments", "\(name)'s default is a constant", f.arguments[2].loc, help: usage)
            }
            guard d.type == x.type || Planner.isNull(d) || (Planner.isNumeric(x.type) && Planner.isNumeric(d.type) && Planner.commonNumeric(x.type, d.type) == x.type) else {
                throw Planner.error("bind.type-mismatch", "\(name)'s default is \(d.type.rawValue), its value \(x.type.rawValue)", f.arguments[2].loc)
            }
            call.fallback = d.type != x.type && !Planner.isNull(d) ? .cast(d, x.type) : d
        }
        return call
    }
}
