/// The table-driven CRC-32 of both checksums here (CRC-32C and the IEEE CRC-32): eight table
/// lookups per eight bytes, the tables computed once per reflected polynomial.
enum SlicingBy8 {
    static func tables(polynomial: UInt32) -> [UInt32] {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ polynomial : c >> 1 }
            t[i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 {
                let prev = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xff)]
            }
        }
        return t
    }

    /// The checksum of `bytes` after `seed` (the checksum of what came before, or 0).
    static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32, tables: [UInt32]) -> UInt32 {
        var crc = ~seed
        tables.withUnsafeBufferPointer { t in
            var p = 0
            let n = bytes.count
            while n - p >= 8 {
                let lo = bytes.loadUnaligned(fromByteOffset: p, as: UInt32.self).littleEndian ^ crc
                let hi = bytes.loadUnaligned(fromByteOffset: p + 4, as: UInt32.self).littleEndian
                crc = t[7 * 256 + Int(lo & 0xff)] ^ t[6 * 256 + Int((lo >> 8) & 0xff)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xff)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xff)] ^ t[2 * 256 + Int((hi >> 8) & 0xff)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xff)] ^ t[Int(hi >> 24)]
                p += 8
            }
            while p < n {
                crc = (crc >> 8) ^ t[Int((crc ^ UInt32(bytes[p])) & 0xff)]
                p += 1
            }
        }
        return ~crc
    }
}
