import Testing
import SluiceChecksum

@Suite("CRC-32 (event stream messages)")
struct CRC32Tests {
    /// The slicing-by-8 loop against the textbook bit-at-a-time definition, on every length up
    /// to 100 and at every alignment of a slice.
    @Test func slicingAgreesWithTheDefinition() {
        func reference(_ b: ArraySlice<UInt8>) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for x in b {
                c ^= UInt32(x)
                for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            }
            return c ^ 0xFFFF_FFFF
        }
        var seed: UInt64 = 11
        let bytes: [UInt8] = (0..<120).map { _ in
            seed = seed &* 6_364_136_223_846_793_005 &+ 1
            return UInt8(truncatingIfNeeded: seed >> 33)
        }
        for start in 0..<8 {
            for n in 0...100 {
                let s = bytes[start..<(start + n)]
                #expect(CRC32.checksum(s) == reference(s), "start \(start), length \(n)")
            }
        }
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }
}
