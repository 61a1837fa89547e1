import SluiceCore

extension Parser {
    static let statementStarters = ["CREATE", "INSERT", "SELECT", "EXPLAIN", "DESCRIBE", "SHOW", "DROP", "SET", "PRINT"]

    mutating func parseStatement() throws(ParseError) -> Statement {
        let start = current.span.start
        let kind: StatementKind
        switch current.kind {
        case .keyword(.CREATE): kind = try parseCreate()
        case .keyword(.INSERT): kind = .insert(try parseInsert())
        case .keyword(.SELECT): kind = .query(try parseQuery())
        case .keyword(.EXPLAIN):
            advance()
            var level: Explain.Level? = nil
            if eat(.LOGICAL) { level = .logical } else if eat(.PHYSICAL) { level = .physical }
            if at(.EXPLAIN) { throw error("EXPLAIN cannot explain EXPLAIN") }
            if level == nil, current.kind == .number {
                // A running query, by its number (SHOW QUERIES lists them).
                guard let n = Int(text(current)), n > 0, text(current).allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    throw unexpected(expecting: ["a query number"], context: "after EXPLAIN")
                }
                advance()
                kind = .explainQuery(n)
            } else {
                kind = .explain(Explain(level: level, statement: try parseStatement()))
            }
        case .keyword(.DESCRIBE):
            advance()
            kind = .describe(try parseIdentifier("a stream, firehose, table or sink name"))
        case .keyword(.SHOW):
            advance()
            guard case .keyword(let k) = current.kind, let target = ShowTarget(rawValue: k.rawValue) else {
                throw unexpected(expecting: ShowTarget.allCases.map(\.rawValue), context: "after SHOW")
            }
            advance()
            kind = .show(target)
        case .keyword(.DROP):
            advance()
            guard case .keyword(let k) = current.kind, let what = Drop.Kind(rawValue: k.rawValue) else {
                throw unexpected(expecting: Drop.Kind.allCases.map(\.rawValue), context: "after DROP")
            }
            advance()
            var ifExists = false
            if eat(.IF) {
                try expect(.EXISTS, "after IF")
                ifExists = true
            }
            // A query is named by its number (SHOW QUERIES lists them), or by a name.
            if what == .query, current.kind == .number, !text(current).contains(where: { !$0.isASCII || !$0.isNumber }) {
                let t = current
                advance()
                kind = .drop(Drop(kind: what, ifExists: ifExists, name: Identifier(text(t), loc: NodeSpan(t.span))))
            } else {
                kind = .drop(Drop(kind: what, ifExists: ifExists, name: try parseIdentifier(what == .query ? "a query number or name" : "a name")))
            }
        case .keyword(.PRINT):
            advance()
            let name = try parseIdentifier("a stream name")
            var fromBeginning = false
            if eat(.FROM) {
                try expect(.BEGINNING, "after PRINT ... FROM")
                fromBeginning = true
            }
            var limit: Int64? = nil
            if eat(.LIMIT) {
                let t = current
                guard t.kind == .number, let n = Int64(text(t)), n > 0 else { throw unexpected(expecting: ["a positive whole number"], context: "after LIMIT") }
                advance()
                limit = n
            }
            kind = .print(PrintStream(name: name, fromBeginning: fromBeginning, limit: limit))
        case .keyword(.SET):
            advance()
            let name = try parseWord("a setting name")
            try expect(.eq, "after the setting name")
            kind = .set(SetOption(name: name, value: try parseOptionValue()))
        case .punct(.leftParen):
            throw error("a statement cannot start with '('", help: "write the query without the outer parentheses")
        default:
            throw unexpected(expecting: ["a statement (\(Parser.statementStarters.joined(separator: ", ")))"]).withHelp(
                closestStarter())
        }
        return Statement(kind: kind, loc: span(from: start))
    }

    private func closestStarter() -> String? {
        guard case .identifier = current.kind, let m = closestMatch(text(current), in: Parser.statementStarters) else { return nil }
        return "did you mean \(m)?"
    }

    mutating func parseCreate() throws(ParseError) -> StatementKind {
        try expect(.CREATE)
        var orReplace = false
        if eat(.OR) {
            try expect(.REPLACE, "after CREATE OR")
            orReplace = true
        }
        if dialect == .kda, current.kind == .identifier, text(current).uppercased() == "PUMP" { return try parsePump(orReplace: orReplace) }
        switch current.kind {
        case .keyword(.STREAM):
            advance()
            let name = try parseIdentifier("a stream name")
            if at(.leftParen) {
                let (columns, watermark) = try parseColumnList(allowWatermark: true, what: "a column or WATERMARK")
                let options = try parseWithOptions()
                if at(.AS) { throw error("a stream with a column list cannot also have AS SELECT", help: "drop the column list: the query's columns become the stream's") }
                return .createStream(CreateStream(orReplace: orReplace, name: name, columns: columns, watermark: watermark, options: options))
            }
            let options = try parseWithOptions()
            guard eat(.AS) else {
                throw unexpected(expecting: ["'('", "WITH", "AS"], context: "after the stream name")
            }
            return .createStreamAs(CreateStreamAs(orReplace: orReplace, name: name, options: options, query: try parseQuery()))
        case .keyword(.VIEW):
            advance()
            let name = try parseIdentifier("a view name")
            guard eat(.AS) else { throw unexpected(expecting: ["AS"], context: "after the view name (CREATE VIEW name AS SELECT ...)") }
            return .createView(CreateView(orReplace: orReplace, name: name, query: try parseQuery()))
        case .keyword(.FIREHOSE):
            advance()
            let name = try parseIdentifier("a firehose name")
            var columns: [ColumnDefinition] = []
            if at(.leftParen) { columns = try parseColumnList(allowWatermark: false, what: "a column").0 }
            return .createFirehose(CreateFirehose(orReplace: orReplace, name: name, columns: columns, options: try parseWithOptions()))
        case .keyword(.TABLE):
            advance()
            let name = try parseIdentifier("a table name")
            guard at(.leftParen) else { throw unexpected(expecting: ["'('"], context: "(the table's columns)") }
            let columns = try parseColumnList(allowWatermark: false, what: "a column").0
            return .createTable(CreateTable(orReplace: orReplace, name: name, columns: columns, options: try parseWithOptions()))
        case .keyword(.SINK):
            advance()
            let name = try parseIdentifier("a sink name")
            guard at(.WITH) else { throw unexpected(expecting: ["WITH"], context: "(a sink needs its type and target: WITH (type = 'file', ...))") }
            return .createSink(CreateSink(orReplace: orReplace, name: name, options: try parseWithOptions()))
        case .keyword(.ALERT):
            advance()
            return .createAlert(try parseAlert(orReplace: orReplace))
        default:
            var e = unexpected(expecting: ["STREAM", "VIEW", "FIREHOSE", "TABLE", "SINK", "ALERT"], context: "after CREATE")
            if case .identifier = current.kind, e.diagnostic?.help == nil,
               let m = closestMatch(text(current), in: ["STREAM", "VIEW", "FIREHOSE", "TABLE", "SINK", "ALERT"]) {
                e.diagnostic?.help = "did you mean \(m)?"
            }
            throw e
        }
    }

    /// `( column, ..., [WATERMARK FOR col AS expr] )`
    mutating func parseColumnList(allowWatermark: Bool, what: String) throws(ParseError) -> ([ColumnDefinition], WatermarkDefinition?) {
        try expect(.leftParen)
        var columns: [ColumnDefinition] = []
        var watermark: WatermarkDefinition? = nil
        repeat {
            if at(.rightParen) { throw unexpected(expecting: [what]) }
            if at(.WATERMARK) && peek().kind == .keyword(.FOR) {
                let start = current.span.start
                guard allowWatermark else { throw error("only a stream can declare a WATERMARK") }
                if watermark != nil { throw error("a stream has one WATERMARK", id: "syntax.duplicate-clause") }
                advance()
                advance()
                let column = try parseIdentifier("the event-time column")
                try expect(.AS, "after WATERMARK FOR \(column.name)")
                let e = try parseExpr()
                watermark = WatermarkDefinition(column: column, expression: e, loc: span(from: start))
            } else {
                columns.append(try parseColumnDefinition())
            }
        } while eat(.comma)
        try expect(.rightParen, "to close the column list")
        try skipKDADescription()  // a stream's
        return (columns, watermark)
    }

    /// KDA's `DESCRIPTION 'text'` (of a column or a stream): documentation only, read and left.
    mutating func skipKDADescription() throws(ParseError) {
        guard dialect == .kda, current.kind == .identifier, text(current).uppercased() == "DESCRIPTION" else { return }
        advance()
        _ = try parseString("the description in quotes")
    }

    /// `name TYPE [PATH '$.a.b'] [PRIMARY KEY] [NOT NULL]`
    mutating func parseColumnDefinition() throws(ParseError) -> ColumnDefinition {
        let start = current.span.start
        let name = try parseIdentifier("a column name")
        let type = try parseType()
        var path: StringLiteral? = nil
        var primaryKey = false, notNull = false
        while true {
            if eat(.PATH) {
                if path != nil { throw error("PATH is given twice", id: "syntax.duplicate-clause") }
                path = try parseString("a JSON path such as '$.page.url'")
            } else if eat(.PRIMARY) {
                try expect(.KEY, "after PRIMARY")
                primaryKey = true
            } else if at(.NOT) && peek().kind == .keyword(.NULL) {
                advance()
                advance()
                notNull = true
            } else if dialect == .kda, current.kind == .identifier, text(current).uppercased() == "DESCRIPTION" {
                try skipKDADescription()
            } else {
                break
            }
        }
        return ColumnDefinition(name: name, type: type, path: path, primaryKey: primaryKey, notNull: notNull, loc: span(from: start))
    }

    /// `[WITH (key = value, ...)]`
    mutating func parseWithOptions() throws(ParseError) -> [WithOption] {
        guard eat(.WITH) else { return [] }
        try expect(.leftParen, "after WITH")
        var options: [WithOption] = []
        repeat {
            let start = current.span.start
            let key = try parseWord("an option name")
            if options.contains(where: { $0.key.name.lowercased() == key.name.lowercased() }) {
                throw error("option '\(key.name)' is given twice", id: "syntax.duplicate-option", at: key.loc.span)
            }
            try expect(.eq, "after the option name '\(key.name)'")
            options.append(WithOption(key: key, value: try parseOptionValue(), loc: span(from: start)))
        } while eat(.comma)
        try expect(.rightParen, "to close the WITH list")
        return options
    }

    mutating func parseOptionValue() throws(ParseError) -> OptionValue {
        switch current.kind {
        case .string: return .string(try parseString().value)
        case .number:
            let t = text(current)
            advance()
            return .number(t)
        case .punct(.minus) where peek().kind == .number:
            advance()
            let t = text(current)
            advance()
            return .number("-" + t)
        case .keyword(.TRUE):
            advance()
            return .bool(true)
        case .keyword(.FALSE):
            advance()
            return .bool(false)
        case .keyword(.INTERVAL) where peek().kind == .string:
            return .interval(try parseIntervalLiteral())
        default:
            if atIdentifier { return .name(try parseIdentifier()) }
            throw unexpected(expecting: ["a value (a string, number, TRUE, FALSE or a name)"])
        }
    }

    mutating func parseInsert() throws(ParseError) -> Insert {
        try expect(.INSERT)
        try expect(.INTO, "after INSERT")
        let target = try parseIdentifier("a sink, stream or firehose name")
        var columns: [Identifier] = []
        if dialect == .kda, eat(.leftParen) {
            repeat { columns.append(try parseIdentifier("a column of \(target.name)")) } while eat(.comma)
            try expect(.rightParen, "to close the column list")
        }
        guard at(.SELECT) else { throw unexpected(expecting: ["SELECT"], context: "after INSERT INTO \(target.name)") }
        return Insert(target: target, query: try parseQuery(), columns: columns, byPosition: dialect == .kda)
    }

    /// KDA's `CREATE [OR REPLACE] PUMP name AS INSERT INTO stream [(columns)] SELECT [STREAM] ...`:
    /// a named continuous INSERT.
    mutating func parsePump(orReplace: Bool) throws(ParseError) -> StatementKind {
        advance()  // PUMP
        let name = try parseIdentifier("a pump name")
        try expect(.AS, "after the pump's name (CREATE PUMP name AS INSERT INTO ...)")
        guard at(.INSERT) else { throw unexpected(expecting: ["INSERT INTO"], context: "(a pump inserts a query's rows into a stream)") }
        var insert = try parseInsert()
        insert.pump = name
        insert.orReplace = orReplace
        return .insert(insert)
    }

    /// `CREATE ALERT name [SEVERITY 's'] AS query FIRE WHEN (cond | SILENT FOR interval) [RESOLVE WHEN cond] [PER a, b]
    ///  [COOLDOWN interval] [SEVERITY 's'] [MESSAGE 'text'] [NOTIFY 'target', ...]`, clauses in any order.
    mutating func parseAlert(orReplace: Bool) throws(ParseError) -> CreateAlert {
        let name = try parseIdentifier("an alert name")
        var locs = ClauseLocations()
        var severity: StringLiteral? = nil
        if at(.SEVERITY) {
            locs.spans["SEVERITY"] = current.span
            advance()
            severity = try parseString("a severity such as 'critical'")
        }
        try expect(.AS, "before the alert's query")
        guard at(.SELECT) else { throw unexpected(expecting: ["SELECT"], context: "after AS") }
        let query = try parseQuery()
        var fire: Expr? = nil, resolve: Expr? = nil, silentFor: IntervalLiteral? = nil
        var per: [Identifier] = [], cooldown: IntervalLiteral? = nil, message: StringLiteral? = nil, notify: [StringLiteral] = []
        var seen = Set<String>()
        if severity != nil { seen.insert("SEVERITY") }
        clauses: while true {
            let clauseStart = current
            let word: String
            switch current.kind {
            case .keyword(let k) where [.FIRE, .RESOLVE, .PER, .COOLDOWN, .SEVERITY, .MESSAGE, .NOTIFY].contains(k): word = k.rawValue
            default: break clauses
            }
            if !seen.insert(word).inserted { throw error("\(word) is given twice", id: "syntax.duplicate-clause") }
            locs.spans[word] = clauseStart.span
            advance()
            switch word {
            case "FIRE":
                try expect(.WHEN, "after FIRE")
                if at(.SILENT) && peek().kind == .keyword(.FOR) {
                    advance()
                    advance()
                    silentFor = try parseIntervalLiteral()
                } else {
                    fire = try parseExpr()
                }
            case "RESOLVE":
                try expect(.WHEN, "after RESOLVE")
                resolve = try parseExpr()
            case "PER":
                repeat { per.append(try parseIdentifier("a column name")) } while eat(.comma)
            case "COOLDOWN": cooldown = try parseIntervalLiteral()
            case "SEVERITY": severity = try parseString("a severity such as 'critical'")
            case "MESSAGE": message = try parseString("a message template")
            default:
                repeat { notify.append(try parseString("a target such as 'file:out/alerts.jsonl'")) } while eat(.comma)
            }
        }
        guard fire != nil || silentFor != nil else {
            throw unexpected(expecting: ["FIRE WHEN", "RESOLVE WHEN", "PER", "COOLDOWN", "SEVERITY", "MESSAGE", "NOTIFY"], context: "(an alert needs FIRE WHEN)")
        }
        return CreateAlert(orReplace: orReplace, name: name, severity: severity, query: query, fireWhen: fire, silentFor: silentFor, resolveWhen: resolve,
                           per: per, cooldown: cooldown, message: message, notify: notify, clauseLocs: locs)
    }
}

extension ParseError {
    func withHelp(_ help: String?) -> ParseError {
        guard let h = help else { return self }
        var e = self
        e.diagnostic?.help = h
        return e
    }
}
