public import SluiceCore

/// Prints the AST as canonical SQL: keywords in capitals, names as written, one clause per line,
/// and only the parentheses precedence needs. `Parser.parse(Printer.print(s))` gives `s` back.
public enum Printer {
    /// One printed line, with the source position it stands for (comments are placed by it).
    public struct Line: Sendable {
        public var indent: Int
        public var text: String
        public var anchor: SourceSpan?
    }

    public static func print(_ script: Script) -> String {
        script.statements.map { print($0) }.joined(separator: "\n\n") + (script.statements.isEmpty ? "" : "\n")
    }

    /// One statement, ending with `;`.
    public static func print(_ statement: Statement) -> String {
        render(lines(statement)) + ";"
    }

    static func render(_ lines: [Line]) -> String {
        lines.map { String(repeating: " ", count: $0.indent) + $0.text }.joined(separator: "\n")
    }

    public static func lines(_ statement: Statement) -> [Line] {
        let at = statement.loc.span
        /// The head of a statement: from its start to the end of its name.
        func head(_ n: Identifier) -> SourceSpan { SourceSpan(start: at.start, end: max(at.start, n.loc.span.end)) }
        switch statement.kind {
        case .createStream(let s):
            return createLines("CREATE \(s.orReplace ? "OR REPLACE " : "")STREAM \(name(s.name))", s.columns, s.watermark, s.options, head(s.name))
        case .createStreamAs(let s):
            var text = "CREATE \(s.orReplace ? "OR REPLACE " : "")STREAM \(name(s.name))"
            if !s.options.isEmpty { text += " WITH (\(s.options.map(option).joined(separator: ", ")))" }
            return [Line(indent: 0, text: text + " AS", anchor: SourceSpan(start: at.start, end: s.query.loc.span.start))] + queryLines(s.query)
        case .createView(let v):
            return [Line(indent: 0, text: "CREATE \(v.orReplace ? "OR REPLACE " : "")VIEW \(name(v.name)) AS", anchor: SourceSpan(start: at.start, end: v.query.loc.span.start))]
                + queryLines(v.query)
        case .createFirehose(let s):
            return createLines("CREATE \(s.orReplace ? "OR REPLACE " : "")FIREHOSE \(name(s.name))", s.columns, nil, s.options, head(s.name))
        case .createTable(let s):
            return createLines("CREATE \(s.orReplace ? "OR REPLACE " : "")TABLE \(name(s.name))", s.columns, nil, s.options, head(s.name))
        case .createSink(let s):
            return createLines("CREATE \(s.orReplace ? "OR REPLACE " : "")SINK \(name(s.name))", [], nil, s.options, head(s.name))
        case .createAlert(let a):
            var out = [Line(indent: 0, text: "CREATE \(a.orReplace ? "OR REPLACE " : "")ALERT \(name(a.name))", anchor: head(a.name))]
            if let s = a.severity { out.append(Line(indent: 0, text: "SEVERITY \(string(s.value))", anchor: a.clauseLocs.spans["SEVERITY"])) }
            var q = queryLines(a.query)
            q[0].text = "AS " + q[0].text
            for i in 1..<q.count { q[i].indent += 3 }
            out += q
            let fire = a.silentFor.map { "SILENT FOR \(interval($0))" } ?? a.fireWhen.map { expr($0) } ?? "FALSE"
            out.append(Line(indent: 0, text: "FIRE WHEN \(fire)", anchor: a.clauseLocs.spans["FIRE"]))
            if let r = a.resolveWhen { out.append(Line(indent: 0, text: "RESOLVE WHEN \(expr(r))", anchor: a.clauseLocs.spans["RESOLVE"])) }
            if !a.per.isEmpty { out.append(Line(indent: 0, text: "PER \(a.per.map(name).joined(separator: ", "))", anchor: a.clauseLocs.spans["PER"])) }
            if let c = a.cooldown { out.append(Line(indent: 0, text: "COOLDOWN \(interval(c))", anchor: a.clauseLocs.spans["COOLDOWN"])) }
            if let m = a.message { out.append(Line(indent: 0, text: "MESSAGE \(string(m.value))", anchor: a.clauseLocs.spans["MESSAGE"])) }
            if !a.notify.isEmpty {
                out.append(Line(indent: 0, text: "NOTIFY \(a.notify.map { string($0.value) }.joined(separator: ", "))", anchor: a.clauseLocs.spans["NOTIFY"]))
            }
            return out
        case .insert(let i):
            let columns = i.columns.isEmpty ? "" : " (\(i.columns.map(name).joined(separator: ", ")))"
            let pump = i.pump.map { "CREATE \(i.orReplace ? "OR REPLACE " : "")PUMP \(name($0)) AS " } ?? ""
            return [Line(indent: 0, text: "\(pump)INSERT INTO \(name(i.target))\(columns)", anchor: head(i.target))] + queryLines(i.query)
        case .query(let q):
            return queryLines(q)
        case .explain(let e):
            var inner = lines(e.statement)
            inner[0].text = "EXPLAIN " + (e.level.map { $0.rawValue + " " } ?? "") + inner[0].text
            return inner
        case .explainQuery(let n):
            return [Line(indent: 0, text: "EXPLAIN \(n)", anchor: at)]
        case .describe(let n):
            return [Line(indent: 0, text: "DESCRIBE \(name(n))", anchor: at)]
        case .show(let t):
            return [Line(indent: 0, text: "SHOW \(t.rawValue)", anchor: at)]
        case .drop(let d):
            // A query's number stays a number.
            let target = d.kind == .query && !d.name.quoted && !d.name.name.isEmpty && d.name.name.allSatisfy({ $0.isASCII && $0.isNumber }) ? d.name.name : name(d.name)
            return [Line(indent: 0, text: "DROP \(d.kind.rawValue) \(d.ifExists ? "IF EXISTS " : "")\(target)", anchor: at)]
        case .set(let s):
            return [Line(indent: 0, text: "SET \(name(s.name)) = \(optionValue(s.value))", anchor: at)]
        case .print(let p):
            return [Line(indent: 0, text: "PRINT \(name(p.name))" + (p.fromBeginning ? " FROM BEGINNING" : "") + (p.limit.map { " LIMIT \($0)" } ?? ""), anchor: at)]
        }
    }

    private static func createLines(_ head: String, _ columns: [ColumnDefinition], _ watermark: WatermarkDefinition?,
                                    _ options: [WithOption], _ at: SourceSpan) -> [Line] {
        var out: [Line] = []
        var elements: [Line] = columns.map { Line(indent: 2, text: column($0), anchor: $0.loc.span) }
        if let w = watermark {
            elements.append(Line(indent: 2, text: "WATERMARK FOR \(name(w.column)) AS \(expr(w.expression))", anchor: w.loc.span))
        }
        for i in elements.indices.dropLast() { elements[i].text += "," }
        if elements.isEmpty {
            out.append(Line(indent: 0, text: head + (options.isEmpty ? "" : " WITH ("), anchor: at))
        } else {
            out.append(Line(indent: 0, text: head + " (", anchor: at))
            out += elements
            out.append(Line(indent: 0, text: options.isEmpty ? ")" : ") WITH (", anchor: nil))
        }
        if !options.isEmpty {
            var opts = options.map { Line(indent: 2, text: option($0), anchor: $0.loc.span) }
            for i in opts.indices.dropLast() { opts[i].text += "," }
            out += opts
            out.append(Line(indent: 0, text: ")", anchor: nil))
        }
        return out
    }

    static func column(_ c: ColumnDefinition) -> String {
        var s = "\(name(c.name)) \(type(c.type))"
        if let p = c.path { s += " PATH \(string(p.value))" }
        if c.primaryKey { s += " PRIMARY KEY" }
        if c.notNull { s += " NOT NULL" }
        return s
    }

    static func type(_ t: TypeName) -> String {
        if let p = t.part { return p.rawValue }
        if t.type == .decimal, let p = t.length { return "DECIMAL(\(p)" + (t.scale.map { ", \($0))" } ?? ")") }
        return t.type.rawValue + (t.length.map { "(\($0))" } ?? "")
    }

    static func option(_ o: WithOption) -> String { "\(name(o.key)) = \(optionValue(o.value))" }

    static func optionValue(_ v: OptionValue) -> String {
        switch v {
        case .string(let s): return string(s)
        case .number(let n): return n
        case .bool(let b): return b ? "TRUE" : "FALSE"
        case .name(let n): return name(n)
        case .interval(let i): return interval(i)
        }
    }

    // MARK: Queries

    /// A query as clause lines (SELECT, FROM, joins, WHERE, ...).
    public static func queryLines(_ q: Query) -> [Line] {
        var out: [Line] = []
        let items = q.items.map(selectItem)
        let head = "SELECT " + (q.distinct ? "DISTINCT " : "")
        let selectSpan = SourceSpan(start: q.loc.span.start, end: q.items.last.map { itemSpan($0).end } ?? q.loc.span.start)
        if items.reduce(head.count, { $0 + $1.count + 2 }) > 100 {
            out.append(Line(indent: 0, text: head.trimmingCharacters(in: " "), anchor: SourceSpan(start: q.loc.span.start, end: q.loc.span.start + 6)))
            for (i, item) in q.items.enumerated() {
                out.append(Line(indent: 2, text: items[i] + (i < items.count - 1 ? "," : ""), anchor: itemSpan(item)))
            }
        } else {
            out.append(Line(indent: 0, text: head + items.joined(separator: ", "), anchor: selectSpan))
        }
        if let f = q.from { out += fromLines(f, first: true, anchor: q.clauseLocs.spans["FROM"]) }
        if let w = q.whereClause { out.append(Line(indent: 0, text: "WHERE \(expr(w))", anchor: q.clauseLocs.spans["WHERE"])) }
        if !q.groupBy.isEmpty {
            out.append(Line(indent: 0, text: "GROUP BY \(q.groupBy.map { expr($0) }.joined(separator: ", "))", anchor: q.clauseLocs.spans["GROUP BY"]))
        }
        if let h = q.having { out.append(Line(indent: 0, text: "HAVING \(expr(h))", anchor: q.clauseLocs.spans["HAVING"])) }
        for branch in q.unionAll {
            var b = branch
            b.emit = nil
            b.limit = nil
            b.unionAll = []
            out.append(Line(indent: 0, text: "UNION ALL", anchor: nil))
            out += queryLines(b)
        }
        if let e = q.emit { out.append(Line(indent: 0, text: emit(e), anchor: q.clauseLocs.spans["EMIT"])) }
        if let l = q.limit { out.append(Line(indent: 0, text: "LIMIT \(l)", anchor: q.clauseLocs.spans["LIMIT"])) }
        return out
    }

    private static func itemSpan(_ i: SelectItem) -> SourceSpan {
        switch i {
        case .wildcard(_, _, let l), .expression(_, _, let l): return l.span
        }
    }

    /// A query on one line (inside parentheses).
    public static func inlineQuery(_ q: Query) -> String {
        queryLines(q).map(\.text).joined(separator: " ")
    }

    static func emit(_ e: Emit) -> String {
        switch e {
        case .final: return "EMIT FINAL"
        case .changes(let every): return "EMIT CHANGES" + (every.map { " EVERY \(interval($0))" } ?? "")
        }
    }

    static func selectItem(_ i: SelectItem) -> String {
        switch i {
        case .wildcard(let q, let exclude, _):
            return (q.map { name($0) + ".*" } ?? "*") + (exclude.isEmpty ? "" : " EXCLUDE (\(exclude.map(name).joined(separator: ", ")))")
        case .expression(let e, let alias, _): return expr(e) + (alias.map { " AS \(name($0))" } ?? "")
        }
    }

    private static func fromLines(_ f: FromItem, first: Bool, anchor: SourceSpan?) -> [Line] {
        if case .join(let j) = f {
            var out = fromLines(j.left, first: first, anchor: anchor)
            out.append(Line(indent: 2, text: "\(j.kind.rawValue) \(fromItem(j.right)) ON \(expr(j.condition))", anchor: j.loc.span))
            return out
        }
        return [Line(indent: 0, text: "FROM " + fromItem(f), anchor: anchor)]
    }

    static func fromItem(_ f: FromItem) -> String {
        func aliased(_ s: String, _ a: Identifier?) -> String { s + (a.map { " AS \(name($0))" } ?? "") }
        switch f {
        case .relation(let n, let a, _): return aliased(name(n), a)
        case .subquery(let q, let a, _): return aliased("(\(inlineQuery(q)))", a)
        case .window(let w, let a, _): return aliased(window(w), a)
        case .anomaly(let r, let a, _): return aliased(anomaly(r), a)
        case .join(let j):
            return "\(fromItem(j.left)) \(j.kind.rawValue) \(fromItem(j.right)) ON \(expr(j.condition))"
        }
    }

    static func window(_ w: WindowFunction) -> String {
        switch w {
        case .tumble(let r, let t, let size):
            return "TUMBLE(\(fromItem(r)), \(expr(t)), \(interval(size)))"
        case .hop(let r, let t, let size, let advance):
            return "HOP(\(fromItem(r)), \(expr(t)), SIZE \(interval(size)), ADVANCE \(interval(advance)))"
        case .session(let r, let keys, let t, let gap):
            return "SESSION(\(fromItem(r)) PARTITION BY \(keys.map { expr($0) }.joined(separator: ", ")), \(expr(t)), GAP \(interval(gap)))"
        case .stagger(let r, let keys, let t, let size):
            return "STAGGER(\(fromItem(r)) PARTITION BY \(keys.map { expr($0) }.joined(separator: ", ")), \(expr(t)), SIZE \(interval(size)))"
        }
    }

    static func anomaly(_ a: AnomalyFunction) -> String {
        var args = [fromItem(a.relation)]
        if !a.columns.isEmpty { args.append("COLUMNS (\(a.columns.map(name).joined(separator: ", ")))") }
        if !a.partitionBy.isEmpty { args.append("PARTITION BY \(a.partitionBy.map { expr($0) }.joined(separator: ", "))") }
        for p in a.parameters { args.append("\(name(p.name)) => \(expr(p.value))") }
        let name = a.detector == .flatLine ? "FLAT_LINE" : a.detector == .hotspots ? "HOTSPOTS" : a.withExplanation ? "RANDOM_CUT_FOREST_WITH_EXPLANATION" : "RANDOM_CUT_FOREST"
        return name + "(\(args.joined(separator: ", ")))"
    }

    // MARK: Expressions

    /// Binding strength of an expression's outermost operator (atoms bind tightest).
    static func precedence(_ e: Expr) -> Int {
        switch e.kind {
        case .binary(let op, _, _): return Precedence.of(op)
        case .unary(.not, _): return Precedence.not
        case .unary: return Precedence.unary
        case .isNull: return Precedence.isNull
        case .between, .inList, .like: return Precedence.between
        default: return Precedence.unary + 1
        }
    }

    /// `e`, in parentheses when it binds less tightly than `minimum`.
    static func operand(_ e: Expr, _ minimum: Int) -> String {
        precedence(e) < minimum ? "(\(expr(e)))" : expr(e)
    }

    public static func expr(_ e: Expr) -> String {
        switch e.kind {
        case .literal(let l): return literal(l)
        case .column(let q, let n): return (q.map { name($0) + "." } ?? "") + name(n)
        case .unary(.not, let x): return "NOT " + operand(x, Precedence.not)
        case .unary(let op, let x):
            if case .unary(let inner, _) = x.kind, inner != .not { return op.rawValue + "(\(expr(x)))" }
            return op.rawValue + operand(x, Precedence.unary)
        case .binary(let op, let l, let r):
            let p = Precedence.of(op)
            let leftMin = p == Precedence.comparison ? p + 1 : p
            return "\(operand(l, leftMin)) \(op.rawValue) \(operand(r, p + 1))"
        case .isNull(let x, let neg): return operand(x, Precedence.isNull + 1) + (neg ? " IS NOT NULL" : " IS NULL")
        case .between(let x, let lo, let hi, let neg):
            let m = Precedence.between + 1
            return "\(operand(x, m)) \(neg ? "NOT " : "")BETWEEN \(operand(lo, m)) AND \(operand(hi, m))"
        case .inList(let x, let list, let neg):
            return "\(operand(x, Precedence.between + 1)) \(neg ? "NOT " : "")IN (\(list.map { expr($0) }.joined(separator: ", ")))"
        case .like(let x, let p, let esc, let neg):
            let m = Precedence.between + 1
            return "\(operand(x, m)) \(neg ? "NOT " : "")LIKE \(operand(p, m))" + (esc.map { " ESCAPE \(operand($0, m))" } ?? "")
        case .function(let f): return function(f)
        case .cast(let x, let t): return "CAST(\(expr(x)) AS \(type(t)))"
        case .caseWhen(let operand, let branches, let otherwise):
            var s = "CASE"
            if let o = operand { s += " " + expr(o) }
            for b in branches { s += " WHEN \(expr(b.when)) THEN \(expr(b.then))" }
            if let o = otherwise { s += " ELSE \(expr(o))" }
            return s + " END"
        case .extract(let u, let x): return "EXTRACT(\(u.rawValue) FROM \(expr(x)))"
        case .floorTo(let x, let u): return "FLOOR(\(expr(x)) TO \(u.rawValue))"
        case .substring(let s, let from, let len):
            return "SUBSTRING(\(expr(s)) FROM \(expr(from))" + (len.map { " FOR \(expr($0))" } ?? "") + ")"
        case .trim(let side, let chars, let x):
            if side == .both && chars == nil { return "TRIM(\(expr(x)))" }
            return "TRIM(\(side.rawValue) " + (chars.map { expr($0) + " " } ?? "") + "FROM \(expr(x)))"
        }
    }

    static func function(_ f: FunctionCall) -> String {
        var s = name(f.name) + "("
        if f.star {
            s += "*"
        } else {
            if f.distinct { s += "DISTINCT " }
            s += f.arguments.map { expr($0) }.joined(separator: ", ")
        }
        s += ")"
        if let c = f.filter { s += " FILTER (WHERE " + expr(c) + ")" }
        if let o = f.over {
            var parts: [String] = []
            if !o.partitionBy.isEmpty { parts.append("PARTITION BY " + o.partitionBy.map { expr($0) }.joined(separator: ", ")) }
            if !o.orderBy.isEmpty {
                parts.append("ORDER BY " + o.orderBy.map { expr($0.expr) + ($0.descending ? " DESC" : "") }.joined(separator: ", "))
            }
            switch o.frame {
            case .range(let i)?: parts.append("RANGE \(interval(i)) PRECEDING")
            case .rows(let n)?: parts.append("ROWS \(n) PRECEDING")
            case nil: break
            }
            s += " OVER (\(parts.joined(separator: " ")))"
        }
        return s
    }

    static func literal(_ l: Literal) -> String {
        switch l {
        case .number(let n): return n
        case .string(let s): return string(s)
        case .bool(let b): return b ? "TRUE" : "FALSE"
        case .null: return "NULL"
        case .interval(let i): return interval(i)
        case .timestamp(let t): return "TIMESTAMP \(string(t))"
        }
    }

    public static func interval(_ i: IntervalLiteral) -> String { "INTERVAL \(string(i.value)) \(i.unit.rawValue)" }

    /// A single-quoted string with `'` doubled.
    public static func string(_ s: String) -> String {
        "'" + s.replacingAll("'", with: "''") + "'"
    }

    /// A name as written; double-quoted when it was quoted.
    public static func name(_ i: Identifier) -> String {
        // A name with a dot (KDA's t.row.field read as the column `row.field`) is quoted to read back.
        i.quoted || i.name.contains(".") ? quoted(i.name) : i.name
    }

    /// A name in double quotes (`"` doubled): it reads back as itself, whatever it holds.
    public static func quoted(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }
}

