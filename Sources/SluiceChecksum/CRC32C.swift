#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif
import Foundation

/// CRC-32C (Castagnoli), the checksum on every record frame in a shard's segment files. On x86-64
/// processors with SSE 4.2 (every one since 2008) the `crc32` instruction does eight bytes at a
/// time; elsewhere slicing-by-8 tables, computed once. Both give the same checksums.
public enum CRC32C {
    static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 {
                let prev = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xff)]
            }
        }
        return t
    }()

    /// Whether this processor has the instruction (read once, from /proc/cpuinfo's flags).
    public static let hardware: Bool = {
        #if arch(x86_64)
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        return info.split(separator: "\n").contains { $0.hasPrefix("flags") && $0.split(separator: " ").contains("sse4_2") }
        #else
        return false
        #endif
    }()

    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        #if arch(x86_64)
        if hardware { return withInstruction(bytes, seed: seed) }
        #endif
        return withTables(bytes, seed: seed)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }

    #if arch(x86_64)
    /// Eight bytes per `crc32` instruction, then the tail a byte at a time. Only where `hardware`.
    public static func withInstruction(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        var crc = UInt64(~seed)
        var p = 0
        let n = bytes.count
        while n - p >= 8 {
            crc = _mm_crc32_u64(crc, bytes.loadUnaligned(fromByteOffset: p, as: UInt64.self).littleEndian)
            p += 8
        }
        var c = UInt32(truncatingIfNeeded: crc)
        while p < n {
            c = _mm_crc32_u8(c, bytes[p])
            p += 1
        }
        return ~c
    }
    #endif

    /// Slicing-by-8: eight table lookups per eight bytes.
    public static func withTables(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
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
