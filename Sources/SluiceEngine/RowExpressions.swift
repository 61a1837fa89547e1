import SluiceCore
import SluiceDataflow
import SluicePlanner
import SluiceSQL

/// Expressions over a query's output rows (an alert's FIRE WHEN and RESOLVE WHEN, a Kinesis
/// sink's partition key), bound as if the rows were a stream: planned once from
/// `SELECT (e1) AS c1, ... FROM rows`, then evaluated over rows by a pipeline of their own.
final class RowExpressions {
    let plan: LogicalPlan
    /// The output columns the rows hold, in order.
    let rowColumns: [String]
    private let pipeline: Pipeline
    private let source: SourceNode
    private let clock: any SluiceClock

    /// `SELECT exprs FROM rows` planned over columns named and typed as `schema`; errors are the
    /// planner's, each prefixed with `context` and placed at `span`.
    static func plan(_ exprs: [(sql: String, name: String)], over schema: [(name: String, type: ColumnType)], context: String,
                     span: SourceSpan?) throws(EngineError) -> LogicalPlan {
        let rows = StreamDefinition(name: "rows", columns: schema.map { ColumnDefinition(name: $0.name, type: $0.type) })
        let sql = "SELECT " + exprs.map { "(\($0.sql)) AS \($0.name)" }.joined(separator: ", ") + " FROM rows"
        let (stmt, diags) = Parser.parseStatement(sql)
        guard diags.isEmpty, case .query(let q)? = stmt?.kind else {
            throw EngineError(diagnostics: [Diagnostic(id: "plan.bad-expression", message: "\(context): \(exprs.map(\.sql).joined(separator: ", ")) does not parse",
                                                       span: span)])
        }
        do {
            return Optimizer(fold: Lowering.fold).optimize(try Planner(catalog: MemoryCatalog([rows])).plan(q))
        } catch {
            throw EngineError(diagnostics: error.diagnostics.map { d in
                var d = d
                d.message = "\(context): " + d.message
                d.span = span
                return d
            })
        }
    }

    init(_ plan: LogicalPlan, rowColumns: [String], clock: any SluiceClock) {
        self.plan = plan
        self.rowColumns = rowColumns
        self.clock = clock
        pipeline = Pipeline(plan)
        source = Engine.sourceNode(plan)!
    }

    /// The expressions' values for each row; nil for a row whose evaluation failed (a division
    /// by zero, a bad cast).
    func evaluate(_ rows: [[Value]]) -> [[Value]?] {
        guard !rows.isEmpty else { return [] }
        let result = push(rows)
        if pipeline.failures.isEmpty && result.count == rows.count { return result.map { Optional($0) } }
        pipeline.failures.removeAll()
        // A row failed: each alone, to say which.
        return rows.map { row in
            let one = push([row])
            defer { pipeline.failures.removeAll() }
            return pipeline.failures.isEmpty ? one.first : nil
        }
    }

    private func push(_ rows: [[Value]]) -> [[Value]] {
        let now = clock.nowMillis()
        var builders: [ColumnBuilder] = []
        for c in source.columns {
            let type: ColumnType
            let value: (([Value]) -> Value)
            switch c {
            case .field(let d):
                type = d.type
                let i = rowColumns.firstIndex(of: d.name)
                value = { row in i.map { row[$0] } ?? .null }
            case .rowtime:
                type = .timestamp
                value = { _ in .timestamp(now) }
            case .shardId:
                type = .varchar
                value = { _ in .string("shardId-000000000000") }
            }
            var b = ColumnBuilder(type)
            for row in rows where !b.append(value(row)) { b.appendNull() }
            builders.append(b)
        }
        let batch = Batch(schema: Schema(source.columns.map { Field($0.name, $0.type) }), columns: builders.indices.map { builders[$0].finish() }, count: rows.count)
        return pipeline.push(batch, now: now)
    }
}
