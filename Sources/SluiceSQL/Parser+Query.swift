import SluiceCore

extension Parser {
    /// `SELECT [DISTINCT | ALL] items [FROM ...] [WHERE ...] [GROUP BY ...] [HAVING ...]
    /// [UNION ALL SELECT ... (to HAVING)]... [EMIT ...] [LIMIT n]`
    mutating func parseQuery() throws(ParseError) -> Query {
        try enter()
        defer { leave() }
        let start = current.span.start
        var q = try parseSelectCore()
        while at(.UNION) {
            advance()
            guard eat(.ALL) else {
                throw error("UNION without ALL (which removes duplicates) is not supported: a stream never ends, so a row could never be known new",
                            id: "syntax.unsupported", help: "UNION ALL keeps every row of both queries")
            }
            q.unionAll.append(try parseSelectCore())
        }
        if at(.EMIT) {
            q.clauseLocs.spans["EMIT"] = current.span
            advance()
            if eat(.FINAL) {
                q.emit = .final
            } else if eat(.CHANGES) {
                q.emit = .changes(every: eat(.EVERY) ? try parseIntervalLiteral() : nil)
            } else {
                throw unexpected(expecting: ["FINAL", "CHANGES"], context: "after EMIT")
            }
        }
        if at(.LIMIT) {
            q.clauseLocs.spans["LIMIT"] = current.span
            advance()
            q.limit = try parseInteger("a row count")
        }
        if at(.ORDER) && dialect == .kda {
            q = try parseKDAOrderBy(q)
        }
        if at(.ORDER) {
            throw error("ORDER BY is not supported on a stream", id: "syntax.unsupported",
                        help: "rows of one watermark advance come in (window_end, key) order; a window OVER (...) may ORDER BY")
        }
        if at(.UNION) {
            throw error("UNION ALL comes before EMIT and LIMIT, which apply to the whole union", id: "syntax.clause-order")
        }
        if at(.WHERE) || at(.GROUP) || at(.HAVING) || at(.FROM) || at(.EMIT) || at(.LIMIT) {
            throw error("\(describe(current)) is out of place: the clauses go SELECT, FROM, WHERE, GROUP BY, HAVING, UNION ALL, EMIT, LIMIT",
                        id: "syntax.clause-order")
        }
        q.loc = span(from: start)
        return q
    }

    /// One SELECT, through HAVING.
    private mutating func parseSelectCore() throws(ParseError) -> Query {
        let start = current.span.start
        try expect(.SELECT)
        // KDA writes SELECT STREAM for a continuous query; every Sluice query is one.
        if dialect == .kda, at(.STREAM), !(peek().kind == .punct(.comma) || peek().kind == .keyword(.FROM)) { advance() }
        var locs = ClauseLocations()
        var distinct = false
        if eat(.DISTINCT) { distinct = true } else { _ = eat(.ALL) }
        // KDA's WINDOW clause stands after the clauses that use its names: read it first.
        let outerWindows = namedWindows
        defer { namedWindows = outerWindows }
        if dialect == .kda { try readNamedWindows() }
        var items: [SelectItem] = []
        repeat { items += try parseKDASelectItems() } while eat(.comma)
        var from: FromItem? = nil
        var comma: SourceSpan? = nil
        if at(.FROM) {
            locs.spans["FROM"] = current.span
            advance()
            from = try parseFromClause()
            comma = commaJoin
        }
        var whereClause: Expr? = nil
        if at(.WHERE) {
            locs.spans["WHERE"] = current.span
            advance()
            whereClause = try parseExpr()
        }
        if let at = comma, case .join(var j)? = from {
            // KDA's comma join: its WHERE is the join's condition.
            guard let w = whereClause else {
                throw error("a comma join's condition is its WHERE: FROM a, b WHERE a.ROWTIME = b.ROWTIME AND ...", id: "syntax.unsupported", at: at,
                            help: "add WHERE with the condition the rows meet on, or write JOIN ... ON ...")
            }
            j.condition = w
            from = .join(j)
            whereClause = nil
        }
        var groupBy: [Expr] = []
        if atWindowedBy {
            // KDA's WINDOWED BY STAGGER (PARTITION BY keys RANGE INTERVAL ...): the stagger window
            // as Sluice writes it, FROM STAGGER(rel PARTITION BY keys, ROWTIME, SIZE ...) grouped
            // by the window and the keys; ROWTIME in the select list is the window's end.
            let at = current.span
            advance()
            try expect(.BY, "after WINDOWED")
            guard eat(.STAGGER) else { throw unexpected(expecting: ["STAGGER"], context: "after WINDOWED BY") }
            try expect(.leftParen, "after STAGGER")
            try expect(.PARTITION, "in WINDOWED BY STAGGER (PARTITION BY ... RANGE INTERVAL ...)")
            try expect(.BY, "after PARTITION")
            var keys: [Expr] = []
            repeat { keys.append(try parseExpr()) } while eat(.comma)
            try expect(.RANGE, "after the PARTITION BY keys: STAGGER (PARTITION BY ... RANGE INTERVAL ...)")
            let size = try parseIntervalLiteral()
            try expect(.rightParen, "to close STAGGER (...)")
            guard case .relation(let name, let alias, let loc)? = from else {
                throw error("WINDOWED BY STAGGER reads one stream: FROM stream [AS alias] WINDOWED BY STAGGER (...)", id: "syntax.stagger-from",
                            at: at, help: "read a join or a subquery into an in-application stream with a pump first")
            }
            let time = Expr(.column(qualifier: nil, name: Identifier("ROWTIME")), loc)
            from = .window(.stagger(relation: .relation(name: name, alias: nil, loc: loc), partitionBy: keys, timeColumn: time, size: size), alias: alias ?? name, loc: loc)
            let start = Expr(.column(qualifier: nil, name: Identifier("window_start")), loc)
            let end = Expr(.column(qualifier: nil, name: Identifier("window_end")), loc)
            groupBy = [start, end] + keys
            items = items.map { item in
                guard case .expression(let e, let a, let l) = item, case .column(_, let n) = e.kind, !n.quoted, n.name.uppercased() == "ROWTIME" else { return item }
                return .expression(end, alias: a ?? Identifier(n.name, quoted: true), loc: l)
            }
        }
        if at(.GROUP) {
            locs.spans["GROUP BY"] = current.span
            advance()
            try expect(.BY, "after GROUP")
            repeat { groupBy.append(try parseExpr()) } while eat(.comma)
        }
        var having: Expr? = nil
        if at(.HAVING) {
            locs.spans["HAVING"] = current.span
            advance()
            having = try parseExpr()
        }
        if atNamedWindows { _ = try parseNamedWindows() }  // read already, before the items
        if at(.WHERE) || at(.GROUP) || at(.HAVING) || at(.FROM) {
            throw error("\(describe(current)) is out of place: the clauses go SELECT, FROM, WHERE, GROUP BY, HAVING, UNION ALL, EMIT, LIMIT",
                        id: "syntax.clause-order")
        }
        return Query(distinct: distinct, items: items, from: from, whereClause: whereClause, groupBy: groupBy, having: having,
                     emit: nil, limit: nil, loc: span(from: start), clauseLocs: locs)
    }

    /// KDA's streaming `ORDER BY time_key, k2 [DESC], ...`: the rows of each interval of the
    /// leading time key in the order of the other keys. After a streaming GROUP BY, each group's
    /// rows (they leave together when its interval closes); the leading key is the GROUP BY's time
    /// key (`STEP(s.ROWTIME BY ...)`, `FLOOR(s.ROWTIME TO ...)`) or ROWTIME. Over plain rows, the
    /// leading key is `ROWTIME` (rows of one instant), `FLOOR(ROWTIME TO unit)` or
    /// `STEP(ROWTIME BY INTERVAL ...)`, and the rows of each such interval leave, sorted, once
    /// ROWTIME has passed it. Read as the Sluice query it amounts to: the query's columns (`C1`...),
    /// ranked per group or interval with ROW_NUMBER over the other keys, taken in that order. The
    /// other keys are select items, by position, alias or expression.
    mutating func parseKDAOrderBy(_ q: Query) throws(ParseError) -> Query {
        let at = current.span
        advance()
        try expect(.BY, "after ORDER")
        var keys: [(Expr, Bool)] = []
        repeat {
            let e = try parseExpr()
            if eat(.DESC) { keys.append((e, true)) } else { _ = eat(.ASC); keys.append((e, false)) }
        } while eat(.comma)
        func refuse(_ m: String) -> ParseError {
            error(m, id: "syntax.kda-order-by", at: at,
                  help: "ORDER BY STEP(s.ROWTIME BY INTERVAL '1' MINUTE), 2 DESC after GROUP BY ..., STEP(s.ROWTIME BY INTERVAL '1' MINUTE) orders each minute's rows")
        }
        guard q.unionAll.isEmpty, !q.distinct else {
            throw refuse("a streaming ORDER BY orders the rows of one query, without UNION ALL or DISTINCT")
        }
        if text(current).uppercased() == "WITHIN" {
            throw refuse("ORDER BY ... WITHIN (re-sorting rows that come out of order) is not run: a stream's rows come in ROWTIME order")
        }
        func isRowtime(_ e: Expr) -> Bool { if case .column(_, let n) = e.kind { return n.name.uppercased() == "ROWTIME" } else { return false } }
        let lead = keys[0].0  // at least one: read by the repeat above
        // Over plain rows: the interval of ROWTIME the leading key gives, which says when rows leave.
        var interval: IntervalLiteral? = nil
        if q.groupBy.isEmpty {
            switch lead.kind {
            case .column where isRowtime(lead): interval = IntervalLiteral(value: "1", unit: .millisecond, loc: lead.loc)
            case .floorTo(let t, let unit) where isRowtime(t) && [.second, .minute, .hour, .day].contains(unit):
                interval = IntervalLiteral(value: "1", unit: unit, loc: lead.loc)
            case .function(let f) where f.name.name.uppercased() == "STEP" && f.arguments.count == 2 && isRowtime(f.arguments[0]):
                if case .literal(.interval(let i)) = f.arguments[1].kind { interval = i }
            default: break
            }
            guard interval != nil else {
                throw refuse("a streaming ORDER BY begins with ROWTIME, FLOOR(ROWTIME TO unit) or STEP(ROWTIME BY INTERVAL ...), which says when rows leave")
            }
        } else if !(q.groupBy.contains(lead) || isRowtime(lead)) {
            throw refuse("a streaming ORDER BY begins with the GROUP BY's time key (STEP or FLOOR of ROWTIME), which says when a group's rows leave")
        }
        // The time key alone: the rows' own order.
        if keys.count == 1 { return q }
        let loc = q.loc
        func name(_ k: Int) -> Identifier { Identifier("C\(k + 1)", quoted: true, loc: loc) }
        func column(_ i: Identifier) -> Expr { Expr(.column(qualifier: nil, name: i), loc) }
        // `SELECT *` over plain rows: the keys are the rows' columns, and the helpers go from `*`.
        let starred = q.items.contains { if case .wildcard = $0 { return true } else { return false } }
        // The grouped query with its columns named C1..Cn and its rows' time (the group's end).
        var inner = q
        var order: [OrderItem] = []
        for (key, descending) in keys.dropFirst() where starred {
            if case .literal(.number) = key.kind { throw refuse("ORDER BY a position needs the query's columns written out, not *") }
            order.append(OrderItem(key, descending: descending))
        }
        for (key, descending) in keys.dropFirst() where !starred {
            var found: Int? = nil
            if case .literal(.number(let n)) = key.kind, let k = Int(n), k >= 1, k <= q.items.count { found = k - 1 }
            for (k, item) in q.items.enumerated() where found == nil {
                guard case .expression(let e, let alias, _) = item else { continue }
                if e == key { found = k }
                if case .column(nil, let n) = key.kind, let a = alias, a.name.uppercased() == n.name.uppercased() { found = k }
            }
            guard let k = found else { throw refuse("ORDER BY \(Printer.expr(key)) is not one of the query's columns (by position, alias or expression)") }
            order.append(OrderItem(column(name(k)), descending: descending))
        }
        if !starred {
            inner.items = q.items.enumerated().map { k, item in
                guard case .expression(let e, _, let l) = item else { return item }
                return .expression(e, alias: name(k), loc: l)
            }
        }
        inner.items.append(.expression(column(Identifier("ROWTIME")), alias: Identifier("ROWTIME", quoted: true), loc: loc))
        let rank = Identifier("KDA_ORDER", quoted: true, loc: loc)
        // A group's rows share its ROWTIME; plain rows go into windows of the leading key's interval.
        var from = FromItem.subquery(inner, alias: nil, loc: loc)
        var group = column(Identifier("ROWTIME"))
        if let size = interval {
            from = .window(.tumble(relation: from, timeColumn: column(Identifier("ROWTIME")), size: size), alias: nil, loc: loc)
            group = column(Identifier("window_end"))
        }
        let over = OverClause(partitionBy: [group], orderBy: order, frame: nil, loc: loc)
        let ranking = Expr(.function(FunctionCall(name: Identifier("ROW_NUMBER", loc: loc), arguments: [], distinct: false, star: false, over: over)), loc)
        let middle = Query(distinct: false, items: [.wildcard(qualifier: nil, loc: loc), .expression(column(Identifier("ROWTIME")), alias: nil, loc: loc),
                                                      .expression(ranking, alias: rank, loc: loc)],
                           from: from, whereClause: nil, groupBy: [], having: nil, emit: nil, limit: nil, loc: loc, clauseLocs: ClauseLocations())
        let all = Expr(.binary(.le, column(rank), Expr(.literal(.number("1000000000")), loc)), loc)
        let helpers = ["window_start", "window_end", "window_time"].map { Identifier($0, loc: loc) } + [rank]
        let items: [SelectItem] = starred ? [.wildcard(qualifier: nil, exclude: helpers, loc: loc)] : q.items.indices.map { .expression(column(name($0)), alias: nil, loc: loc) }
        return Query(distinct: false, items: items,
                     from: .subquery(middle, alias: nil, loc: loc), whereClause: all, groupBy: [], having: nil, emit: nil, limit: nil, loc: loc, clauseLocs: ClauseLocations())
    }

    /// At KDA's `WINDOWED BY`.
    var atWindowedBy: Bool {
        dialect == .kda && text(current).uppercased() == "WINDOWED" && peek().kind == .keyword(.BY)
    }

    /// At KDA's `WINDOW name AS (`.
    var atNamedWindows: Bool {
        dialect == .kda && current.kind == .identifier && text(current).uppercased() == "WINDOW" && peek(2).kind == .keyword(.AS)
    }

    /// `WINDOW name AS (spec) [, name AS (spec)]`: the definitions, by upper-cased name.
    mutating func parseNamedWindows() throws(ParseError) -> [String: OverClause] {
        advance()  // WINDOW
        var defs: [String: OverClause] = [:]
        repeat {
            let name = try parseIdentifier("a window name")
            try expect(.AS, "after the window's name")
            defs[name.name.uppercased()] = try parseOverSpec(start: current.span.start)
        } while eat(.comma)
        return defs
    }

    /// Finds this SELECT's WINDOW clause (at its own level of parentheses, before the statement
    /// ends) and reads its definitions, then comes back.
    mutating func readNamedWindows() throws(ParseError) {
        let saved = pos, savedEnd = lastEnd
        var depth = 0
        while current.kind != .eof {
            switch current.kind {
            case .punct(.leftParen): depth += 1
            case .punct(.rightParen):
                depth -= 1
                if depth < 0 { pos = saved; lastEnd = savedEnd; return }
            case .punct(.semicolon): pos = saved; lastEnd = savedEnd; return
            default:
                if depth == 0 && atNamedWindows {
                    let defs = try parseNamedWindows()
                    namedWindows.merge(defs) { _, new in new }
                    pos = saved
                    lastEnd = savedEnd
                    return
                }
            }
            advance()
        }
        pos = saved
        lastEnd = savedEnd
    }

    mutating func parseSelectItem() throws(ParseError) -> SelectItem {
        let start = current.span.start
        if eat(.star) { return .wildcard(qualifier: nil, exclude: try parseExclude(), loc: span(from: start)) }
        if atIdentifier && peek().kind == .punct(.dot) && peek(2).kind == .punct(.star) {
            let q = try parseIdentifier()
            advance()
            advance()
            return .wildcard(qualifier: q, exclude: try parseExclude(), loc: span(from: start))
        }
        if at(.FROM) { throw unexpected(expecting: ["an expression or *"], context: "after SELECT") }
        let e = try parseExpr()
        let alias = try parseAlias()
        return .expression(e, alias: alias, loc: span(from: start))
    }

    /// After `*` or `c.*`: `EXCLUDE (a, b)`, the columns it leaves out (none without it).
    mutating func parseExclude() throws(ParseError) -> [Identifier] {
        guard current.kind == .identifier, text(current).uppercased() == "EXCLUDE", peek().kind == .punct(.leftParen) else { return [] }
        advance()
        advance()
        var names: [Identifier] = []
        repeat { names.append(try parseIdentifier("a column name")) } while eat(.comma)
        try expect(.rightParen, "to close EXCLUDE (...)")
        return names
    }

    /// `[AS] alias`
    mutating func parseAlias() throws(ParseError) -> Identifier? {
        if eat(.AS) { return try parseIdentifier("an alias") }
        // ksqlDB's `WINDOW TUMBLING (SIZE ...)` after FROM: not an alias named WINDOW.
        if atNamedWindows { return nil }
        if text(current).uppercased() == "WINDOW", case .identifier = peek().kind,
           ["TUMBLING", "HOPPING", "SESSION"].contains(text(peek()).uppercased()) {
            throw error("WINDOW \(text(peek()).uppercased()) is ksqlDB's window clause; Sluice puts the window in FROM", id: "syntax.foreign-window",
                        help: "write FROM TUMBLE(stream, ts, INTERVAL '1' MINUTE) (or HOP(..., SIZE ..., ADVANCE ...), SESSION(..., INTERVAL ...)) and GROUP BY window_start, window_end, ...")
        }
        if atBareAlias {
            lastBareAlias = current
            return try parseIdentifier()
        }
        return nil
    }

    /// A FROM item followed by any number of joins.
    mutating func parseFromClause() throws(ParseError) -> FromItem {
        joinWindow = nil
        var left = try parseFromItem()
        var leftWindow = joinWindow
        joinWindow = nil
        commaJoin = nil
        while true {
            let start = current.span.start
            let kind: Join.Kind
            if dialect == .kda && at(.comma) && leftWindow == nil {
                // KDA's `FROM a, b WHERE ...`: an inner join whose condition is the WHERE (read
                // later, by parseSelect); one comma, two relations.
                let at = current.span
                guard !isJoin(left) else {
                    throw error("a comma join reads two relations: FROM a, b WHERE ...", id: "syntax.unsupported", at: at, help: "write JOIN ... ON ... for more")
                }
                advance()
                let right = try parseFromItem()
                if let (_, w) = joinWindow { throw error("KDA's windowed join is written FROM a OVER (...) JOIN b ON ...", id: "syntax.kda-not-yet", at: w) }
                if self.at(.comma) || self.at(.JOIN) || self.at(.INNER) || self.at(.LEFT) || self.at(.RIGHT) || self.at(.FULL) {
                    throw error("a comma join reads two relations: FROM a, b WHERE ...", id: "syntax.unsupported", help: "write JOIN ... ON ... for more")
                }
                commaJoin = at
                return .join(Join(kind: .inner, left: left, right: right, condition: Expr(.literal(.bool(true)), NodeSpan(at)), loc: span(from: start)))
            }
            if eat(.JOIN) {
                kind = .inner
            } else if at(.INNER) {
                advance()
                try expect(.JOIN, "after INNER")
                kind = .inner
            } else if at(.LEFT) || at(.RIGHT) || at(.FULL) {
                kind = at(.LEFT) ? .left : at(.RIGHT) ? .right : .full
                advance()
                _ = eat(.OUTER)
                try expect(.JOIN)
            } else if at(.CROSS) {
                throw error("CROSS JOIN is not supported", id: "syntax.unsupported", help: "join with a condition: JOIN ... ON ...")
            } else if at(.comma) {
                throw error("a comma join is not supported", id: "syntax.unsupported", help: "write JOIN ... ON ...")
            } else {
                if let (_, at) = leftWindow {
                    throw error("a window on a FROM stream belongs to KDA's windowed join: FROM s OVER (...) AS a JOIN t AS b ON ...", id: "syntax.kda-not-yet", at: at,
                                help: "windows over rows go in the SELECT list: AVG(x) OVER (RANGE INTERVAL '1' MINUTE PRECEDING)")
                }
                return left
            }
            joinWindow = nil
            let right = try parseFromItem()
            let rightWindow = joinWindow
            joinWindow = nil
            try expect(.ON, "(a join needs ON condition)")
            var cond = try parseExpr()
            if leftWindow != nil || rightWindow != nil {
                // A windowed side's rows meet the other side's current row within its window: the
                // left's time in [right's - left window, right's + right window], Sluice's interval join.
                guard let l = Parser.qualifier(of: left), let r = Parser.qualifier(of: right) else {
                    throw error("KDA's windowed join reads two streams by name", id: "syntax.kda-not-yet", at: (leftWindow ?? rightWindow)!.1)
                }
                let loc = cond.loc
                func time(_ q: Identifier) -> Expr { Expr(.column(qualifier: q, name: Identifier("ROWTIME")), loc) }
                func shifted(_ e: Expr, _ op: BinaryOperator, _ w: IntervalLiteral?) -> Expr {
                    guard let w else { return e }
                    return Expr(.binary(op, e, Expr(.literal(.interval(w)), loc)), loc)
                }
                let within = Expr(.between(time(l), low: shifted(time(r), .subtract, leftWindow?.0), high: shifted(time(r), .add, rightWindow?.0), negated: false), loc)
                cond = Expr(.binary(.and, cond, within), loc)
            }
            var join = Join(kind: kind, left: left, right: right, condition: cond, loc: span(from: start))
            if leftWindow != nil || rightWindow != nil { join.kdaWindows = KDAJoinWindows(left: leftWindow?.0, right: rightWindow?.0) }
            leftWindow = nil
            left = .join(join)
        }
    }

    private func isJoin(_ f: FromItem) -> Bool { if case .join = f { return true } else { return false } }

    /// The name a FROM item's columns are qualified by (its alias, else its stream's name).
    public static func qualifier(of f: FromItem) -> Identifier? {
        if case .relation(let n, let a, _) = f { return a ?? n }
        return nil
    }

    mutating func parseFromItem() throws(ParseError) -> FromItem {
        try enter()
        defer { leave() }
        let start = current.span.start
        if eat(.leftParen) {
            guard at(.SELECT) else { throw unexpected(expecting: ["SELECT"], context: "after '(' in FROM") }
            var q = try parseQuery()
            try expect(.rightParen, "to close the subquery")
            let alias = try parseAlias()
            if dialect == .kda, alias != nil, eat(.leftParen) {
                // KDA's `AS t(a, b)`: the subquery's columns renamed.
                var names: [Identifier] = []
                repeat { names.append(try parseIdentifier("a column name")) } while eat(.comma)
                try expect(.rightParen, "to close the column names")
                q = Parser.renamed(q, names)
            }
            return .subquery(q, alias: alias, loc: span(from: start))
        }
        if peek().kind == .punct(.leftParen) {
            switch current.kind {
            case .keyword(.TUMBLE), .keyword(.HOP), .keyword(.SESSION), .keyword(.STAGGER):
                let w = try parseWindowFunction()
                return .window(w, alias: try parseAlias(), loc: span(from: start))
            case .keyword(.RANDOM_CUT_FOREST), .keyword(.RANDOM_CUT_FOREST_WITH_EXPLANATION), .keyword(.FLAT_LINE), .keyword(.HOTSPOTS):
                let a = try parseAnomalyFunction()
                return .anomaly(a, alias: try parseAlias(), loc: span(from: start))
            case .keyword(.TABLE) where dialect == .kda && [.keyword(.RANDOM_CUT_FOREST), .keyword(.RANDOM_CUT_FOREST_WITH_EXPLANATION)].contains(peek(2).kind):
                return try parseKDAForest()
            case .keyword(.TABLE) where dialect == .kda && peek(2).kind == .identifier
                && ["TOP_K_ITEMS_TUMBLING", "COUNT_DISTINCT_ITEMS_TUMBLING"].contains(text(peek(2)).uppercased()):
                return try parseKDATumblingItems()
            case .keyword(.TABLE) where dialect == .kda && peek(2).kind == .keyword(.HOTSPOTS):
                return try parseKDAHotspots()
            case .keyword(.TABLE) where dialect == .kda && peek(2).kind == .identifier && text(peek(2)).uppercased() == "GROUP_RANK":
                return try parseKDAGroupRank()
            case .keyword(.TABLE) where peek(2).kind == .keyword(.TUMBLE) || peek(2).kind == .keyword(.HOP) || peek(2).kind == .keyword(.SESSION):
                throw error("TABLE(\(text(peek(2)).uppercased())(TABLE ..., DESCRIPTOR(...), ...)) is Flink's form of a window table function", id: "syntax.foreign-window",
                            help: "Sluice writes FROM TUMBLE(stream, ts, INTERVAL '1' MINUTE): the stream and its time column by name, no TABLE or DESCRIPTOR")
            case .identifier:
                throw error("\(text(current)) is not a table function", id: "syntax.unknown-table-function",
                            help: closestMatch(text(current), in: ["TUMBLE", "HOP", "SESSION", "STAGGER", "RANDOM_CUT_FOREST", "RANDOM_CUT_FOREST_WITH_EXPLANATION", "FLAT_LINE"])
                                .map { "did you mean \($0)?" } ?? "the table functions are TUMBLE, HOP, SESSION, STAGGER, RANDOM_CUT_FOREST and FLAT_LINE")
            default: break
            }
        }
        let name = try parseIdentifier("a stream or table name")
        if dialect == .kda && at(.OVER) {
            // KDA's windowed join side: `FROM s OVER (RANGE INTERVAL ... PRECEDING) AS a JOIN ...`.
            let overStart = current.span
            let over = try parseOver()
            guard case .range(let size)? = over.frame, over.partitionBy.isEmpty else {
                throw error("a stream's window in a KDA join is RANGE INTERVAL ... PRECEDING", id: "syntax.kda-not-yet", at: overStart,
                            help: "ROWS windows and PARTITION BY on a join side are not run; write OVER (RANGE INTERVAL '1' MINUTE PRECEDING)")
            }
            joinWindow = (size, overStart)
        }
        return .relation(name: name, alias: try parseAlias(), loc: span(from: start))
    }

    /// The relation argument of a table function: a name or a parenthesized query.
    mutating func parseRelationArgument() throws(ParseError) -> FromItem {
        let start = current.span.start
        if eat(.leftParen) {
            guard at(.SELECT) else { throw unexpected(expecting: ["SELECT"], context: "after '('") }
            let q = try parseQuery()
            try expect(.rightParen, "to close the subquery")
            return .subquery(q, alias: nil, loc: span(from: start))
        }
        return .relation(name: try parseIdentifier("a stream name"), alias: nil, loc: span(from: start))
    }

    mutating func parseWindowFunction() throws(ParseError) -> WindowFunction {
        guard case .keyword(let fn) = current.kind else { throw unexpected(expecting: ["TUMBLE", "HOP", "SESSION"]) }
        advance()
        try expect(.leftParen)
        let relation = try parseRelationArgument()
        var partitionBy: [Expr] = []
        if fn == .SESSION || fn == .STAGGER {
            let last: Keyword = fn == .SESSION ? .GAP : .SIZE
            guard eat(.PARTITION) else {
                throw unexpected(expecting: ["PARTITION BY"], context: "after the relation: \(fn.rawValue)(rel PARTITION BY key, time_col, \(last.rawValue) interval)")
            }
            try expect(.BY, "after PARTITION")
            repeat { partitionBy.append(try parseExpr()) } while at(.comma) && !timeColumnFollows(before: last) && eat(.comma)
        }
        try expect(.comma, "after the relation")
        let timeColumn = try parseExpr()
        try expect(.comma, "after the time column")
        func named(_ k: Keyword, _ usage: String) throws(ParseError) -> IntervalLiteral {
            guard eat(k) else {
                if at(.INTERVAL) {
                    throw error("\(fn.rawValue) takes named arguments: \(usage)", id: "syntax.named-argument-required",
                                help: "write \(k.rawValue) before the interval (positional order differs between engines)")
                }
                throw unexpected(expecting: [k.rawValue], context: "in \(usage)")
            }
            return try parseIntervalLiteral()
        }
        let w: WindowFunction
        switch fn {
        case .TUMBLE:
            _ = eat(.SIZE)
            w = .tumble(relation: relation, timeColumn: timeColumn, size: try parseIntervalLiteral())
        case .HOP:
            let usage = "HOP(rel, time_col, SIZE INTERVAL ..., ADVANCE INTERVAL ...)"
            let size = try named(.SIZE, usage)
            try expect(.comma, "after SIZE")
            let advance = try named(.ADVANCE, usage)
            w = .hop(relation: relation, timeColumn: timeColumn, size: size, advance: advance)
        case .STAGGER:
            let size = try named(.SIZE, "STAGGER(rel PARTITION BY key, time_col, SIZE INTERVAL ...)")
            w = .stagger(relation: relation, partitionBy: partitionBy, timeColumn: timeColumn, size: size)
        default:
            let gap = try named(.GAP, "SESSION(rel PARTITION BY key, time_col, GAP INTERVAL ...)")
            w = .session(relation: relation, partitionBy: partitionBy, timeColumn: timeColumn, gap: gap)
        }
        try expect(.rightParen, "to close \(fn.rawValue)(...)")
        return w
    }

    /// In `SESSION(rel PARTITION BY a, b, ts, GAP ...)` (`STAGGER(..., SIZE ...)`), the time column
    /// is the last expression before `GAP`: a comma followed by `expr , GAP` ends the partition keys.
    private func timeColumnFollows(before last: Keyword) -> Bool {
        // Look past ", <expr tokens...> ," for GAP at nesting level 0.
        var i = pos + 1
        var level = 0
        while i < tokens.count {
            switch tokens[i].kind {
            case .punct(.leftParen): level += 1
            case .punct(.rightParen):
                if level == 0 { return false }
                level -= 1
            case .punct(.comma) where level == 0:
                return tokens[min(i + 1, tokens.count - 1)].kind == .keyword(last)
            case .eof, .punct(.semicolon): return false
            default: break
            }
            i += 1
        }
        return false
    }

    /// `RANDOM_CUT_FOREST[_WITH_EXPLANATION](rel, COLUMNS (a, b), PARTITION BY k, name => value, ...)`,
    /// `FLAT_LINE(...)` alike.
    mutating func parseAnomalyFunction() throws(ParseError) -> AnomalyFunction {
        let explain = at(.RANDOM_CUT_FOREST_WITH_EXPLANATION)
        let detector: AnomalyFunction.Detector = at(.FLAT_LINE) ? .flatLine : at(.HOTSPOTS) ? .hotspots : .randomCutForest
        advance()
        try expect(.leftParen)
        let relation = try parseRelationArgument()
        var columns: [Identifier] = []
        var partitionBy: [Expr] = []
        var parameters: [NamedArgument] = []
        var sawColumns = false, sawPartition = false
        while eat(.comma) {
            if at(.COLUMNS) && peek().kind == .punct(.leftParen) {
                if sawColumns { throw error("COLUMNS is given twice", id: "syntax.duplicate-clause") }
                sawColumns = true
                advance()
                advance()
                repeat { columns.append(try parseIdentifier("a column name")) } while eat(.comma)
                try expect(.rightParen, "to close COLUMNS (...)")
            } else if at(.PARTITION) {
                if sawPartition { throw error("PARTITION BY is given twice", id: "syntax.duplicate-clause") }
                sawPartition = true
                advance()
                try expect(.BY, "after PARTITION")
                partitionBy.append(try parseExpr())
                while at(.comma) && !namedArgumentFollows(1) && peek().kind != .keyword(.COLUMNS) {
                    advance()
                    partitionBy.append(try parseExpr())
                }
            } else if namedArgumentFollows(0) {
                let name = try parseIdentifier("a parameter name")
                if parameters.contains(where: { $0.name.name.lowercased() == name.name.lowercased() }) {
                    throw error("parameter '\(name.name)' is given twice", id: "syntax.duplicate-option", at: name.loc.span)
                }
                try expect(.arrow)
                parameters.append(NamedArgument(name: name, value: try parseExpr()))
            } else {
                throw unexpected(expecting: ["COLUMNS (...)", "PARTITION BY", "a parameter such as trees => 100"])
            }
        }
        try expect(.rightParen, "to close the function's arguments")
        return AnomalyFunction(detector: detector, withExplanation: explain, relation: relation, columns: columns, partitionBy: partitionBy, parameters: parameters)
    }

    /// KDA's `TABLE(RANDOM_CUT_FOREST[_WITH_EXPLANATION](CURSOR(query), numberOfTrees, subSampleSize,
    /// timeDecay, shingleSize[, directionality]))`: the parameters by position, as constants (KDA's
    /// timeDecay counts rows, so its forest's decay is 1 / timeDecay), scored by the depth score.
    mutating func parseKDAForest() throws(ParseError) -> FromItem {
        let start = current.span.start
        let explain = peek(2).kind == .keyword(.RANDOM_CUT_FOREST_WITH_EXPLANATION)
        let function = explain ? "RANDOM_CUT_FOREST_WITH_EXPLANATION" : "RANDOM_CUT_FOREST"
        let (query, cursorLoc) = try openKDATableFunction(function)
        let names = ["numberOfTrees", "subSampleSize", "timeDecay", "shingleSize"] + (explain ? ["directionality"] : [])
        var parameters: [NamedArgument] = []
        var k = 0
        while eat(.comma) {
            let at = current.span
            let e = try parseExpr()
            guard k < names.count else { throw error("\(function) takes at most \(names.count) parameters after the CURSOR: \(names.joined(separator: ", "))", at: at) }
            defer { k += 1 }
            if names[k] == "directionality" {
                guard case .literal(.bool) = e.kind else { throw error("directionality is TRUE or FALSE", at: at) }
                continue  // Sluice's explanation always gives each column's direction
            }
            guard case .literal(.number(let n)) = e.kind, let v = Double(n), v > 0 else {
                throw error("\(names[k]) is a positive number written as a constant", at: at)
            }
            let name = ["trees", "sample_size", "time_decay", "shingle"][k]
            let value = name == "time_decay" ? String(1 / v) : n
            parameters.append(NamedArgument(name: Identifier(name, loc: NodeSpan(at)), value: Expr(.literal(.number(value)), NodeSpan(at))))
        }
        try expect(.rightParen, "to close \(function)(...)")
        try expect(.rightParen, "to close TABLE(...)")
        parameters.append(NamedArgument(name: Identifier("score"), value: Expr(.literal(.string("depth")))))
        let alias = try parseAlias()
        let f = AnomalyFunction(detector: .randomCutForest, withExplanation: explain, relation: .subquery(query, alias: nil, loc: cursorLoc),
                                columns: [], partitionBy: [], parameters: parameters, kda: true)
        return .anomaly(f, alias: alias, loc: span(from: start))
    }

    /// A KDA CURSOR argument: `CURSOR(SELECT STREAM ...)`, its query and where it stands.
    private mutating func parseCursor(_ function: String) throws(ParseError) -> (Query, NodeSpan) {
        guard current.kind == .identifier, text(current).uppercased() == "CURSOR", peek().kind == .punct(.leftParen) else {
            throw unexpected(expecting: ["CURSOR(SELECT STREAM ...)"], context: "(KDA's \(function) reads a CURSOR)")
        }
        let cursorStart = current.span.start
        advance()
        advance()
        guard at(.SELECT) else { throw unexpected(expecting: ["SELECT"], context: "inside CURSOR(...)") }
        let query = try parseQuery()
        try expect(.rightParen, "to close CURSOR(...)")
        return (query, span(from: cursorStart))
    }

    /// `TABLE(fn(CURSOR(query)`, the opening every KDA table function shares (at TABLE, with fn
    /// checked by the caller): the cursor's query and where it stands.
    private mutating func openKDATableFunction(_ function: String) throws(ParseError) -> (Query, NodeSpan) {
        advance()  // TABLE
        try expect(.leftParen)
        advance()  // the function's name
        try expect(.leftParen)
        return try parseCursor(function)
    }

    /// KDA's `TABLE(HOTSPOTS(CURSOR(query), windowSize, scanRadius, minimumNumberOfPointsInAHotspot))`:
    /// Sluice's HOTSPOTS over the cursor's numeric columns, the parameters by position.
    mutating func parseKDAHotspots() throws(ParseError) -> FromItem {
        let start = current.span.start
        let (cursor, cursorLoc) = try openKDATableFunction("HOTSPOTS")
        var parameters: [NamedArgument] = []
        for name in ["window_size", "scan_radius", "minimum_points"] {
            try expect(.comma, "in HOTSPOTS(CURSOR(...), windowSize, scanRadius, minimumNumberOfPointsInAHotspot)")
            let at = current.span
            let e = try parseExpr()
            parameters.append(NamedArgument(name: Identifier(name, loc: NodeSpan(at)), value: e))
        }
        try expect(.rightParen, "to close HOTSPOTS(...)")
        try expect(.rightParen, "to close TABLE(...)")
        let alias = try parseAlias()
        let f = AnomalyFunction(detector: .hotspots, withExplanation: false, relation: .subquery(cursor, alias: nil, loc: cursorLoc),
                                columns: [], partitionBy: [], parameters: parameters, kda: true)
        return .anomaly(f, alias: alias, loc: span(from: start))
    }

    /// KDA's `TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(q), 'column', windowSeconds))` and
    /// `TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(q), 'column', K, windowSeconds))` as the Sluice queries
    /// they amount to, over back-to-back windows of the cursor's ROWTIME: the number of distinct
    /// values (one row per window, `NUMBER_OF_DISTINCT_ITEMS`; exact where KDA estimated past
    /// 10,000), or the K most frequent values with their counts (`column`, `ITEM_COUNT`, the most
    /// frequent first, ties by value; exact where KDA estimated). Each row's ROWTIME is its window's end.
    mutating func parseKDATumblingItems() throws(ParseError) -> FromItem {
        let start = current.span.start
        let function = text(peek(2)).uppercased()
        let topK = function == "TOP_K_ITEMS_TUMBLING"
        var (cursor, cursorLoc) = try openKDATableFunction(function)
        let usage = topK ? "TOP_K_ITEMS_TUMBLING(CURSOR(...), 'column', K, windowSeconds)" : "COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(...), 'column', windowSeconds)"
        try expect(.comma, "after the CURSOR: \(usage)")
        guard current.kind == .string else { throw unexpected(expecting: ["the column's name in quotes"], context: "in \(usage)") }
        let columnLoc = NodeSpan(current.span)
        let columnName = try parseString().value
        func whole(_ what: String, _ range: ClosedRange<Int>) throws(ParseError) -> Int {
            try expect(.comma, "in \(usage)")
            let at = current.span
            guard current.kind == .number, let v = Int(text(current)), range.contains(v) else {
                throw error("\(what) is a whole number from \(range.lowerBound) to \(range.upperBound) in \(usage)", at: at)
            }
            advance()
            return v
        }
        let k = topK ? try whole("K", 1...100_000) : 0
        let seconds = try whole("windowSize (seconds)", 1...3600)
        try expect(.rightParen, "to close \(function)(...)")
        try expect(.rightParen, "to close TABLE(...)")
        let alias = try parseAlias()
        let loc = span(from: start)
        func column(_ n: String, quoted: Bool = false) -> Expr { Expr(.column(qualifier: nil, name: Identifier(n, quoted: quoted)), loc) }
        func call(_ n: String, _ args: [Expr], distinct: Bool = false, star: Bool = false, over: OverClause? = nil) -> Expr {
            Expr(.function(FunctionCall(name: Identifier(n), arguments: args, distinct: distinct, star: star, over: over)), loc)
        }
        func item(_ e: Expr, _ alias: String? = nil) -> SelectItem { .expression(e, alias: alias.map { Identifier($0, quoted: true) }, loc: loc) }
        func query(_ items: [SelectItem], _ from: FromItem, where w: Expr? = nil, groupBy: [Expr] = []) -> Query {
            Query(distinct: false, items: items, from: from, whereClause: w, groupBy: groupBy, having: nil, emit: nil, limit: nil, loc: loc, clauseLocs: ClauseLocations())
        }
        // The cursor's rows with their ROWTIME, in back-to-back windows.
        if !cursor.items.contains(where: { if case .expression(let e, _, _) = $0, case .column(_, let n) = e.kind { return n.name.uppercased() == "ROWTIME" } else { return false } }) {
            cursor.items.append(item(column("ROWTIME")))
        }
        let size = IntervalLiteral(value: String(seconds), unit: .second, loc: loc)
        let windows = FromItem.window(.tumble(relation: .subquery(cursor, alias: nil, loc: cursorLoc), timeColumn: column("ROWTIME"), size: size), alias: nil, loc: loc)
        let bounds = [column("window_start"), column("window_end")]
        let counted = Expr(.column(qualifier: nil, name: Identifier(columnName, quoted: true, loc: columnLoc)), columnLoc)
        let q: Query
        if !topK {
            q = query([item(call("COUNT", [counted], distinct: true), "NUMBER_OF_DISTINCT_ITEMS"), item(column("window_end"), "ROWTIME")], windows, groupBy: bounds)
        } else {
            let counts = query([item(counted, columnName), item(call("COUNT", [], star: true), "ITEM_COUNT")] + bounds.map { item($0) }, windows, groupBy: bounds + [counted])
            let order = OverClause(partitionBy: bounds, orderBy: [OrderItem(column("ITEM_COUNT", quoted: true), descending: true), OrderItem(column(columnName, quoted: true))], frame: nil, loc: loc)
            let ranked = query([item(column(columnName, quoted: true)), item(column("ITEM_COUNT", quoted: true)), item(column("window_end")),
                                item(call("ROW_NUMBER", [], over: order), "KDA_RANK")], .subquery(counts, alias: nil, loc: loc))
            let kept = Expr(.binary(.le, column("KDA_RANK", quoted: true), Expr(.literal(.number(String(k))), loc)), loc)
            q = query([item(column(columnName, quoted: true)), item(column("ITEM_COUNT", quoted: true)), item(column("window_end"), "ROWTIME")],
                      .subquery(ranked, alias: nil, loc: loc), where: kept)
        }
        return .subquery(q, alias: alias, loc: loc)
    }

    /// KDA's `TABLE(GROUP_RANK(CURSOR(q), 'rankBy', 'rankOut', sortOrder, outputOrder, maxIdle,
    /// outputMax))`: the cursor's rows gathered per ROWTIME (a group leaves once ROWTIME has passed
    /// it), each with its RANK by `rankBy` ('asc' or 'desc') in a column named `rankOut`, at most
    /// `outputMax` rows of a group (the best ranked; 0: all), in rank order ('asc') or its reverse
    /// ('desc'). Read as the Sluice query it amounts to: the rows in windows of one millisecond of
    /// ROWTIME, ranked per window with RANK, then ROW_NUMBER over that rank to keep and order them.
    /// `maxIdle` is read and checked; a group leaves when ROWTIME passes it, as every window does.
    mutating func parseKDAGroupRank() throws(ParseError) -> FromItem {
        let start = current.span.start
        let usage = "GROUP_RANK(CURSOR(...), 'rankByColumn', 'rankOutColumn', 'asc' | 'desc', 'asc' | 'desc', maxIdle, outputMax)"
        var (cursor, cursorLoc) = try openKDATableFunction("GROUP_RANK")
        func name(_ what: String) throws(ParseError) -> (String, NodeSpan) {
            try expect(.comma, "in \(usage)")
            guard current.kind == .string else { throw unexpected(expecting: ["\(what) in quotes"], context: "in \(usage)") }
            let at = NodeSpan(current.span)
            let s = try parseString().value
            guard !s.isEmpty else { throw error("\(what) is empty in \(usage)", at: at.span) }
            return (s, at)
        }
        func order(_ what: String) throws(ParseError) -> Bool {
            let (s, at) = try name(what)
            switch s.lowercased() {
            case "asc": return false
            case "desc": return true
            default: throw error("\(what) is 'asc' or 'desc', not '\(s)'", at: at.span, help: usage)
            }
        }
        func whole(_ what: String) throws(ParseError) -> Int {
            try expect(.comma, "in \(usage)")
            let at = current.span
            guard current.kind == .number, let v = Int(text(current)), v >= 0 else {
                throw error("\(what) is a whole number, 0 or more, in \(usage)", at: at)
            }
            advance()
            return v
        }
        let (rankBy, rankByLoc) = try name("the column to rank by")
        let (rankOut, rankOutLoc) = try name("the rank column's name")
        let descending = try order("sortOrder")
        let outputDescending = try order("outputOrder")
        _ = try whole("maxIdle (milliseconds)")
        let outputMax = try whole("outputMax")
        try expect(.rightParen, "to close GROUP_RANK(...)")
        try expect(.rightParen, "to close TABLE(...)")
        let alias = try parseAlias()
        let loc = span(from: start)
        func column(_ n: String, quoted: Bool = false, at l: NodeSpan? = nil) -> Expr {
            Expr(.column(qualifier: nil, name: Identifier(n, quoted: quoted, loc: l ?? loc)), l ?? loc)
        }
        func item(_ e: Expr, _ alias: String? = nil) -> SelectItem { .expression(e, alias: alias.map { Identifier($0, quoted: true, loc: loc) }, loc: loc) }
        let rowtime = item(column("ROWTIME"))
        let end = column("window_end")
        // One level: the rows of `from` and their ROWTIME, with a ranking per millisecond of ROWTIME
        // (every row kept: the bound only says the ranking is per window).
        func ranked(_ from: FromItem, _ function: String, _ order: [OrderItem], _ as: String, keep: Int = 1_000_000_000) -> Query {
            let over = OverClause(partitionBy: [end], orderBy: order, frame: nil, loc: loc)
            let call = Expr(.function(FunctionCall(name: Identifier(function, loc: loc), arguments: [], distinct: false, star: false, over: over)), loc)
            let inner = Query(distinct: false, items: [.wildcard(qualifier: nil, loc: loc), rowtime, item(call, `as`)], from: from, whereClause: nil,
                              groupBy: [], having: nil, emit: nil, limit: nil, loc: loc, clauseLocs: ClauseLocations())
            let bound = Expr(.binary(.le, column(`as`, quoted: true), Expr(.literal(.number(String(keep))), loc)), loc)
            return Query(distinct: false, items: [.wildcard(qualifier: nil, loc: loc), rowtime], from: .subquery(inner, alias: nil, loc: loc), whereClause: bound,
                         groupBy: [], having: nil, emit: nil, limit: nil, loc: loc, clauseLocs: ClauseLocations())
        }
        if !cursor.items.contains(where: { if case .expression(let e, _, _) = $0, case .column(_, let n) = e.kind { return n.name.uppercased() == "ROWTIME" } else { return false } }) {
            cursor.items.append(rowtime)
        }
        let instant = IntervalLiteral(value: "1", unit: .millisecond, loc: loc)
        let windows = FromItem.window(.tumble(relation: .subquery(cursor, alias: nil, loc: cursorLoc), timeColumn: column("ROWTIME"), size: instant), alias: nil, loc: loc)
        var q = ranked(windows, "RANK", [OrderItem(column(rankBy, quoted: true, at: rankByLoc), descending: descending)], rankOut)
        var helpers = ["window_start", "window_end", "window_time"]
        let rank = column(rankOut, quoted: true, at: rankOutLoc)
        if outputMax > 0 {
            q = ranked(.subquery(q, alias: nil, loc: loc), "ROW_NUMBER", [OrderItem(rank)], "KDA_KEPT", keep: outputMax)
            helpers.append("KDA_KEPT")
        }
        if outputDescending {
            q = ranked(.subquery(q, alias: nil, loc: loc), "ROW_NUMBER", [OrderItem(rank, descending: true)], "KDA_OUTPUT")
            helpers.append("KDA_OUTPUT")
        }
        let excluded = helpers.map { Identifier($0, quoted: $0.hasPrefix("KDA_"), loc: loc) }
        let out = Query(distinct: false, items: [.wildcard(qualifier: nil, exclude: excluded, loc: loc), rowtime], from: .subquery(q, alias: nil, loc: loc),
                        whereClause: nil, groupBy: [], having: nil, emit: nil, limit: nil, loc: loc, clauseLocs: ClauseLocations())
        return .subquery(out, alias: alias, loc: loc)
    }

    /// Whether the token at `offset` starts `name =>`.
    private func namedArgumentFollows(_ offset: Int) -> Bool {
        let t = peek(offset)
        let isName: Bool
        switch t.kind {
        case .identifier, .quotedIdentifier: isName = true
        case .keyword(let k): isName = !k.isReserved
        default: isName = false
        }
        return isName && peek(offset + 1).kind == .punct(.arrow)
    }
}
