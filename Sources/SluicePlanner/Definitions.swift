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

    /// The definition a `CREATE TABLE name (columns..., PRIMARY KEY) WITH (file = ..., format =
    /// 'csv' | 'json', header = true, delimiter = ',', refresh = '10m')` declares.
    public static func tableDefinition(_ c: CreateTable, span: SourceSpan? = nil) throws(PlanError) -> TableDefinition {
        let columns = try columnDefinitions(c.columns)
        var options: [String: (OptionValue, NodeSpan)] = [:]
        for o in c.options { options[o.key.name.lowercased()] = (o.value, o.key.loc) }
        func text(_ k: String) -> String? {
            switch options[k]?.0 {
            case .string(let s)?: return s
            case .name(let n)?: return n.name
            case .number(let n)?: return n
            case .bool(let b)?: return b ? "true" : "false"
            default: return nil
            }
        }
        let known = ["file", "format", "header", "delimiter", "refresh"]
        for (k, (_, loc)) in options where !known.contains(k) {
            throw error("plan.bad-option", "CREATE TABLE has no option '\(k)'", loc,
                        help: closestMatch(k, in: known).map { "did you mean '\($0)'?" } ?? "the options are \(known.joined(separator: ", "))")
        }
        guard let file = text("file"), !file.isEmpty else {
            throw error("plan.bad-option", "a reference table is read from a file: add WITH (file = 'ref/\(c.name.name).csv', format = 'csv', header = true)", c.name.loc)
        }
        let format = (text("format") ?? (file.hasSuffix(".csv") ? "csv" : "json")).lowercased()
        guard format == "csv" || format == "json" else {
            throw error("plan.bad-option", "a table's format is 'csv' or 'json', not '\(format)'", options["format"]?.1)
        }
        let header = (text("header") ?? "true").lowercased()
        guard header == "true" || header == "false" else { throw error("plan.bad-option", "header is true or false", options["header"]?.1) }
        let delimiter = Array((text("delimiter") ?? ",").utf8)
        guard delimiter.count == 1 else { throw error("plan.bad-option", "the delimiter is one character", options["delimiter"]?.1) }
        var refresh: Int64? = nil
        if case .interval(let i)? = options["refresh"]?.0 {
            guard i.millis >= 1000 else { throw error("plan.bad-option", "refresh is at least 1s", options["refresh"]?.1) }
            refresh = i.millis
        } else if let r = text("refresh") {
            guard let ms = Units.millis(r), ms >= 1000 else {
                throw error("plan.bad-option", "refresh is a duration of at least 1s ('30s', '10m', '1h'), not '\(r)'", options["refresh"]?.1)
            }
            refresh = ms
        }
        let primaryKey = zip(c.columns, columns).filter { $0.0.primaryKey }.map { $0.1.name }
        return TableDefinition(name: c.name.name, columns: columns, primaryKey: primaryKey, file: file, format: format,
                               header: header == "true", delimiter: delimiter[0], refreshMillis: refresh, span: span)
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
            columns.append(ColumnDefinition(name: col.name.name, type: ColumnType(col.type), path: path, part: col.type.part))
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
