import SluiceCore
@testable import SluiceSQL

/// Random, valid ASTs for the round-trip property and the fuzz tests. Seeded: failures replay.
struct SQLGenerator {
    var rng: SplitMix64

    /// Seeds are spread out first: SplitMix64 streams of nearby raw seeds overlap.
    init(seed: UInt64) {
        var mixer = SplitMix64(seed: seed &* 0xD1B5_4A32_D192_ED03)
        rng = SplitMix64(seed: mixer.next())
    }

    mutating func next() -> UInt64 { rng.next() }

    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }

    static let plainNames = ["a", "b", "user_id", "ts", "Clicks", "x1", "message", "key", "size", "hop", "é", "_p$", "Window_End", "url", "timestamp", "interval", "per"]
    static let quotedNames = ["user id", "select", "a\"b", "ünï", "FROM", " "]
    static let functionNames = ["COUNT", "sum", "AVG", "max", "coalesce", "ABS", "round", "LOWER", "concat", "to_timestamp", "my_fn"]

    mutating func name() -> Identifier {
        chance(15) ? Identifier(pick(Self.quotedNames), quoted: true) : Identifier(pick(Self.plainNames))
    }

    mutating func number() -> String {
        pick(["0", "1", "42", "3.5", "0.001", "1e-3", "2E+10", ".5", "123456789012"])
    }

    mutating func string() -> String { pick(["", "x", "it's", "a;b", "-- not a comment", "line\nbreak", "ünïcode", "%_", "''"]) }

    mutating func interval() -> IntervalLiteral {
        IntervalLiteral(value: pick(["1", "5", "1.5", "0.25", "30", "-2"]), unit: pick([.millisecond, .second, .minute, .hour, .day]), loc: .none)
    }

    mutating func literal() -> Literal {
        switch below(7) {
        case 0: return .number(number())
        case 1: return .string(string())
        case 2: return .bool(chance(50))
        case 3: return .null
        case 4: return .interval(interval())
        case 5: return .timestamp(pick(["2024-01-01 00:00:05", "2024-01-01T00:00:05.250Z", "1999-12-31"]))
        default: return .number(number())
        }
    }

    mutating func type() -> TypeName {
        let t: DataType = pick(DataType.allCases)
        if t == .decimal && chance(50) {
            let p = 1 + below(18)
            return TypeName(type: t, length: p, scale: chance(50) ? below(p + 1) : nil, loc: .none)
        }
        return TypeName(type: t, length: t == .varchar && chance(20) ? 1 + below(255) : nil, loc: .none)
    }

    mutating func expr(_ depth: Int) -> Expr {
        if depth <= 0 || chance(25) {
            return chance(50) ? Expr(.literal(literal())) : Expr(.column(qualifier: chance(20) ? name() : nil, name: name()))
        }
        let d = depth - 1
        switch below(16) {
        case 0: return Expr(.unary(pick(UnaryOperator.allCases), expr(d)))
        case 1, 2, 3: return Expr(.binary(pick(BinaryOperator.allCases), expr(d), expr(d)))
        case 4: return Expr(.isNull(expr(d), negated: chance(50)))
        case 5: return Expr(.between(expr(d), low: expr(d), high: expr(d), negated: chance(50)))
        case 6: return Expr(.inList(expr(d), (0...below(3)).map { _ in expr(d) }, negated: chance(50)))
        case 7: return Expr(.like(expr(d), pattern: expr(d), escape: chance(20) ? expr(0) : nil, negated: chance(50)))
        case 8:
            let star = chance(15)
            var over: OverClause? = nil
            if chance(20) {
                over = OverClause(partitionBy: (0..<below(3)).map { _ in expr(0) }, orderBy: (0..<(chance(70) ? 1 + below(2) : 0)).map { _ in OrderItem(expr(0), descending: chance(30)) },
                                  frame: chance(30) ? .rows(Int64(below(100))) : chance(50) ? .range(interval()) : nil, loc: .none)
            }
            let args = star ? [] : (0..<below(4)).map { _ in expr(d) }
            return Expr(.function(FunctionCall(name: Identifier(pick(Self.functionNames)), arguments: args,
                                               distinct: !args.isEmpty && chance(15), star: star, over: over)))
        case 9: return Expr(.cast(expr(d), type()))
        case 10:
            return Expr(.caseWhen(operand: chance(40) ? expr(d) : nil,
                                  branches: (0...below(2)).map { _ in CaseBranch(when: expr(d), then: expr(d)) },
                                  otherwise: chance(50) ? expr(d) : nil))
        case 11: return Expr(.extract(pick(TimeUnit.allCases), expr(d)))
        case 12: return Expr(.floorTo(expr(d), pick(TimeUnit.allCases)))
        case 13: return Expr(.substring(expr(d), from: expr(d), forLength: chance(50) ? expr(d) : nil))
        case 14: return Expr(.trim(pick(TrimSide.allCases), characters: chance(50) ? expr(d) : nil, expr(d)))
        default: return Expr(.literal(literal()))
        }
    }

    mutating func relation(_ depth: Int) -> FromItem {
        if depth > 0 && chance(15) { return .subquery(query(depth - 1), alias: nil, loc: .none) }
        return .relation(name: name(), alias: nil, loc: .none)
    }

    mutating func fromItem(_ depth: Int) -> FromItem {
        let alias: Identifier? = chance(40) ? name() : nil
        switch below(8) {
        case 0 where depth > 0: return .subquery(query(depth - 1), alias: alias, loc: .none)
        case 1: return .window(.tumble(relation: relation(depth), timeColumn: expr(0), size: interval()), alias: alias, loc: .none)
        case 2: return .window(.hop(relation: relation(depth), timeColumn: expr(0), size: interval(), advance: interval()), alias: alias, loc: .none)
        case 3:
            return .window(.session(relation: relation(depth), partitionBy: (0...below(2)).map { _ in expr(1) }, timeColumn: expr(0), gap: interval()),
                           alias: alias, loc: .none)
        case 4:
            var params: [NamedArgument] = []
            for p in ["trees", "sample_size", "shingle", "time_decay"] where chance(50) { params.append(NamedArgument(name: Identifier(p), value: expr(0))) }
            return .anomaly(AnomalyFunction(withExplanation: chance(50), relation: relation(depth), columns: chance(70) ? (0...below(3)).map { _ in name() } : [],
                                            partitionBy: chance(50) ? (0...below(2)).map { _ in expr(1) } : [], parameters: params),
                            alias: alias, loc: .none)
        default: return .relation(name: name(), alias: alias, loc: .none)
        }
    }

    mutating func from(_ depth: Int) -> FromItem {
        var f = fromItem(depth)
        for _ in 0..<(chance(25) ? 1 + below(2) : 0) {
            f = .join(Join(kind: pick(Join.Kind.allCases), left: f, right: fromItem(depth - 1), condition: expr(2), loc: .none))
        }
        return f
    }

    mutating func query(_ depth: Int) -> Query {
        var items: [SelectItem] = []
        for _ in 0...below(3) {
            if chance(10) {
                items.append(.wildcard(qualifier: chance(50) ? name() : nil, exclude: chance(30) ? [name()] : [], loc: .none))
            } else {
                items.append(.expression(expr(depth), alias: chance(30) ? name() : nil, loc: .none))
            }
        }
        let emit: Emit? = chance(20) ? (chance(50) ? .final : .changes(every: chance(50) ? interval() : nil)) : nil
        var q = Query(distinct: chance(10), items: items, from: chance(85) ? from(depth) : nil, whereClause: chance(40) ? expr(depth) : nil,
                      groupBy: chance(30) ? (0...below(3)).map { _ in expr(1) } : [], having: chance(15) ? expr(depth) : nil,
                      emit: emit, limit: chance(10) ? Int64(below(1000)) : nil, loc: .none, clauseLocs: ClauseLocations())
        // UNION ALL branches: SELECT to HAVING each (EMIT and LIMIT belong to the whole).
        for _ in 0..<(depth > 0 && chance(8) ? 1 + below(2) : 0) {
            var b = query(depth - 1)
            b.emit = nil
            b.limit = nil
            b.unionAll = []
            q.unionAll.append(b)
        }
        return q
    }

    mutating func options() -> [WithOption] {
        var keys = ["shards", "partition_key", "format", "type", "path", "header", "select", "retention"].shuffledPrefix(below(5), &self)
        keys.sort()
        return keys.map { k in
            let v: OptionValue
            switch below(5) {
            case 0: v = .string(string())
            case 1: v = .number(chance(20) ? "-" + number() : number())
            case 2: v = .bool(chance(50))
            case 3: v = .name(name())
            default: v = .interval(interval())
            }
            return WithOption(key: Identifier(k), value: v, loc: .none)
        }
    }

    mutating func columns(_ n: Int) -> [ColumnDefinition] {
        (0..<n).map { _ in
            ColumnDefinition(name: name(), type: type(), path: chance(20) ? StringLiteral(value: "$.a.b", loc: .none) : nil,
                             primaryKey: chance(10), notNull: chance(10), loc: .none)
        }
    }

    mutating func statement(allowExplain: Bool = true) -> Statement {
        let kind: StatementKind
        switch below(14) {
        case 0:
            kind = .createStream(CreateStream(orReplace: chance(10), name: name(), columns: columns(1 + below(4)),
                                              watermark: chance(40) ? WatermarkDefinition(column: name(), expression: expr(2), loc: .none) : nil,
                                              options: options()))
        case 1:
            kind = chance(30) ? .createView(CreateView(orReplace: chance(10), name: name(), query: query(2)))
                : .createStreamAs(CreateStreamAs(orReplace: chance(10), name: name(), options: options(), query: query(2)))
        case 2: kind = .createFirehose(CreateFirehose(orReplace: false, name: name(), columns: columns(below(3)), options: options()))
        case 3: kind = .createTable(CreateTable(orReplace: false, name: name(), columns: columns(1 + below(3)), options: options()))
        case 4:
            var opts = options()
            if opts.isEmpty { opts = [WithOption(key: Identifier("type"), value: .string("stdout"), loc: .none)] }
            kind = .createSink(CreateSink(orReplace: false, name: name(), options: opts))
        case 5:
            let silent = chance(20)
            kind = .createAlert(CreateAlert(orReplace: chance(10), name: name(), severity: chance(50) ? StringLiteral(value: "critical", loc: .none) : nil,
                                            query: query(2), fireWhen: silent ? nil : expr(2), silentFor: silent ? interval() : nil,
                                            resolveWhen: !silent && chance(50) ? expr(2) : nil,
                                            per: chance(50) ? (0...below(2)).map { _ in name() } : [], cooldown: chance(50) ? interval() : nil,
                                            message: chance(50) ? StringLiteral(value: string(), loc: .none) : nil,
                                            notify: (0..<below(3)).map { _ in StringLiteral(value: "file:out/a.jsonl", loc: .none) },
                                            clauseLocs: ClauseLocations()))
        case 6: kind = .insert(Insert(target: name(), query: query(2)))
        case 7 where allowExplain: kind = .explain(Explain(level: chance(50) ? pick([.logical, .physical]) : nil, statement: statement(allowExplain: false)))
        case 8: kind = .describe(name())
        case 9: kind = .show(pick(ShowTarget.allCases))
        case 10: kind = .drop(Drop(kind: pick(Drop.Kind.allCases), ifExists: chance(50), name: name()))
        case 11: kind = .set(SetOption(name: Identifier(pick(["start", "result_mode", "timer"])), value: options().first?.value ?? .string("x")))
        default: kind = .query(query(3))
        }
        return Statement(kind: kind, loc: .none)
    }
}

extension Array {
    func shuffledPrefix(_ n: Int, _ g: inout SQLGenerator) -> [Element] {
        var a = self
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, g.below(i + 1)) }
        return Array(a.prefix(n))
    }
}
