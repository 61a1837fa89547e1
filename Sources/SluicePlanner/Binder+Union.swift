import SluiceCore
import SluiceSQL

/// `q1 UNION ALL q2 [EMIT ...] [LIMIT n]`: the rows of both queries as they come, in one query over
/// both inputs. The columns line up by position (named by the first query) and must have one type
/// each; the union's watermark is the smaller of its inputs', and its event time is a column that
/// carries both inputs' event time.
extension Planner {
    func planUnion(_ q: Query) throws(PlanError) -> LogicalPlan {
        guard q.unionAll.count == 1 else {
            throw Planner.error("plan.unsupported", "UNION ALL of more than two queries is not supported yet", q.unionAll[1].loc,
                                help: "union two queries per query, and send each union into a stream (CREATE STREAM ... AS) to union it again")
        }
        // EMIT applies to each input; LIMIT to the union.
        var first = q
        first.unionAll = []
        first.limit = nil
        var second = q.unionAll[0]
        second.emit = q.emit
        var plans = [try planBody(first), try planBody(second)]
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
            throw Planner.error("plan.union-columns", "the queries of UNION ALL give \(l.count) and \(r.count) columns", second.loc,
                                help: "select the same columns, in the same order, in both")
        }
        for i in l.indices where l[i].type != r[i].type {
            throw Planner.error("bind.type-mismatch", "UNION ALL's column \(i + 1) (\(l[i].name)) is \(l[i].type.rawValue) in the first query and \(r[i].type.rawValue) in the second",
                                second.loc, help: "CAST one of them, e.g. CAST(\(r[i].name) AS \(l[i].type.rawValue))")
        }
        var p = LogicalPlan.union(plans[0], plans[1])
        if let n = q.limit { p = .limit(p, n) }
        return p
    }
}
