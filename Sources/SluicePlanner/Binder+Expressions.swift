import SluiceCore
import SluiceSQL

extension Planner {
    /// Binds an expression in `scope`. `hook` sees every sub-expression first and may bind it
    /// itself (aggregates and group keys after GROUP BY).
    func bind(_ e: Expr, _ scope: Scope, hook: ((Expr) throws(PlanError) -> BoundExpr?)? = nil) throws(PlanError) -> BoundExpr {
        if let h = hook, let b = try h(e) { return b }
        func sub(_ x: Expr) throws(PlanError) -> BoundExpr { try bind(x, scope, hook: hook) }
        switch e.kind {
        case .literal(let l): return try literal(l, e.loc)
        case .column(let qualifier, let name): return try column(qualifier, name, scope, e.loc)
        case .unary(.not, let x):
            let b = try sub(x)
            try requireBoolean(b, x.loc, "NOT")
            return .not(b)
        case .unary(.plus, let x):
            let b = try sub(x)
            guard Planner.isNumeric(b.type) || b.type == .interval else { throw mismatch("+", b, nil, e.loc) }
            return b
        case .unary(.minus, let x):
            let b = try sub(x)
            guard Planner.isNumeric(b.type) || b.type == .interval else { throw mismatch("-", b, nil, e.loc) }
            if case .literal(.int(let i), _) = b, i != .min { return .literal(.int(-i), .bigint) }
            if case .literal(.double(let d), _) = b { return .literal(.double(-d), .double) }
            if case .literal(.decimal(let d), let t) = b { return .literal(.decimal(Decimal64(unscaled: -d.unscaled, scale: d.scale)), t) }
            return .negate(b)
        case .binary(let op, let l, let r):
            let a = try sub(l), b = try sub(r)
            switch op {
            case .and, .or:
                try requireBoolean(a, l.loc, op.rawValue)
                try requireBoolean(b, r.loc, op.rawValue)
                return op == .and ? .and(a, b) : .or(a, b)
            case .eq, .neq, .lt, .le, .gt, .ge:
                let (x, y) = try comparable(a, b, op.rawValue, e.loc)
                return .compare(op.rawValue, x, y)
            case .concat:
                return .concat(a, b)
            case .add, .subtract, .multiply, .divide, .modulo:
                return .arithmetic(op.rawValue, a, b, try arithmeticType(op, a, b, e.loc))
            }
        case .isNull(let x, let negated): return .isNull(try sub(x), negated: negated)
        case .between(let x, let lo, let hi, let negated):
            let v = try sub(x), l = try sub(lo), h = try sub(hi)
            let (v1, l1) = try comparable(v, l, "BETWEEN", e.loc)
            let (v2, h1) = try comparable(v, h, "BETWEEN", e.loc)
            _ = v2
            let inside = BoundExpr.and(.compare(">=", v1, l1), .compare("<=", v1, h1))
            return negated ? .not(inside) : inside
        case .inList(let x, let list, let negated):
            let v = try sub(x)
            var items: [BoundExpr] = []
            for i in list { items.append(try comparable(v, try sub(i), "IN", i.loc).1) }
            return .inList(v, items, negated: negated)
        case .like(let x, let pattern, let escape, let negated):
            let v = try sub(x)
            guard v.type == .varchar else { throw mismatch("LIKE", v, nil, x.loc) }
            guard case .literal(.string(let p)) = pattern.kind else {
                throw Planner.error("plan.unsupported", "the pattern of LIKE must be a string literal", pattern.loc)
            }
            var esc: String? = nil
            if let escape {
                guard case .literal(.string(let s)) = escape.kind, s.count == 1 else {
                    throw Planner.error("bind.bad-arguments", "ESCAPE takes one character in quotes", escape.loc)
                }
                esc = s
            }
            return .like(v, pattern: p, escape: esc, negated: negated)
        case .cast(let x, let t):
            let c = BoundExpr.cast(try sub(x), ColumnType(t))
            return t.part.map { Planner.keeping($0, of: c) } ?? c
        case .caseWhen(let operand, let branches, let otherwise):
            let op = try operand.map { x throws(PlanError) in try sub(x) }
            var bound: [BoundCase] = []
            var type: ColumnType? = nil
            func unify(_ b: BoundExpr, _ loc: NodeSpan) throws(PlanError) {
                if case .literal(.null, _) = b { return }
                guard let t = type else { type = b.type; return }
                if t == b.type { return }
                if Planner.isNumeric(t) && Planner.isNumeric(b.type) { type = Planner.commonNumeric(t, b.type); return }
                throw Planner.error("bind.type-mismatch", "the branches of CASE give \(t.rawValue) and \(b.type.rawValue)", loc)
            }
            for br in branches {
                var cond = try sub(br.when)
                if let o = op {
                    cond = .compare("=", try comparable(o, cond, "CASE", br.when.loc).0, try comparable(o, cond, "CASE", br.when.loc).1)
                } else {
                    try requireBoolean(cond, br.when.loc, "WHEN")
                }
                let v = try sub(br.then)
                try unify(v, br.then.loc)
                bound.append(BoundCase(condition: cond, value: v))
            }
            let other = try otherwise.map { x throws(PlanError) in try sub(x) }
            if let o = other { try unify(o, e.loc) }
            // Branches of other numeric types are brought to the common one (a DECIMAL's scale
            // included, so that every row of the column has the column's scale).
            let t = type ?? .varchar
            func fit(_ v: BoundExpr) -> BoundExpr { Planner.isNumeric(v.type) && v.type != t && !Planner.isNull(v) ? .cast(v, t) : v }
            return .caseWhen(bound.map { BoundCase(condition: $0.condition, value: fit($0.value)) }, otherwise: other.map(fit), t)
        case .extract(let unit, let x):
            let v = try sub(x)
            guard v.type == .timestamp else { throw mismatch("EXTRACT", v, nil, x.loc) }
            return .call("EXTRACT", [.literal(.string(unit.rawValue), .varchar), v], unit == .epoch ? .double : .bigint)
        case .floorTo(let x, let unit):
            let v = try sub(x)
            guard v.type == .timestamp else { throw mismatch("FLOOR ... TO", v, nil, x.loc) }
            if unit == .month || unit == .year {
                return .call("FLOOR_MONTHS", [v, .literal(.int(unit == .year ? 12 : 1), .bigint)], .timestamp)
            }
            guard let ms = unit.millis else {
                throw Planner.error("plan.unsupported", "FLOOR(... TO \(unit.rawValue)) is not supported; units from MILLISECOND to YEAR are", e.loc)
            }
            return .call("FLOOR_TIME", [v, .literal(.interval(ms), .interval)], .timestamp)
        case .substring(let s, let from, let length):
            var args = [try sub(s), try sub(from)]
            if let l = length { args.append(try sub(l)) }
            return try function("SUBSTRING", args, e.loc)
        case .trim(let side, let chars, let x):
            var args = [try sub(x)]
            if let c = chars { args.append(try sub(c)) }
            return try function(side == .both ? "TRIM" : side == .leading ? "LTRIM" : "RTRIM", args, e.loc)
        case .function(let f):
            if f.over != nil {
                throw Planner.error("plan.misplaced-over", "an OVER window is allowed in the SELECT list of a query without GROUP BY or a window", e.loc,
                                    help: "compute it in a query of its own: CREATE STREAM ... AS SELECT ..., AVG(x) OVER (...) AS avg_x FROM ...")
            }
            if Planner.isAggregate(f) {
                throw Planner.error("plan.misplaced-aggregate", "aggregate \(f.name.name) is not allowed here", e.loc)
            }
            if f.filter != nil {
                throw Planner.error("bind.bad-arguments", "FILTER (WHERE ...) applies to aggregates, and \(f.name.name) is not one", e.loc)
            }
            var args: [BoundExpr] = []
            for a in f.arguments { args.append(try sub(a)) }
            return try function(f.name.name.uppercased(), args, e.loc, spelled: f.name.name)
        }
    }

    func literal(_ l: Literal, _ loc: NodeSpan) throws(PlanError) -> BoundExpr {
        switch l {
        case .number(let text):
            if !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let i = Int64(text) { return .literal(.int(i), .bigint) }
            // An exact numeric literal (a point, no exponent) is a DECIMAL of its digits, as SQL
            // says and Flink and KDA do: 0.908 is DECIMAL(3, 3). With an exponent, or more than 18
            // digits, it is a DOUBLE.
            if let d = Decimal64.literal(text) { return .literal(.decimal(d), .decimal(precision: max(d.precision, d.scale, 1), scale: d.scale)) }
            guard let d = Double(text) else { throw Planner.error("bind.bad-number", "\(text) is not a number this engine can hold", loc) }
            return .literal(.double(d), .double)
        case .string(let s): return .literal(.string(s), .varchar)
        case .bool(let b): return .literal(.bool(b), .boolean)
        case .null: return .literal(.null, .varchar)
        case .interval(let i): return .literal(.interval(i.millis), .interval)
        case .timestamp(let t):
            guard let ms = TimeFormat.parseISO8601(t) else { throw Planner.error("bind.bad-timestamp", "'\(t)' is not a timestamp", loc) }
            return .literal(.timestamp(ms), .timestamp)
        }
    }

    func column(_ qualifier: Identifier?, _ name: Identifier, _ scope: Scope, _ loc: NodeSpan) throws(PlanError) -> BoundExpr {
        func matches(_ e: Scope.Entry) -> Bool {
            func same(_ n: String) -> Bool { name.quoted ? n == name.name : n.lowercased() == name.name.lowercased() }
            let sameName = same(e.name) || e.also.map(same) == true
            let sameQualifier = qualifier.map { q in e.qualifier?.lowercased() == q.name.lowercased() } ?? true
            return sameName && sameQualifier && !e.changeKind
        }
        let found = scope.entries.indices.filter { matches(scope.entries[$0]) }
        if found.count > 1 {
            throw Planner.error("bind.ambiguous-column", "'\(name.name)' could be any of \(found.count) columns", loc, help: "qualify it with the relation's name")
        }
        guard let i = found.first else {
            // CURRENT_TIMESTAMP and LOCALTIMESTAMP are written without parentheses in standard SQL.
            if qualifier == nil, !name.quoted, ["CURRENT_TIMESTAMP", "LOCALTIMESTAMP"].contains(name.name.uppercased()) {
                return .call("NOW", [], .timestamp)
            }
            let candidates = scope.entries.filter { !$0.hidden || $0.name == "ROWTIME" }.map(\.name)
            var help = closestMatch(name.name, in: candidates).map { "did you mean '\($0)'?" }
            if name.quoted && help == nil {
                help = "\"\(name.name)\" in double quotes names a column; a string is written in single quotes: '\(name.name)'"
            }
            let label = (qualifier.map { $0.name + "." } ?? "") + name.name
            throw Planner.error("bind.unknown-column", "unknown column '\(label)'", loc, help: help)
        }
        let e = scope.entries[i]
        return .column(i, name: e.also != nil && e.name.lowercased() != name.name.lowercased() ? e.also! : e.name, e.type)
    }

    func mismatch(_ op: String, _ a: BoundExpr, _ b: BoundExpr?, _ loc: NodeSpan) -> PlanError {
        let types = b.map { "\(a.type.rawValue) and \($0.type.rawValue)" } ?? a.type.rawValue
        return Planner.error("bind.type-mismatch", "\(op) cannot be applied to \(types)", loc)
    }

    static func isNumeric(_ t: ColumnType) -> Bool {
        switch t {
        case .bigint, .double, .decimal: return true
        default: return false
        }
    }

    /// The type two numeric types meet in: DOUBLE if either is, else DECIMAL wide enough for both
    /// (a BIGINT as DECIMAL(18, 0)), else BIGINT.
    static func commonNumeric(_ a: ColumnType, _ b: ColumnType) -> ColumnType {
        if a == .double || b == .double { return .double }
        switch (a, b) {
        case (.decimal(let p1, let s1), .decimal(let p2, let s2)):
            let s = max(s1, s2)
            return .decimal(precision: min(Decimal64.maxPrecision, max(p1 - s1, p2 - s2) + s), scale: s)
        case (.decimal(_, let s), _), (_, .decimal(_, let s)): return .decimal(precision: Decimal64.maxPrecision, scale: s)
        default: return a
        }
    }

    /// DECIMAL(p, s) of a numeric type, for arithmetic (BIGINT: DECIMAL(18, 0)).
    static func decimalShape(_ t: ColumnType) -> (p: Int, s: Int) {
        if case .decimal(let p, let s) = t { return (p, s) }
        return (Decimal64.maxPrecision, 0)
    }
    static func isNull(_ e: BoundExpr) -> Bool { if case .literal(.null, _) = e { return true }; return false }

    /// Makes two expressions comparable: numbers with numbers, equal types, and a string literal
    /// compared with a TIMESTAMP read as a timestamp.
    func comparable(_ a: BoundExpr, _ b: BoundExpr, _ op: String, _ loc: NodeSpan) throws(PlanError) -> (BoundExpr, BoundExpr) {
        if Planner.isNull(a) || Planner.isNull(b) || a.type == b.type { return (a, b) }
        if Planner.isNumeric(a.type) && Planner.isNumeric(b.type) { return (a, b) }
        func asTimestamp(_ x: BoundExpr) throws(PlanError) -> BoundExpr? {
            guard case .literal(.string(let s), _) = x else { return nil }
            guard let ms = TimeFormat.parseISO8601(s) else { throw Planner.error("bind.bad-timestamp", "'\(s)' is not a timestamp", loc) }
            return .literal(.timestamp(ms), .timestamp)
        }
        if a.type == .timestamp, let t = try asTimestamp(b) { return (a, t) }
        if b.type == .timestamp, let t = try asTimestamp(a) { return (t, b) }
        throw mismatch(op, a, b, loc)
    }

    func arithmeticType(_ op: BinaryOperator, _ a: BoundExpr, _ b: BoundExpr, _ loc: NodeSpan) throws(PlanError) -> ColumnType {
        switch (a.type, b.type) {
        case (.bigint, .bigint): return .bigint
        case (.bigint, .double), (.double, .bigint), (.double, .double): return .double
        case (.decimal, .double), (.double, .decimal): return .double
        case (.decimal, .decimal), (.decimal, .bigint), (.bigint, .decimal):
            // Exact, at the scale Decimal64.resultScale gives (the evaluator computes at the same).
            let (p1, s1) = Planner.decimalShape(a.type), (p2, s2) = Planner.decimalShape(b.type)
            let s = Decimal64.resultScale(op.rawValue, s1, s2)
            let p: Int
            switch op {
            case .add, .subtract: p = max(p1 - s1, p2 - s2) + s + 1
            case .multiply: p = p1 + p2
            case .modulo: p = max(p1 - s1, p2 - s2) + s
            default: p = Decimal64.maxPrecision
            }
            return .decimal(precision: min(Decimal64.maxPrecision, max(p, s, 1)), scale: s)
        case (.timestamp, .interval) where op == .add || op == .subtract: return .timestamp
        case (.interval, .timestamp) where op == .add: return .timestamp
        case (.timestamp, .timestamp) where op == .subtract: return .interval
        case (.interval, .interval) where op == .add || op == .subtract: return .interval
        case (.interval, .bigint) where op == .multiply, (.bigint, .interval) where op == .multiply: return .interval
        default:
            if Planner.isNull(a) { return b.type }
            if Planner.isNull(b) { return a.type }
            throw mismatch(op.rawValue, a, b, loc)
        }
    }

    static let scalarFunctions = ["ABS", "ROUND", "FLOOR", "CEIL", "CEILING", "SQRT", "POWER", "POW", "LN", "EXP", "LOWER", "UPPER", "LENGTH",
                                  "CHAR_LENGTH", "SUBSTRING", "TRIM", "LTRIM", "RTRIM", "REPLACE", "CONCAT", "COALESCE", "NULLIF",
                                  "DATE_TRUNC", "TO_TIMESTAMP", "NOW", "CURRENT_TIMESTAMP", "PROCTIME", "LOCALTIMESTAMP",
                                  "MOD", "YEAR", "MONTH", "DAYOFMONTH", "DAY", "HOUR", "MINUTE", "SECOND", "DATE_FORMAT",
                                  "REGEXP_EXTRACT", "SPLIT_INDEX", "SPLIT_PART", "TSDIFF", "STEP",
                                  "UNIX_TIMESTAMP", "CURRENT_ROW_TIMESTAMP", "MONOTONIC", "POSITION", "OVERLAY", "INITCAP", "REGEX_REPLACE",
                                  "CHAR_TO_TIMESTAMP", "TIMESTAMP_TO_CHAR"]

    /// A scalar function call, with its arguments checked.
    func function(_ name: String, _ args: [BoundExpr], _ loc: NodeSpan, spelled: String? = nil) throws(PlanError) -> BoundExpr {
        func arity(_ range: ClosedRange<Int>) throws(PlanError) {
            guard range.contains(args.count) else {
                let want = range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
                throw Planner.error("bind.bad-arguments", "\(name) takes \(want) argument\(range.upperBound == 1 ? "" : "s"), not \(args.count)", loc)
            }
        }
        func numeric(_ i: Int) throws(PlanError) {
            guard Planner.isNumeric(args[i].type) || Planner.isNull(args[i]) else { throw mismatch(name, args[i], nil, loc) }
        }
        func text(_ i: Int) throws(PlanError) {
            guard args[i].type == .varchar else { throw mismatch(name, args[i], nil, loc) }
        }
        /// Argument `i`'s text, which must be a string literal (`refusal`: the error otherwise).
        func literal(_ i: Int, _ refusal: String) throws(PlanError) -> String {
            guard case .literal(.string(let s), _) = args[i] else { throw Planner.error("bind.bad-arguments", refusal, loc) }
            return s
        }
        switch name {
        case "ABS", "FLOOR", "CEIL", "CEILING":
            try arity(1...1)
            try numeric(0)
            var type = args[0].type
            if name != "ABS", case .decimal(let p, let s) = type { type = .decimal(precision: max(1, p - s), scale: 0) }
            return .call(name == "CEILING" ? "CEIL" : name, args, type)
        case "ROUND":
            try arity(1...2)
            try numeric(0)
            if args.count == 2 { try numeric(1) }
            if case .decimal(let p, let s) = args[0].type {
                // ROUND(DECIMAL(p, s), n) keeps n digits after the point (at most s): a constant n
                // is needed to know the result's type.
                var digits: Int64 = 0
                if args.count == 2 {
                    guard case .literal(.int(let n), _) = args[1] else {
                        throw Planner.error("bind.bad-arguments", "ROUND of a DECIMAL takes its number of digits as a whole-number literal", loc)
                    }
                    digits = n
                }
                let keep = Int(max(0, min(Int64(s), digits)))
                return .call(name, args, .decimal(precision: max(1, min(Decimal64.maxPrecision, p - s + keep + 1)), scale: keep))
            }
            return .call(name, args, args[0].type)
        case "SQRT", "LN", "EXP":
            try arity(1...1)
            try numeric(0)
            return .call(name, args, .double)
        case "POWER", "POW":
            try arity(2...2)
            try numeric(0)
            try numeric(1)
            return .call("POWER", args, .double)
        case "LOWER", "UPPER":
            try arity(1...1)
            try text(0)
            return .call(name, args, .varchar)
        case "LENGTH", "CHAR_LENGTH":
            try arity(1...1)
            try text(0)
            return .call("LENGTH", args, .bigint)
        case "SUBSTRING":
            try arity(2...3)
            try text(0)
            try numeric(1)
            if args.count == 3 { try numeric(2) }
            return .call(name, args, .varchar)
        case "TRIM", "LTRIM", "RTRIM":
            try arity(1...2)
            try text(0)
            if args.count == 2 { try text(1) }
            return .call(name, args, .varchar)
        case "REPLACE":
            try arity(3...3)
            for i in 0..<3 { try text(i) }
            return .call(name, args, .varchar)
        case "CONCAT":
            guard !args.isEmpty else { throw Planner.error("bind.bad-arguments", "CONCAT takes at least one argument", loc) }
            return .call(name, args, .varchar)
        case "COALESCE":
            guard !args.isEmpty else { throw Planner.error("bind.bad-arguments", "COALESCE takes at least one argument", loc) }
            let typed = args.filter { !Planner.isNull($0) }
            guard let t = typed.first?.type else { return .call(name, args, .varchar) }
            for a in typed where a.type != t && !(Planner.isNumeric(a.type) && Planner.isNumeric(t)) { throw mismatch(name, typed[0], a, loc) }
            let common = typed.dropFirst().reduce(t) { Planner.isNumeric($0) ? Planner.commonNumeric($0, $1.type) : $0 }
            return .call(name, args.map { Planner.isNumeric($0.type) && $0.type != common && !Planner.isNull($0) ? .cast($0, common) : $0 }, common)
        case "NULLIF":
            try arity(2...2)
            _ = try comparable(args[0], args[1], name, loc)
            return .call(name, args, args[0].type)
        case "DATE_TRUNC":
            try arity(2...2)
            guard case .literal(.string(let unitName), _) = args[0], let kw = Keyword.lookup(unitName),
                  let ms = Planner.unitMillis(kw) else {
                throw Planner.error("bind.bad-arguments", "DATE_TRUNC takes a unit in quotes: 'second', 'minute', 'hour' or 'day'", loc)
            }
            guard args[1].type == .timestamp else { throw mismatch(name, args[1], nil, loc) }
            return .call("FLOOR_TIME", [args[1], .literal(.interval(ms), .interval)], .timestamp)
        case "NOW", "CURRENT_TIMESTAMP", "PROCTIME", "LOCALTIMESTAMP":
            // The processing time: the engine's clock when the row is computed (a replay on a
            // manual clock is deterministic). Never folded into a constant.
            try arity(0...0)
            return .call("NOW", [], .timestamp)
        case "MOD":
            // Flink's MOD(a, b): the remainder, with the sign of a (as %).
            try arity(2...2)
            try numeric(0)
            try numeric(1)
            return .arithmetic("%", args[0], args[1], try arithmeticType(.modulo, args[0], args[1], loc))
        case "YEAR", "MONTH", "DAYOFMONTH", "DAY", "HOUR", "MINUTE", "SECOND":
            // Flink's shorthands for EXTRACT(unit FROM ts).
            try arity(1...1)
            guard args[0].type == .timestamp || Planner.isNull(args[0]) else { throw mismatch(name, args[0], nil, loc) }
            let unit = name == "DAYOFMONTH" ? "DAY" : name
            return .call("EXTRACT", [.literal(.string(unit), .varchar), args[0]], .bigint)
        case "DATE_FORMAT":
            // DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss'): Flink's (Java's) pattern letters, in UTC.
            try arity(2...2)
            guard args[0].type == .timestamp || Planner.isNull(args[0]) else { throw mismatch(name, args[0], nil, loc) }
            let pattern = try literal(1, "DATE_FORMAT takes its pattern as a string literal, such as 'yyyy-MM-dd HH:mm'")
            if let bad = DateFormatPattern.problem(pattern) { throw Planner.error("bind.bad-arguments", "DATE_FORMAT: \(bad)", loc) }
            return .call(name, args, .varchar)
        case "REGEXP_EXTRACT":
            // REGEXP_EXTRACT(s, regex [, group]): the group (0: the whole match, the default) of the first match, NULL without one.
            try arity(2...3)
            try text(0)
            let pattern = try literal(1, "REGEXP_EXTRACT takes its regular expression as a string literal")
            guard let groups = RegexCheck.groups(pattern) else {
                throw Planner.error("bind.bad-arguments", "REGEXP_EXTRACT: '\(pattern)' is not a valid regular expression", loc)
            }
            if args.count == 3 {
                guard case .literal(.int(let g), _) = args[2], g >= 0, g <= Int64(groups) else {
                    throw Planner.error("bind.bad-arguments", "REGEXP_EXTRACT's group is a number from 0 to \(groups) (the groups of '\(pattern)')", loc)
                }
            }
            return .call(name, args, .varchar)
        case "SPLIT_INDEX", "SPLIT_PART":
            // SPLIT_INDEX(s, sep, i): Flink's, 0-based, NULL past the end; SPLIT_PART(s, sep, n): 1-based, '' past the end.
            try arity(3...3)
            try text(0)
            try text(1)
            try numeric(2)
            return .call(name, args, .varchar)
        case "STEP":
            // KDA's STEP(t BY INTERVAL ...) (the start of t's interval, counted from the epoch) and
            // STEP(n BY m) (n rounded down to a multiple of m). A GROUP BY on the first is a window.
            try arity(2...2)
            if args[0].type == .timestamp || Planner.isNull(args[0]) {
                guard case .literal(.interval(let ms), _) = args[1], ms > 0 else {
                    throw Planner.error("bind.bad-arguments", "STEP of a timestamp takes BY INTERVAL '...' unit, a positive interval of seconds to days", loc)
                }
                return .call("FLOOR_TIME", [args[0], args[1]], .timestamp)
            }
            guard args[0].type == .bigint, case .literal(.int(let m), _) = args[1], m > 0 else {
                throw Planner.error("bind.bad-arguments", "STEP takes a timestamp BY an interval, or an integer BY a positive whole number", loc)
            }
            // Rounded down, also below zero: n - MOD(n, m), less m when the remainder is negative.
            let rem = BoundExpr.arithmetic("%", args[0], args[1], .bigint)
            let down = BoundExpr.arithmetic("-", args[0], rem, .bigint)
            return .caseWhen([BoundCase(condition: .compare("<", rem, .literal(.int(0), .bigint)), value: .arithmetic("-", down, args[1], .bigint))], otherwise: down, .bigint)
        case "TSDIFF":
            // KDA's TSDIFF(a, b): a - b in milliseconds, NULL when either is; of timestamps, or of
            // epoch milliseconds (BIGINT) as KDA's reference has it.
            try arity(2...2)
            if args.allSatisfy({ $0.type == .bigint || Planner.isNull($0) }) { return .arithmetic("-", args[0], args[1], .bigint) }
            for i in 0..<2 where args[i].type != .timestamp && !Planner.isNull(args[i]) { throw mismatch(name, args[i], nil, loc) }
            return .call(name, args, .bigint)
        case "UNIX_TIMESTAMP":
            // KDA's: a timestamp as milliseconds since the epoch.
            try arity(1...1)
            guard args[0].type == .timestamp || Planner.isNull(args[0]) else { throw mismatch(name, args[0], nil, loc) }
            return .call("TSDIFF", [args[0], .literal(.timestamp(0), .timestamp)], .bigint)
        case "CURRENT_ROW_TIMESTAMP":
            // KDA's: the time each row is computed (NOW() is that in Sluice too).
            try arity(0...0)
            return .call("NOW", [], .timestamp)
        case "MONOTONIC":
            // KDA's promise that a value never goes back: the value itself.
            try arity(1...1)
            return args[0]
        case "POSITION":
            try arity(2...2)
            try text(0)
            try text(1)
            return .call(name, args, .bigint)
        case "OVERLAY":
            try arity(3...4)
            try text(0)
            try text(1)
            try numeric(2)
            if args.count == 4 { try numeric(3) }
            return .call(name, args, .varchar)
        case "INITCAP":
            try arity(1...1)
            try text(0)
            return .call(name, args, .varchar)
        case "REGEX_REPLACE":
            // KDA's REGEX_REPLACE(s, regex, replacement, start, occurrence): from `start` (1-based),
            // the `occurrence`-th match (0: every one) replaced; $n in the replacement is group n.
            try arity(5...5)
            for i in 0..<3 { try text(i) }
            try numeric(3)
            try numeric(4)
            if case .literal(.string(let pattern), _) = args[1], RegexCheck.groups(pattern) == nil {
                throw Planner.error("bind.bad-arguments", "REGEX_REPLACE: '\(pattern)' is not a valid regular expression", loc)
            }
            return .call(name, args, .varchar)
        case "SIMILAR_TO":
            // s SIMILAR TO pattern [ESCAPE c]: the pattern (a literal) as a regular expression.
            try arity(2...3)
            try text(0)
            let pattern = try literal(1, "SIMILAR TO takes its pattern as a string literal")
            var escape: Character? = nil
            if args.count == 3 {
                guard case .literal(.string(let e), _) = args[2], e.count == 1 else {
                    throw Planner.error("bind.bad-arguments", "SIMILAR TO's ESCAPE is one character in quotes", loc)
                }
                escape = e.first
            }
            guard let regex = SimilarPattern.regex(pattern, escape: escape), RegexCheck.groups(regex) != nil else {
                throw Planner.error("bind.bad-arguments", "'\(pattern)' is not a SIMILAR TO pattern", loc,
                                    help: "% is any text, _ one character; ( ) | [ ] * + ? { } as in regular expressions; escape others with ESCAPE")
            }
            return .call("REGEXP_FULL_MATCH", [args[0], .literal(.string(regex), .varchar)], .boolean)
        case "CHAR_TO_TIMESTAMP", "TIMESTAMP_TO_CHAR":
            // KDA's CHAR_TO_TIMESTAMP(format, text) and TIMESTAMP_TO_CHAR(format, ts): Java's
            // date pattern letters, UTC. Text that does not fit the format is an error of the row.
            try arity(2...2)
            let pattern = try literal(0, "\(name) takes its format as a string literal, such as 'yyyy-MM-dd HH:mm:ss'")
            if let bad = DateFormatPattern.problem(pattern) { throw Planner.error("bind.bad-arguments", "\(name): \(bad)", loc) }
            if name == "CHAR_TO_TIMESTAMP" {
                try text(1)
                return .call(name, [args[1], args[0]], .timestamp)
            }
            guard args[1].type == .timestamp || Planner.isNull(args[1]) else { throw mismatch(name, args[1], nil, loc) }
            // A NULL timestamp is the text 'null', as KDA's reference gives it.
            return .call("COALESCE", [.call("DATE_FORMAT", [args[1], args[0]], .varchar), .literal(.string("null"), .varchar)], .varchar)
        case "TO_TIMESTAMP":
            try arity(1...1)
            guard Planner.isNumeric(args[0].type) || args[0].type == .varchar else { throw mismatch(name, args[0], nil, loc) }
            return .call(name, args, .timestamp)
        case "TUMBLE", "HOP", "SESSION", "TUMBLE_START", "TUMBLE_END", "HOP_START", "HOP_END":
            throw Planner.error("bind.window-in-group-by", "\(name)(...) as an expression is the older Flink form of a window; Sluice puts the window in FROM", loc,
                                help: "write FROM TUMBLE(stream, ts, INTERVAL '1' MINUTE) ... GROUP BY window_start, window_end, ...; the window's bounds are the columns window_start and window_end")
        case "REGEX_LOG_PARSE", "W3C_LOG_PARSE", "VARIABLE_COLUMN_LOG_PARSE", "FIXED_COLUMN_LOG_PARSE", "FAST_REGEX_LOG_PARSE", "FAST_REGEX_LOG_PARSER", "SYS_LOG_PARSE":
            throw Planner.error("bind.kda-not-yet", "KDA's log parser \(name) gives a row, which Sluice reads as a select item of its own", loc,
                                help: "SELECT \(name)(...) AS rec FROM s in a subquery, and t.rec.COLUMN1 around it")
        case "EXP_AVG", "NTH_VALUE":
            throw Planner.error("bind.bad-arguments", "\(name) is an analytic function: it needs OVER (PARTITION BY ... RANGE INTERVAL ... PRECEDING)", loc)
        default:
            let known = Planner.scalarFunctions + Array(Planner.aggregateNames)
            let help = closestMatch(name, in: known).map { "did you mean \($0)?" }
            throw Planner.error("bind.unknown-function", "unknown function \(spelled ?? name)", loc, help: help)
        }
    }

    static func unitMillis(_ k: Keyword) -> Int64? {
        switch k {
        case .MILLISECOND, .MILLISECONDS: return 1
        case .SECOND, .SECONDS: return 1000
        case .MINUTE, .MINUTES: return 60_000
        case .HOUR, .HOURS: return 3_600_000
        case .DAY, .DAYS: return 86_400_000
        default: return nil
        }
    }
}

extension Planner {
    /// A timestamp reduced to the part a DATE or TIME keeps: its day's midnight (UTC), or its
    /// time of day on 1970-01-01.
    static func keeping(_ part: TimePart, of t: BoundExpr) -> BoundExpr {
        let midnight = BoundExpr.call("FLOOR_TIME", [t, .literal(.interval(86_400_000), .interval)], .timestamp)
        switch part {
        case .date: return midnight
        case .time: return .arithmetic("+", .literal(.timestamp(0), .timestamp), .arithmetic("-", t, midnight, .interval), .timestamp)
        }
    }
}
