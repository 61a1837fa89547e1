public import SluiceCore

/// The aggregate functions of DIALECT.md §4 that this module computes. Every state can be merged
/// with another, so hopping windows combine pane states instead of keeping one state per window.
public enum AggregateFunction: String, Sendable, CaseIterable {
    case countStar = "COUNT(*)"
    case count = "COUNT"
    case countDistinct = "COUNT(DISTINCT)"
    case sum = "SUM"
    case avg = "AVG"
    case min = "MIN"
    case max = "MAX"
    /// Sample standard deviation (STDDEV and STDDEV_SAMP): the deviation, not the variance.
    case stddevSamp = "STDDEV_SAMP"
    case stddevPop = "STDDEV_POP"
    case varSamp = "VAR_SAMP"
    case varPop = "VAR_POP"
    /// HyperLogLog, exact below 1,025 distinct values.
    case approxCountDistinct = "APPROX_COUNT_DISTINCT"
    /// A t-digest quantile.
    case percentile = "PERCENTILE"
    /// The value with the earliest (latest) event time; NULLs skipped.
    case firstValue = "FIRST_VALUE"
    case lastValue = "LAST_VALUE"
    /// OVER windows only: the value `parameter` rows before (after) the current one in its
    /// partition, else the spec's fallback. Not folded like the others (OverWindowOperator reads them).
    case lag = "LAG"
    case lead = "LEAD"
    /// OVER windows only (KDA's): the `parameter`-th value of the frame from its first row, NULL
    /// when the frame is shorter; and the average weighted by age, each row's weight halving every
    /// `parameter` milliseconds before the current row (EXP_AVG's half-life), NULLs skipped.
    case nthValue = "NTH_VALUE"
    case expAvg = "EXP_AVG"

    /// Functions the OVER operator computes from the frame's rows itself (not folded).
    public var readsRows: Bool { self == .lag || self == .lead || self == .nthValue || self == .expAvg }

    /// The result type for an argument of type `input`.
    public func resultType(_ input: ColumnType?) -> ColumnType {
        switch self {
        case .countStar, .count, .countDistinct, .approxCountDistinct: return .bigint
        case .percentile: return .double
        case .sum:
            if case .decimal(_, let s)? = input { return .decimal(precision: Decimal64.maxPrecision, scale: s) }
            return input == .bigint ? .bigint : .double
        case .min, .max, .firstValue, .lastValue, .lag, .lead, .nthValue: return input ?? .double
        case .expAvg: return .double
        case .avg:
            if case .decimal(_, let s)? = input { return AggregateFunction.averageType(scale: s) }
            return .double
        case .stddevSamp, .stddevPop, .varSamp, .varPop: return .double
        }
    }

    /// AVG of DECIMAL(p, s) (`Decimal64.averageScale`).
    public static func averageType(scale s: Int) -> ColumnType {
        .decimal(precision: Decimal64.maxPrecision, scale: Decimal64.averageScale(s))
    }
}

/// The running state of one aggregate for one group. Values are fed as Int64 (BIGINT, TIMESTAMP)
/// or Double; NULLs are skipped, as SQL says.
public enum AggregateState: Sendable, Equatable {
    case count(Int64)
    case sumInt(Int64, seen: Bool)
    case sumDouble(Double, seen: Bool)
    /// SUM and AVG of DECIMAL(p, s): the exact total of the unscaled values (128 bits: no
    /// overflow however many rows) and how many there were.
    case sumDecimal(Int128, n: Int64, scale: Int)
    /// MIN and MAX of DECIMAL(p, s): the unscaled extreme.
    case minDecimal(Int64?, scale: Int), maxDecimal(Int64?, scale: Int)
    /// Welford's running mean and sum of squared deviations.
    case moments(n: Int64, mean: Double, m2: Double)
    case minInt(Int64?), maxInt(Int64?)
    case minDouble(Double?), maxDouble(Double?)
    case minString(String?), maxString(String?)
    case distinct(Set<Value>)
    case sketch(HyperLogLog)
    case digest(TDigest, p: Double)
    /// FIRST_VALUE / LAST_VALUE: the value kept and its event time.
    case first(Value, at: Int64)
    case last(Value, at: Int64)

    public static func initial(_ f: AggregateFunction, input: ColumnType?, parameter: Double? = nil) -> AggregateState {
        switch f {
        case .approxCountDistinct: return .sketch(HyperLogLog())
        case .firstValue: return .first(.null, at: .max)
        case .lastValue: return .last(.null, at: .min)
        case .percentile: return .digest(TDigest(), p: parameter ?? 0.5)
        case .countStar, .count, .lag, .lead, .nthValue, .expAvg: return .count(0)
        case .countDistinct: return .distinct([])
        case .sum where input?.decimalScale != nil, .avg where input?.decimalScale != nil:
            return .sumDecimal(0, n: 0, scale: input?.decimalScale ?? 0)
        case .min where input?.decimalScale != nil: return .minDecimal(nil, scale: input?.decimalScale ?? 0)
        case .max where input?.decimalScale != nil: return .maxDecimal(nil, scale: input?.decimalScale ?? 0)
        case .sum: return input == .bigint ? .sumInt(0, seen: false) : .sumDouble(0, seen: false)
        case .avg, .stddevSamp, .stddevPop, .varSamp, .varPop: return .moments(n: 0, mean: 0, m2: 0)
        case .min:
            switch input {
            case .varchar?: return .minString(nil)
            case .double?: return .minDouble(nil)
            default: return .minInt(nil)
            }
        case .max:
            switch input {
            case .varchar?: return .maxString(nil)
            case .double?: return .maxDouble(nil)
            default: return .maxInt(nil)
            }
        }
    }

    /// Whether the state needs each value's event time (`add(_:at:)`).
    public var isTimed: Bool {
        switch self {
        case .first, .last: return true
        default: return false
        }
    }

    /// FIRST_VALUE / LAST_VALUE: a value at event time `t` (ties: the first seen stays first,
    /// the last seen becomes last). Other states ignore the time.
    public mutating func add(_ v: Value, at t: Int64) {
        if v.isNull { return }
        switch self {
        case .first(let cur, let at): if cur.isNull || t < at { self = .first(v, at: t) }
        case .last(let cur, let at): if cur.isNull || t >= at { self = .last(v, at: t) }
        default: add(v)
        }
    }

    /// COUNT(*): one more row.
    @inline(__always)
    public mutating func addRow() {
        if case .count(let n) = self { self = .count(n + 1) }
    }

    @inline(__always)
    public mutating func add(int v: Int64) {
        switch self {
        case .count(let n): self = .count(n + 1)
        case .sumInt(let s, _): self = .sumInt(s &+ v, seen: true)
        case .sumDouble(let s, _): self = .sumDouble(s + Double(v), seen: true)
        case .moments: add(double: Double(v))
        case .minInt(let m): self = .minInt(m.map { Swift.min($0, v) } ?? v)
        case .maxInt(let m): self = .maxInt(m.map { Swift.max($0, v) } ?? v)
        case .minDouble(let m): self = .minDouble(m.map { Swift.min($0, Double(v)) } ?? Double(v))
        case .maxDouble(let m): self = .maxDouble(m.map { Swift.max($0, Double(v)) } ?? Double(v))
        case .distinct(var s):
            self = .count(0)  // release the set's storage before mutating it
            s.insert(.int(v))
            self = .distinct(s)
        case .sketch(var h):
            self = .count(0)
            h.add(.int(v))
            self = .sketch(h)
        case .digest(var t, let p):
            self = .count(0)
            t.add(Double(v))
            self = .digest(t, p: p)
        case .first, .last: add(.int(v), at: 0)  // without a time, arrival order decides
        case .sumDecimal(let t, let n, let s): self = .sumDecimal(t + Int128(v), n: n + 1, scale: s)
        case .minDecimal(let m, let s): self = .minDecimal(m.map { Swift.min($0, v) } ?? v, scale: s)
        case .maxDecimal(let m, let s): self = .maxDecimal(m.map { Swift.max($0, v) } ?? v, scale: s)
        case .minString, .maxString: break
        }
    }

    @inline(__always)
    public mutating func add(double v: Double) {
        switch self {
        case .count(let n): self = .count(n + 1)
        case .sumInt(let s, _): self = .sumDouble(Double(s) + v, seen: true)
        case .sumDouble(let s, _): self = .sumDouble(s + v, seen: true)
        case .moments(let n, let mean, let m2):
            let n1 = n + 1
            let delta = v - mean
            let mean1 = mean + delta / Double(n1)
            self = .moments(n: n1, mean: mean1, m2: m2 + delta * (v - mean1))
        case .minDouble(let m): self = .minDouble(m.map { Swift.min($0, v) } ?? v)
        case .maxDouble(let m): self = .maxDouble(m.map { Swift.max($0, v) } ?? v)
        case .minInt(let m): self = .minDouble(m.map { Swift.min(Double($0), v) } ?? v)
        case .maxInt(let m): self = .maxDouble(m.map { Swift.max(Double($0), v) } ?? v)
        case .distinct(var s):
            self = .count(0)
            s.insert(.double(v))
            self = .distinct(s)
        case .sketch(var h):
            self = .count(0)
            h.add(.double(v))
            self = .sketch(h)
        case .digest(var t, let p):
            self = .count(0)
            t.add(v)
            self = .digest(t, p: p)
        case .first, .last: add(.double(v), at: 0)
        case .minString, .maxString, .sumDecimal, .minDecimal, .maxDecimal: break
        }
    }

    public mutating func add(_ v: Value) {
        if isTimed { add(v, at: 0); return }  // FIRST/LAST without a time: arrival order decides
        switch v {
        case .null: return
        case .int(let i), .timestamp(let i), .interval(let i): add(int: i)
        case .double(let d): add(double: d)
        case .decimal(let d):
            switch self {
            case .sumDecimal(_, _, let s), .minDecimal(_, let s), .maxDecimal(_, let s):
                // Values of the column share its scale; another scale is brought to it.
                if let u = (d.scale == s ? d : d.rescaled(to: s))?.unscaled { add(int: u) }
            case .distinct(var set): self = .count(0); set.insert(v); self = .distinct(set)
            case .sketch(var h): self = .count(0); h.add(v); self = .sketch(h)
            default: add(double: d.doubleValue)
            }
        case .bool(let b):
            if case .distinct(var s) = self { self = .count(0); s.insert(v); self = .distinct(s) }
            else if case .sketch(var h) = self { self = .count(0); h.add(v); self = .sketch(h) }
            else { add(int: b ? 1 : 0) }
        case .string(let str):
            switch self {
            case .count(let n): self = .count(n + 1)
            case .sketch(var h):
                self = .count(0)
                h.add(v)
                self = .sketch(h)
            case .minString(let m): self = .minString(m.map { Swift.min($0, str) } ?? str)
            case .maxString(let m): self = .maxString(m.map { Swift.max($0, str) } ?? str)
            case .distinct(var s):
                self = .count(0)
                s.insert(v)
                self = .distinct(s)
            default: break
            }
        }
    }

    /// Combines two partial states of the same aggregate (Chan et al. for the moments).
    public func merged(with o: AggregateState) -> AggregateState {
        switch (self, o) {
        case (.count(let a), .count(let b)): return .count(a + b)
        case (.sumInt(let a, let sa), .sumInt(let b, let sb)): return .sumInt(a &+ b, seen: sa || sb)
        case (.sumDouble(let a, let sa), .sumDouble(let b, let sb)): return .sumDouble(a + b, seen: sa || sb)
        case (.sumInt(let a, let sa), .sumDouble(let b, let sb)), (.sumDouble(let b, let sb), .sumInt(let a, let sa)):
            return .sumDouble(Double(a) + b, seen: sa || sb)
        case (.sumDecimal(let a, let na, let s), .sumDecimal(let b, let nb, _)): return .sumDecimal(a + b, n: na + nb, scale: s)
        case (.minDecimal(let a, let s), .minDecimal(let b, _)): return .minDecimal(opt(a, b, Swift.min), scale: s)
        case (.maxDecimal(let a, let s), .maxDecimal(let b, _)): return .maxDecimal(opt(a, b, Swift.max), scale: s)
        case (.moments(let n1, let m1, let q1), .moments(let n2, let m2, let q2)):
            if n1 == 0 { return o }
            if n2 == 0 { return self }
            let n = n1 + n2
            let delta = m2 - m1
            return .moments(n: n, mean: m1 + delta * Double(n2) / Double(n),
                            m2: q1 + q2 + delta * delta * Double(n1) * Double(n2) / Double(n))
        case (.minInt(let a), .minInt(let b)): return .minInt(opt(a, b, Swift.min))
        case (.maxInt(let a), .maxInt(let b)): return .maxInt(opt(a, b, Swift.max))
        case (.minDouble(let a), .minDouble(let b)): return .minDouble(opt(a, b, Swift.min))
        case (.maxDouble(let a), .maxDouble(let b)): return .maxDouble(opt(a, b, Swift.max))
        case (.minInt(let a), .minDouble(let b)), (.minDouble(let b), .minInt(let a)): return .minDouble(opt(a.map(Double.init), b, Swift.min))
        case (.maxInt(let a), .maxDouble(let b)), (.maxDouble(let b), .maxInt(let a)): return .maxDouble(opt(a.map(Double.init), b, Swift.max))
        case (.minString(let a), .minString(let b)): return .minString(opt(a, b, Swift.min))
        case (.maxString(let a), .maxString(let b)): return .maxString(opt(a, b, Swift.max))
        case (.distinct(let a), .distinct(let b)): return .distinct(a.union(b))
        case (.sketch(let a), .sketch(let b)): return .sketch(a.merged(with: b))
        case (.first(let a, let ta), .first(let b, let tb)): return a.isNull || (!b.isNull && tb < ta) ? o : self
        case (.last(let a, let ta), .last(let b, let tb)): return a.isNull || (!b.isNull && tb >= ta) ? o : self
        case (.digest(let a, let p), .digest(let b, _)): return .digest(a.merged(with: b), p: p)
        default: return self
        }
    }

    private func opt<T>(_ a: T?, _ b: T?, _ f: (T, T) -> T) -> T? {
        switch (a, b) {
        case (let x?, let y?): return f(x, y)
        case (let x?, nil): return x
        default: return b
        }
    }

    /// The SQL result of the aggregate, typed as `type` (MIN of a TIMESTAMP column is a TIMESTAMP).
    public func result(_ f: AggregateFunction, as type: ColumnType) -> Value {
        let v = result(f)
        switch (v, type) {
        case (.int(let i), .timestamp): return .timestamp(i)
        case (.int(let i), .interval): return .interval(i)
        case (.int(let i), .double): return .double(Double(i))
        case (.decimal(let d), .decimal(_, let s)) where d.scale != s: return d.rescaled(to: s).map { .decimal($0) } ?? .null
        case (.int(let i), .decimal(_, let s)): return Decimal64(i).rescaled(to: s).map { .decimal($0) } ?? .null
        default: return v
        }
    }

    /// The SQL result of the aggregate.
    public func result(_ f: AggregateFunction) -> Value {
        switch self {
        case .count(let n): return .int(n)
        case .distinct(let s): return .int(Int64(s.count))
        case .sketch(let h): return .int(h.estimate)
        case .first(let v, _), .last(let v, _): return v
        case .digest(let t, let p): return t.quantile(p).map { .double($0) } ?? .null
        case .sumInt(let s, let seen): return seen ? .int(s) : .null
        case .sumDouble(let s, let seen): return seen ? .double(s) : .null
        case .moments(let n, let mean, let m2):
            switch f {
            case .avg: return n == 0 ? .null : .double(mean)
            case .varPop: return n == 0 ? .null : .double(m2 / Double(n))
            case .varSamp: return n < 2 ? .null : .double(m2 / Double(n - 1))
            case .stddevPop: return n == 0 ? .null : .double((m2 / Double(n)).squareRoot())
            default: return n < 2 ? .null : .double((m2 / Double(n - 1)).squareRoot())
            }
        case .minInt(let m), .maxInt(let m): return m.map { .int($0) } ?? .null
        case .minDouble(let m), .maxDouble(let m): return m.map { .double($0) } ?? .null
        case .minString(let m), .maxString(let m): return m.map { .string($0) } ?? .null
        case .minDecimal(let m, let s), .maxDecimal(let m, let s): return m.map { .decimal(Decimal64(unscaled: $0, scale: s)) } ?? .null
        case .sumDecimal(let t, let n, let s):
            guard n > 0 else { return .null }
            if f == .avg {
                // The mean at AVG's scale, rounded; past 18 digits NULL, as Flink's DECIMAL overflow.
                let target = AggregateFunction.averageType(scale: s).decimalScale ?? s
                let num = t * Decimal64.pow10(target - s)
                return Decimal64.fitting(Decimal64.divideRounding(num, Int128(n)), scale: target).map { .decimal($0) } ?? .null
            }
            return Decimal64.fitting(t, scale: s).map { .decimal($0) } ?? .null
        }
    }
}
