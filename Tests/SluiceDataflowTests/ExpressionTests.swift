import Testing
import SluiceCore
@testable import SluiceDataflow

@Suite("Expression evaluation")
struct ExpressionTests {
    /// A one-column batch per value list, evaluated row by row.
    func eval(_ e: PhysicalExpr, _ columns: [[Value]] = [[.null]]) -> (values: [Value], errors: [RowError]) {
        let n = columns.first?.count ?? 1
        let cols = columns.map { values -> Column in
            let type: ColumnType
            switch values.first(where: { !$0.isNull }) {
            case .int?: type = .bigint
            case .double?: type = .double
            case .bool?: type = .boolean
            case .timestamp?: type = .timestamp
            case .interval?: type = .interval
            default: type = .varchar
            }
            var b = ColumnBuilder(type)
            for v in values { _ = b.append(v) }
            return b.finish()
        }
        let batch = Batch(schema: Schema(cols.indices.map { Field("c\($0)", cols[$0].type) }), columns: cols, count: n)
        var ev = Evaluator()
        let v = ev.evaluate(e, batch)
        return (v, ev.errors)
    }

    func lit(_ v: Value) -> PhysicalExpr { .literal(v) }

    /// DECIMAL arithmetic is exact at the scales the planner types it with; a result past 18
    /// digits and a division by zero are errors of their row, never a wrapped or rounded value.
    @Test func decimalArithmeticWithErrorsPerRow() {
        func dec(_ u: Int64, _ s: Int) -> Value { .decimal(Decimal64(unscaled: u, scale: s)) }
        #expect(eval(.arithmetic(.multiply, lit(dec(908, 3)), lit(.int(100)))).values == [dec(90_800, 3)])
        #expect(eval(.arithmetic(.add, lit(dec(1, 1)), lit(dec(2, 2)))).values == [dec(12, 2)])
        #expect(eval(.arithmetic(.divide, lit(dec(1, 0)), lit(dec(3, 0)))).values == [dec(333_333, 6)])
        #expect(eval(.arithmetic(.multiply, lit(dec(908, 3)), lit(.double(2)))).values == [.double(1.816)])
        let big = eval(.arithmetic(.multiply, lit(dec(999_999_999_999_999_999, 0)), lit(.int(10))))
        #expect(big.values == [.null] && big.errors.first?.message.contains("decimal overflow") == true)
        let zero = eval(.arithmetic(.divide, lit(dec(5, 1)), lit(dec(0, 2))))
        #expect(zero.values == [.null] && zero.errors.first?.message.contains("division by zero") == true)
        #expect(eval(.negate(lit(dec(-125, 2)))).values == [dec(125, 2)])
        #expect(eval(.cast(lit(dec(12_345, 3)), to: .decimal(precision: 4, scale: 2))).values == [dec(1235, 2)])
        #expect(eval(.cast(lit(dec(123_456, 2)), to: .decimal(precision: 4, scale: 2))).errors.count == 1)
        #expect(eval(.cast(lit(.string("abc")), to: .decimal(precision: 4, scale: 2))).errors.count == 1)
    }

    @Test func integerArithmeticWithErrorsPerRow() {
        let r = eval(.arithmetic(.divide, .column(0), .column(1)), [[.int(7), .int(7), .null, .int(.min)], [.int(2), .int(0), .int(1), .int(-1)]])
        #expect(r.values == [.int(3), .null, .null, .null])
        #expect(r.errors.map(\.row) == [1, 3])
        #expect(r.errors[0].message.contains("division by zero"))
        #expect(eval(.arithmetic(.add, lit(.int(.max)), lit(.int(1)))).errors.first?.message.contains("overflow") == true)
        #expect(eval(.arithmetic(.modulo, lit(.int(-7)), lit(.int(3)))).values == [.int(-1)])
        #expect(eval(.arithmetic(.multiply, lit(.int(3)), lit(.double(0.5)))).values == [.double(1.5)])
        #expect(eval(.negate(lit(.int(.min)))).errors.count == 1)
    }

    @Test func timeArithmetic() {
        #expect(eval(.arithmetic(.subtract, lit(.timestamp(10_000)), lit(.interval(5_000)))).values == [.timestamp(5_000)])
        #expect(eval(.arithmetic(.subtract, lit(.timestamp(10_000)), lit(.timestamp(4_000)))).values == [.interval(6_000)])
        #expect(eval(.arithmetic(.multiply, lit(.interval(1000)), lit(.int(3)))).values == [.interval(3000)])
    }

    /// Every timestamp an expression makes lies within `Millis.maxTimestamp` of 1970, as the
    /// decoders' do: one beyond (a cast, a sum, a conversion) fails its row rather than reaching
    /// FLOOR, windows or formatting near the ends of Int64 (FLOOR of such a cast trapped).
    @Test func timestampsStayInRange() {
        let edge = Millis.maxTimestamp
        func failsAlone(_ e: PhysicalExpr, _ words: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let r = eval(e)
            #expect(r.values == [.null], sourceLocation: sourceLocation)
            #expect(r.errors.count == 1 && r.errors[0].message.contains(words), "\(r.errors)", sourceLocation: sourceLocation)
        }
        #expect(eval(.cast(lit(.int(edge)), to: .timestamp)).values == [.timestamp(edge)])
        #expect(eval(.cast(lit(.int(-edge)), to: .timestamp)).values == [.timestamp(-edge)])
        failsAlone(.cast(lit(.int(edge + 1)), to: .timestamp), "out of range")
        failsAlone(.cast(lit(.int(.min + 1)), to: .timestamp), "out of range")
        failsAlone(.call(.floorTime, [.cast(lit(.int(.min + 1)), to: .timestamp), lit(.interval(1000))]), "out of range")
        failsAlone(.call(.toTimestamp, [lit(.int(.max))]), "out of range")
        failsAlone(.call(.toTimestamp, [lit(.double(-1e18))]), "out of range")
        failsAlone(.arithmetic(.add, lit(.timestamp(edge)), lit(.interval(1))), "out of range")
        failsAlone(.arithmetic(.add, lit(.interval(.max)), lit(.timestamp(1))), "out of range")
        failsAlone(.arithmetic(.subtract, lit(.timestamp(-edge)), lit(.interval(.max))), "out of range")
        failsAlone(.arithmetic(.multiply, lit(.interval(.max / 2)), lit(.int(3))), "interval overflow")
        failsAlone(.arithmetic(.add, lit(.interval(.max)), lit(.interval(1))), "interval overflow")
        failsAlone(.arithmetic(.multiply, .arithmetic(.subtract, lit(.timestamp(edge)), lit(.timestamp(-edge))), lit(.int(100_000))), "interval overflow")
        #expect(eval(.arithmetic(.subtract, lit(.timestamp(edge)), lit(.interval(edge)))).values == [.timestamp(0)])
    }

    @Test func threeValuedLogic() {
        let t = lit(.bool(true)), f = lit(.bool(false)), n = lit(.null)
        #expect(eval(.and(n, f)).values == [.bool(false)])
        #expect(eval(.and(n, t)).values == [.null])
        #expect(eval(.or(n, t)).values == [.bool(true)])
        #expect(eval(.or(n, f)).values == [.null])
        #expect(eval(.not(n)).values == [.null])
        #expect(eval(.compare(.eq, n, n)).values == [.null])
        #expect(eval(.isNull(n, negated: false)).values == [.bool(true)])
        #expect(eval(.inList(lit(.int(1)), [lit(.int(2)), n], negated: false)).values == [.null])
        #expect(eval(.inList(lit(.int(1)), [lit(.int(1)), n], negated: false)).values == [.bool(true)])
        #expect(eval(.inList(lit(.int(3)), [lit(.int(1)), lit(.int(2))], negated: true)).values == [.bool(true)])
    }

    @Test func comparisonsAcrossNumericTypes() {
        #expect(eval(.compare(.lt, lit(.int(2)), lit(.double(2.5)))).values == [.bool(true)])
        #expect(eval(.compare(.ge, lit(.string("b")), lit(.string("a")))).values == [.bool(true)])
        #expect(eval(.compare(.neq, lit(.timestamp(1)), lit(.timestamp(1)))).values == [.bool(false)])
    }

    @Test(arguments: [
        ("abc", "a%", true), ("abc", "%c", true), ("abc", "_b_", true), ("abc", "a_", false), ("", "%", true),
        ("a%b", "a!%b", true), ("axb", "a!%b", false), ("/products/12", "/products/%", true), ("aaa", "%a%a%a%", true),
        ("ab", "%a%a%", false), ("é", "_", true),
    ])
    func likePatterns(_ s: String, _ pattern: String, _ expected: Bool) {
        #expect(eval(.like(lit(.string(s)), pattern: pattern, escape: "!", negated: false)).values == [.bool(expected)])
    }

    @Test func castsAndBadCasts() {
        #expect(eval(.cast(lit(.string(" 42 ")), to: .bigint)).values == [.int(42)])
        #expect(eval(.cast(lit(.double(2.5)), to: .bigint)).values == [.int(3)])
        #expect(eval(.cast(lit(.int(5)), to: .varchar)).values == [.string("5")])
        #expect(eval(.cast(lit(.string("2024-01-01T00:00:01Z")), to: .timestamp)).values == [.timestamp(1_704_067_201_000)])
        #expect(eval(.cast(lit(.timestamp(0)), to: .varchar)).values == [.string("1970-01-01T00:00:00.000Z")])
        let bad = eval(.cast(lit(.string("forty")), to: .bigint))
        #expect(bad.values == [.null] && bad.errors.first?.message == "cannot cast 'forty' to BIGINT")
        #expect(eval(.cast(lit(.double(.infinity)), to: .bigint)).errors.count == 1)
    }

    @Test func caseWhen() {
        let e = PhysicalExpr.caseWhen(branches: [WhenThen(.compare(.gt, .column(0), lit(.int(10))), lit(.string("big"))),
                                                 WhenThen(.compare(.gt, .column(0), lit(.int(5))), lit(.string("mid")))],
                                      otherwise: lit(.string("small")))
        #expect(eval(e, [[.int(20), .int(7), .int(1), .null]]).values == [.string("big"), .string("mid"), .string("small"), .string("small")])
    }

    /// Positions and lengths at the ends of BIGINT (and beyond, as DOUBLE) give a string, never
    /// a trap: OVERLAY with a start of 2^63 - 1 overflowed adding its length.
    @Test func stringPositionsAtTheEndsOfTheRange() {
        func call(_ f: ScalarFunction, _ args: Value...) -> Value { eval(.call(f, args.map { lit($0) })).values[0] }
        let big = Value.int(.max), small = Value.int(.min + 1)
        #expect(call(.overlay, .string("12345"), .string("foo"), big) == .string("12345foo"))
        #expect(call(.overlay, .string("12345"), .string("foo"), big, big) == .string("12345foo"))
        #expect(call(.overlay, .string("12345"), .string("foo"), small) == .string("foo12345"))
        // [start, start + length) ends before the first character: nothing of the string replaced.
        #expect(call(.overlay, .string("12345"), .string("foo"), small, big) == .string("foo12345"))
        #expect(call(.overlay, .string("12345"), .string("foo"), .int(2), big) == .string("1foo"))
        #expect(call(.overlay, .string("12345"), .string("foo"), .double(1e300), .double(1e300)) == .string("12345foo"))
        #expect(call(.substring, .string("12345"), big, big) == .string(""))
        #expect(call(.substring, .string("12345"), small, big) == .string(""))
        #expect(call(.substring, .string("12345"), .int(-2), .int(5)) == .string("12"))
    }

    @Test func functions() {
        func call(_ f: ScalarFunction, _ args: Value...) -> Value { eval(.call(f, args.map { lit($0) })).values[0] }
        #expect(call(.abs, .int(-3)) == .int(3))
        #expect(call(.round, .double(2.345), .int(2)) == .double(2.35))
        #expect(call(.round, .double(-2.5)) == .double(-3))
        #expect(call(.floor, .double(-1.5)) == .double(-2))
        #expect(call(.ceil, .double(1.2)) == .double(2))
        #expect(call(.sqrt, .double(16)) == .double(4))
        #expect(eval(.call(.sqrt, [lit(.double(-1))])).errors.count == 1)
        #expect(call(.power, .int(2), .int(10)) == .double(1024))
        #expect(call(.ln, .double(1)) == .double(0))
        #expect(call(.exp, .double(0)) == .double(1))
        #expect(call(.lower, .string("ÀB")) == .string("àb"))
        #expect(call(.upper, .string("ab")) == .string("AB"))
        #expect(call(.length, .string("héllo")) == .int(5))
        #expect(call(.substring, .string("hello"), .int(2), .int(3)) == .string("ell"))
        #expect(call(.substring, .string("hello"), .int(4)) == .string("lo"))
        #expect(call(.substring, .string("hello"), .int(0), .int(2)) == .string("h"))
        #expect(call(.replace, .string("a-b-c"), .string("-"), .string("+")) == .string("a+b+c"))
        #expect(call(.concat, .string("a"), .null, .int(1)) == .string("a1"))
        #expect(eval(.concat(lit(.string("a")), lit(.null))).values == [.null])
        #expect(call(.trimBoth, .string("  x  ")) == .string("x"))
        #expect(call(.trimLeading, .string("xxaxx"), .string("x")) == .string("axx"))
        #expect(call(.trimTrailing, .string("xxaxx"), .string("x")) == .string("xxa"))
        #expect(call(.coalesce, .null, .null, .int(3)) == .int(3))
        #expect(call(.nullif, .int(3), .int(3)) == .null)
        #expect(call(.nullif, .int(3), .int(4)) == .int(3))
        #expect(call(.floorTime, .timestamp(1_704_067_265_123), .interval(60_000)) == .timestamp(1_704_067_260_000))
        #expect(call(.floorTime, .timestamp(-1), .interval(60_000)) == .timestamp(-60_000))
        let t = Value.timestamp(1_704_164_645_250)  // 2024-01-02T03:04:05.250Z, a Tuesday
        #expect(call(.extract, .string("YEAR"), t) == .int(2024))
        #expect(call(.extract, .string("DAY"), t) == .int(2))
        #expect(call(.extract, .string("HOUR"), t) == .int(3))
        #expect(call(.extract, .string("MILLISECOND"), t) == .int(5250))
        #expect(call(.extract, .string("DOW"), t) == .int(2))
        #expect(call(.extract, .string("DOY"), t) == .int(2))
        #expect(call(.toTimestamp, .int(1000)) == .timestamp(1000))
        #expect(call(.abs, .null) == .null)
    }
}
