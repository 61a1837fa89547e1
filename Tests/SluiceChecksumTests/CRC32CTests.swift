import Testing
@testable import SluiceChecksum

@Suite("CRC-32C")
struct CRC32CTests {
    @Test func knownValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    /// The instruction and the tables agree on every length from 0 to 300 (every tail, every
    /// alignment of the eight-byte loop), with and without a seed.
    @Test func instructionAndTablesAgree() throws {
        #if arch(x86_64)
        try #require(CRC32C.hardware, "this x86-64 processor has no SSE 4.2")
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<310).map { _ in UInt8.random(in: 0...255, using: &rng) }
        bytes.withUnsafeBytes { all in
            for start in 0..<8 {
                for length in 0...(300 - start) {
                    let b = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    #expect(CRC32C.withInstruction(b) == CRC32C.withTables(b), "start \(start) length \(length)")
                    #expect(CRC32C.withInstruction(b, seed: 0xDEAD_BEEF) == CRC32C.withTables(b, seed: 0xDEAD_BEEF))
                }
            }
        }
        #endif
    }

    /// Four checksums at once equal four alone, for lengths that differ in every way (equal,
    /// empty, shorter than eight bytes, one much longer than the rest).
    @Test func fourAtOnceEqualFourAlone() {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<2000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var cases: [[Int]] = [[0, 0, 0, 0], [1, 7, 8, 9], [180, 180, 180, 180], [181, 179, 200, 3], [1500, 16, 64, 65], [0, 300, 5, 299]]
        // And frames as a read meets them: each pair's rests of every length side by side.
        for _ in 0..<300 { cases.append((0..<4).map { _ in Int.random(in: 100...180, using: &rng) }) }
        bytes.withUnsafeBytes { all in
            for lengths in cases {
                for start in [0, 3] {
                    let b = lengths.enumerated().map { k, n in UnsafeRawBufferPointer(rebasing: all[(start + k * 7)..<(start + k * 7 + n)]) }
                    let four = CRC32C.checksums(b[0], b[1], b[2], b[3])
                    #expect([four.0, four.1, four.2, four.3] == b.map { CRC32C.checksum($0) }, "lengths \(lengths) from \(start)")
                    #expect([four.0, four.1, four.2, four.3] == b.map { CRC32C.withTables($0) })
                }
            }
        }
    }
}
