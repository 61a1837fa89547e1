import Testing
@testable import SluiceEngine

/// The loader keys a record without a key field by its number in the file, counted up as decimal
/// digits in place.
@Suite("Decimal counter")
struct DecimalCounterTests {
    private func text(_ c: DecimalCounter) -> String { c.withDigits { String(decoding: $0, as: UTF8.self) } }

    @Test func countsAsDecimalText() {
        var c = DecimalCounter()
        for n in 0...120_000 {
            let want = String(n)
            if text(c) != want || c.count != want.utf8.count {
                Issue.record("at \(n): \(text(c)) (\(c.count) digits)")
                return
            }
            c.increment()
        }
    }

    /// Carries through every run of nines, up to the largest Int.
    @Test func carriesAcrossEveryPowerOfTen() {
        var p = 1
        for k in 1...18 {
            p *= 10
            var c = DecimalCounter(p - 1)
            #expect(text(c) == String(repeating: "9", count: k))
            c.increment()
            #expect(text(c) == "1" + String(repeating: "0", count: k))
            #expect(c.count == k + 1)
        }
        var c = DecimalCounter(Int.max - 1)
        c.increment()
        #expect(text(c) == String(Int.max))
        c.increment()
        #expect(text(c) == "9223372036854775808")
    }
}
