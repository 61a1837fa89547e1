import SluiceCore

extension Parser {
    /// An infix operator at the current token: its precedence and how to build it.
    private enum Infix {
        case binary(BinaryOperator)
        case isNull
        case between(negated: Bool)
        case inList(negated: Bool)
        case like(negated: Bool)
        /// `s [NOT] SIMILAR TO pattern [ESCAPE c]` (SIMILAR is a name elsewhere).
        case similar(negated: Bool)

        var precedence: Int {
            switch self {
            case .binary(let op): return Precedence.of(op)
            case .isNull: return Precedence.isNull
            case .between, .inList, .like, .similar: return Precedence.between
            }
        }
    }

    private func atSimilarTo(_ offset: Int) -> Bool {
        let t = peek(offset)
        guard case .identifier = t.kind, text(t).uppercased() == "SIMILAR" else { return false }
        return peek(offset + 1).kind == .keyword(.TO)
    }

    private var infix: Infix? {
        switch current.kind {
        case .keyword(.OR): return .binary(.or)
        case .keyword(.AND): return .binary(.and)
        case .keyword(.IS): return .isNull
        case .keyword(.BETWEEN): return .between(negated: false)
        case .keyword(.IN): return .inList(negated: false)
        case .keyword(.LIKE): return .like(negated: false)
        case .keyword(.NOT):
            switch peek().kind {
            case .keyword(.BETWEEN): return .between(negated: true)
            case .keyword(.IN): return .inList(negated: true)
            case .keyword(.LIKE): return .like(negated: true)
            default: return atSimilarTo(1) ? .similar(negated: true) : nil
            }
        case .identifier where atSimilarTo(0): return .similar(negated: false)
        case .punct(let p):
            switch p {
            case .eq: return .binary(.eq)
            case .neq, .bangEq: return .binary(.neq)
            case .lt: return .binary(.lt)
            case .le: return .binary(.le)
            case .gt: return .binary(.gt)
            case .ge: return .binary(.ge)
            case .concat: return .binary(.concat)
            case .plus: return .binary(.add)
            case .minus: return .binary(.subtract)
            case .star: return .binary(.multiply)
            case .slash: return .binary(.divide)
            case .percent: return .binary(.modulo)
            default: return nil
            }
        default: return nil
        }
    }

    /// Precedence climbing: operators binding at least as tightly as `minPrecedence`.
    mutating func parseExpr(_ minPrecedence: Int = 1) throws(ParseError) -> Expr {
        try enter()
        defer { leave() }
        let start = current.span.start
        var left = try parsePrefix()
        var lastNonAssociative: Int? = nil
        // Each operator applied to `left` makes the tree one level deeper (`a + a + ... + a` is
        // as deep as it is long): it counts against the nesting limit, so that nothing that
        // walks the tree (binding, planning, printing) can run out of stack.
        var folded = 0
        defer { for _ in 0..<folded { leave() } }
        while let op = infix, op.precedence >= minPrecedence {
            try enter()
            folded += 1
            let prec = op.precedence
            if lastNonAssociative == prec {
                throw error(prec == Precedence.comparison ? "comparisons cannot be chained" : "\(describe(current)) cannot follow another operator of its kind here",
                            id: "syntax.chained-comparison", help: prec == Precedence.comparison ? "combine comparisons with AND, or add parentheses" : "add parentheses")
            }
            switch op {
            case .binary(let b):
                advance()
                let right = try parseExpr(prec + 1)
                left = Expr(.binary(b, left, right), span(from: start))
                lastNonAssociative = prec == Precedence.comparison ? prec : nil
            case .isNull:
                advance()
                let negated = eat(.NOT)
                guard eat(.NULL) else { throw unexpected(expecting: ["NULL", "NOT NULL"], context: "after IS") }
                left = Expr(.isNull(left, negated: negated), span(from: start))
                lastNonAssociative = prec
            case .between(let negated):
                if negated { advance() }
                advance()
                let low = try parseExpr(Precedence.between + 1)
                try expect(.AND, "between the bounds of BETWEEN")
                let high = try parseExpr(Precedence.between + 1)
                left = Expr(.between(left, low: low, high: high, negated: negated), span(from: start))
                lastNonAssociative = prec
            case .inList(let negated):
                if negated { advance() }
                advance()
                try expect(.leftParen, "after IN")
                if at(.SELECT) { throw error("IN (SELECT ...) is not supported", id: "syntax.unsupported", help: "list the values: IN (1, 2, 3)") }
                var list: [Expr] = []
                repeat { list.append(try parseExpr()) } while eat(.comma)
                try expect(.rightParen, "to close the IN list")
                left = Expr(.inList(left, list, negated: negated), span(from: start))
                lastNonAssociative = prec
            case .like(let negated):
                if negated { advance() }
                advance()
                let pattern = try parseExpr(Precedence.between + 1)
                var escape: Expr? = nil
                if eat(.ESCAPE) { escape = try parseExpr(Precedence.between + 1) }
                left = Expr(.like(left, pattern: pattern, escape: escape, negated: negated), span(from: start))
                lastNonAssociative = prec
            case .similar(let negated):
                // SQL's regular expressions (KDA has them): the function SIMILAR_TO(s, pattern [, escape]).
                let nameToken = negated ? peek() : current
                if negated { advance() }
                advance()
                advance()
                let pattern = try parseExpr(Precedence.between + 1)
                var args = [left, pattern]
                if eat(.ESCAPE) { args.append(try parseExpr(Precedence.between + 1)) }
                let call = Expr(.function(FunctionCall(name: Identifier("SIMILAR_TO", loc: NodeSpan(nameToken.span)), arguments: args, distinct: false, star: false, over: nil)),
                                span(from: start))
                left = negated ? Expr(.unary(.not, call), span(from: start)) : call
                lastNonAssociative = prec
            }
        }
        return left
    }

    /// Literals, names, calls, parentheses and prefix operators.
    mutating func parsePrefix() throws(ParseError) -> Expr {
        let start = current.span.start
        let t = current
        switch t.kind {
        case .keyword(.NOT):
            advance()
            let e = try parseExpr(Precedence.not)
            return Expr(.unary(.not, e), span(from: start))
        case .punct(.minus), .punct(.plus):
            advance()
            let e = try parseExpr(Precedence.unary)
            return Expr(.unary(t.kind == .punct(.minus) ? .minus : .plus, e), span(from: start))
        case .number:
            advance()
            return Expr(.literal(.number(text(t))), span(from: start))
        case .string:
            advance()
            return Expr(.literal(.string(Lexer.stringValue(bytes, t.span))), span(from: start))
        case .keyword(.TRUE):
            advance()
            return Expr(.literal(.bool(true)), span(from: start))
        case .keyword(.FALSE):
            advance()
            return Expr(.literal(.bool(false)), span(from: start))
        case .keyword(.NULL):
            advance()
            return Expr(.literal(.null), span(from: start))
        case .keyword(.INTERVAL) where peek().kind == .string:
            return Expr(.literal(.interval(try parseIntervalLiteral())), span(from: start))
        case .keyword(.TIMESTAMP) where peek().kind == .string:
            advance()
            let s = current
            advance()
            let value = Lexer.stringValue(bytes, s.span)
            guard TimeFormat.parseISO8601(value) != nil else {
                throw error("'\(value)' is not a timestamp", id: "syntax.bad-timestamp", at: s.span,
                            help: "write it like TIMESTAMP '2024-01-01 00:00:05' or '2024-01-01T00:00:05.250Z'")
            }
            return Expr(.literal(.timestamp(value)), span(from: start))
        case .punct(.leftParen):
            advance()
            if at(.SELECT) {
                throw error("a subquery is only allowed in FROM", id: "syntax.unsupported")
            }
            let e = try parseExpr()
            try expect(.rightParen, "to close '('")
            if dialect == .kda, case .keyword(let k) = current.kind, let unit = Parser.unit(of: k), [.second, .minute, .hour, .day].contains(unit) {
                // KDA's interval qualifier, `(t - TIMESTAMP '1970-01-01 00:00:00') SECOND [TO unit]`: the
                // difference is an interval (Sluice's intervals are exact to the millisecond).
                advance()
                if eat(.TO) {
                    guard case .keyword(let k2) = current.kind, Parser.unit(of: k2) != nil else {
                        throw unexpected(expecting: ["a time unit"], context: "in an interval qualifier (SECOND, MINUTE TO SECOND, ...)")
                    }
                    advance()
                }
            }
            return Expr(e.kind, span(from: start))
        case .keyword(.CASE):
            return try parseCase()
        case .keyword(.CAST):
            advance()
            try expect(.leftParen, "after CAST")
            let e = try parseExpr()
            try expect(.AS, "in CAST(expr AS type)")
            let type = try parseType()
            try expect(.rightParen, "to close CAST(...)")
            return Expr(.cast(e, type), span(from: start))
        case .punct(.star):
            throw error("'*' is only allowed in a select list or COUNT(*)", id: "syntax.unexpected-token")
        default:
            guard atIdentifier else { throw unexpected(expecting: ["an expression"]) }
            if peek().kind == .punct(.leftParen) { return try parseCall() }
            let first = try parseIdentifier()
            if eat(.dot) {
                let second = try parseIdentifier("a column name after '.'")
                if dialect == .kda, eat(.dot) {
                    // KDA's t.row.field (a log parser's field): the column `row.field` of t.
                    let third = try parseIdentifier("a field name after '.'")
                    return Expr(.column(qualifier: first, name: Identifier(second.name + "." + third.name, quoted: second.quoted || third.quoted, loc: second.loc)), span(from: start))
                }
                if at(.dot) { throw error("names have at most two parts (qualifier.column)", id: "syntax.unexpected-token") }
                return Expr(.column(qualifier: first, name: second), span(from: start))
            }
            return Expr(.column(qualifier: nil, name: first), span(from: start))
        }
    }

    /// `CASE [operand] WHEN a THEN b ... [ELSE c] END`
    private mutating func parseCase() throws(ParseError) -> Expr {
        let start = current.span.start
        try expect(.CASE)
        var operand: Expr? = nil
        if !at(.WHEN) { operand = try parseExpr() }
        var branches: [CaseBranch] = []
        guard at(.WHEN) else { throw unexpected(expecting: ["WHEN"], context: "in CASE") }
        while eat(.WHEN) {
            let w = try parseExpr()
            try expect(.THEN, "after WHEN ...")
            branches.append(CaseBranch(when: w, then: try parseExpr()))
        }
        var otherwise: Expr? = nil
        if eat(.ELSE) { otherwise = try parseExpr() }
        try expect(.END, "to close CASE")
        return Expr(.caseWhen(operand: operand, branches: branches, otherwise: otherwise), span(from: start))
    }

    /// `name(args)` including the standard forms EXTRACT(unit FROM x), FLOOR(x TO unit),
    /// SUBSTRING(s FROM a [FOR b]) and TRIM([side] [chars] FROM s); then an optional OVER (...).
    private mutating func parseCall() throws(ParseError) -> Expr {
        let start = current.span.start
        let name = try parseIdentifier()
        try expect(.leftParen)
        let upper = name.quoted ? "" : name.name.uppercased()
        if upper == "EXTRACT", case .keyword(let k) = current.kind, let unit = Parser.unit(of: k), peek().kind == .keyword(.FROM) {
            advance()
            advance()
            let e = try parseExpr()
            try expect(.rightParen, "to close EXTRACT(...)")
            return Expr(.extract(unit, e), span(from: start))
        }
        if upper == "POSITION" && !at(.rightParen) {
            // POSITION(search IN source): the 1-based place of the first match, 0 for none.
            let search = try parseExpr(Precedence.between + 1)
            try expect(.IN, "in POSITION(search IN source)")
            let source = try parseExpr()
            try expect(.rightParen, "to close POSITION(...)")
            return Expr(.function(FunctionCall(name: name, arguments: [search, source], distinct: false, star: false, over: nil)), span(from: start))
        }
        if upper == "OVERLAY" && !at(.rightParen) {
            // OVERLAY(s PLACING r FROM start [FOR length]).
            let s = try parseExpr()
            guard case .identifier = current.kind, text(current).uppercased() == "PLACING" else {
                throw unexpected(expecting: ["PLACING"], context: "in OVERLAY(s PLACING r FROM start [FOR length])")
            }
            advance()
            let r = try parseExpr()
            try expect(.FROM, "in OVERLAY(s PLACING r FROM start [FOR length])")
            var args = [s, r, try parseExpr()]
            if eat(.FOR) { args.append(try parseExpr()) }
            try expect(.rightParen, "to close OVERLAY(...)")
            return Expr(.function(FunctionCall(name: name, arguments: args, distinct: false, star: false, over: nil)), span(from: start))
        }
        if upper == "TRIM" {
            var side: TrimSide? = nil
            if case .keyword(let k) = current.kind, let s = TrimSide(rawValue: k.rawValue) {
                side = s
                advance()
            }
            if side != nil && eat(.FROM) {
                let e = try parseExpr()
                try expect(.rightParen, "to close TRIM(...)")
                return Expr(.trim(side!, characters: nil, e), span(from: start))
            }
            let first = try parseExpr()
            if eat(.FROM) {
                let e = try parseExpr()
                try expect(.rightParen, "to close TRIM(...)")
                return Expr(.trim(side ?? .both, characters: first, e), span(from: start))
            }
            if let s = side { throw unexpected(expecting: ["FROM"], context: "after TRIM(\(s.rawValue) ...") }
            try expect(.rightParen, "to close TRIM(...)")
            return Expr(.trim(.both, characters: nil, first), span(from: start))
        }
        var distinct = false, star = false
        var args: [Expr] = []
        if eat(.star) {
            star = true
        } else if !at(.rightParen) {
            if eat(.DISTINCT) { distinct = true } else { _ = eat(.ALL) }
            let first = try parseExpr()
            if distinct && ((upper == "FLOOR" && at(.TO)) || (upper == "SUBSTRING" && at(.FROM))) {
                throw error("DISTINCT has no meaning in \(upper)(...)", id: "syntax.unexpected-token", help: "remove DISTINCT")
            }
            if upper == "FLOOR" && eat(.TO) {
                guard case .keyword(let k) = current.kind, let unit = Parser.unit(of: k) else {
                    throw unexpected(expecting: ["a time unit (SECOND, MINUTE, HOUR, DAY, ...)"], context: "after FLOOR(... TO")
                }
                advance()
                try expect(.rightParen, "to close FLOOR(...)")
                return Expr(.floorTo(first, unit), span(from: start))
            }
            if upper == "STEP" && dialect == .kda && eat(.BY) {
                // KDA's STEP(t BY INTERVAL ...) (t rounded down to a multiple of the interval) and STEP(n BY m).
                let istart = current.span.start
                let by: Expr
                if at(.INTERVAL) {
                    by = Expr(.literal(.interval(try parseIntervalLiteral())), span(from: istart))
                } else {
                    by = try parseExpr()
                }
                try expect(.rightParen, "to close STEP(...)")
                return Expr(.function(FunctionCall(name: name, arguments: [first, by], distinct: false, star: false, over: nil)), span(from: start))
            }
            if upper == "SUBSTRING" && eat(.FROM) {
                let from = try parseExpr()
                let length: Expr? = eat(.FOR) ? try parseExpr() : nil
                try expect(.rightParen, "to close SUBSTRING(...)")
                return Expr(.substring(first, from: from, forLength: length), span(from: start))
            }
            args.append(first)
            while eat(.comma) { args.append(try parseExpr()) }
        }
        try expect(.rightParen, "to close the argument list of \(name.name)")
        if upper == "SUBSTRING" && !distinct && (args.count == 2 || args.count == 3) && !at(.OVER) {
            return Expr(.substring(args[0], from: args[1], forLength: args.count == 3 ? args[2] : nil), span(from: start))
        }
        var filter: Expr? = nil
        if at(.FILTER) && peek().kind == .punct(.leftParen) {
            // An aggregate's FILTER (WHERE condition) (FILTER alone is a name: an alias without AS).
            advance()
            try expect(.leftParen, "after FILTER")
            try expect(.WHERE, "in FILTER (WHERE ...)")
            filter = try parseExpr()
            try expect(.rightParen, "to close FILTER (WHERE ...)")
        }
        var over: OverClause? = nil
        if at(.OVER) { over = try parseOver() }
        return Expr(.function(FunctionCall(name: name, arguments: args, distinct: distinct, star: star, over: over, filter: filter)), span(from: start))
    }

    /// `OVER (PARTITION BY k ORDER BY ts RANGE INTERVAL '1' MINUTE PRECEDING)` or `ROWS n PRECEDING`;
    /// `BETWEEN ... PRECEDING AND CURRENT ROW` means the same.
    mutating func parseOver() throws(ParseError) -> OverClause {
        let start = current.span.start
        try expect(.OVER)
        if dialect == .kda, !at(.leftParen) {
            // KDA's OVER name: a window of the SELECT's WINDOW clause.
            let name = try parseIdentifier("a window name or '('")
            guard var w = namedWindows[name.name.uppercased()] else {
                throw error("no WINDOW named \(name.name) in this SELECT", at: name.loc.span,
                            help: namedWindows.isEmpty ? "define it after the query's clauses: WINDOW \(name.name) AS (PARTITION BY ... RANGE INTERVAL '1' MINUTE PRECEDING)"
                                                       : "the windows are \(namedWindows.keys.sorted().joined(separator: ", "))")
            }
            w.loc = span(from: start)
            return w
        }
        return try parseOverSpec(start: start)
    }

    /// `( [PARTITION BY ...] [ORDER BY ...] [RANGE ... | ROWS ... PRECEDING] )`; in KDA's SQL a
    /// window without ORDER BY is ordered by ROWTIME.
    mutating func parseOverSpec(start: Int) throws(ParseError) -> OverClause {
        try expect(.leftParen, "after OVER")
        var partitionBy: [Expr] = []
        if eat(.PARTITION) {
            try expect(.BY, "after PARTITION")
            repeat { partitionBy.append(try parseExpr()) } while eat(.comma)
        }
        var orderBy: [OrderItem] = []
        if eat(.ORDER) {
            try expect(.BY, "after ORDER")
            repeat {
                let e = try parseExpr()
                if eat(.DESC) { orderBy.append(OrderItem(e, descending: true)) } else { _ = eat(.ASC); orderBy.append(OrderItem(e)) }
            } while eat(.comma)
        }
        var frame: OverClause.Frame? = nil
        if at(.RANGE) || at(.ROWS) {
            let rows = at(.ROWS)
            advance()
            let between = eat(.BETWEEN)
            if rows {
                frame = .rows(try parseInteger("a row count"))
            } else {
                frame = .range(try parseIntervalLiteral())
            }
            try expect(.PRECEDING, rows ? "after ROWS n" : "after RANGE INTERVAL ...")
            if between {
                try expect(.AND, "in BETWEEN ... AND CURRENT ROW")
                try expect(.CURRENT, "after AND")
                try expect(.ROW, "after CURRENT")
            }
        }
        try expect(.rightParen, "to close OVER (...)")
        if dialect == .kda && orderBy.isEmpty { orderBy = [OrderItem(Expr(.column(qualifier: nil, name: Identifier("ROWTIME"))))] }
        return OverClause(partitionBy: partitionBy, orderBy: orderBy, frame: frame, loc: span(from: start))
    }
}
