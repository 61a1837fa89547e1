import SluiceCore
import SluiceSQL

/// `q1 UNION ALL q2 [UNION ALL q3 ...] [EMIT ...] [LIMIT n]`: the rows of every query as they come,
/// in one query over all their inputs. The columns line up by position (named by the first query)
/// and must have one type each; the union's watermark is the smallest of its inputs', and its event
/// time is a column that carries every input's event time. Three or more queries are unions of
/// two, from the left: (q1 UNION ALL q2) UNION ALL q3.
extension Planner {
    func planUnion(_ q: Query) throws(PlanError) -> LogicalPlan {
        // EMIT applies to each input; LIMIT to the union.
        var first = q
        first.unionAll = []
        first.limit = nil
        var p = try planBody(first)
        for (k, var next) in q.unionAll.enumerated() {
            next.emit = q.emit
            p = try union(p, try planBody(next), next, number: k + 2)
        }
        if let n = q.limit { p = .limit(p, n) }
        return p
    }

    /// The union of the queries before and query `number` (`second`, for messages).
    private func union(_ left: LogicalPlan, _ right: LogicalPlan, _ second: Query, number: Int) throws(PlanError) -> LogicalPlan {
        let before = number == 2 ? "the first query" : "the queries before", this = number == 2 ? "the second" : "query \(number)"
        var plans = [left, right]
        // A union with an updating input is updating: an append-only input's rows are inserts.
        if plans.contains(where: \.isUpdating) {
            plans = plans.map { p in
                guard !p.isUpdating else { return p }
                let s = p.schema
                return .project(p, s.indices.map { .column($0, name: s[$0].name, s[$0].type) } + [.literal(.string(ChangeKind.insert.rawValue), .varchar)],
                                names: s.map(\.name) + [ChangeKind.column])
            }
        }
        let (l, r) = (plans[0].schema, plans[1].schema)
        guard l.count == r.count else {
            throw Planner.error("plan.union-columns", number == 2 ? "the queries of UNION ALL give \(l.count) and \(r.count) columns"
                                    : "the queries of UNION ALL before query \(number) give \(l.count) columns, query \(number) \(r.count)", second.loc,
                                help: "select the same columns, in the same order, in every query")
        }
        for i in l.indices where l[i].type != r[i].type {
            throw Planner.error("bind.type-mismatch", "UNION ALL's column \(i + 1) (\(l[i].name)) is \(l[i].type.rawValue) in \(before) and \(r[i].type.rawValue) in \(this)",
                                second.loc, help: "CAST one of them, e.g. CAST(\(r[i].name) AS \(l[i].type.rawValue))")
        }
        return .union(plans[0], plans[1])
    }
}
