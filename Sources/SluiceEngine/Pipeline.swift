import SluiceCodecs
import SluiceCore
import SluiceDataflow
import SluicePlanner

/// A row that could not be processed, for the error stream.
struct RecordFailure {
    var kind: String
    var message: String
    var shardId: String?
    var sequenceNumber: String?
    var data: String?
    /// The record's arrival (its ROWTIME), when the driver knows the record.
    var rowtime: Int64? = nil
    /// The row of the batch pushed from the source that failed, when the pipeline can tell (the
    /// driver then names the record: its shard, sequence number and raw bytes).
    var sourceRow: Int? = nil
}

/// Where the rows flowing through a pipeline came from: row r of the source batch pushed
/// (`identity`), the rows listed (after a filter dropped some), or no one record (after an
/// aggregate, a join or a lookup).
enum Origins {
    case identity
    case mapped([Int])
    case none

    subscript(_ r: Int) -> Int? {
        switch self {
        case .identity: return r
        case .mapped(let m): return r < m.count ? m[r] : nil
        case .none: return nil
        }
    }

    /// After keeping only `rows` (indices into the current rows, in order).
    func selecting(_ rows: [Int]) -> Origins {
        switch self {
        case .identity: return .mapped(rows)
        case .mapped(let m): return .mapped(rows.map { m[$0] })
        case .none: return .none
        }
    }
}

/// The operators above a query's source, as stages that pass batches (or rows) upward.
/// Built from an optimized logical plan; owned by the query's driver (not thread-safe).
final class Pipeline {
    enum Stage {
        case filter(PhysicalExpr)
        case project([PhysicalExpr], Schema)
        /// Computes [time, keys..., aggregate inputs...] and feeds the window operator.
        case window(pre: [PhysicalExpr], Schema, any WindowedAggregation, Schema)
        case aggregate(pre: [PhysicalExpr], Schema, UnwindowedAggregate, Schema)
        /// Computes [time, partition keys..., aggregate inputs...]; rows come out as the watermark passes.
        case over(pre: [PhysicalExpr], Schema, OverWindowOperator, Schema)
        /// Computes [time, partition keys..., forest inputs...]; rows come out scored as the watermark passes.
        case anomaly(pre: [PhysicalExpr], Schema, AnomalyDetectionOperator, Schema)
        case lookup(LookupStage)
        /// The first stage of a query over two streams: batches come from either side.
        case intervalJoin(IntervalJoinStage)
        /// The first stage of a UNION ALL: the rows of either side go up as they come.
        case union
        /// HOP's rows: each row once per window of `size` every `advance` that holds its time
        /// (input column `time`), with the window's start, end and window_time after its columns.
        case hopRows(time: Int, size: Int64, advance: Int64, Schema)
        case limit(Int64)
        /// ROW_NUMBER / RANK / DENSE_RANK bounded by N: changes as rows enter and leave the top N,
        /// or (per window) the ranked rows when the window closes.
        case topN(TopNStage)
    }

    var stages: [Stage] = []
    /// A join of two inputs: the operators of each side below the join (a side that is a stream
    /// as it is has none, nil). A side's rows reach the join as its operators emit them, and a
    /// side moves with its stream's watermark before the join does (DIALECT.md §4), so a window's
    /// rows meet the join at the window's time.
    var sides: [Pipeline?] = [nil, nil]
    /// For a pipeline over two inputs: how many of the query's sources each side reads (a stream
    /// as it is: one; a side that is itself a join or a union: its sources), so that a batch of
    /// source `s` finds its way down the tree of joins and unions.
    var sideSources: [Int] = [1, 1]
    /// The watermarks of every source the two-input stage last moved to.
    private var inputMarks: [Int64] = []
    /// A row's watermarks, copied out of a batch's marks (reused: a join moves at nearly every record).
    private var markScratch: [Int64] = []
    /// EMIT CHANGES on a window: the changes of the window stage at that index.
    fileprivate var windowChanges: [Int: WindowChanges] = [:]
    let outputSchema: Schema
    var emitted: Int64 = 0
    var failures: [RecordFailure] = []
    private var evaluator = Evaluator()

    /// The engine's reference tables by lower-cased name (a table missing here joins as empty).
    private let tables: [String: ReferenceTable]

    /// Rows that entered each stage so far (EXPLAIN of a running query): what left stage i is
    /// what entered stage i + 1, and what left the last is the query's output.
    private(set) var rowsIn: [Int64] = []

    init(_ plan: LogicalPlan, tables: [String: ReferenceTable] = [:]) {
        outputSchema = Schema(plan.schema.map { Field($0.name, $0.type) })
        self.tables = tables
        build(plan)
        rowsIn = Array(repeating: 0, count: stages.count)
    }

    var limitReached: Bool {
        for s in stages { if case .limit(let n) = s { return emitted >= n } }
        return false
    }

    private func build(_ p: LogicalPlan) {
        let schema = Schema(p.schema.map { Field($0.name, $0.type) })
        switch p {
        case .source: break
        case .filter(let input, let e):
            build(input)
            stages.append(.filter(Lowering.expr(e)))
        case .project(let input, let exprs, _):
            build(input)
            var lowered = exprs.map(Lowering.expr)
            // Picking columns of a window's rows: the window builds its rows that way, and the
            // stage stays as picks of every column in order, which the row path passes over.
            let picks = lowered.compactMap { e -> Int? in if case .column(let c) = e { return c } else { return nil } }
            if picks.count == lowered.count, case .window(_, _, let op as WindowAggregateOperator, _)? = stages.last,
               !op.emitChanges, op.outputPicks == nil {
                op.outputPicks = picks
                lowered = picks.indices.map { .column($0) }
            }
            stages.append(.project(lowered, schema))
        case .windowAggregate(let input, let w, let t, let keys, _, let aggs, let emit):
            build(input)
            let (pre, types, specs) = Pipeline.aggregateInputs(leading: [.column(t)] + keys.map(Lowering.expr),
                                                               types: [.timestamp] + keys.map(\.type), aggs)
            let op: any WindowedAggregation
            if case .session(let gap) = w {
                op = SessionWindowOperator(gap: gap, timeColumn: 0, keyColumns: Array(1..<(1 + keys.count)), aggregates: specs)
            } else if case .stagger(let size) = w {
                op = SessionWindowOperator(gap: size, timeColumn: 0, keyColumns: Array(1..<(1 + keys.count)), aggregates: specs, fixed: true)
            } else {
                op = WindowAggregateOperator(window: .hop(size: w.size, advance: w.advance), timeColumn: 0,
                                             keyColumns: Array(1..<(1 + keys.count)), aggregates: specs)
            }
            if case .changes(let every) = emit {
                op.emitChanges = true
                windowChanges[stages.count] = WindowChanges(keyCount: 2 + keys.count, everyMillis: every)
            }
            stages.append(.window(pre: pre, Pipeline.schema(types), op, schema))
        case .aggregate(let input, let keys, _, let aggs, let emit, let ttl):
            build(input)
            var (pre, types, specs) = Pipeline.aggregateInputs(leading: keys.map(Lowering.expr), types: keys.map(\.type), aggs)
            var every: Int64? = nil
            if case .changes(let e) = emit { every = e }
            // Over an updating input, each row's change kind says whether it adds or withdraws.
            var changeInput: Int? = nil
            if input.isUpdating {
                changeInput = pre.count
                pre.append(.column(input.schema.count - 1))
                types.append(.varchar)
            }
            // With a state TTL, each row's event time touches its group.
            var timeInput: Int? = nil
            if let ttl {
                timeInput = pre.count
                pre.append(.column(ttl.timeColumn))
                types.append(.timestamp)
            }
            stages.append(.aggregate(pre: pre, Pipeline.schema(types),
                                     UnwindowedAggregate(keys: keys.count, aggregates: specs, everyMillis: every, changeInput: changeInput,
                                                         stateTTL: ttl.map { (timeInput!, $0.millis) }), schema))
        case .topN(let input, let t):
            build(input)
            let function: TopNOperator.Function
            switch t.function {
            case .rowNumber: function = .rowNumber
            case .rank: function = .rank
            case .denseRank: function = .denseRank
            }
            let op = TopNOperator(function: function, limit: t.limit ?? .max, descending: t.order.map(\.descending), rankOutput: t.rankOutput,
                                  windowed: t.windowEnd != nil, stateTTL: t.stateTTL)
            stages.append(.topN(TopNStage(op: op, partition: t.partition.map(Lowering.expr), order: t.order.map { Lowering.expr($0.expr) },
                                          windowEnd: t.windowEnd, timeColumn: t.timeColumn, schema: schema)))
        case .over(let input, let w):
            build(input)
            let (pre, types, specs) = Pipeline.aggregateInputs(leading: [.column(w.timeColumn)] + w.partition.map(Lowering.expr),
                                                               types: [.timestamp] + w.partition.map(\.type), w.aggregates)
            let frame: OverFrame
            switch w.frame {
            case .range(let ms): frame = .range(millis: ms)
            case .rows(let n): frame = .rows(n)
            }
            let op = OverWindowOperator(frame: frame, timeColumn: 0, keyColumns: Array(1..<(1 + w.partition.count)), aggregates: specs)
            stages.append(.over(pre: pre, Pipeline.schema(types), op, schema))
        case .anomaly(let input, let a):
            build(input)
            let inputSchema = input.schema
            let pre: [PhysicalExpr] = [.column(a.timeColumn)] + a.partition.map(Lowering.expr) + a.columns.map { .column($0) }
            let types: [ColumnType] = [.timestamp] + a.partition.map(\.type) + a.columns.map { inputSchema[$0].type }
            var c = RandomCutForest.Configuration(dimensions: a.columns.count)
            c.trees = a.trees
            c.sampleSize = a.sampleSize
            c.shingle = a.shingle
            c.timeDecay = a.timeDecay
            c.outputAfter = a.outputAfter
            c.seed = a.seed
            if let k = a.score.flatMap(RandomCutForest.Score.init(rawValue:)) { c.score = k }
            let detector: AnomalyDetector
            if let h = a.hotspots {
                detector = .hotspots(Hotspots.Configuration(windowSize: h.windowSize, scanRadius: h.scanRadius, minimumPoints: h.minimumPoints))
            } else {
                detector = a.flatLine ? .flatLine(FlatLine.Configuration(tolerance: a.tolerance)) : .forest(c, explanation: a.explanation)
            }
            let op = AnomalyDetectionOperator(detector: detector, columnNames: a.columnNames, keyCount: a.partition.count,
                                              inclusive: a.timeIsWindowEnd, maxPartitions: a.maxPartitions, kdaColumns: a.kdaColumns)
            stages.append(.anomaly(pre: pre, Pipeline.schema(types), op, schema))
        case .intervalJoin(let l, let r, let j):
            sides = [l, r].map { side in
                let p = Pipeline(side, tables: tables)
                return p.stages.isEmpty ? nil : p
            }
            sideSources = [l, r].map { Planner.sourceNodes(of: $0).count }
            inputMarks = Array(repeating: .min, count: sideSources.reduce(0, +))
            let op = IntervalJoinOperator(lower: j.lower, upper: j.upper, left: j.kind == .left, rightWidth: r.schema.count)
            stages.append(.intervalJoin(IntervalJoinStage(op: op, leftKeys: j.leftKeys.map(Lowering.expr), rightKeys: j.rightKeys.map(Lowering.expr),
                                                          leftTime: j.leftTime, rightTime: j.rightTime, residual: j.residual.map(Lowering.expr), schema: schema)))
        case .lookupJoin(let input, let j):
            build(input)
            let table = tables[j.table.name.lowercased()] ?? ReferenceTable(j.table)
            stages.append(.lookup(LookupStage(table: table, keys: j.streamKeys.map(Lowering.expr), tableKeys: j.tableKeys, left: j.kind == .left,
                                              residual: j.residual.map(Lowering.expr), schema: schema)))
        case .limit(let input, let n):
            build(input)
            stages.append(.limit(n))
        case .windowRows(let input, let t, let w, let partition) where w.perKey:
            // SESSION's (STAGGER's) rows: the session operator keeps each session's rows ([time,
            // keys..., the row's columns]) and gives them, with the session's bounds, when it closes.
            build(input)
            let width = input.schema.count
            let pre: [PhysicalExpr] = [.column(t)] + partition.map(Lowering.expr) + (0..<width).map { .column($0) }
            let types: [ColumnType] = [.timestamp] + partition.map(\.type) + input.schema.map(\.type)
            let k = partition.count
            let op = SessionWindowOperator(gap: w.size, timeColumn: 0, keyColumns: Array(1..<(1 + k)), aggregates: [], rowColumns: (1 + k)..<(1 + k + width),
                                           fixed: { if case .stagger = w { return true } else { return false } }())
            stages.append(.window(pre: pre, Pipeline.schema(types), op, schema))
        case .windowRows(let input, let t, let w, _):
            build(input)
            stages.append(.hopRows(time: t, size: w.size, advance: w.advance, schema))
        case .union(let l, let r):
            sides = [l, r].map { side in
                let p = Pipeline(side, tables: tables)
                return p.stages.isEmpty ? nil : p
            }
            sideSources = [l, r].map { Planner.sourceNodes(of: $0).count }
            inputMarks = Array(repeating: .min, count: sideSources.reduce(0, +))
            stages.append(.union)
        }
    }

    /// The columns an aggregate stage computes before its operator: the leading ones (time, keys),
    /// then each aggregate's argument; and each aggregate's spec, reading its argument's column.
    static func aggregateInputs(leading: [PhysicalExpr], types leadingTypes: [ColumnType], _ aggs: [AggregateCall])
        -> ([PhysicalExpr], [ColumnType], [AggregateSpec]) {
        var pre = leading, types = leadingTypes
        var specs: [AggregateSpec] = []
        for a in aggs {
            if let arg = a.argument {
                var spec = AggregateSpec(Lowering.aggregate(a), input: pre.count, type: arg.type, parameter: a.parameter)
                if let d = a.fallback, let v = Lowering.fold(d) { spec.fallback = v }
                pre.append(Lowering.expr(arg))
                types.append(arg.type)
                if let t = a.time {
                    spec.timeInput = pre.count
                    pre.append(Lowering.expr(t))
                    types.append(.timestamp)
                }
                specs.append(spec)
            } else {
                specs.append(AggregateSpec(.countStar))
            }
        }
        return (pre, types, specs)
    }

    /// Keeps the rows of a source batch for which the pushed-down predicate is TRUE.
    func sourceFilter(_ p: PhysicalExpr?, _ b: Batch, now: Int64) -> Batch {
        pendingOrigins = nil
        guard let p, b.count > 0 else { return b }
        evaluator.now = now
        evaluator.reset()
        let keep = evaluator.evaluate(p, b)
        origins = sliceStart == 0 ? .identity : .mapped(Array(sliceStart..<(sliceStart + b.count)))
        note(evaluator.errors, b)
        let rows = keep.indices.filter { keep[$0] == .bool(true) }
        if rows.count == b.count { return b }
        pendingOrigins = rows.map { $0 + sliceStart }
        return Pipeline.select(b, rows)
    }

    /// For the batch flowing through the stages, the row of the source batch each row came from.
    private var origins = Origins.none
    /// The rows a source filter kept, for the next push.
    private var pendingOrigins: [Int]? = nil

    /// Pushes a batch from source `source` (the query's sources numbered left to right: for a
    /// join of two streams, 0 the left and 1 the right) through every stage; returns the output
    /// rows. With several sources, `marks` gives, by row of the source batch, every source's
    /// watermark before that row (the records before it in the merged order left them): the joins
    /// and unions move to them before they take the row, so a record is late, and a LEFT row goes
    /// out unmatched, at the record that makes it so.
    func push(_ batch: Batch, source: Int = 0, marks: SourceMarks? = nil, now: Int64) -> [[Value]] {
        evaluator.now = now
        origins = pendingOrigins.map { .mapped($0) } ?? (sliceStart == 0 ? .identity : .mapped(Array(sliceStart..<(sliceStart + batch.count))))
        pendingOrigins = nil
        guard twoInputs else { return run(from: 0, .batch(batch), now: now) }
        guard batch.count > 0 else { return [] }
        let rowOrigins = origins
        let side = source < sideSources[0] ? 0 : 1
        let local = side == 0 ? source : source - sideSources[0]
        guard let below = sides[side] else { return enter(batch, side: side, rowOrigins, marks: marks, now: now) }
        // Through the side's operators, in runs of rows that meet the same watermarks (a side
        // that is a join or a union has moved to them with this pipeline, in advanceInputs).
        return inRuns(batch, rowOrigins, marks, now: now) { part, mapped in
            below.pendingOrigins = mapped
            let rows = below.push(part, source: local, now: now)
            failures += below.failures
            below.failures.removeAll()
            return rows.isEmpty ? [] : enter(Pipeline.batch(rows, below.outputSchema), side: side, .none, marks: nil, now: now)
        }
    }

    /// A batch in runs of rows that meet the same watermarks: `take` gets each run (and the rows
    /// of the source batch its rows came from, when all are known); between runs, the pipeline
    /// moves to the watermarks that the records before the next run left (`marks`, by source row).
    private func inRuns(_ batch: Batch, _ rowOrigins: Origins, _ marks: SourceMarks?, now: Int64,
                        _ take: (Batch, [Int]?) -> [[Value]]) -> [[Value]] {
        var out: [[Value]] = []
        var start = 0
        func through(_ end: Int) {
            guard start < end else { return }
            let mapped = (start..<end).compactMap { rowOrigins[$0] }
            out += take(start == 0 && end == batch.count ? batch : batch.slice(start..<end), mapped.count == end - start ? mapped : nil)
            start = end
        }
        if let marks {
            for r in 0..<batch.count {
                guard let o = rowOrigins[r], o < marks.rows, !marks.row(o, equals: inputMarks) else { continue }
                through(r)
                marks.copy(row: o, into: &markScratch)
                out += advanceInputs(markScratch, now: now)
            }
        }
        through(batch.count)
        return out
    }

    /// Whether the pipeline reads two inputs (a join of two streams, a union).
    var twoInputs: Bool {
        switch stages.first {
        case .intervalJoin?, .union?: return true
        default: return false
        }
    }

    /// Rows of input `side` into the first stage: a join's, or a union's, which sends them up as
    /// they come; with `marks`, the union moves to the watermarks the records before each row left.
    private func enter(_ batch: Batch, side: Int, _ rowOrigins: Origins, marks: SourceMarks?, now: Int64) -> [[Value]] {
        if !rowsIn.isEmpty { rowsIn[0] += Int64(batch.count) }
        if case .intervalJoin(let j)? = stages.first { return joinRows(batch, side: side, j, rowOrigins, marks: marks, now: now) }
        return inRuns(batch, rowOrigins, marks, now: now) { part, mapped in
            origins = mapped.map { .mapped($0) } ?? .none
            return run(from: 1, .batch(part), now: now)
        }
    }

    /// Rows of one side into the join: each meets the other side's rows held under its key. With
    /// `marks` (by row of the source batch, through `rowOrigins`), the join first moves to the
    /// watermarks the records before the row left.
    private func joinRows(_ batch: Batch, side: Int, _ j: IntervalJoinStage, _ rowOrigins: Origins,
                          marks: SourceMarks?, now: Int64) -> [[Value]] {
        evaluator.reset()
        origins = rowOrigins
        let exprs = side == 0 ? j.leftKeys : j.rightKeys
        let direct = RowKey.direct(exprs, batch)
        let keys = direct == nil ? exprs.map { evaluator.evaluate($0, batch) } : []
        var bad = [Bool](repeating: false, count: batch.count)
        for e in evaluator.errors where e.row < bad.count { bad[e.row] = true }
        note(evaluator.errors, batch)
        var rows: [[Value]] = []
        var out: [[Value]] = []
        let times = batch.columns[side == 0 ? j.leftTime : j.rightTime]
        let values = batch.rowMajorValues(), width = batch.columns.count
        // Times read straight from the column where it holds them (a NULL one goes the long way).
        var stamps = ContiguousArray<Int64>()
        if case .int(let a) = times.storage, times.type == .timestamp, times.valid == nil { stamps = a }
        values.withUnsafeBufferPointer { values in
            for r in 0..<batch.count where !bad[r] {
                if let marks, let o = rowOrigins[r], o < marks.rows, !marks.row(o, equals: inputMarks) {
                    // The watermarks moved since the join last saw them: the rows joined so far go up
                    // first, then what the move releases.
                    out += residual(j, rows, now: now)
                    rows.removeAll(keepingCapacity: true)
                    marks.copy(row: o, into: &markScratch)
                    out += advanceInputs(markScratch, now: now)
                }
                let key = direct?[r] ?? RowKey(keys, row: r)
                let t: Int64
                if r < stamps.count {
                    t = stamps[r]
                } else if case .timestamp(let x) = times.value(r) {
                    t = x
                } else {
                    failures.append(RecordFailure(kind: "eval", message: "the record has no event time to join on", data: rowText(batch, r), sourceRow: rowOrigins[r]))
                    continue
                }
                let row = FlatRow(values, width: width, row: r)
                guard side == 0 ? j.op.addLeft(key: key, time: t, row: row, into: &rows) : j.op.addRight(key: key, time: t, row: row, into: &rows) else {
                    failures.append(RecordFailure(kind: "late", message: "the record is older than its stream's watermark, so what it could join may be gone",
                                                  data: rowText(batch, r), sourceRow: rowOrigins[r]))
                    continue
                }
            }
        }
        return out + residual(j, rows, now: now)
    }

    /// Joined rows through the rest of the ON condition (a LEFT join's NULL rows need none), then the stages above.
    private func residual(_ j: IntervalJoinStage, _ rows: [[Value]], now: Int64) -> [[Value]] {
        guard !rows.isEmpty else { return [] }
        var kept = rows
        if let cond = j.residual {
            let b = Pipeline.batch(rows, j.schema)
            evaluator.reset()
            let keep = evaluator.evaluate(cond, b)
            origins = .none  // joined rows stand for two records, not one
            note(evaluator.errors, b)
            kept = rows.indices.filter { keep[$0] == .bool(true) }.map { rows[$0] }
        }
        return kept.isEmpty ? [] : run(from: 1, .rows(kept, j.schema), now: now)
    }

    /// The sources' watermarks moved (`w`: one per source, left to right). Over one source, the
    /// stages move to it. Over two inputs, each side moves first, to its sources' watermarks (a
    /// side that is a join or a union recursively): what it releases meets this stage at the
    /// watermarks of before. Then a join lets go of the left rows that can no longer meet anything
    /// (LEFT join, with NULLs), and the stages above see the watermark of the joined rows' left
    /// time (a left row can still be joined until the right side passes it + upper); a union's
    /// stages see the smaller of its inputs' watermarks.
    func advanceInputs(_ w: [Int64], now: Int64) -> [[Value]] {
        guard twoInputs else { return advance(watermark: w[0], now: now) }
        // Copied in place (no new array): a join's watermarks move at nearly every record.
        for k in 0..<inputMarks.count { inputMarks[k] = w[k] }
        var out: [[Value]] = []
        for (i, below) in sides.enumerated() {
            guard let below else { continue }
            let rows = below.twoInputs ? below.advanceInputs(part(w, side: i), now: now) : below.advance(watermark: w[from(side: i)], now: now)
            failures += below.failures
            below.failures.removeAll()
            if !rows.isEmpty { out += enter(Pipeline.batch(rows, below.outputSchema), side: i, .none, marks: nil, now: now) }
        }
        let (left, right) = (sideWatermark(w, 0), sideWatermark(w, 1))
        guard case .intervalJoin(let j)? = stages.first else { return out + advance(watermark: min(left, right), now: now) }
        let unmatched = j.op.advance(left: left, right: right)
        out += unmatched.isEmpty ? [] : run(from: 1, .rows(unmatched, j.schema), now: now)
        out += advance(watermark: j.op.joinedWatermark(left: left, right: right), now: now)
        return out
    }

    /// Where side `i`'s sources start among the pipeline's.
    @inline(__always)
    private func from(side i: Int) -> Int { i == 0 ? 0 : sideSources[0] }

    /// The watermarks of side `i`'s sources, out of every source's (for a side of several).
    private func part(_ w: [Int64], side i: Int) -> [Int64] { Array(w[from(side: i)..<(from(side: i) + sideSources[i])]) }

    /// The watermark of side `i`'s rows: its stream's, or what its join or union emits.
    private func sideWatermark(_ w: [Int64], _ i: Int) -> Int64 {
        if let below = sides[i], below.twoInputs { return below.outputWatermark(part(w, side: i)) }
        return w[from(side: i)]
    }

    /// The watermark of the rows this pipeline emits, when its sources are at `w`: theirs over
    /// one source (its operators release rows as it passes them), a join's joined watermark, a
    /// union's smaller input.
    func outputWatermark(_ w: [Int64]) -> Int64 {
        guard twoInputs else { return w[0] }
        let (left, right) = (sideWatermark(w, 0), sideWatermark(w, 1))
        if case .intervalJoin(let j)? = stages.first { return j.op.joinedWatermark(left: left, right: right) }
        return min(left, right)
    }

    /// The watermark advanced: windows may close.
    func advance(watermark: Int64, now: Int64) -> [[Value]] {
        var out: [[Value]] = []
        for (i, s) in stages.enumerated() {
            switch s {
            case .window(_, _, let op, let schema):
                var rows = op.advance(to: watermark)
                if let t = windowChanges[i] {
                    if watermark == WatermarkTracker.infinity { rows += t.flushDue(now: now, all: true) }
                    t.prune(closedThrough: op.emittedThrough)
                }
                if !rows.isEmpty { out += run(from: i + 1, .rows(rows, schema), now: now) }
            case .aggregate(_, _, let op, let schema):
                op.expire(at: watermark)
                guard watermark == WatermarkTracker.infinity else { break }
                let rows = op.flushDue(now: now, all: true)
                if !rows.isEmpty { out += run(from: i + 1, .rows(rows, schema), now: now) }
            case .over(_, _, let op, let schema):
                let rows = op.advance(to: watermark)
                if !rows.isEmpty { out += run(from: i + 1, .rows(rows, schema), now: now) }
            case .anomaly(_, _, let op, let schema):
                let rows = op.advance(to: watermark)
                if !rows.isEmpty { out += run(from: i + 1, .rows(rows, schema), now: now) }
            case .topN(let t):
                let rows = t.op.advance(to: watermark)
                if !rows.isEmpty { out += run(from: i + 1, .rows(rows, t.schema), now: now) }
            default: break
            }
        }
        return out
    }

    /// Processing time moved: rows held back by EMIT CHANGES EVERY whose interval has passed go out.
    func tick(now: Int64) -> [[Value]] {
        var out: [[Value]] = []
        for (i, s) in stages.enumerated() {
            if case .aggregate(_, _, let op, let schema) = s {
                let rows = op.flushDue(now: now, all: false)
                if !rows.isEmpty { out += run(from: i + 1, .rows(rows, schema), now: now) }
            }
            if case .window(_, _, _, let schema) = s, let t = windowChanges[i] {
                let rows = t.flushDue(now: now, all: false)
                if !rows.isEmpty { out += run(from: i + 1, .rows(rows, schema), now: now) }
            }
        }
        return out
    }

    /// What moves between stages: a batch, or the rows an aggregate emitted (kept as rows while
    /// the stages above only pick columns or cut at a LIMIT, so they need no batch).
    private enum Flow {
        case batch(Batch)
        case rows([[Value]], Schema)
    }

    private func run(from start: Int, _ flow: Flow, now: Int64) -> [[Value]] {
        evaluator.now = now
        var i = start
        var b: Batch
        switch flow {
        case .batch(let batch): b = batch
        case .rows(var rows, let schema):
            origins = .none
            rowStages: while i < stages.count {
                let entering = Int64(rows.count)
                switch stages[i] {
                case .project(let exprs, _):
                    var picks: [Int] = []
                    for e in exprs { if case .column(let c) = e { picks.append(c) } else { break } }
                    guard picks.count == exprs.count else { break rowStages }
                    if picks != Array(0..<picks.count) || rows.contains(where: { $0.count != picks.count }) {
                        rows = rows.map { r in picks.map { r[$0] } }
                    }
                case .limit(let n):
                    let room = max(0, Int(n - emitted))
                    if rows.count > room { rows.removeLast(rows.count - room) }
                default: break rowStages
                }
                rowsIn[i] += entering
                i += 1
            }
            if i == stages.count {
                emitted += Int64(rows.count)
                return rows
            }
            b = Pipeline.batch(rows, i == start ? schema : Pipeline.rowSchema(stages, before: i, start: start, schema))
        }
        while i < stages.count {
            rowsIn[i] += Int64(b.count)  // (a join or a union, stage 0, counts its rows as they enter)
            switch stages[i] {
            case .filter(let e):
                evaluator.reset()
                let keep = evaluator.evaluate(e, b)
                note(evaluator.errors, b)
                let rows = keep.indices.filter { keep[$0] == .bool(true) }
                if rows.count != b.count {
                    b = Pipeline.select(b, rows)
                    origins = origins.selecting(rows)
                }
            case .project(let exprs, let schema):
                evaluator.reset()
                let cols = exprs.map { evaluator.evaluate($0, b) }
                let bad = Set(evaluator.errors.map(\.row))
                note(evaluator.errors, b)
                if !bad.isEmpty { origins = origins.selecting((0..<b.count).filter { !bad.contains($0) }) }
                var builders = schema.fields.map { ColumnBuilder($0.type, capacity: b.count) }
                var n = 0
                for r in 0..<b.count where !bad.contains(r) {
                    for (c, col) in cols.enumerated() { _ = builders[c].append(col[r]) }
                    n += 1
                }
                b = Batch(schema: schema, columns: builders.indices.map { builders[$0].finish() }, count: n)
            case .window(let pre, let preSchema, let op, let schema):
                guard let (input, origin) = prepare(pre, preSchema, b) else { return [] }
                for r in op.add(input) {
                    failures.append(RecordFailure(kind: "late", message: "the record's window has already been emitted", data: rowText(b, origin[r]), sourceRow: origins[origin[r]]))
                }
                guard op.emitChanges else { return [] }  // rows come out when the watermark advances
                var rows = op.changes
                if let t = windowChanges[i] { rows = t.offer(rows, now: now) }
                return rows.isEmpty ? [] : run(from: i + 1, .rows(rows, schema), now: now)
            case .over(let pre, let preSchema, let op, _):
                guard let (input, origin) = prepare(pre, preSchema, b) else { return [] }
                for r in op.add(input, rows: origin.map { b.row($0) }) {
                    failures.append(RecordFailure(kind: "late", message: "the record is older than rows already emitted by its OVER window", data: rowText(b, origin[r]), sourceRow: origins[origin[r]]))
                }
                return []  // rows come out when the watermark advances
            case .anomaly(let pre, let preSchema, let op, _):
                guard let (input, origin) = prepare(pre, preSchema, b) else { return [] }
                for r in op.add(input, rows: origin.map { b.row($0) }) {
                    failures.append(RecordFailure(kind: "late", message: "the record is older than rows its random cut forest has already scored", data: rowText(b, origin[r]), sourceRow: origins[origin[r]]))
                }
                return []  // rows come out scored when the watermark advances
            case .lookup(let l):
                b = lookup(l, b)
                origins = .none
            case .intervalJoin, .union:
                break  // fed by push(_:side:now:)
            case .aggregate(let pre, let preSchema, let op, let schema):
                guard let (input, _) = prepare(pre, preSchema, b) else { return [] }
                let rows = op.add(input, now: now)
                origins = .none
                if rows.isEmpty { return [] }
                b = Pipeline.batch(rows, schema)
            case .limit(let n):
                let room = max(0, Int(n - emitted))
                if b.count > room { b = Pipeline.select(b, Array(0..<room)) }
            case .topN(let t):
                let rows = rank(t, b)
                return rows.isEmpty ? [] : run(from: i + 1, .rows(rows, t.schema), now: now)
            case .hopRows(let t, let size, let advance, let schema):
                var rows: [[Value]] = [], from: [Int] = []
                for r in 0..<b.count {
                    guard case .timestamp(let ts) = b.columns[t].value(r) else {
                        failures.append(RecordFailure(kind: "eval", message: "the record has no event time to place in HOP's windows", data: rowText(b, r), sourceRow: origins[r]))
                        continue
                    }
                    let row = b.row(r)
                    // The windows [s, s + size) that hold ts: s a multiple of advance in (ts - size, ts], earliest first.
                    var s = Pipeline.floorDiv(ts - size, advance) * advance + advance
                    while s <= ts {
                        rows.append(row + [.timestamp(s), .timestamp(s + size), .timestamp(s + size - 1)])
                        from.append(r)
                        s += advance
                    }
                }
                b = Pipeline.batch(rows, schema)
                origins = origins.selecting(from)
            }
            i += 1
        }
        emitted += Int64(b.count)
        return b.rows()
    }

    /// Each row of `b` with the table rows whose keys equal its key expressions (and for which the
    /// rest of the ON condition holds); for LEFT, a row without any gets NULLs for the table's columns.
    private func lookup(_ l: LookupStage, _ b: Batch) -> Batch {
        evaluator.reset()
        let keys = l.keys.map { evaluator.evaluate($0, b) }
        let bad = Set(evaluator.errors.map(\.row))
        note(evaluator.errors, b)
        let nulls = [Value](repeating: .null, count: l.table.definition.columns.count)
        var out: [[Value]] = []
        out.reserveCapacity(b.count)
        for r in 0..<b.count where !bad.contains(r) {
            let matches = l.table.lookup(l.tableKeys, keys.map { $0[r] })
            if matches.isEmpty && !l.left { continue }
            let row = b.row(r)
            var joined = matches.map { row + $0 }
            if let residual = l.residual, !joined.isEmpty {
                let candidates = Pipeline.batch(joined, l.schema)
                evaluator.reset()
                let keep = evaluator.evaluate(residual, candidates)
                // Candidate rows are this row joined with table rows: the record is row r's.
                let saved = origins
                origins = saved[r].map { .mapped(Array(repeating: $0, count: candidates.count)) } ?? .none
                note(evaluator.errors, candidates)
                origins = saved
                joined = joined.indices.filter { keep[$0] == .bool(true) }.map { joined[$0] }
            }
            if joined.isEmpty && l.left { joined = [row + nulls] }
            out += joined
        }
        return Pipeline.batch(out, l.schema)
    }

    /// Rows into a Top-N: the changes they make (none for a Top-N per window, whose rows go out as
    /// windows close); a row whose window has gone out is late.
    private func rank(_ t: TopNStage, _ b: Batch) -> [[Value]] {
        evaluator.reset()
        let keys = t.partition.map { evaluator.evaluate($0, b) }
        let sorts = t.order.map { evaluator.evaluate($0, b) }
        let bad = Set(evaluator.errors.map(\.row))
        note(evaluator.errors, b)
        var out: [[Value]] = []
        for r in 0..<b.count where !bad.contains(r) {
            var key = keys.map { $0[r] }
            if let w = t.windowEnd { key.append(b.columns[w].value(r)) }
            var time: Int64? = nil
            if let c = t.timeColumn, case .timestamp(let ts) = b.columns[c].value(r) { time = ts }
            guard let changes = t.op.add(key: key, sort: sorts.map { $0[r] }, row: b.row(r), time: time) else {
                failures.append(RecordFailure(kind: "late", message: "the record's window has already been ranked and emitted", data: rowText(b, r), sourceRow: origins[r]))
                continue
            }
            out += changes
        }
        return out
    }

    /// Evaluates the aggregate's input columns; rows that fail are reported and left out.
    /// Returns the batch and, for each of its rows, the row of `b` it came from.
    private func prepare(_ exprs: [PhysicalExpr], _ schema: Schema, _ b: Batch) -> (Batch, [Int])? {
        // Plain columns need no evaluation: the batch's own columns are reused.
        var direct: [Column] = []
        for e in exprs {
            guard case .column(let i) = e, b.columns[i].type == schema.fields[direct.count].type else { direct = []; break }
            direct.append(b.columns[i])
        }
        if direct.count == exprs.count {
            return b.count == 0 ? nil : (Batch(schema: schema, columns: direct, count: b.count), Array(0..<b.count))
        }
        evaluator.reset()
        let cols = exprs.map { evaluator.evaluate($0, b) }
        let bad = Set(evaluator.errors.map(\.row))
        note(evaluator.errors, b)
        var rows: [[Value]] = [], origin: [Int] = []
        rows.reserveCapacity(b.count)
        for r in 0..<b.count where !bad.contains(r) {
            rows.append(cols.map { $0[r] })
            origin.append(r)
        }
        return rows.isEmpty ? nil : (Pipeline.batch(rows, schema), origin)
    }

    /// Whether a source row at event time `t` could be late for the pipeline's time operator once
    /// the watermark is `w` (false when the pipeline has none, or the row is ahead of it). A row
    /// for which this holds is pushed on its own, after the windows the rows before it closed:
    /// per-record semantics, whatever the size of the batches read.
    ///
    /// With a state TTL, a row is also pushed on its own when the watermark before it has moved
    /// into a new second of expiry: the keys idle by then are forgotten before it, as they would
    /// be were the records read one at a time. (Called for each row in order.)
    func couldBeLate(_ t: Int64, at w: Int64) -> Bool {
        if !ttls.isEmpty, w != .min {
            var moved = false
            for (i, ttl) in ttls.enumerated() where w > Int64.min + ttl {
                let second = Pipeline.floorDiv(w - ttl, 1000)
                if expirySeconds[i] != second {
                    expirySeconds[i] = second
                    moved = true
                }
            }
            if moved { return true }
        }
        // Ahead of the watermark a row is late for nothing (its windows end after it).
        guard t <= w, w != .min else { return false }
        switch lateRule {
        case .windows(let op): return op.missesWindows(t, at: w)
        case .behind: return true
        case .strictlyBehind: return t < w
        case .never: return false
        }
    }

    /// Whether any row can be late for the pipeline (it has an operator that judges event time),
    /// or needs the watermark moved before it (an operator with a state TTL).
    var judgesLateness: Bool {
        if !ttls.isEmpty { return true }
        if case .never = lateRule { return false }
        return true
    }

    /// The state TTLs of the stages, and the second of expiry each last saw.
    private lazy var ttls: [Int64] = stages.compactMap { s -> Int64? in
        switch s {
        case .aggregate(_, _, let op, _): return op.stateTTL
        case .topN(let t): return t.op.stateTTL
        default: return nil
        }
    }
    private lazy var expirySeconds: [Int64?] = ttls.map { _ in nil }

    /// How the pipeline's time operator judges a row behind the watermark (found once).
    private enum LateRule {
        case windows(WindowAggregateOperator)
        /// Late at or behind the watermark (the random cut forest: rows at the watermark are complete).
        case behind
        /// Late only strictly behind it (OVER windows, sessions, joins).
        case strictlyBehind
        case never
    }

    private lazy var lateRule: LateRule = {
        for stage in stages {
            switch stage {
            case .window(_, _, let op, _): return (op as? WindowAggregateOperator).map { .windows($0) } ?? .strictlyBehind
            case .anomaly(_, _, let op, _): return op.inclusive ? .behind : .strictlyBehind
            case .over, .intervalJoin: return .strictlyBehind
            // A Top-N per window: a row at or behind the watermark may be in a window ranked already.
            case .topN(let t) where t.op.windowed: return .behind
            case .aggregate: return .never
            default: continue
            }
        }
        return .never
    }()

    /// Pushes rows `rows` of a source batch (filtered by the pushed-down predicate) through the
    /// stages; failures name the rows of `batch`.
    func pushSource(_ batch: Batch, rows: Range<Int>, predicate: PhysicalExpr?, source: Int = 0,
                    marks: SourceMarks? = nil, now: Int64) -> [[Value]] {
        if rows == 0..<batch.count { return push(sourceFilter(predicate, batch, now: now), source: source, marks: marks, now: now) }
        let part = batch.slice(rows)
        sliceStart = rows.lowerBound
        defer { sliceStart = 0 }
        return push(sourceFilter(predicate, part, now: now), source: source, marks: marks, now: now)
    }

    /// Where the batch being pushed starts in the source batch its rows are reported against.
    private var sliceStart = 0

    /// The random cut forests of the pipeline: partitions still warming up, partitions, warm-up.
    var forests: [(warming: Int, partitions: Int, warmUp: Int)] {
        stages.compactMap { if case .anomaly(_, _, let op, _) = $0 { return (op.warmingPartitions, op.partitions, op.warmUp) }; return nil }
    }

    /// The schema of rows that went through the column-picking stages in `start..<i`.
    static func rowSchema(_ stages: [Stage], before i: Int, start: Int, _ schema: Schema) -> Schema {
        for k in stride(from: i - 1, through: start, by: -1) {
            if case .project(_, let s) = stages[k] { return s }
        }
        return schema
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func schema(_ types: [ColumnType]) -> Schema { Schema(types.indices.map { Field("c\($0)", types[$0]) }) }

    /// A bad row once, with its first error (a row whose expressions fail twice is one bad
    /// record, one error-stream entry).
    private func note(_ errors: [RowError], _ b: Batch) {
        var seen = Set<Int>()
        for e in errors where seen.insert(e.row).inserted {
            failures.append(RecordFailure(kind: "eval", message: e.message, data: rowText(b, e.row), sourceRow: origins[e.row]))
        }
    }

    /// A row as a JSON object, for the error stream.
    private func rowText(_ b: Batch, _ r: Int) -> String {
        var out: [UInt8] = []
        RecordEncoder(format: .json, columns: b.schema.fields.map(\.name)).append(b.row(r), to: &out)
        return String(decoding: out.dropLast(), as: UTF8.self)
    }

    static func select(_ b: Batch, _ rows: [Int]) -> Batch {
        var builders = b.schema.fields.map { ColumnBuilder($0.type, capacity: rows.count) }
        for r in rows { for c in builders.indices { _ = builders[c].append(b.columns[c].value(r)) } }
        return Batch(schema: b.schema, columns: builders.indices.map { builders[$0].finish() }, count: rows.count)
    }

    static func batch(_ rows: [[Value]], _ schema: Schema) -> Batch {
        var builders = schema.fields.map { ColumnBuilder($0.type, capacity: rows.count) }
        for row in rows { for (c, v) in row.enumerated() where c < builders.count { if !builders[c].append(v) { builders[c].appendNull() } } }
        return Batch(schema: schema, columns: builders.indices.map { builders[$0].finish() }, count: rows.count)
    }
}

/// A join with a reference table: the table, the input's key expressions and the table's key
/// columns, LEFT or inner, the rest of the ON condition, and the joined schema.
struct TopNStage {
    let op: TopNOperator
    let partition: [PhysicalExpr]
    let order: [PhysicalExpr]
    /// Per window: the input column holding each row's window_end (the partition's last key).
    let windowEnd: Int?
    /// With a state TTL: the input's event time, which keeps a partition alive.
    let timeColumn: Int?
    let schema: Schema
}

struct LookupStage {
    let table: ReferenceTable
    let keys: [PhysicalExpr]
    let tableKeys: [Int]
    let left: Bool
    let residual: PhysicalExpr?
    let schema: Schema
}

/// Per row of a source batch, every source's watermark before it: row r's are
/// `values[r * count ..< (r + 1) * count]` (one flat array, not an array per row).
struct SourceMarks {
    let count: Int
    var values: [Int64]
    var rows: Int { values.count / count }

    /// Whether row `r`'s watermarks are `m`.
    @inline(__always)
    func row(_ r: Int, equals m: [Int64]) -> Bool {
        let base = r * count
        for k in 0..<count where values[base + k] != m[k] { return false }
        return true
    }

    /// Row `r`'s watermarks into `out` (in place when it has the room).
    func copy(row r: Int, into out: inout [Int64]) {
        if out.count != count { out = [Int64](repeating: 0, count: count) }
        let base = r * count
        for k in 0..<count { out[k] = values[base + k] }
    }
}

/// A join of two streams: the operator, each side's key expressions and time column, the rest of
/// the ON condition and the joined schema.
struct IntervalJoinStage {
    let op: IntervalJoinOperator
    let leftKeys: [PhysicalExpr]
    let rightKeys: [PhysicalExpr]
    let leftTime: Int
    let rightTime: Int
    let residual: PhysicalExpr?
    let schema: Schema
}

extension Pipeline {
    /// The state of every stateful stage, in order, and the rows emitted so far (for LIMIT).
    func snapshot(now: Int64) -> JSONValue {
        var states: [JSONValue] = []
        for s in stages {
            switch s {
            case .window(_, _, let op, _): states.append(op.snapshot())
            case .aggregate(_, _, let op, _): states.append(op.snapshot(now: now))
            case .over(_, _, let op, _): states.append(op.snapshot())
            case .anomaly(_, _, let op, _): states.append(op.snapshot())
            case .intervalJoin(let j): states.append(j.op.snapshot())
            case .topN(let t): states.append(t.op.snapshot())
            default: break
            }
        }
        var held: [JSONValue] = []
        for i in windowChanges.keys.sorted() {
            held.append(["stage": .int(Int64(i)), "entries": .array(windowChanges[i]!.snapshot(now: now))])
        }
        var doc: JSONObject = ["emitted": .int(emitted), "stages": .array(states), "throttles": .array(held)]
        if sides.contains(where: { $0 != nil }) { doc["sides"] = .array(sides.map { $0?.snapshot(now: now) ?? .null }) }
        return .object(doc)
    }

    func restore(_ j: JSONValue, now: Int64) throws(SnapshotError) {
        guard let states = j["stages"]?.arrayValue, let e = j["emitted"]?.int64Value else { throw SnapshotError("the pipeline state is malformed") }
        var i = 0
        for s in stages {
            switch s {
            case .window(_, _, let op, _):
                guard i < states.count else { throw SnapshotError("the checkpoint has fewer operators than the query") }
                try op.restore(states[i]); i += 1
            case .aggregate(_, _, let op, _):
                guard i < states.count else { throw SnapshotError("the checkpoint has fewer operators than the query") }
                try op.restore(states[i], now: now); i += 1
            case .over(_, _, let op, _):
                guard i < states.count else { throw SnapshotError("the checkpoint has fewer operators than the query") }
                try op.restore(states[i]); i += 1
            case .anomaly(_, _, let op, _):
                guard i < states.count else { throw SnapshotError("the checkpoint has fewer operators than the query") }
                try op.restore(states[i]); i += 1
            case .intervalJoin(let j):
                guard i < states.count else { throw SnapshotError("the checkpoint has fewer operators than the query") }
                try j.op.restore(states[i]); i += 1
            case .topN(let t):
                guard i < states.count else { throw SnapshotError("the checkpoint has fewer operators than the query") }
                try t.op.restore(states[i]); i += 1
            default: break
            }
        }
        guard i == states.count else { throw SnapshotError("the checkpoint has more operators than the query") }
        let sideStates = j["sides"]?.arrayValue ?? sides.map { _ in .null }
        guard sideStates.count == 2 else { throw SnapshotError("the join's sides do not match the query") }
        for (below, st) in zip(sides, sideStates) {
            switch (below, st) {
            case (nil, .null): break
            case (let b?, let st) where st != .null: try b.restore(st, now: now)
            default: throw SnapshotError("the join's sides do not match the query")
            }
        }
        for h in j["throttles"]?.arrayValue ?? [] {
            guard let si = h["stage"]?.int64Value, let t = windowChanges[Int(si)], let entries = h["entries"]?.arrayValue else {
                throw SnapshotError("the EMIT CHANGES state does not match the query")
            }
            try t.restore(entries, now: now)
        }
        emitted = e
    }
}
