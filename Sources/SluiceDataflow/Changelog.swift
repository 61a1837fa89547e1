public import SluiceCore

/// The state of one aggregate over an updating input: rows come and go (`-U`, `-D` withdraw a row
/// added before), so the state keeps what a withdrawal needs: counts and sums, and for MIN, MAX
/// and COUNT(DISTINCT) how many times each value is held.
public struct RetractableState: Sendable, Equatable {
    public let function: AggregateFunction
    /// Non-NULL values held (rows, for COUNT(*)).
    public private(set) var n: Int64 = 0
    private var sumInt: Int64 = 0
    private var sum: Double = 0
    private var sumSquares: Double = 0
    private var doubles = false
    /// DECIMAL values: their exact total, unscaled at `decimalScale` (the first value's scale).
    private var sumDecimal: Int128 = 0
    private var decimalScale: Int? = nil
    /// MIN, MAX, COUNT(DISTINCT): each value held and how many times.
    private var counts: [Value: Int64] = [:]
    /// MIN / MAX: the extreme of `counts`, found again when its last copy is withdrawn.
    private var extreme: Value? = nil

    public init(_ function: AggregateFunction) { self.function = function }

    /// Adds (`sign` 1) or withdraws (`sign` -1) a value; NULLs count for nothing, as SQL says.
    public mutating func apply(_ v: Value, sign: Int64) {
        if function == .countStar { n += sign; return }
        let number: Double
        switch v {
        case .null: return
        case .int(let i), .timestamp(let i), .interval(let i):
            number = Double(i)
            sumInt &+= sign &* i
        case .double(let d):
            number = d
            doubles = true
        case .decimal(let d):
            number = d.doubleValue
            let s = decimalScale ?? d.scale
            decimalScale = s
            if let u = d.rescaled(to: s)?.unscaled { sumDecimal += Int128(sign) * Int128(u) }
        case .bool(let b): number = b ? 1 : 0
        case .string: number = 0
        }
        n += sign
        switch function {
        case .sum, .avg, .stddevSamp, .stddevPop, .varSamp, .varPop:
            sum += Double(sign) * number
            sumSquares += Double(sign) * number * number
        case .min, .max, .countDistinct:
            let c = (counts[v] ?? 0) + sign
            counts[v] = c > 0 ? c : nil
            guard function != .countDistinct else { break }
            if sign > 0 {
                if let e = extreme, !better(v, than: e) {} else { extreme = v }
            } else if c <= 0, extreme == v {
                extreme = nil
                for k in counts.keys where extreme == nil || better(k, than: extreme!) { extreme = k }
            }
        default: break
        }
        if n == 0 { sum = 0; sumSquares = 0; sumInt = 0; doubles = false; sumDecimal = 0; decimalScale = nil }
    }

    private func better(_ a: Value, than b: Value) -> Bool {
        let c = GroupKeyOrder.compare(a, b)
        return function == .min ? c < 0 : c > 0
    }

    /// The SQL result, typed as `type`.
    public func result(as type: ColumnType) -> Value {
        switch function {
        case .countStar, .count: return .int(n)
        case .countDistinct: return .int(Int64(counts.count))
        case .min, .max: return extreme ?? .null
        case .sum:
            guard n > 0 else { return .null }
            if case .decimal(_, let s) = type {
                return Decimal64.fitting(sumDecimal, scale: decimalScale ?? s).flatMap { $0.rescaled(to: s) }.map { .decimal($0) } ?? .null
            }
            return type == .bigint && !doubles ? .int(sumInt) : .double(sum)
        case .avg:
            guard n > 0 else { return .null }
            if case .decimal(_, let s) = type {
                let from = decimalScale ?? s
                guard s >= from else { return .null }
                let mean = Decimal64.divideRounding(sumDecimal * Decimal64.pow10(s - from), Int128(n))
                return Decimal64.fitting(mean, scale: s).map { .decimal($0) } ?? .null
            }
            return .double(sum / Double(n))
        case .varPop, .stddevPop, .varSamp, .stddevSamp:
            let sample = function == .varSamp || function == .stddevSamp
            guard n > (sample ? 1 : 0) else { return .null }
            let mean = sum / Double(n)
            let m2 = max(0, sumSquares - Double(n) * mean * mean)
            let variance = m2 / Double(sample ? n - 1 : n)
            return .double(function == .varPop || function == .varSamp ? variance : variance.squareRoot())
        default: return .null
        }
    }

    public var snapshot: JSONValue {
        var o: JSONObject = ["f": .string(function.rawValue), "n": .int(n)]
        if sumInt != 0 { o["si"] = .int(sumInt) }
        if sum != 0 { o["s"] = .double(sum) }
        if sumSquares != 0 { o["ss"] = .double(sumSquares) }
        if doubles { o["d"] = true }
        if let ds = decimalScale { o["ds"] = .int(Int64(ds)); o["sd"] = .string(String(sumDecimal)) }
        if !counts.isEmpty {
            o["counts"] = .array(counts.keys.sorted { GroupKeyOrder.compare($0, $1) < 0 }.map { .array([$0.snapshot, .int(counts[$0]!)]) })
        }
        if let e = extreme { o["x"] = e.snapshot }
        return .object(o)
    }

    public init(snapshot j: JSONValue) throws(SnapshotError) {
        guard let name = j["f"]?.stringValue, let f = AggregateFunction(rawValue: name), let n = j["n"]?.int64Value else {
            throw SnapshotError("an aggregate state over changes is malformed")
        }
        function = f
        self.n = n
        sumInt = j["si"]?.int64Value ?? 0
        sum = j["s"]?.doubleValue ?? 0
        sumSquares = j["ss"]?.doubleValue ?? 0
        doubles = j["d"] == .bool(true)
        if let ds = j["ds"]?.int64Value {
            guard let text = j["sd"]?.stringValue, let total = Int128(text) else { throw SnapshotError("an aggregate state over changes is malformed") }
            decimalScale = Int(ds)
            sumDecimal = total
        }
        for e in j["counts"]?.arrayValue ?? [] {
            guard let pair = e.arrayValue, pair.count == 2, let c = pair[1].int64Value else { throw SnapshotError("an aggregate state over changes is malformed") }
            counts[try Value(snapshot: pair[0])] = c
        }
        if let x = j["x"] { extreme = try Value(snapshot: x) }
    }
}
