import SluiceCore
import SluiceSQL

extension Planner {
    /// The parameters of RANDOM_CUT_FOREST, with their ranges.
    static let forestParameters = ["trees", "sample_size", "shingle", "time_decay", "output_after", "seed", "max_partitions", "score"]
    /// The parameters of FLAT_LINE.
    static let flatLineParameters = ["tolerance", "max_partitions"]
    /// The parameters of HOTSPOTS.
    static let hotspotParameters = ["window_size", "scan_radius", "minimum_points", "max_partitions"]

    /// `RANDOM_CUT_FOREST[_WITH_EXPLANATION](rel, COLUMNS (...), PARTITION BY ..., name => value, ...)`
    /// over a stream or a subquery. Rows are scored in event-time order: a stream's event-time
    /// column (or ROWTIME without one), or a windowed subquery's `window_end`, or the subquery's
    /// copy of its stream's event-time column.
    func bindAnomaly(_ f: AnomalyFunction, alias: Identifier?, loc: NodeSpan) throws(PlanError) -> BoundFrom {
        let name = f.detector == .flatLine ? "FLAT_LINE" : f.detector == .hotspots ? "HOTSPOTS" : f.withExplanation ? "RANDOM_CUT_FOREST_WITH_EXPLANATION" : "RANDOM_CUT_FOREST"
        var input: LogicalPlan
        var scope: Scope
        var timeColumn: Int
        var windowEnd = false
        /// A KDA cursor's ROWTIME, added to order the rows and dropped from the output.
        var addedTime = false
        var relation = f.relation
        if case .relation(let n, let a, let l) = relation, let q = catalog.view(named: n.name) {
            relation = .subquery(q, alias: a ?? n, loc: l)  // a view reads as its query
        }
        switch relation {
        case .relation(let rname, _, _):
            (input, scope) = try source(rname, alias: alias ?? rname)
            let s = catalog.stream(named: rname.name)!
            let time = s.watermark?.column ?? "ROWTIME"
            timeColumn = scope.entries.firstIndex { $0.name.lowercased() == time.lowercased() }!
        case .subquery(var q, let subAlias, let sloc):
            input = try planBody(q)
            if f.kda, Planner.window(of: input) == nil, let s = Planner.sourceOf(input),
               !input.schema.contains(where: { $0.name.lowercased() == (s.stream.watermark?.column ?? "ROWTIME").lowercased() }) {
                // KDA's cursor gives its columns; the rows are still ordered by their time.
                let time = s.stream.watermark?.column ?? "ROWTIME"
                q.items.append(.expression(Expr(.column(qualifier: nil, name: Identifier(time)), sloc), alias: nil, loc: sloc))
                input = try planBody(q)
                addedTime = true
            }
            try Planner.refuseUpdating(input, name, sloc)
            let qualifier = (alias ?? subAlias)?.name
            scope = Scope(input, qualifier: qualifier)
            let schema = input.schema
            func column(_ n: String) -> Int? { schema.firstIndex { $0.name.lowercased() == n.lowercased() && $0.type == .timestamp } }
            if let (final, _) = Planner.window(of: input) {
                guard let i = column("window_end") else {
                    throw Planner.error("plan.anomaly-needs-time", "\(name) scores rows in event-time order: the windowed subquery must output window_end", sloc,
                                        help: "add window_end to the subquery's SELECT list")
                }
                timeColumn = i
                windowEnd = final
            } else if let s = Planner.sourceOf(input) {
                let time = s.stream.watermark?.column ?? "ROWTIME"
                guard let i = column(time) else {
                    throw Planner.error("plan.anomaly-needs-time", "\(name) scores rows in event-time order: the subquery must output \(time)", sloc,
                                        help: "add \(time) to the subquery's SELECT list")
                }
                timeColumn = i
            } else {
                throw Planner.error("plan.anomaly-needs-time", "\(name) needs rows with an event time; an aggregate without a window has none", sloc,
                                    help: "aggregate over TUMBLE or HOP and output window_end")
            }
        default:
            throw Planner.error("plan.unsupported", "\(name) reads a stream or a subquery", f.relation.loc)
        }
        // The input columns the forest reads: KDA's cursor gives every numeric column.
        let listed = (f.kda || f.detector == .hotspots) && f.columns.isEmpty
            ? scope.entries.indices.filter { $0 != timeColumn && Planner.isNumeric(scope.entries[$0].type) }.map { Identifier(scope.entries[$0].name, quoted: true) }
            : f.columns
        guard !listed.isEmpty else {
            throw Planner.error("plan.bad-anomaly", "\(name) needs the columns it looks at", loc, help: "add COLUMNS (a, b) after the input")
        }
        var columns: [Int] = [], names: [String] = []
        for c in listed {
            let b = try bind(Expr(.column(qualifier: nil, name: c), c.loc), scope)
            guard case .column(let i, let n, let type) = b else { continue }
            guard Planner.isNumeric(type) else {
                throw Planner.error("bind.type-mismatch", "\(name) looks at numbers; \(n) is \(type.rawValue)", c.loc,
                                    help: "cast it (CAST(\(n) AS DOUBLE)) in a subquery, or leave it out of COLUMNS")
            }
            guard !columns.contains(i) else { throw Planner.error("plan.bad-anomaly", "\(n) is named twice in COLUMNS", c.loc) }
            columns.append(i)
            names.append(n)
        }
        var partition: [BoundExpr] = []
        for p in f.partitionBy {
            try noAggregates(p, "PARTITION BY")
            let b = try bind(p, scope)
            if !partition.contains(b) { partition.append(b) }
        }
        var node = AnomalyDetection(columns: columns, columnNames: names, partition: partition, timeColumn: timeColumn, timeIsWindowEnd: windowEnd,
                                    explanation: f.withExplanation, trees: 100, sampleSize: 256, shingle: 1, timeDecay: nil, outputAfter: nil, seed: 42)
        node.flatLine = f.detector == .flatLine
        var hotspots = HotspotParameters(windowSize: 100, scanRadius: 1, minimumPoints: 2)
        let known = node.flatLine ? Planner.flatLineParameters : f.detector == .hotspots ? Planner.hotspotParameters : Planner.forestParameters
        for p in f.parameters {
            let key = p.name.name.lowercased()
            guard known.contains(key) else {
                throw Planner.error("plan.bad-anomaly", "\(name) has no parameter '\(p.name.name)'", p.name.loc,
                                    help: closestMatch(key, in: known).map { "did you mean \($0)?" }
                                        ?? "the parameters are \(known.joined(separator: ", "))")
            }
            if key == "score" {
                guard case .literal(.string(let v), _) = try bind(p.value, scope), AnomalyDetection.scores.contains(v.lowercased()) else {
                    throw Planner.error("plan.bad-anomaly", "score is one of \(AnomalyDetection.scores.map { "'\($0)'" }.joined(separator: ", "))", p.value.loc,
                                        help: "'depth' is Kinesis Data Analytics' score (about 1 for ordinary rows), 'displacement' collusive displacement (up to sample_size)")
                }
                node.score = v.lowercased()
                continue
            }
            let v = try constantNumber(p.value, scope)
            func integer(_ range: ClosedRange<Int>) throws(PlanError) -> Int {
                guard v == v.rounded(), v >= Double(range.lowerBound), v <= Double(range.upperBound) else {
                    throw Planner.error("plan.bad-anomaly", "\(key) must be a whole number from \(range.lowerBound) to \(range.upperBound)", p.value.loc)
                }
                return Int(v)
            }
            switch key {
            case "window_size": hotspots.windowSize = try integer(2...10_000)
            case "minimum_points": hotspots.minimumPoints = try integer(2...10_000)
            case "scan_radius":
                guard v > 0, v.isFinite else {
                    throw Planner.error("plan.bad-anomaly", "scan_radius must be more than 0", p.value.loc,
                                        help: "how far apart two points of one hotspot typically are, in the columns' units")
                }
                hotspots.scanRadius = v
            case "trees": node.trees = try integer(1...1000)
            case "sample_size": node.sampleSize = try integer(4...8192)
            case "shingle": node.shingle = try integer(1...64)
            case "output_after": node.outputAfter = try integer(0...1_000_000_000)
            case "seed": node.seed = UInt64(try integer(0...Int(Int32.max)))
            case "max_partitions": node.maxPartitions = try integer(1...100_000_000)
            case "tolerance":
                guard v >= 0, v.isFinite else {
                    throw Planner.error("plan.bad-anomaly", "tolerance must be 0 or more", p.value.loc,
                                        help: "how far a column may move and still count as not changing; 0: exactly equal")
                }
                node.tolerance = v
            default:
                guard v >= 0, v <= 1 else {
                    throw Planner.error("plan.bad-anomaly", "time_decay must be from 0 (no decay) to 1", p.value.loc,
                                        help: "a sample covers about 1 / time_decay recent rows; the default is 1 / (10 * sample_size)")
                }
                node.timeDecay = v
            }
        }
        node.kdaColumns = f.kda
        if f.detector == .hotspots {
            guard hotspots.minimumPoints <= hotspots.windowSize else {
                throw Planner.error("plan.bad-anomaly", "minimum_points (\(hotspots.minimumPoints)) is at most window_size (\(hotspots.windowSize))", loc)
            }
            node.hotspots = hotspots
        }
        var plan = LogicalPlan.anomaly(input, node)
        let qualifier = alias?.name ?? scope.entries.first?.qualifier
        for c in node.addedColumns { scope.entries.append(Scope.Entry(qualifier: qualifier, name: c.name, type: c.type)) }
        if addedTime && scope.entries[timeColumn].name.uppercased() == "ROWTIME" {
            // The cursor's ROWTIME stays, as the rows' time (a pump's rows keep it), out of `*`.
            scope.entries[timeColumn].hidden = true
        } else if addedTime {
            let kept = scope.entries.indices.filter { $0 != timeColumn }
            plan = .project(plan, kept.map { .column($0, name: scope.entries[$0].name, scope.entries[$0].type) }, names: kept.map { scope.entries[$0].name })
            scope.entries = kept.map { scope.entries[$0] }
        }
        return BoundFrom(plan: plan, scope: scope)
    }

    /// A parameter's value: a number, written as a constant.
    private func constantNumber(_ e: Expr, _ scope: Scope) throws(PlanError) -> Double {
        let b = try bind(e, scope)
        switch b {
        case .literal(.int(let i), _): return Double(i)
        case .literal(.double(let d), _): return d
        case .literal(.decimal(let d), _): return d.doubleValue
        case .negate(.literal(.int(let i), _)): return -Double(i)
        case .negate(.literal(.double(let d), _)): return -d
        default:
            throw Planner.error("plan.bad-anomaly", "a parameter of RANDOM_CUT_FOREST is a number, not \(b.text)", e.loc)
        }
    }

    /// Whether a plan's rows come from a window, and whether they are final (EMIT FINAL): the
    /// window aggregate below the plan's filters and projections.
    static func window(of p: LogicalPlan) -> (final: Bool, WindowKind)? {
        switch p {
        case .windowAggregate(_, let w, _, _, _, _, let emit): return (emit == .final, w)
        case .filter(let c, _), .project(let c, _, _), .limit(let c, _), .over(let c, _), .anomaly(let c, _), .lookupJoin(let c, _): return window(of: c)
        default: return nil
        }
    }
}
