/// Conversions of numbers that come from users (JSON requests, command lines, SQL, records):
/// every one is checked, so a value out of range is an error to report, never a trap.
extension Int64 {
    /// `value` rounded by `rule`, or nil when that is not a number Int64 holds (NaN, infinite,
    /// or beyond ±(2^63 − 1): −2^63 is refused too, so that `abs` of the result cannot trap).
    public init?(checking value: Double, rounding rule: FloatingPointRoundingRule = .toNearestOrAwayFromZero) {
        let r = value.rounded(rule)
        guard r.isFinite, r > -9_223_372_036_854_775_808.0, r < 9_223_372_036_854_775_808.0 else { return nil }
        self.init(r)
    }
}

extension Int {
    /// `value` rounded by `rule`, or nil when that is not a number Int holds.
    public init?(checking value: Double, rounding rule: FloatingPointRoundingRule = .toNearestOrAwayFromZero) {
        guard let v = Int64(checking: value, rounding: rule) else { return nil }
        self.init(v)
    }

    /// `value` rounded toward zero and clamped to Int's range (NaN: nil). For positions and
    /// lengths, where a huge value means "all of it".
    public init?(clampingToward value: Double) {
        guard !value.isNaN else { return nil }
        if value >= 9.2e18 { self = .max } else if value <= -9.2e18 { self = .min } else { self.init(value.rounded(.towardZero)) }
    }
}

public enum Millis {
    /// Seconds (a JSON number, a command-line value) as whole milliseconds, or nil when out of
    /// range.
    /// The latest time any timestamp of a request may name: 9999-12-31T23:59:59.999Z (and as
    /// far before 1970 as negative), so that arithmetic on it cannot overflow.
    public static let maxTimestamp: Int64 = 253_402_300_799_999

    public static func fromSeconds(_ seconds: Double) -> Int64? { Int64(checking: seconds * 1000) }

    /// `value × scale`, or nil when it overflows.
    public static func scaled(_ value: Int64, by scale: Int64) -> Int64? {
        let (r, overflow) = value.multipliedReportingOverflow(by: scale)
        return overflow ? nil : r
    }
}
