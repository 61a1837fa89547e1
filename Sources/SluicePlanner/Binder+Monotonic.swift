import SluiceCore
public import SluiceSQL

extension Planner {
    /// Kinesis Data Analytics' streaming GROUP BY on a monotonic expression of a stream's time
    /// (`FLOOR(s.ROWTIME TO MINUTE)`, `STEP(s.ROWTIME BY INTERVAL '10' SECOND)`) groups rows into
    /// back-to-back intervals and emits each group when time passes it: a tumbling window. The
    /// query is read as one: `FROM TUMBLE(s, time, size)`, grouped by `window_start, window_end`
    /// and the other keys; the expression itself, where it stands as a whole select item, is
    /// `window_start`, and `ROWTIME` in the select list is `window_end` (a group's rows leave when
    /// it closes). With two such keys (KDA's two-time form, `STEP(s.ROWTIME BY ...)` and
    /// `STEP(s.event_time BY ...)`), the one on ROWTIME is the window, which says when groups
    /// close, and the other an ordinary key (the group's bucket of the other time). Nil when the
    /// query is not of that form.
    public static func monotonicGroupBy(_ q: Query) -> Query? {
        guard case .relation(let name, let alias, let loc)? = q.from else { return nil }
        let keys = q.groupBy.compactMap { g in monotonic(g).map { (expr: g, time: $0.time, size: $0.size) } }
        func onRowtime(_ t: Expr) -> Bool {
            if case .column(_, let n) = t.kind { return !n.quoted && n.name.uppercased() == "ROWTIME" }
            return false
        }
        let chosen = keys.count == 1 ? keys : keys.filter { onRowtime($0.time) }
        guard chosen.count == 1 else { return nil }  // none, or two on ROWTIME (or two on other times): not a window
        let (expr, time, size) = chosen[0]
        var r = q
        var timeColumn = time
        if case .column(_, let n) = time.kind { timeColumn = Expr(.column(qualifier: nil, name: n), time.loc) }
        r.from = .window(.tumble(relation: .relation(name: name, alias: nil, loc: loc), timeColumn: timeColumn, size: size), alias: alias ?? name, loc: loc)
        let start = Expr(.column(qualifier: nil, name: Identifier("window_start")), expr.loc)
        let end = Expr(.column(qualifier: nil, name: Identifier("window_end")), expr.loc)
        r.groupBy = [start, end] + q.groupBy.filter { $0 != expr }
        r.items = q.items.map { item in
            guard case .expression(let e, let a, let l) = item else { return item }
            if e == expr { return .expression(start, alias: a ?? Identifier("window_start"), loc: l) }
            if case .column(_, let n) = e.kind, !n.quoted, n.name.uppercased() == "ROWTIME" {
                return .expression(end, alias: a ?? Identifier(n.name, quoted: true), loc: l)
            }
            return item
        }
        return r
    }

    /// `FLOOR(t TO unit)` (a second to a day) or `STEP(t BY interval)`: its time and interval.
    static func monotonic(_ e: Expr) -> (time: Expr, size: IntervalLiteral)? {
        switch e.kind {
        case .floorTo(let t, let unit):
            guard [TimeUnit.second, .minute, .hour, .day].contains(unit) else { return nil }
            // KDA's older idiom: FLOOR((t - TIMESTAMP '1970-01-01 00:00:00') SECOND / n TO SECOND)
            // changes every n units: STEP(t BY INTERVAL 'n' unit).
            func sinceEpoch(_ x: Expr) -> Expr? {
                guard case .binary(.subtract, let time, let epoch) = x.kind, case .literal(.timestamp(let text)) = epoch.kind,
                      TimeFormat.parseISO8601(text) == 0 else { return nil }
                return time
            }
            if let time = sinceEpoch(t) { return (time, IntervalLiteral(value: "1", unit: unit, loc: e.loc)) }
            if case .binary(.divide, let x, let n) = t.kind, let time = sinceEpoch(x), case .literal(.number(let text)) = n.kind, let v = Int(text), v > 0 {
                return (time, IntervalLiteral(value: String(v), unit: unit, loc: e.loc))
            }
            return (t, IntervalLiteral(value: "1", unit: unit, loc: e.loc))
        case .function(let f) where !f.name.quoted && f.name.name.uppercased() == "STEP" && f.over == nil && f.arguments.count == 2:
            guard case .literal(.interval(let size)) = f.arguments[1].kind else { return nil }
            return (f.arguments[0], size)
        default:
            return nil
        }
    }
}
