public import SluiceCore
public import SluiceSQL

extension Planner {
    /// The definition a `CREATE STREAM name (columns..., WATERMARK ...) WITH (...)` declares.
    /// The watermark is `WATERMARK FOR ts AS ts - INTERVAL ...` (or `AS ts`: no delay) on a
    /// TIMESTAMP column; JSON paths are `$.a.b`.
    public static func streamDefinition(_ c: CreateStream, span: SourceSpan? = nil) throws(PlanError) -> StreamDefinition {
        let columns = try columnDefinitions(c.columns)
        var watermark: (String, Int64)? = nil
        if let w = c.watermark {
            guard let col = columns.first(where: { $0.name.lowercased() == w.column.name.lowercased() }) else {
                let help = closestMatch(w.column.name, in: columns.map(\.name)).map { "did you mean '\($0)'?" }
                throw error("bind.unknown-column", "WATERMARK FOR names an unknown column '\(w.column.name)'", w.column.loc, help: help)
            }
            guard col.type == .timestamp else {
                throw error("bind.type-mismatch", "the event-time column must be a TIMESTAMP, not \(col.type.rawValue)", w.column.loc)
            }
            func isTheColumn(_ e: Expr) -> Bool {
                if case .column(nil, let n) = e.kind { return n.name.lowercased() == col.name.lowercased() }
                return false
            }
            switch w.expression.kind {
            case _ where isTheColumn(w.expression): watermark = (col.name, 0)
            case .binary(.subtract, let l, let r) where isTheColumn(l):
                guard case .literal(.interval(let i)) = r.kind, i.millis >= 0 else { fallthrough }
                watermark = (col.name, i.millis)
            default:
                throw error("plan.unsupported", "the watermark must be \(col.name) - INTERVAL '...' (a fixed delay)", w.expression.loc)
            }
        }
        var options: [String: OptionValue] = [:]
        for o in c.options { options[o.key.name.lowercased()] = o.value }
        return StreamDefinition(name: c.name.name, columns: columns, watermark: watermark, options: options, span: span)
    }

    /// The definition a `CREATE FIREHOSE name (columns...) WITH (...)` gives queries that read
    /// the firehose as a stream (no watermark: time is ROWTIME, the arrival time).
    public static func firehoseDefinition(_ c: CreateFirehose, span: SourceSpan? = nil) throws(PlanError) -> StreamDefinition {
        var options: [String: OptionValue] = [:]
        for o in c.options { options[o.key.name.lowercased()] = o.value }
        return StreamDefinition(name: c.name.name, columns: try columnDefinitions(c.columns), options: options, span: span)
    }

    /// Declared columns: unique names, not ROWTIME, JSON paths of the form `$.a.b`.
    static func columnDefinitions(_ declared: [SluiceSQL.ColumnDefinition]) throws(PlanError) -> [ColumnDefinition] {
        var columns: [ColumnDefinition] = []
        var names = Set<String>()
        for col in declared {
            guard names.insert(col.name.name.lowercased()).inserted else {
                throw error("bind.duplicate-column", "column '\(col.name.name)' is declared twice", col.loc)
            }
            if col.name.name.uppercased() == "ROWTIME" {
                throw error("bind.reserved-column", "ROWTIME is the arrival time every stream has; name the column differently", col.name.loc)
            }
            var path: [String]? = nil
            if let p = col.path {
                guard let keys = Planner.jsonPath(p.value) else {
                    throw error("bind.bad-path", "'\(p.value)' is not a JSON path of the form '$.a.b'", p.loc)
                }
                path = keys
            }
            columns.append(ColumnDefinition(name: col.name.name, type: ColumnType(col.type.type), path: path))
        }
        return columns
    }

    /// `$.a.b` (or `a.b`) as keys.
    static func jsonPath(_ text: String) -> [String]? {
        var t = Substring(text)
        if t.hasPrefix("$.") { t = t.dropFirst(2) } else if t.hasPrefix("$") { return nil }
        let keys = t.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        return keys.isEmpty || keys.contains(where: \.isEmpty) ? nil : keys
    }
}
