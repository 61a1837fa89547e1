public import SluiceCore

/// Rewrites a logical plan into an equivalent, cheaper one. Rules, in order:
/// 1. constant folding: sub-expressions that read no column become literals (evaluated by the
///    `fold` function the engine supplies, so planning never imports execution code); `AND TRUE`
///    and `OR FALSE` disappear, and a filter that is always TRUE goes away;
/// 2. filter push-down: a filter on a stream's columns goes below a lookup join, and a filter
///    right above a source becomes the source's predicate, applied as records are decoded;
/// 3. projection pruning: a source decodes only the columns something above it reads.
public struct Optimizer: Sendable {
    public typealias Fold = @Sendable (BoundExpr) -> Value?

    public static let rules = ["constant-folding", "filter-into-source", "projection-pruning"]

    public let fold: Fold?

    public init(fold: Fold? = nil) { self.fold = fold }

    public func optimize(_ plan: LogicalPlan) -> LogicalPlan {
        var p = plan
        if fold != nil { p = mapExpressions(p, foldConstants) }
        p = pushFilters(p)
        p = prune(p, needed: Set(p.schema.indices)).plan
        return p
    }

    // MARK: Constant folding

    func foldConstants(_ e: BoundExpr) -> BoundExpr {
        let e = e.mapChildren(foldConstants)
        switch e {
        case .and(.literal(.bool(true), _), let x), .and(let x, .literal(.bool(true), _)): return x
        case .or(.literal(.bool(false), _), let x), .or(let x, .literal(.bool(false), _)): return x
        case .literal, .column: return e
        default:
            guard e.isConstant, let f = fold, let v = f(e) else { return e }
            return .literal(v, e.type)
        }
    }

    func mapExpressions(_ p: LogicalPlan, _ f: (BoundExpr) -> BoundExpr) -> LogicalPlan {
        switch p {
        case .source(var s):
            s.predicate = s.predicate.map(f)
            return .source(s)
        case .filter(let input, let e):
            let folded = f(e)
            if case .literal(.bool(true), _) = folded { return mapExpressions(input, f) }
            return .filter(mapExpressions(input, f), folded)
        case .project(let input, let exprs, let names): return .project(mapExpressions(input, f), exprs.map(f), names: names)
        case .windowAggregate(let input, let w, let t, let keys, let keyNames, let aggs, let emit):
            return .windowAggregate(mapExpressions(input, f), window: w, timeColumn: t, keys: keys.map(f), keyNames: keyNames,
                                    aggregates: aggs.map { var a = $0; a.argument = a.argument.map(f); a.time = a.time.map(f); return a }, emit: emit)
        case .aggregate(let input, let keys, let keyNames, let aggs, let emit, let ttl):
            return .aggregate(mapExpressions(input, f), keys: keys.map(f), keyNames: keyNames,
                              aggregates: aggs.map { var a = $0; a.argument = a.argument.map(f); a.time = a.time.map(f); return a }, emit: emit, ttl: ttl)
        case .over(let input, var w):
            w.partition = w.partition.map(f)
            w.aggregates = w.aggregates.map { var a = $0; a.argument = a.argument.map(f); a.time = a.time.map(f); return a }
            return .over(mapExpressions(input, f), w)
        case .anomaly(let input, var a):
            a.partition = a.partition.map(f)
            return .anomaly(mapExpressions(input, f), a)
        case .lookupJoin(let input, var j):
            j.streamKeys = j.streamKeys.map(f)
            j.residual = j.residual.map(f)
            return .lookupJoin(mapExpressions(input, f), j)
        case .intervalJoin(let l, let r, var j):
            j.leftKeys = j.leftKeys.map(f)
            j.rightKeys = j.rightKeys.map(f)
            j.residual = j.residual.map(f)
            return .intervalJoin(mapExpressions(l, f), mapExpressions(r, f), j)
        case .union(let l, let r): return .union(mapExpressions(l, f), mapExpressions(r, f))
        case .windowRows(let input, let t, let w, let partition): return .windowRows(mapExpressions(input, f), timeColumn: t, window: w, partition: partition.map(f))
        case .limit(let input, let n): return .limit(mapExpressions(input, f), n)
        case .topN(let input, var t):
            t.partition = t.partition.map(f)
            t.order = t.order.map { TopN.Key(expr: f($0.expr), descending: $0.descending) }
            return .topN(mapExpressions(input, f), t)
        }
    }

    // MARK: Filter push-down

    func pushFilters(_ p: LogicalPlan) -> LogicalPlan {
        switch p {
        case .filter(.lookupJoin(let input, let j), let e):
            // Conditions on the stream's columns only filter before the lookup (for LEFT too:
            // the rows they remove would have been removed with their NULLs or matches).
            let parts = e.conjuncts
            let below = parts.filter { $0.columns.allSatisfy { $0 < input.schema.count } }
            let above = parts.filter { !$0.columns.allSatisfy { $0 < input.schema.count } }
            guard let first = below.first else { return .filter(.lookupJoin(pushFilters(input), j), e) }
            let joined = LogicalPlan.lookupJoin(pushFilters(.filter(input, below.dropFirst().reduce(first) { .and($0, $1) })), j)
            guard let a = above.first else { return joined }
            return .filter(joined, above.dropFirst().reduce(a) { .and($0, $1) })
        case .filter(.intervalJoin(let l, let r, let j), let e) where j.kind == .inner:
            // Conditions on one side's columns filter that side before the join.
            let width = l.schema.count
            var left = l, right = r
            var above: [BoundExpr] = []
            for c in e.conjuncts {
                if c.columns.allSatisfy({ $0 < width }) { left = .filter(left, c) }
                else if c.columns.allSatisfy({ $0 >= width }) { right = .filter(right, c.remapped { $0 - width }) }
                else { above.append(c) }
            }
            let joined = LogicalPlan.intervalJoin(pushFilters(left), pushFilters(right), j)
            guard let a = above.first else { return joined }
            return .filter(joined, above.dropFirst().reduce(a) { .and($0, $1) })
        // A filter above a union filters each input.
        case .filter(.union(let l, let r), let e): return .union(pushFilters(.filter(l, e)), pushFilters(.filter(r, e)))
        case .filter(let input, let e):
            let child = pushFilters(input)
            if case .source(var s) = child {
                s.predicate = s.predicate.map { .and($0, e) } ?? e
                return .source(s)
            }
            return .filter(child, e)
        case .source: return p
        case .project(let input, let exprs, let names): return .project(pushFilters(input), exprs, names: names)
        case .windowAggregate(let input, let w, let t, let keys, let keyNames, let aggs, let emit):
            return .windowAggregate(pushFilters(input), window: w, timeColumn: t, keys: keys, keyNames: keyNames, aggregates: aggs, emit: emit)
        case .aggregate(let input, let keys, let keyNames, let aggs, let emit, let ttl):
            return .aggregate(pushFilters(input), keys: keys, keyNames: keyNames, aggregates: aggs, emit: emit, ttl: ttl)
        case .over(let input, let w): return .over(pushFilters(input), w)
        case .anomaly(let input, let a): return .anomaly(pushFilters(input), a)
        case .lookupJoin(let input, let j): return .lookupJoin(pushFilters(input), j)
        case .intervalJoin(let l, let r, let j): return .intervalJoin(pushFilters(l), pushFilters(r), j)
        case .union(let l, let r): return .union(pushFilters(l), pushFilters(r))
        // (A filter below SESSION's rows would change which rows a session bridges: it stays above.)
        case .windowRows(let input, let t, let w, let partition): return .windowRows(pushFilters(input), timeColumn: t, window: w, partition: partition)
        case .limit(let input, let n): return .limit(pushFilters(input), n)
        // A filter above a Top-N stays there: below, it would change which rows rank first.
        case .topN(let input, let t): return .topN(pushFilters(input), t)
        }
    }

    // MARK: Projection pruning

    /// The plan keeping only what is needed of `needed` output columns (and what it reads itself),
    /// and where each kept output column of the old plan went.
    func prune(_ p: LogicalPlan, needed: Set<Int>) -> (plan: LogicalPlan, map: [Int: Int]) {
        switch p {
        case .source(var s):
            let keep = needed.union(s.predicate?.columns ?? []).sorted()
            var map: [Int: Int] = [:]
            for (new, old) in keep.enumerated() { map[old] = new }
            s.columns = keep.map { s.columns[$0] }
            s.predicate = s.predicate?.remapped { map[$0]! }
            return (.source(s), map)
        case .filter(let input, let e):
            let (child, map) = prune(input, needed: needed.union(e.columns))
            return (.filter(child, e.remapped { map[$0]! }), map)
        case .project(let input, let exprs, let names):
            let (child, map) = prune(input, needed: exprs.reduce(Set<Int>()) { $0.union($1.columns) })
            return (.project(child, exprs.map { $0.remapped { map[$0]! } }, names: names), identity(exprs.count))
        case .windowAggregate(let input, let w, let t, let keys, let keyNames, let aggs, let emit):
            let reads = keys.reduce(Set([t])) { $0.union($1.columns) }.union(aggs.reduce(Set<Int>()) { $0.union($1.argument?.columns ?? []).union($1.time?.columns ?? []) })
            let (child, map) = prune(input, needed: reads)
            let remappedAggs = aggs.map { a -> AggregateCall in
                var c = a
                c.argument = a.argument?.remapped { map[$0]! }
                c.time = a.time?.remapped { map[$0]! }
                return c
            }
            return (.windowAggregate(child, window: w, timeColumn: map[t]!, keys: keys.map { $0.remapped { map[$0]! } }, keyNames: keyNames,
                                     aggregates: remappedAggs, emit: emit), identity(p.schema.count))
        case .aggregate(let input, let keys, let keyNames, let aggs, let emit, var ttl):
            // Over an updating input, the change kind (its last column) says whether a row adds or withdraws.
            var changes: Set<Int> = input.isUpdating ? [input.schema.count - 1] : []
            if let t = ttl { changes.insert(t.timeColumn) }
            let reads = keys.reduce(changes) { $0.union($1.columns) }.union(aggs.reduce(Set<Int>()) { $0.union($1.argument?.columns ?? []).union($1.time?.columns ?? []) })
            let (child, map) = prune(input, needed: reads)
            let remappedAggs = aggs.map { a -> AggregateCall in
                var c = a
                c.argument = a.argument?.remapped { map[$0]! }
                c.time = a.time?.remapped { map[$0]! }
                return c
            }
            if let t = ttl { ttl = StateTTL(timeColumn: map[t.timeColumn]!, millis: t.millis) }
            return (.aggregate(child, keys: keys.map { $0.remapped { map[$0]! } }, keyNames: keyNames, aggregates: remappedAggs, emit: emit, ttl: ttl),
                    identity(p.schema.count))
        case .over(let input, var w):
            let width = input.schema.count
            let reads = w.partition.reduce(Set([w.timeColumn])) { $0.union($1.columns) }
                .union(w.aggregates.reduce(Set<Int>()) { $0.union($1.argument?.columns ?? []).union($1.time?.columns ?? []) })
            let (child, map) = prune(input, needed: needed.filter { $0 < width }.union(reads))
            w.partition = w.partition.map { $0.remapped { map[$0]! } }
            w.timeColumn = map[w.timeColumn]!
            w.aggregates = w.aggregates.map { a -> AggregateCall in
                var c = a
                c.argument = a.argument?.remapped { map[$0]! }
                c.time = a.time?.remapped { map[$0]! }
                return c
            }
            var out = map.filter { $0.key < width }
            let kept = child.schema.count
            for j in w.aggregates.indices { out[width + j] = kept + j }
            return (.over(child, w), out)
        case .anomaly(let input, var a):
            let width = input.schema.count
            let reads = a.partition.reduce(Set([a.timeColumn] + a.columns)) { $0.union($1.columns) }
            let (child, map) = prune(input, needed: needed.filter { $0 < width }.union(reads))
            a.partition = a.partition.map { $0.remapped { map[$0]! } }
            a.timeColumn = map[a.timeColumn]!
            a.columns = a.columns.map { map[$0]! }
            var out = map.filter { $0.key < width }
            let kept = child.schema.count
            for j in a.addedColumns.indices { out[width + j] = kept + j }
            return (.anomaly(child, a), out)
        case .lookupJoin(let input, var j):
            let width = input.schema.count
            let residual = j.residual?.columns ?? []
            let reads = j.streamKeys.reduce(needed.union(residual).filter { $0 < width }) { $0.union($1.columns) }
            let (child, map) = prune(input, needed: reads)
            let kept = child.schema.count
            var out = map.filter { $0.key < width }
            for c in j.table.columns.indices { out[width + c] = kept + c }
            j.streamKeys = j.streamKeys.map { $0.remapped { map[$0]! } }
            j.residual = j.residual?.remapped { out[$0]! }
            return (.lookupJoin(child, j), out)
        case .intervalJoin(let l, let r, var j):
            let width = l.schema.count
            let residual = j.residual?.columns ?? []
            let all = needed.union(residual)
            let leftReads = j.leftKeys.reduce(all.filter { $0 < width }.union([j.leftTime])) { $0.union($1.columns) }
            let rightReads = j.rightKeys.reduce(Set(all.filter { $0 >= width }.map { $0 - width }).union([j.rightTime])) { $0.union($1.columns) }
            let (lp, lm) = prune(l, needed: leftReads)
            let (rp, rm) = prune(r, needed: rightReads)
            let kept = lp.schema.count
            var out = lm.filter { $0.key < width }
            for (old, new) in rm { out[width + old] = kept + new }
            j.leftKeys = j.leftKeys.map { $0.remapped { lm[$0]! } }
            j.rightKeys = j.rightKeys.map { $0.remapped { rm[$0]! } }
            j.leftTime = lm[j.leftTime]!
            j.rightTime = rm[j.rightTime]!
            j.residual = j.residual?.remapped { out[$0]! }
            return (.intervalJoin(lp, rp, j), out)
        case .windowRows(let input, let t, let w, let partition):
            let width = input.schema.count
            let reads = partition.reduce(needed.filter { $0 < width }.union([t])) { $0.union($1.columns) }
            let (child, map) = prune(input, needed: reads)
            var out = map.filter { $0.key < width }
            for j in 0..<3 { out[width + j] = child.schema.count + j }
            return (.windowRows(child, timeColumn: map[t]!, window: w, partition: partition.map { $0.remapped { map[$0]! } }), out)
        case .union(let l, let r):
            // Each input keeps its columns (they line up by position).
            return (.union(prune(l, needed: Set(l.schema.indices)).plan, prune(r, needed: Set(r.schema.indices)).plan), identity(p.schema.count))
        case .limit(let input, let n):
            let (child, map) = prune(input, needed: needed)
            return (.limit(child, n), map)
        case .topN(let input, var t):
            let width = input.schema.count
            var reads = needed.filter { $0 < width }
            for k in t.partition { reads.formUnion(k.columns) }
            for k in t.order { reads.formUnion(k.expr.columns) }
            if let w = t.windowEnd { reads.insert(w) }
            if let c = t.timeColumn { reads.insert(c) }
            let (child, map) = prune(input, needed: reads)
            t.partition = t.partition.map { $0.remapped { map[$0]! } }
            t.order = t.order.map { TopN.Key(expr: $0.expr.remapped { map[$0]! }, descending: $0.descending) }
            t.windowEnd = t.windowEnd.map { map[$0]! }
            t.timeColumn = t.timeColumn.map { map[$0]! }
            var out = map.filter { $0.key < width }
            var next = child.schema.count
            var old = width
            if t.rankOutput {
                // A rank nothing reads is not output: a change of rank then emits nothing.
                if needed.contains(width) { out[width] = next; next += 1 } else { t.rankOutput = false }
                old += 1
            }
            if t.windowEnd == nil { out[old] = next }
            return (.topN(child, t), out)
        }
    }

    func identity(_ n: Int) -> [Int: Int] { Dictionary(uniqueKeysWithValues: (0..<n).map { ($0, $0) }) }
}

extension BoundExpr {
    /// The conjuncts of `a AND b AND ...`.
    var conjuncts: [BoundExpr] {
        if case .and(let a, let b) = self { return a.conjuncts + b.conjuncts }
        return [self]
    }

    /// The expression with each direct child replaced by `f(child)`.
    func mapChildren(_ f: (BoundExpr) -> BoundExpr) -> BoundExpr {
        switch self {
        case .column, .literal: return self
        case .negate(let x): return .negate(f(x))
        case .not(let x): return .not(f(x))
        case .arithmetic(let o, let a, let b, let t): return .arithmetic(o, f(a), f(b), t)
        case .compare(let o, let a, let b): return .compare(o, f(a), f(b))
        case .and(let a, let b): return .and(f(a), f(b))
        case .or(let a, let b): return .or(f(a), f(b))
        case .isNull(let x, let n): return .isNull(f(x), negated: n)
        case .inList(let x, let l, let n): return .inList(f(x), l.map(f), negated: n)
        case .like(let x, let p, let e, let n): return .like(f(x), pattern: p, escape: e, negated: n)
        case .concat(let a, let b): return .concat(f(a), f(b))
        case .cast(let x, let t): return .cast(f(x), t)
        case .caseWhen(let bs, let o, let t): return .caseWhen(bs.map { BoundCase(condition: f($0.condition), value: f($0.value)) }, otherwise: o.map(f), t)
        case .call(let n, let args, let t): return .call(n, args.map(f), t)
        }
    }
}
