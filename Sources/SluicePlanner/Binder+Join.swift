import SluiceCore
import SluiceSQL

extension Planner {
    /// `left JOIN right ON ...`: a stream with a reference table (a lookup join).
    func bindJoin(_ j: Join) throws(PlanError) -> BoundFrom {
        guard case .relation(let name, let alias, _) = j.right else {
            throw Planner.error("plan.unsupported", "the right side of a JOIN names a table or a stream", j.right.loc)
        }
        if let table = catalog.table(named: name.name) {
            return try bindLookupJoin(j, table, qualifier: (alias ?? name).name)
        }
        if catalog.stream(named: name.name) != nil {
            throw Planner.error("plan.unsupported", "joins of two streams are not supported yet", j.loc)
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
}
