import Testing
@testable import SluiceCore

@Suite("UTF-8 validity")
struct UTF8CheckTests {
    func check(_ bytes: [UInt8]) -> Int? { bytes.withUnsafeBytes { UTF8Check.firstInvalidByte($0) } }

    @Test func knownCases() {
        #expect(check(Array("plain ascii, long enough to take the word path: 0123456789abcdef".utf8)) == nil)
        #expect(check(Array("é ü 日本 😀".utf8)) == nil)
        #expect(check([0x61, 0xE9, 0x62]) == 1)  // Latin-1
        #expect(check([0xC0, 0xAF]) == 0)  // overlong
        #expect(check([0xED, 0xA0, 0x80]) == 0)  // a surrogate
        #expect(check([0xF4, 0x90, 0x80, 0x80]) == 0)  // past U+10FFFF
        #expect(check([0x61, 0xE2, 0x82]) == 1)  // cut short
        #expect(check([0xFF]) == 0)
    }

    /// Random bytes (mostly ASCII, some high) agree with the standard library's validation.
    @Test func agreesWithTheStandardLibrary() {
        var rng = SplitMix64(seed: 19)
        for _ in 0..<20_000 {
            let n = Int(rng.next() % 70)
            let bytes = (0..<n).map { _ -> UInt8 in
                let r = rng.next()
                return r % 7 == 0 ? UInt8(truncatingIfNeeded: r >> 8) | 0x80 : UInt8(truncatingIfNeeded: r >> 8) & 0x7F
            }
            let valid = String(validating: bytes, as: UTF8.self) != nil
            #expect((check(bytes) == nil) == valid, "\(bytes)")
        }
    }
}
