/// An exact decimal number, `unscaled / 10^scale`, held in 64 bits: the values of DECIMAL(p, s)
/// for p up to 18. Arithmetic is exact (an intermediate is 128 bits wide); a result that does not
/// fit 18 digits is an overflow (nil), never a rounded surprise. Rounding, where a scale is cut
/// (a CAST, a division, a value read with more fraction digits than its column keeps), is half
/// away from zero, as SQL engines round DECIMAL.
///
/// Equality and hashing are by value: 1.50 equals 1.5.
public struct Decimal64: Sendable, Hashable, CustomStringConvertible {
    public var unscaled: Int64
    public var scale: Int

    /// The most digits a value holds (Int64 holds every 18-digit number).
    public static let maxPrecision = 18

    public init(unscaled: Int64, scale: Int) {
        self.unscaled = unscaled
        self.scale = scale
    }

    public init(_ i: Int64) { self.init(unscaled: i, scale: 0) }

    static let limit: Int128 = 999_999_999_999_999_999

    /// 10^n for n in 0...38.
    @inline(__always)
    public static func pow10(_ n: Int) -> Int128 {
        var p: Int128 = 1
        for _ in 0..<n { p *= 10 }
        return p
    }

    /// A value from a 128-bit unscaled number, nil when it has more than 18 digits.
    public static func fitting(_ u: Int128, scale: Int) -> Decimal64? {
        guard u >= -limit, u <= limit else { return nil }
        return Decimal64(unscaled: Int64(u), scale: scale)
    }

    /// `n / d` rounded half away from zero (d > 0).
    public static func divideRounding(_ n: Int128, _ d: Int128) -> Int128 {
        let (q, r) = n.quotientAndRemainder(dividingBy: d)
        if r == 0 { return q }
        let twice = r.magnitude * 2
        return twice >= d.magnitude ? (n < 0 ? q - 1 : q + 1) : q
    }

    /// The same value at another scale: exact when the scale grows, rounded when it shrinks; nil
    /// when it no longer fits 18 digits.
    public func rescaled(to s: Int) -> Decimal64? {
        if s == scale { return self }
        let u = Int128(unscaled)
        if s > scale {
            guard s - scale <= 36 else { return unscaled == 0 ? Decimal64(unscaled: 0, scale: s) : nil }
            return Decimal64.fitting(u * Decimal64.pow10(s - scale), scale: s)
        }
        guard scale - s <= 36 else { return Decimal64(unscaled: 0, scale: s) }
        return Decimal64.fitting(Decimal64.divideRounding(u, Decimal64.pow10(scale - s)), scale: s)
    }

    /// How many digits the value has left of the point (0 for 0.5): what DECIMAL(p, s) bounds by p - s.
    public var integerDigits: Int {
        var m = unscaled.magnitude
        for _ in 0..<scale { m /= 10 }
        var n = 0
        while m > 0 { n += 1; m /= 10 }
        return n
    }

    /// Whether the value fits DECIMAL(precision, its scale).
    public func fits(precision: Int) -> Bool { integerDigits <= precision - scale }

    public var doubleValue: Double {
        // Both exact below 2^53, so the quotient is the correctly rounded double.
        var d = Double(unscaled)
        var s = scale
        while s > 0 { let k = min(s, 22); d /= Double(Decimal64.pow10(k)); s -= k }
        return d
    }

    /// Digits with the point at `scale`: 0.908, -12.50, 3.
    public var description: String {
        var digits = String(unscaled.magnitude)
        if scale > 0 {
            if digits.count <= scale { digits = String(repeating: "0", count: scale - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
        }
        return unscaled < 0 ? "-" + digits : digits
    }

    public static func == (a: Decimal64, b: Decimal64) -> Bool { compare(a, b) == 0 }

    /// The same value without trailing zeros after the point (1.50 is 1.5): equal values alike.
    public var normalized: Decimal64 {
        var n = self
        while n.scale > 0 && n.unscaled % 10 == 0 { n.unscaled /= 10; n.scale -= 1 }
        return n
    }

    public func hash(into h: inout Hasher) {
        let n = normalized
        h.combine(n.unscaled)
        h.combine(n.scale)
    }

    /// Both unscaled values at the larger scale (128 bits: no overflow).
    @inline(__always)
    static func aligned(_ a: Decimal64, _ b: Decimal64) -> (Int128, Int128, Int) {
        let s = max(a.scale, b.scale)
        return (Int128(a.unscaled) * pow10(s - a.scale), Int128(b.unscaled) * pow10(s - b.scale), s)
    }

    public static func compare(_ a: Decimal64, _ b: Decimal64) -> Int {
        if a.scale == b.scale { return a.unscaled < b.unscaled ? -1 : (a.unscaled > b.unscaled ? 1 : 0) }
        let (x, y, _) = aligned(a, b)
        return x < y ? -1 : (x > y ? 1 : 0)
    }

    // MARK: Arithmetic (nil: the result needs more than 18 digits)

    public static func add(_ a: Decimal64, _ b: Decimal64) -> Decimal64? {
        let (x, y, s) = aligned(a, b)
        return fitting(x + y, scale: s)
    }

    public static func subtract(_ a: Decimal64, _ b: Decimal64) -> Decimal64? {
        let (x, y, s) = aligned(a, b)
        return fitting(x - y, scale: s)
    }

    /// The exact product at scale `a.scale + b.scale`, rounded to `scale` when that is smaller.
    public static func multiply(_ a: Decimal64, _ b: Decimal64, scale: Int? = nil) -> Decimal64? {
        let p = Int128(a.unscaled) * Int128(b.unscaled), s = a.scale + b.scale
        let target = scale ?? s
        if target >= s { return fitting(p * pow10(target - s), scale: target) }
        return fitting(divideRounding(p, pow10(s - target)), scale: target)
    }

    /// `a / b` rounded to `scale` digits; nil on overflow. The caller checks b ≠ 0.
    public static func divide(_ a: Decimal64, _ b: Decimal64, scale: Int) -> Decimal64? {
        // a/b = (ua / 10^sa) / (ub / 10^sb); at scale s the unscaled result is ua·10^(s - sa + sb) / ub.
        let shift = scale - a.scale + b.scale
        var n = Int128(a.unscaled), d = Int128(b.unscaled)
        if shift >= 0 {
            guard shift <= 20 else { return nil }
            n *= pow10(shift)
        } else {
            d *= pow10(-shift)
        }
        if d < 0 { n = -n; d = -d }
        return fitting(divideRounding(n, d), scale: scale)
    }

    /// The remainder of `a / b` with the sign of a (as %); the caller checks b ≠ 0.
    public static func remainder(_ a: Decimal64, _ b: Decimal64) -> Decimal64? {
        let (x, y, s) = aligned(a, b)
        return fitting(x % y, scale: s)
    }

    /// FLOOR (`up` false) or CEIL of a value: a whole number, at scale 0 (18 digits cannot overflow).
    public static func integral(_ x: Decimal64, up: Bool) -> Decimal64 {
        let f = Int64(pow10(x.scale))
        var q = x.unscaled / f
        let r = x.unscaled % f
        if r != 0 && (up ? r > 0 : r < 0) { q += up ? 1 : -1 }
        return Decimal64(unscaled: q, scale: 0)
    }

    // MARK: Conversions

    /// The nearest value at `scale` to a double; nil for NaN, infinities and values out of range.
    public init?(_ d: Double, scale: Int) {
        guard d.isFinite else { return nil }
        // The shortest decimal text of the double is the value users wrote: round from it, not
        // from its binary expansion (0.145 rounds to 0.15, as written).
        guard let v = Decimal64.parse(Array(d.description.utf8), scale: scale) else { return nil }
        self = v
    }

    /// Parses a number as text (`-12.5`, `3`, `.5`, `1.5e3`, with optional surrounding blanks
    /// left to the caller) to `scale` fraction digits, rounded half away from zero; nil when it
    /// is not a number or does not fit 18 digits.
    public static func parse<C: Collection>(_ text: C, scale: Int) -> Decimal64? where C.Element == UInt8 {
        var i = text.startIndex
        var negative = false
        if i < text.endIndex, text[i] == UInt8(ascii: "-") || text[i] == UInt8(ascii: "+") {
            negative = text[i] == UInt8(ascii: "-")
            i = text.index(after: i)
        }
        // Up to 37 significant digits collected; more left of the point do not fit, more after it
        // are dropped (37 digits decide any rounding to 18).
        var digits: Int128 = 0, significant = 0, fraction = 0, exponent = 0, sawDigit = false, sawPoint = false
        var extraInteger = 0
        while i < text.endIndex {
            let c = text[i]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                sawDigit = true
                if significant < 37 {
                    digits = digits * 10 + Int128(c - UInt8(ascii: "0"))
                    if digits != 0 { significant += 1 }
                    if sawPoint { fraction += 1 }
                } else if !sawPoint {
                    extraInteger += 1
                }
            } else if c == UInt8(ascii: ".") && !sawPoint {
                sawPoint = true
            } else if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                guard sawDigit else { return nil }
                i = text.index(after: i)
                var expNegative = false
                if i < text.endIndex, text[i] == UInt8(ascii: "-") || text[i] == UInt8(ascii: "+") {
                    expNegative = text[i] == UInt8(ascii: "-")
                    i = text.index(after: i)
                }
                var e = 0, sawExp = false
                while i < text.endIndex, text[i] >= UInt8(ascii: "0") && text[i] <= UInt8(ascii: "9") {
                    sawExp = true
                    if e < 10_000 { e = e * 10 + Int(text[i] - UInt8(ascii: "0")) }
                    i = text.index(after: i)
                }
                guard sawExp, i == text.endIndex else { return nil }
                exponent = expNegative ? -e : e
                break
            } else {
                return nil
            }
            i = text.index(after: i)
        }
        guard sawDigit else { return nil }
        if extraInteger > 0 { return nil }  // more than 37 digits left of the point
        // value = digits · 10^(exponent - fraction); at `scale`: digits · 10^(exponent - fraction + scale).
        let shift = exponent - fraction + scale
        var u: Int128
        if digits == 0 {
            u = 0
        } else if shift >= 0 {
            guard shift + significant <= 38 else { return nil }
            u = digits * pow10(shift)
        } else if -shift > 38 {
            u = 0
        } else {
            u = divideRounding(digits, pow10(-shift))
        }
        if negative { u = -u }
        return fitting(u, scale: scale)
    }

    /// The digits and scale a literal is written with (`0.908`: 908 at scale 3); nil when it has
    /// an exponent or more than 18 digits.
    public static func literal(_ text: String) -> Decimal64? {
        guard !text.contains(where: { $0 == "e" || $0 == "E" }) else { return nil }
        let scale = text.firstIndex(of: ".").map { text.distance(from: $0, to: text.endIndex) - 1 } ?? 0
        guard scale <= maxPrecision else { return nil }
        return parse(Array(text.utf8), scale: scale)
    }

    /// The scale of `a op b` for operands at scales `s1` and `s2` (a BIGINT at scale 0): exact for
    /// `+`, `-`, `%` and `*` (up to 18 fraction digits), and at least 6 digits for `/` (Flink's
    /// rule), which rounds half away from zero.
    public static func resultScale(_ op: String, _ s1: Int, _ s2: Int) -> Int {
        switch op {
        case "*": return min(maxPrecision, s1 + s2)
        case "/": return min(maxPrecision, max(6, s1))
        default: return max(s1, s2)
        }
    }

    /// SUM of DECIMAL(p, s) is DECIMAL(18, s); AVG is DECIMAL(18, this): exact to at least 6
    /// fraction digits (Flink's rule), rounded half away from zero.
    public static func averageScale(_ s: Int) -> Int { min(maxPrecision, max(s, 6)) }

    /// The precision a value needs at its scale (at least 1, at least its scale).
    public var precision: Int { max(1, integerDigits + scale) }
}
