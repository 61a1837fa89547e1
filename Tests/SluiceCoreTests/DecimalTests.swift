import Foundation
import Testing
@testable import SluiceCore

@Suite("DECIMAL values")
struct DecimalTests {
    func d(_ text: String, _ scale: Int) -> Decimal64? { Decimal64.parse(Array(text.utf8), scale: scale) }

    @Test(arguments: [
        ("12.345", 2, "12.35"), ("-12.345", 2, "-12.35"), ("12.344", 2, "12.34"), ("0.1", 2, "0.10"), (".5", 0, "1"),
        ("-.5", 0, "-1"), ("0.49", 0, "0"), ("7", 3, "7.000"), ("+7", 0, "7"), ("1e1", 2, "10.00"), ("1.5E-2", 3, "0.015"),
        ("1.5e-3", 2, "0.00"), ("-0.004", 2, "0.00"), ("123456789012345678", 0, "123456789012345678"), ("0.000000000000000001", 18, "0.000000000000000001"),
        ("00012.50", 1, "12.5"), ("99.995", 2, "100.00"),
    ])
    func parsesToTheScaleRoundingHalfAwayFromZero(_ text: String, _ scale: Int, _ want: String) {
        #expect(d(text, scale)?.description == want, "\(text) at scale \(scale)")
    }

    @Test(arguments: ["", "-", ".", "abc", "1.2.3", "1e", "1e+", "1x", "--1", "1 ", "e5", "0x10"])
    func refusesWhatIsNotANumber(_ text: String) {
        #expect(d(text, 2) == nil, "'\(text)'")
    }

    @Test(arguments: [("1234567890123456789", 0), ("12345678901234567", 2), ("1e19", 0), ("1e400", 0), ("9999999999999999999999999999999999999999", 0)])
    func refusesWhatDoesNotFit18Digits(_ text: String, _ scale: Int) {
        #expect(d(text, scale) == nil, "\(text)")
    }

    @Test func tinyExponentsRoundToZeroAndEqualityIsByValue() {
        #expect(d("1e-400", 2)?.description == "0.00")
        #expect(d("1.50", 2) == d("1.5", 1))
        #expect(d("1.50", 2)?.hashValue == d("1.5", 1)?.hashValue)
        #expect(d("-0.00", 2) == d("0", 0))
        #expect(Decimal64.compare(d("1.5", 1)!, d("1.49", 2)!) == 1)
        #expect(Decimal64.compare(d("-1.5", 1)!, d("-1.49", 2)!) == -1)
    }

    @Test func fitsItsPrecision() {
        #expect(d("99999999.99", 2)!.fits(precision: 10))
        #expect(!d("123456789.50", 2)!.fits(precision: 10))
        #expect(d("0.5", 2)!.fits(precision: 2))
        #expect(!d("1.5", 2)!.fits(precision: 2))
    }

    @Test func rescalingAndIntegralParts() {
        #expect(d("2.5", 1)!.rescaled(to: 0)?.description == "3")
        #expect(d("-2.5", 1)!.rescaled(to: 0)?.description == "-3")
        #expect(d("2.5", 1)!.rescaled(to: 4)?.description == "2.5000")
        #expect(d("123456789012345678", 0)!.rescaled(to: 1) == nil)
        #expect(Decimal64.integral(d("-2.5", 1)!, up: false).description == "-3")
        #expect(Decimal64.integral(d("-2.5", 1)!, up: true).description == "-2")
        #expect(Decimal64.integral(d("2.01", 2)!, up: true).description == "3")
        #expect(Decimal64(0.145, scale: 2)?.description == "0.15")
        #expect(Decimal64(Double.nan, scale: 2) == nil)
        #expect(Decimal64.literal("0.908") == Decimal64(unscaled: 908, scale: 3))
        #expect(Decimal64.literal("1e3") == nil)
        #expect(d("12.5", 1)!.doubleValue == 12.5)
    }

    /// Random operands against Foundation's Decimal (38 digits, an independent implementation):
    /// sums, differences and products exact, quotients rounded half away from zero at the
    /// result's scale, overflow exactly where the result needs more than 18 digits.
    @Test(arguments: [1, 2, 3, 4])
    func arithmeticMatchesFoundationsDecimal(_ seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        func operand() -> Decimal64 {
            let digits = Int(rng.next() % 19)
            var u: Int64 = 0
            for _ in 0..<digits { u = u * 10 + Int64(rng.next() % 10) }
            if rng.next() % 2 == 0 { u = -u }
            return Decimal64(unscaled: u, scale: Int(rng.next() % UInt64(min(digits, 8) + 1)))
        }
        func model(_ x: Decimal64) -> Decimal { Decimal(string: x.description)! }
        func rounded(_ x: Decimal, _ scale: Int) -> Decimal {
            // NSDecimalRound's .plain rounds half away from zero on the magnitude.
            var v = x < 0 ? -x : x, r = Decimal()
            NSDecimalRound(&r, &v, scale, .plain)
            return x < 0 ? -r : r
        }
        func fits(_ x: Decimal) -> Bool { (x < 0 ? -x : x) < Decimal(string: "1000000000000000000")! }
        for _ in 0..<3_000 {
            let a = operand(), b = operand()
            let s = max(a.scale, b.scale)
            let cases: [(String, Decimal64?, Decimal, Int)] = [
                ("+", Decimal64.add(a, b), model(a) + model(b), s),
                ("-", Decimal64.subtract(a, b), model(a) - model(b), s),
                ("*", Decimal64.multiply(a, b, scale: Decimal64.resultScale("*", a.scale, b.scale)), model(a) * model(b), Decimal64.resultScale("*", a.scale, b.scale)),
            ]
            for (op, got, exact, scale) in cases {
                let want = rounded(exact, scale)
                // Foundation's product may round past 38 digits; both sides agree on anything that fits 18.
                if fits(want * Decimal(sign: .plus, exponent: scale, significand: 1)) {
                    #expect(got.map(model) == want, "\(a) \(op) \(b): \(String(describing: got)) want \(want)")
                } else {
                    #expect(got == nil, "\(a) \(op) \(b) overflows 18 digits, got \(String(describing: got))")
                }
            }
            if b.unscaled != 0 {
                let scale = Decimal64.resultScale("/", a.scale, b.scale)
                let got = Decimal64.divide(a, b, scale: scale)
                let want = rounded(model(a) / model(b), scale)
                if let got, fits(want * Decimal(sign: .plus, exponent: scale, significand: 1)) {
                    // Foundation divides to 38 significant digits before rounding; a tie it cut
                    // short could land one unit away: allow exactly that, never more.
                    let diff = model(got) - want
                    #expect(diff == 0 || (diff < 0 ? -diff : diff) == Decimal(sign: .plus, exponent: -scale, significand: 1), "\(a) / \(b): \(got) want \(want)")
                }
                let r = Decimal64.remainder(a, b)
                #expect(r != nil)
                if let r {
                    // a = q·b + r with q whole, |r| < |b| and r's sign a's.
                    let q = (model(a) - model(r)) / model(b)
                    #expect(rounded(q, 0) == q, "\(a) % \(b) = \(r)")
                    #expect(r.unscaled == 0 || (r.unscaled < 0) == (a.unscaled < 0))
                }
            }
        }
    }

    @Test func columnTypesReadBackTheirNames() {
        for t: ColumnType in [.boolean, .bigint, .double, .varchar, .timestamp, .interval, .decimal(precision: 10, scale: 2), .decimal(precision: 18, scale: 0)] {
            #expect(ColumnType(rawValue: t.rawValue) == t)
        }
        #expect(ColumnType(rawValue: "DECIMAL(19, 2)") == nil)
        #expect(ColumnType(rawValue: "DECIMAL(5, 6)") == nil)
        #expect(ColumnType(rawValue: "DECIMAL") == nil)
    }

    @Test func aColumnBuilderBringsValuesToItsScaleAndRefusesWhatOverflows() {
        var b = ColumnBuilder(.decimal(precision: 5, scale: 2))
        let ok = [b.append(.decimal(d("1.005", 3)!)), b.append(.int(7)), b.append(.decimal(d("1234.5", 1)!)), b.append(.null)]
        #expect(ok == [true, true, false, true])
        let c = b.finish()
        #expect((0..<c.count).map { c.value($0).description } == ["1.01", "7.00", "NULL"])
    }
}
