public import SluiceCore

/// Scalar functions of DIALECT.md §4 (the planner resolves names and checks argument types).
public enum ScalarFunction: String, Sendable, CaseIterable {
    case abs = "ABS", round = "ROUND", floor = "FLOOR", ceil = "CEIL", sqrt = "SQRT", power = "POWER", ln = "LN", exp = "EXP"
    case lower = "LOWER", upper = "UPPER", length = "LENGTH", substring = "SUBSTRING", replace = "REPLACE", concat = "CONCAT"
    case trimBoth = "TRIM", trimLeading = "LTRIM", trimTrailing = "RTRIM"
    case coalesce = "COALESCE", nullif = "NULLIF"
    /// FLOOR(ts TO unit) and DATE_TRUNC('unit', ts): the unit's millis is the second argument.
    case floorTime = "FLOOR_TIME"
    /// FLOOR(ts TO MONTH | YEAR): the first instant of its calendar month (UTC); the second
    /// argument is the months to a step (1 or 12).
    case floorMonths = "FLOOR_MONTHS"
    /// EXTRACT(unit FROM ts): the unit name is the first argument.
    case extract = "EXTRACT"
    case toTimestamp = "TO_TIMESTAMP"
    /// NOW(), CURRENT_TIMESTAMP, PROCTIME(): the processing time of the batch (the engine's clock).
    case now = "NOW"
    /// DATE_FORMAT(ts, pattern): Java's pattern letters (Flink's), in UTC.
    case dateFormat = "DATE_FORMAT"
    /// REGEXP_EXTRACT(s, regex [, group]).
    case regexpExtract = "REGEXP_EXTRACT"
    /// SPLIT_INDEX(s, sep, i) (0-based, NULL past the end) and SPLIT_PART(s, sep, n) (1-based, '' past the end).
    case splitIndex = "SPLIT_INDEX", splitPart = "SPLIT_PART"
    /// TSDIFF(a, b): a - b in milliseconds (KDA's).
    case tsdiff = "TSDIFF"
    /// KDA's string functions: POSITION(search, source), OVERLAY(s, r, start[, length]),
    /// INITCAP(s), REGEX_REPLACE(s, regex, replacement, start, occurrence).
    case position = "POSITION", overlay = "OVERLAY", initcap = "INITCAP", regexReplace = "REGEX_REPLACE"
    /// CHAR_TO_TIMESTAMP(text, pattern): the pattern is Java's date letters (KDA's).
    case charToTimestamp = "CHAR_TO_TIMESTAMP"
    /// REGEXP_FULL_MATCH(s, regex): whether the whole of s matches (SIMILAR TO).
    case regexpFullMatch = "REGEXP_FULL_MATCH"
}

/// An expression ready to run: columns by position, types resolved by the planner.
public indirect enum PhysicalExpr: Sendable, Equatable {
    case column(Int)
    case literal(Value)
    case negate(PhysicalExpr)
    case not(PhysicalExpr)
    case arithmetic(ArithmeticOp, PhysicalExpr, PhysicalExpr)
    case compare(CompareOp, PhysicalExpr, PhysicalExpr)
    case and(PhysicalExpr, PhysicalExpr)
    case or(PhysicalExpr, PhysicalExpr)
    case isNull(PhysicalExpr, negated: Bool)
    case inList(PhysicalExpr, [PhysicalExpr], negated: Bool)
    case like(PhysicalExpr, pattern: String, escape: Character?, negated: Bool)
    case concat(PhysicalExpr, PhysicalExpr)
    case cast(PhysicalExpr, to: ColumnType)
    case caseWhen(branches: [WhenThen], otherwise: PhysicalExpr?)
    case call(ScalarFunction, [PhysicalExpr])
}

/// One `WHEN condition THEN value` of a CASE.
public struct WhenThen: Sendable, Equatable {
    public var condition: PhysicalExpr
    public var value: PhysicalExpr
    public init(_ condition: PhysicalExpr, _ value: PhysicalExpr) {
        self.condition = condition
        self.value = value
    }
}

public enum ArithmeticOp: String, Sendable { case add = "+", subtract = "-", multiply = "*", divide = "/", modulo = "%" }
public enum CompareOp: String, Sendable { case eq = "=", neq = "<>", lt = "<", le = "<=", gt = ">", ge = ">=" }

/// A row that an expression could not be computed for (it goes to the error stream).
public struct RowError: Sendable, Equatable {
    public var row: Int
    public var message: String
}

/// Evaluates physical expressions over a batch, a column at a time. SQL semantics: NULL in, NULL
/// out (AND/OR use three-valued logic); division by zero, overflow and bad casts are errors of
/// that row, reported, never a crash.
public struct Evaluator {
    public private(set) var errors: [RowError] = []
    /// The processing time NOW() reads (the engine's clock, set per batch); nil where there is
    /// none (constant folding at planning time), which makes NOW() an error there, never a value.
    public var now: Int64? = nil

    /// Patterns of DATE_FORMAT and REGEXP_EXTRACT, compiled once.
    private var datePatterns: [String: DateFormatPattern] = [:]
    private var regexes: [String: Regex<AnyRegexOutput>] = [:]
    private var byteRegexes: [String: ByteRegex?] = [:]

    public init() {}

    /// Clears the errors of the previous batch.
    public mutating func reset() { errors.removeAll(keepingCapacity: true) }

    public mutating func evaluate(_ e: PhysicalExpr, _ batch: Batch) -> [Value] {
        let n = batch.count
        switch e {
        case .column(let i): return (0..<n).map { batch.columns[i].value($0) }
        case .literal(let v): return Array(repeating: v, count: n)
        default: break
        }
        var out = [Value]()
        out.reserveCapacity(n)
        switch e {
        case .negate(let x):
            for (r, v) in evaluate(x, batch).enumerated() {
                switch v {
                case .int(let i):
                    if i == .min { fail(r, "integer overflow in -\(i)"); out.append(.null) } else { out.append(.int(-i)) }
                case .double(let d): out.append(.double(-d))
                case .interval(let i): out.append(.interval(-i))
                case .decimal(let d): out.append(.decimal(Decimal64(unscaled: -d.unscaled, scale: d.scale)))  // 18 digits negate exactly
                default: out.append(.null)
                }
            }
        case .not(let x):
            for v in evaluate(x, batch) { out.append(v.boolValue.map { .bool(!$0) } ?? .null) }
        case .and(let a, let b):
            for (x, y) in zip(evaluate(a, batch), evaluate(b, batch)) {
                switch (x.boolValue, y.boolValue) {
                case (false?, _), (_, false?): out.append(.bool(false))
                case (true?, true?): out.append(.bool(true))
                default: out.append(.null)
                }
            }
        case .or(let a, let b):
            for (x, y) in zip(evaluate(a, batch), evaluate(b, batch)) {
                switch (x.boolValue, y.boolValue) {
                case (true?, _), (_, true?): out.append(.bool(true))
                case (false?, false?): out.append(.bool(false))
                default: out.append(.null)
                }
            }
        case .arithmetic(let op, let a, let b):
            for (r, (x, y)) in zip(evaluate(a, batch), evaluate(b, batch)).enumerated() { out.append(arithmetic(op, x, y, row: r)) }
        case .compare(let op, let a, let b):
            for (x, y) in zip(evaluate(a, batch), evaluate(b, batch)) {
                guard let c = Evaluator.compare(x, y) else { out.append(.null); continue }
                let result: Bool
                switch op {
                case .eq: result = c == 0
                case .neq: result = c != 0
                case .lt: result = c < 0
                case .le: result = c <= 0
                case .gt: result = c > 0
                case .ge: result = c >= 0
                }
                out.append(.bool(result))
            }
        case .isNull(let x, let negated):
            for v in evaluate(x, batch) { out.append(.bool(v.isNull != negated)) }
        case .inList(let x, let list, let negated):
            let values = evaluate(x, batch)
            let options = list.map { evaluate($0, batch) }
            for (r, v) in values.enumerated() {
                if v.isNull { out.append(.null); continue }
                var found = false, sawNull = false
                for o in options {
                    if o[r].isNull { sawNull = true } else if Evaluator.compare(v, o[r]) == 0 { found = true; break }
                }
                out.append(found ? .bool(!negated) : (sawNull ? .null : .bool(negated)))
            }
        case .like(let x, let pattern, let escape, let negated):
            let p = LikePattern(pattern, escape: escape)
            for v in evaluate(x, batch) {
                guard case .string(let s) = v else { out.append(.null); continue }
                out.append(.bool(p.matches(s) != negated))
            }
        case .concat(let a, let b):
            for (x, y) in zip(evaluate(a, batch), evaluate(b, batch)) {
                if x.isNull || y.isNull { out.append(.null) } else { out.append(.string(Evaluator.text(x) + Evaluator.text(y))) }
            }
        case .cast(let x, let type):
            for (r, v) in evaluate(x, batch).enumerated() { out.append(cast(v, to: type, row: r)) }
        case .caseWhen(let branches, let otherwise):
            let conds = branches.map { evaluate($0.condition, batch) }
            let results = branches.map { evaluate($0.value, batch) }
            let fallback = otherwise.map { evaluate($0, batch) }
            for r in 0..<n {
                var v: Value = fallback?[r] ?? .null
                for i in branches.indices where conds[i][r].boolValue == true {
                    v = results[i][r]
                    break
                }
                out.append(v)
            }
        case .call(.now, _):
            guard let t = now else {
                for r in 0..<n { fail(r, "NOW() has no processing time here"); out.append(.null) }
                break
            }
            out = Array(repeating: .timestamp(t), count: n)
        case .call(let f, let args):
            let values = args.map { evaluate($0, batch) }
            for r in 0..<n { out.append(call(f, values.map { $0[r] }, row: r)) }
        case .column, .literal: break
        }
        return out
    }

    private mutating func fail(_ row: Int, _ message: String) { errors.append(RowError(row: row, message: message)) }

    // MARK: Arithmetic

    private mutating func arithmetic(_ op: ArithmeticOp, _ x: Value, _ y: Value, row: Int) -> Value {
        switch (x, y) {
        case (.null, _), (_, .null): return .null
        case (.int(let a), .int(let b)):
            switch op {
            case .add: return checked(a.addingReportingOverflow(b), "\(a) + \(b)", row)
            case .subtract: return checked(a.subtractingReportingOverflow(b), "\(a) - \(b)", row)
            case .multiply: return checked(a.multipliedReportingOverflow(by: b), "\(a) * \(b)", row)
            case .divide, .modulo:
                if b == 0 { fail(row, "division by zero (\(a) \(op.rawValue) 0)"); return .null }
                if a == .min && b == -1 { fail(row, "integer overflow in \(a) \(op.rawValue) -1"); return .null }
                return .int(op == .divide ? a / b : a % b)
            }
        case (.timestamp(let t), .interval(let i)):
            return op == .add ? timestamp(t.addingReportingOverflow(i), row)
                : op == .subtract ? timestamp(t.subtractingReportingOverflow(i), row) : .null
        case (.interval(let i), .timestamp(let t)) where op == .add: return timestamp(t.addingReportingOverflow(i), row)
        case (.timestamp(let a), .timestamp(let b)) where op == .subtract:
            return interval(a.subtractingReportingOverflow(b), "\(a) - \(b)", row)
        case (.interval(let a), .interval(let b)):
            return op == .add || op == .subtract
                ? interval(op == .add ? a.addingReportingOverflow(b) : a.subtractingReportingOverflow(b), "\(a) \(op.rawValue) \(b)", row) : .null
        case (.interval(let a), .int(let b)) where op == .multiply: return interval(a.multipliedReportingOverflow(by: b), "\(a) * \(b)", row)
        case (.int(let a), .interval(let b)) where op == .multiply: return interval(b.multipliedReportingOverflow(by: a), "\(a) * \(b)", row)
        case (.decimal(let a), .decimal(let b)): return decimal(op, a, b, row: row)
        case (.decimal(let a), .int(let b)): return decimal(op, a, Decimal64(b), row: row)
        case (.int(let a), .decimal(let b)): return decimal(op, Decimal64(a), b, row: row)
        default:
            guard let a = x.doubleValue, let b = y.doubleValue else { return .null }
            switch op {
            case .add: return .double(a + b)
            case .subtract: return .double(a - b)
            case .multiply: return .double(a * b)
            case .divide:
                if b == 0 { fail(row, "division by zero"); return .null }
                return .double(a / b)
            case .modulo:
                if b == 0 { fail(row, "division by zero"); return .null }
                return .double(a.truncatingRemainder(dividingBy: b))
            }
        }
    }

    /// Exact DECIMAL arithmetic at the scale the planner typed the result with
    /// (`Decimal64.resultScale`); past 18 digits it is an overflow of the row, as for BIGINT.
    private mutating func decimal(_ op: ArithmeticOp, _ a: Decimal64, _ b: Decimal64, row: Int) -> Value {
        let scale = Decimal64.resultScale(op.rawValue, a.scale, b.scale)
        let r: Decimal64?
        switch op {
        case .add: r = Decimal64.add(a, b)
        case .subtract: r = Decimal64.subtract(a, b)
        case .multiply: r = Decimal64.multiply(a, b, scale: scale)
        case .divide, .modulo:
            if b.unscaled == 0 { fail(row, "division by zero (\(a) \(op.rawValue) 0)"); return .null }
            r = op == .divide ? Decimal64.divide(a, b, scale: scale) : Decimal64.remainder(a, b)
        }
        guard let r else { fail(row, "decimal overflow in \(a) \(op.rawValue) \(b) (more than 18 digits)"); return .null }
        return .decimal(r)
    }

    private mutating func checked(_ r: (partialValue: Int64, overflow: Bool), _ what: String, _ row: Int) -> Value {
        if r.overflow { fail(row, "integer overflow in \(what)"); return .null }
        return .int(r.partialValue)
    }

    /// A timestamp an expression made: within `Millis.maxTimestamp` of 1970, as the decoders take
    /// them (so that windows, watermarks and formatting never meet one near the ends of Int64),
    /// else the row fails.
    private mutating func timestamp(_ r: (partialValue: Int64, overflow: Bool), _ row: Int) -> Value {
        let t = r.partialValue
        if r.overflow || t > Millis.maxTimestamp || t < -Millis.maxTimestamp {
            fail(row, "the timestamp is out of range (epoch milliseconds within \(Millis.maxTimestamp) of 1970, up to 9999-12-31T23:59:59.999Z)")
            return .null
        }
        return .timestamp(t)
    }

    private mutating func timestamp(_ t: Int64, _ row: Int) -> Value { timestamp((t, false), row) }

    private mutating func interval(_ r: (partialValue: Int64, overflow: Bool), _ what: String, _ row: Int) -> Value {
        if r.overflow { fail(row, "interval overflow in \(what) milliseconds"); return .null }
        return .interval(r.partialValue)
    }

    /// Three-way comparison of two non-NULL values of comparable types; nil for NULL.
    public static func compare(_ x: Value, _ y: Value) -> Int? {
        if x.isNull || y.isNull { return nil }
        return GroupKeyOrder.compare(x, y)
    }

    static func text(_ v: Value) -> String {
        switch v {
        case .string(let s): return s
        case .double(let d): return d.description
        case .timestamp(let t): return TimeFormat.iso8601(t)
        default: return v.description
        }
    }

    // MARK: Casts

    private mutating func cast(_ v: Value, to type: ColumnType, row: Int) -> Value {
        if v.isNull { return .null }
        func bad() -> Value {
            fail(row, "cannot cast \(Evaluator.describe(v)) to \(type.rawValue)")
            return .null
        }
        switch type {
        case .varchar: return .string(Evaluator.text(v))
        case .bigint:
            switch v {
            case .int: return v
            case .double(let d):
                guard let i = Int64(checking: d) else { return bad() }
                return .int(i)
            case .bool(let b): return .int(b ? 1 : 0)
            case .decimal(let d): return d.rescaled(to: 0).map { .int($0.unscaled) } ?? bad()
            case .string(let s): return Int64(s.trimmingCharacters(" ")).map { .int($0) } ?? bad()
            case .timestamp(let t), .interval(let t): return .int(t)
            default: return bad()
            }
        case .double:
            switch v {
            case .double: return v
            case .int(let i), .timestamp(let i), .interval(let i): return .double(Double(i))
            case .decimal(let d): return .double(d.doubleValue)
            case .bool(let b): return .double(b ? 1 : 0)
            case .string(let s): return Double(s.trimmingCharacters(" ")).map { .double($0) } ?? bad()
            default: return bad()
            }
        case .boolean:
            switch v {
            case .bool: return v
            case .int(let i): return .bool(i != 0)
            case .decimal(let d): return .bool(d.unscaled != 0)
            case .string(let s):
                switch s.trimmingCharacters(" ").lowercased() {
                case "true", "t", "1", "yes": return .bool(true)
                case "false", "f", "0", "no": return .bool(false)
                default: return bad()
                }
            default: return bad()
            }
        case .timestamp:
            switch v {
            case .timestamp: return v
            case .int(let i): return timestamp(i, row)
            case .string(let s): return TimeFormat.parseISO8601(s.trimmingCharacters(" ")).map { timestamp($0, row) } ?? bad()
            default: return bad()
            }
        case .interval:
            switch v {
            case .interval: return v
            case .int(let i): return .interval(i)
            default: return bad()
            }
        case .decimal(let p, let s):
            let d: Decimal64?
            switch v {
            case .decimal(let x): d = x.rescaled(to: s)
            case .int(let i): d = Decimal64(i).rescaled(to: s)
            case .double(let x): d = Decimal64(x, scale: s)
            case .bool(let b): d = Decimal64(b ? 1 : 0).rescaled(to: s)
            case .string(let text): d = Decimal64.parse(Array(text.trimmingCharacters(" ").utf8), scale: s)
            default: return bad()
            }
            guard let d, d.fits(precision: p) else { return bad() }
            return .decimal(d)
        }
    }

    static func describe(_ v: Value) -> String {
        if case .string(let s) = v { return "'\(s)'" }
        return v.description
    }

    // MARK: Functions

    private mutating func call(_ f: ScalarFunction, _ a: [Value], row: Int) -> Value {
        switch f {
        case .coalesce: return a.first { !$0.isNull } ?? .null
        case .nullif: return a.count == 2 && Evaluator.compare(a[0], a[1]) == 0 ? .null : a[0]
        case .concat:
            // CONCAT skips NULLs (unlike ||).
            return .string(a.filter { !$0.isNull }.map(Evaluator.text).joined())
        default: break
        }
        if a.contains(where: \.isNull) { return .null }
        switch f {
        case .abs:
            if case .int(let i) = a[0] {
                if i == .min { fail(row, "integer overflow in ABS"); return .null }
                return .int(Swift.abs(i))
            }
            if case .decimal(let d) = a[0] { return .decimal(Decimal64(unscaled: Swift.abs(d.unscaled), scale: d.scale)) }
            return a[0].doubleValue.map { .double(Swift.abs($0)) } ?? .null
        case .round:
            // Digits beyond ±308 (a double's range of powers of ten) change nothing more.
            let digits = a.count > 1 ? max(-308, min(308, Int(clampingToward: a[1].doubleValue ?? 0) ?? 0)) : 0
            if case .int = a[0], digits >= 0 { return a[0] }
            if case .decimal(let x) = a[0] {
                // Rounded to `digits` places (half away from zero), kept at that scale (at most its own).
                let keep = max(0, min(x.scale, digits))
                if digits >= x.scale { return a[0] }
                guard digits >= -18 else { return .decimal(Decimal64(unscaled: 0, scale: 0)) }
                let factor = Decimal64.pow10(x.scale - digits)
                let rounded = Decimal64.divideRounding(Int128(x.unscaled), factor) * factor
                guard let r = Decimal64.fitting(rounded, scale: x.scale)?.rescaled(to: keep) else { fail(row, "decimal overflow in ROUND(\(x))"); return .null }
                return .decimal(r)
            }
            if case .int(let i) = a[0] {
                // Negative digits: tens, hundreds, ... (half away from zero), exactly.
                guard digits >= -18 else { return .int(0) }
                let factor = Decimal64.pow10(-digits)
                guard let r = Decimal64.fitting(Decimal64.divideRounding(Int128(i), factor) * factor, scale: 0) else { fail(row, "integer overflow in ROUND(\(i))"); return .null }
                return .int(r.unscaled)
            }
            guard let d = a[0].doubleValue else { return .null }
            let scale = pow10(digits)
            let x = d * scale
            // A scale past a double's range: the value has no digits there to round.
            guard x.isFinite, scale.isFinite, scale > 0 else { return .double(d) }
            return .double(x.rounded(.toNearestOrAwayFromZero) / scale)
        case .floor:
            if case .int = a[0] { return a[0] }
            if case .decimal(let x) = a[0] { return .decimal(Decimal64.integral(x, up: false)) }
            return a[0].doubleValue.map { .double($0.rounded(.down)) } ?? .null
        case .ceil:
            if case .int = a[0] { return a[0] }
            if case .decimal(let x) = a[0] { return .decimal(Decimal64.integral(x, up: true)) }
            return a[0].doubleValue.map { .double($0.rounded(.up)) } ?? .null
        case .sqrt:
            guard let d = a[0].doubleValue else { return .null }
            if d < 0 { fail(row, "SQRT of a negative number (\(d))"); return .null }
            return .double(d.squareRoot())
        case .power:
            guard let x = a[0].doubleValue, let y = a[1].doubleValue else { return .null }
            return .double(cPow(x, y))
        case .ln:
            guard let d = a[0].doubleValue else { return .null }
            if d <= 0 { fail(row, "LN of a number that is not positive (\(d))"); return .null }
            return .double(cLog(d))
        case .exp:
            return a[0].doubleValue.map { .double(cExp($0)) } ?? .null
        case .lower: return .string(Evaluator.text(a[0]).lowercased())
        case .upper: return .string(Evaluator.text(a[0]).uppercased())
        case .length: return .int(Int64(Evaluator.text(a[0]).count))
        case .substring:
            let s = Array(Evaluator.text(a[0]))
            // 1-based, SQL style; positions and lengths beyond the string clamp to it.
            let start = max(-1 << 40, min(1 << 40, Int(clampingToward: a[1].doubleValue ?? 1) ?? 1))
            var from = start - 1
            var to = a.count > 2 ? from + max(0, min(1 << 40, Int(clampingToward: a[2].doubleValue ?? 0) ?? 0)) : s.count
            from = max(0, from)
            to = min(s.count, to)
            return .string(from < to ? String(s[from..<to]) : "")
        case .replace:
            return .string(Evaluator.text(a[0]).replacingAll(Evaluator.text(a[1]), with: Evaluator.text(a[2])))
        case .trimBoth, .trimLeading, .trimTrailing:
            let chars = Set(a.count > 1 ? Evaluator.text(a[1]) : " ")
            var s = Substring(Evaluator.text(a[0]))
            if f != .trimTrailing { while let c = s.first, chars.contains(c) { s = s.dropFirst() } }
            if f != .trimLeading { while let c = s.last, chars.contains(c) { s = s.dropLast() } }
            return .string(String(s))
        case .floorTime:
            guard case .timestamp(let t) = a[0], case .interval(let unit) = a[1], unit > 0 else { return .null }
            return timestamp(floorDiv(t, unit).multipliedReportingOverflow(by: unit), row)
        case .floorMonths:
            guard case .timestamp(let t) = a[0], case .int(let step) = a[1], step > 0 else { return .null }
            let f = TimeFormat.fields(t)
            let months = Int64(f.year) * 12 + Int64(f.month - 1)
            let start = floorDiv(months, step) * step
            let days = TimeFormat.daysFromCivil(year: Int(floorDiv(start, 12)), month: Int(start - floorDiv(start, 12) * 12) + 1, day: 1)
            return timestamp(Int64(days).multipliedReportingOverflow(by: 86_400_000), row)
        case .extract:
            guard case .string(let unit) = a[0], case .timestamp(let t) = a[1] else { return .null }
            let f = TimeFormat.fields(t)
            switch unit {
            case "YEAR": return .int(Int64(f.year))
            case "MONTH": return .int(Int64(f.month))
            case "DAY": return .int(Int64(f.day))
            case "HOUR": return .int(Int64(f.hour))
            case "MINUTE": return .int(Int64(f.minute))
            case "SECOND": return .int(Int64(f.second))
            case "MILLISECOND": return .int(Int64(f.second * 1000 + f.millisecond))
            case "DOW": return .int(Int64(TimeFormat.dayOfWeek(t)))  // 0 = Sunday
            case "DOY": return .int(Int64(TimeFormat.daysFromCivil(year: f.year, month: f.month, day: f.day)
                                          - TimeFormat.daysFromCivil(year: f.year, month: 1, day: 1) + 1))
            case "EPOCH": return .double(Double(t) / 1000)
            default: return .null
            }
        case .position:
            guard case .string(let search) = a[0], case .string(let source) = a[1] else { return .null }
            if search.isEmpty { return .int(1) }
            guard let r = source.range(of: search) else { return .int(0) }
            return .int(Int64(source.distance(from: source.startIndex, to: r.lowerBound) + 1))
        case .overlay:
            guard case .string(let s) = a[0], case .string(let r) = a[1], let start = a[2].doubleValue else { return .null }
            var length = r.count
            if a.count > 3 {
                guard let l = a[3].doubleValue else { return .null }
                guard l >= 0 else { fail(row, "OVERLAY's length is negative"); return .null }
                length = Int(clampingToward: l) ?? 0
            }
            // KDA's: a start before 1 puts the replacement's first (1 - start) characters before s.
            // Positions and lengths far past any string's are held to 2^40, so sums stay exact.
            let chars = Array(s)
            length = min(length, 1 << 40)
            let from = max(-(1 << 40), min(Int(clampingToward: start) ?? 1, 1 << 40))
            if from < 1 { return .string(r + String(chars.dropFirst(max(0, length - (1 - from))))) }
            let head = String(chars.prefix(from - 1)), tail = String(chars.dropFirst(from - 1 + length))
            return .string(head + r + tail)
        case .initcap:
            guard case .string(let s) = a[0] else { return .null }
            var out = "", start = true
            for c in s {
                out += start ? c.uppercased() : c.lowercased()
                start = c == " "
            }
            return .string(out)
        case .regexReplace:
            guard case .string(let s) = a[0], case .string(let pattern) = a[1], case .string(let replacement) = a[2],
                  let startValue = a[3].doubleValue, let occurrenceValue = a[4].doubleValue else { return .null }
            let start = Int(clampingToward: startValue) ?? 0, occurrence = Int(clampingToward: occurrenceValue) ?? 0
            guard start >= 1 else { fail(row, "REGEX_REPLACE's start position \(start) is before the first character"); return .null }
            guard occurrence >= 0 else { fail(row, "REGEX_REPLACE's occurrence \(occurrence) is negative"); return .null }
            guard let regex = regex(pattern) else { fail(row, "'\(pattern)' is not a valid regular expression"); return .null }
            let chars = Array(s)
            guard start <= chars.count else { return .string(s) }
            let head = String(chars.prefix(start - 1))
            var rest = String(chars.dropFirst(start - 1))
            var n = 0
            var out = ""
            var done = false
            while !done, let m = rest.firstMatch(of: regex) {
                n += 1
                out += rest[..<m.range.lowerBound]
                if occurrence == 0 || n == occurrence {
                    out += Evaluator.expand(replacement, m)
                    if occurrence != 0 { done = true }
                } else {
                    out += rest[m.range]
                }
                if m.range.isEmpty {
                    // An empty match moves on by one character.
                    guard m.range.upperBound < rest.endIndex else { rest = ""; break }
                    out.append(rest[m.range.upperBound])
                    rest = String(rest[rest.index(after: m.range.upperBound)...])
                } else {
                    rest = String(rest[m.range.upperBound...])
                }
            }
            return .string(head + out + rest)
        case .charToTimestamp:
            guard case .string(let text) = a[0], case .string(let pattern) = a[1] else { return .null }
            guard case .success(let p) = DateFormatPattern.compile(pattern), let t = p.parse(text) else {
                fail(row, "'\(text)' does not fit the format '\(pattern)'")
                return .null
            }
            return timestamp(t, row)
        case .regexpFullMatch:
            guard case .string(let s) = a[0], case .string(let pattern) = a[1] else { return .null }
            guard let regex = regex(pattern) else { fail(row, "'\(pattern)' is not a valid regular expression"); return .null }
            return .bool(s.wholeMatch(of: regex) != nil)
        case .tsdiff:
            guard case .timestamp(let x) = a[0], case .timestamp(let y) = a[1] else { return .null }
            let (d, over) = x.subtractingReportingOverflow(y)
            if over { fail(row, "TSDIFF overflows"); return .null }
            return .int(d)
        case .toTimestamp:
            switch a[0] {
            case .int(let ms): return timestamp(ms, row)
            case .double(let d):
                guard let ms = Int64(checking: d, rounding: .down) else { fail(row, "\(d) is out of the range of a timestamp"); return .null }
                return timestamp(ms, row)
            case .string(let s): return TimeFormat.parseISO8601(s).map { timestamp($0, row) } ?? { fail(row, "'\(s)' is not a timestamp"); return .null }()
            default: return .null
            }
        case .dateFormat:
            guard case .timestamp(let t) = a[0] else { return .null }
            let pattern = Evaluator.text(a[1])
            if let p = datePatterns[pattern] { return .string(p.format(t)) }
            switch DateFormatPattern.compile(pattern) {
            case .success(let p):
                datePatterns[pattern] = p
                return .string(p.format(t))
            case .failure(let e):
                fail(row, "DATE_FORMAT: \(e.message)")
                return .null
            }
        case .regexpExtract:
            let pattern = Evaluator.text(a[1])
            let group = a.count > 2 ? Int(clampingToward: a[2].doubleValue ?? 0) ?? 0 : 0
            var s = Evaluator.text(a[0])
            if let fast = byteRegex(pattern) {
                let outcome = s.withUTF8 { fast.firstMatch($0) }
                switch outcome {
                case .noMatch: return .null
                case .match(let groups):
                    guard group >= 0, group < groups.count, let r = groups[group] else { return .null }
                    return .string(s.withUTF8 { String(decoding: UnsafeBufferPointer(rebasing: $0[r]), as: UTF8.self) })
                case .gaveUp: break  // the general engine decides
                }
            }
            guard let regex = regex(pattern) else { fail(row, "'\(pattern)' is not a valid regular expression"); return .null }
            guard let m = s.firstMatch(of: regex), group >= 0, group < m.output.count, let sub = m.output[group].substring else { return .null }
            return .string(String(sub))
        case .splitIndex, .splitPart:
            var s = Evaluator.text(a[0]), sep = Evaluator.text(a[1])
            guard let n = Int(clampingToward: a[2].doubleValue ?? -1) else { return .null }
            let piece = Evaluator.piece(&s, &sep, f == .splitIndex ? n : n - 1)
            if f == .splitIndex { return piece.map { .string($0) } ?? .null }
            return .string(piece ?? "")
        case .coalesce, .nullif, .concat, .now: return .null
        }
    }

    /// Piece `k` (from 0) of `s` cut at every `sep`, nil past the last (an empty separator: one piece).
    static func piece(_ s: inout String, _ sep: inout String, _ k: Int) -> String? {
        guard k >= 0 else { return nil }
        return s.withUTF8 { b -> String? in
            sep.withUTF8 { p -> String? in
                guard !p.isEmpty else { return k == 0 ? String(decoding: b, as: UTF8.self) : nil }
                var start = 0, i = 0, index = 0
                let first = p[0], m = p.count
                while i + m <= b.count {
                    if b[i] == first && (m == 1 || memcmpEqual(b, i, p)) {
                        if index == k { return String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self) }
                        index += 1
                        i += m
                        start = i
                    } else {
                        i += 1
                    }
                }
                return index == k ? String(decoding: UnsafeBufferPointer(rebasing: b[start...]), as: UTF8.self) : nil
            }
        }
    }

    /// Whether `p` occurs in `b` at `i` (the caller checked there is room).
    @inline(__always)
    static func memcmpEqual(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ p: UnsafeBufferPointer<UInt8>) -> Bool {
        for j in 1..<p.count where b[i + j] != p[j] { return false }
        return true
    }

    /// The byte-level machine for a pattern it covers (compiled once; nil: the general engine).
    private mutating func byteRegex(_ pattern: String) -> ByteRegex? {
        if let r = byteRegexes[pattern] { return r }
        let r = ByteRegex(pattern)
        byteRegexes[pattern] = .some(r)
        return r
    }

    /// A regular expression compiled once per pattern.
    /// A replacement text with `$n` (group n of the match) and `\\$` (a dollar) filled in.
    static func expand(_ replacement: String, _ m: Regex<AnyRegexOutput>.Match) -> String {
        var out = ""
        var chars = Array(replacement)[...]
        while let c = chars.popFirst() {
            if c == "\\", let n = chars.popFirst() { out.append(n); continue }
            if c == "$", let d = chars.first?.wholeNumberValue {
                chars.removeFirst()
                if d < m.output.count, let sub = m.output[d].substring { out += sub }
                continue
            }
            out.append(c)
        }
        return out
    }

    private mutating func regex(_ pattern: String) -> Regex<AnyRegexOutput>? {
        if let r = regexes[pattern] { return r }
        guard let r = try? Regex(pattern) else { return nil }
        regexes[pattern] = r
        return r
    }
}

extension Value {
    var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .decimal(let x): return x.doubleValue
        default: return nil
        }
    }
}

/// A LIKE pattern: `%` any run of characters, `_` any one character, an optional escape character.
struct LikePattern {
    enum Piece { case literal(Character), one, any }
    let pieces: [Piece]

    init(_ pattern: String, escape: Character?) {
        var out: [Piece] = []
        var escaped = false
        for c in pattern {
            if escaped { out.append(.literal(c)); escaped = false; continue }
            if let e = escape, c == e { escaped = true; continue }
            switch c {
            case "%": out.append(.any)
            case "_": out.append(.one)
            default: out.append(.literal(c))
            }
        }
        pieces = out
    }

    func matches(_ s: String) -> Bool {
        let chars = Array(s)
        // Classic wildcard matching with backtracking to the last '%'.
        var i = 0, p = 0, star = -1, mark = 0
        while i < chars.count {
            if p < pieces.count {
                switch pieces[p] {
                case .one: i += 1; p += 1; continue
                case .literal(let c) where c == chars[i]: i += 1; p += 1; continue
                case .any: star = p; mark = i; p += 1; continue
                default: break
                }
            }
            if star >= 0 {
                p = star + 1
                mark += 1
                i = mark
            } else {
                return false
            }
        }
        while p < pieces.count, case .any = pieces[p] { p += 1 }
        return p == pieces.count
    }
}

extension String {
    func trimmingCharacters(_ c: Character) -> String {
        var s = Substring(self)
        while s.first == c { s = s.dropFirst() }
        while s.last == c { s = s.dropLast() }
        return String(s)
    }
}

func pow10(_ n: Int) -> Double { cPow(10, Double(n)) }

/// Physical expressions as EXPLAIN PHYSICAL prints them: columns by position (`#4`), SQL operators.
extension PhysicalExpr: CustomStringConvertible {
    public var description: String {
        switch self {
        case .column(let i): return "#\(i)"
        case .literal(let v):
            if case .string(let s) = v { return "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
            return v.description
        case .negate(let e): return "-(\(e))"
        case .not(let e): return "NOT (\(e))"
        case .arithmetic(let op, let a, let b): return "(\(a) \(op.rawValue) \(b))"
        case .compare(let op, let a, let b): return "\(a) \(op.rawValue) \(b)"
        case .and(let a, let b): return "(\(a) AND \(b))"
        case .or(let a, let b): return "(\(a) OR \(b))"
        case .isNull(let e, let negated): return "\(e) IS \(negated ? "NOT " : "")NULL"
        case .inList(let e, let list, let negated): return "\(e) \(negated ? "NOT " : "")IN (\(list.map(\.description).joined(separator: ", ")))"
        case .like(let e, let pattern, _, let negated): return "\(e) \(negated ? "NOT " : "")LIKE '\(pattern)'"
        case .concat(let a, let b): return "(\(a) || \(b))"
        case .cast(let e, let t): return "CAST(\(e) AS \(t.rawValue))"
        case .caseWhen(let branches, let otherwise):
            return "CASE " + branches.map { "WHEN \($0.condition) THEN \($0.value)" }.joined(separator: " ") + (otherwise.map { " ELSE \($0)" } ?? "") + " END"
        case .call(let f, let args): return "\(f.rawValue)(\(args.map(\.description).joined(separator: ", ")))"
        }
    }
}
