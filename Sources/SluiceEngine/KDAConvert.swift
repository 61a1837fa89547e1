public import SluiceSQL
import SluicePlanner

extension Engine {
    /// A script written in Kinesis Data Analytics' dialect (parsed with `Dialect.kda`) as the
    /// same application in Sluice's own SQL (`sluice kda convert`): every statement that has a
    /// KDA-only meaning is written in the form Sluice's dialect gives it, so that the text runs
    /// under `Parser.parse` and gives the same rows.
    ///
    /// - A pump (`CREATE PUMP p AS INSERT INTO s SELECT ...`, columns by position) is an `INSERT
    ///   INTO s SELECT ...` whose items are named after the columns they fill (Sluice's INSERT goes
    ///   by name), converted with `CAST` where the types differ, plus the rows' `ROWTIME` (the
    ///   arrival of their records, as the pump carried it).
    /// - A streaming `GROUP BY STEP(...)`/`FLOOR(... TO ...)` is `FROM TUMBLE(...)` grouped by the
    ///   window.
    /// - `TABLE(RANDOM_CUT_FOREST(CURSOR(...), ...))` is `RANDOM_CUT_FOREST((...), COLUMNS (...),
    ///   ..., score => 'depth')` over the cursor's numeric columns, ordered by its time.
    public func sluiceForm(_ script: Script) throws(EngineError) -> Script {
        let (_, _, pending) = try prepareAll(script)
        var pumpPlans: [String: LogicalPlan] = [:]
        for case .start(let plan, _, let label, _) in pending where label.hasPrefix("PUMP ") { pumpPlans[String(label.dropFirst(5))] = plan }
        // The declared columns of each stream, for the CASTs of pumps.
        var declared: [String: [SluiceSQL.ColumnDefinition]] = [:]
        for s in script.statements { if case .createStream(let c) = s.kind { declared[c.name.name.lowercased()] = c.columns } }
        var out = script
        for (k, s) in script.statements.enumerated() {
            switch s.kind {
            case .insert(var ins):
                let plan = ins.pump.flatMap { pumpPlans[$0.name] }
                if let plan, ins.byPosition {
                    ins.query = try Engine.byName(ins.query, plan, declared[ins.target.name.lowercased()] ?? [])
                    ins.pump = nil
                    ins.byPosition = false
                    ins.columns = []
                    ins.orReplace = false
                }
                ins.query = Engine.sluiceForms(ins.query, plan)
                out.statements[k].kind = .insert(ins)
            case .query(let q):
                out.statements[k].kind = .query(Engine.sluiceForms(q, nil))
            case .createStreamAs(var c):
                c.query = Engine.sluiceForms(c.query, nil)
                out.statements[k].kind = .createStreamAs(c)
            default:
                break
            }
        }
        return out
    }

    /// A pump's query with its items named after the stream columns they fill, from the pump's
    /// plan (whose top projection says which query column fills which stream column, and how it
    /// is converted).
    static func byName(_ query: Query, _ plan: LogicalPlan, _ columns: [SluiceSQL.ColumnDefinition]) throws(EngineError) -> Query {
        guard case .project(let inner, let exprs, let names) = plan else { return query }
        var q = query
        let rowtime = names.last == "ROWTIME"
        // The form of ROWTIME the pump's plan took: a join of two streams gives the later side's.
        if rowtime, let r = Engine.joinsStreams(inner) ? Engine.rowtimeForms(q).last : Engine.rowtimeForms(q).first { q = r }
        // Star items stand for the columns they give: written out, so each can be named.
        let given = inner.schema.count - (rowtime ? 1 : 0)
        var items = Array(q.items.prefix(q.items.count - (rowtime ? 1 : 0)))
        if items.contains(where: { if case .wildcard = $0 { return true } else { return false } }) {
            // Unquoted where the name allows: a forest's anomaly_score answers to ANOMALY_SCORE.
            items = inner.schema.prefix(given).map { c in
                let plain = c.name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } && Keyword.lookup(c.name) == nil
                return .expression(Expr(.column(qualifier: nil, name: Identifier(c.name, quoted: !plain)), q.loc), alias: nil, loc: q.loc)
            }
        }
        guard items.count == given else {
            throw EngineError(message: "the pump's query cannot be written in Sluice's SQL: its \(items.count) items give \(given) columns")
        }
        var named: [SelectItem] = []
        for (k, e) in exprs.enumerated() where names[k] != "ROWTIME" {
            let target = Identifier(names[k], quoted: true)
            switch e {
            case .column(let i, _, _):
                guard case .expression(let x, _, let l) = items[i] else { continue }
                named.append(.expression(x, alias: target, loc: l))
            case .cast(.column(let i, _, _), _):
                guard case .expression(let x, _, let l) = items[i] else { continue }
                let type = columns.first { $0.name.name.lowercased() == names[k].lowercased() }?.type
                named.append(.expression(type.map { Expr(.cast(x, $0), l) } ?? x, alias: target, loc: l))
            default:
                break  // a column the pump does not fill: NULL, as a column left out is
            }
        }
        if rowtime, let last = q.items.last { named.append(last) }
        q.items = named
        return q
    }

    /// KDA's forms inside a query written as Sluice's: a monotonic GROUP BY as a tumbling window,
    /// and a forest over a CURSOR as Sluice's forest (its columns and score spelled out).
    static func sluiceForms(_ query: Query, _ plan: LogicalPlan?) -> Query {
        var q = Planner.monotonicGroupBy(query) ?? query
        if case .anomaly(var f, let alias, let loc)? = q.from, f.kda {
            let node = plan.flatMap(Engine.anomalyNode)
            f.columns = (node?.columnNames ?? []).map { Identifier($0, quoted: true) }
            if f.detector == .randomCutForest, !f.parameters.contains(where: { $0.name.name.lowercased() == "score" }) {
                f.parameters.append(NamedArgument(name: Identifier("score"), value: Expr(.literal(.string("depth")), loc)))
            }
            if case .subquery(var cursor, let a, let l) = f.relation, !cursor.items.contains(where: Engine.isRowtime) {
                // The forest scores rows in the order of their time: the cursor gives it.
                cursor.items.append(.expression(Expr(.column(qualifier: nil, name: Identifier("ROWTIME")), l), alias: nil, loc: l))
                f.relation = .subquery(cursor, alias: a, loc: l)
            }
            f.kda = false
            q.from = .anomaly(f, alias: alias, loc: loc)
        }
        q.unionAll = q.unionAll.map { sluiceForms($0, nil) }
        return q
    }

    static func joinsStreams(_ p: LogicalPlan) -> Bool {
        switch p {
        case .intervalJoin: return true
        case .project(let c, _, _), .filter(let c, _), .limit(let c, _), .over(let c, _), .lookupJoin(let c, _): return joinsStreams(c)
        default: return false
        }
    }

    /// An item that gives a column named ROWTIME (its own, or one named so).
    static func givesRowtime(_ item: SelectItem) -> Bool {
        if case .expression(_, let a?, _) = item { return a.name.uppercased() == "ROWTIME" }
        return isRowtime(item)
    }

    static func isRowtime(_ item: SelectItem) -> Bool {
        guard case .expression(let e, _, _) = item, case .column(_, let n) = e.kind else { return false }
        return n.name.uppercased() == "ROWTIME"
    }
}
