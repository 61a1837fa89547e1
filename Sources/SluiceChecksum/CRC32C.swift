#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif
import Foundation

/// CRC-32C (Castagnoli), the checksum on every record frame in a shard's segment files. On x86-64
/// processors with SSE 4.2 (every one since 2008) the `crc32` instruction does eight bytes at a
/// time; elsewhere slicing-by-8 tables, computed once. Both give the same checksums.
public enum CRC32C {
    static let tables = SlicingBy8.tables(polynomial: 0x82F6_3B78)

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

    /// The checksums of four buffers at once (the frames of a read or a write, each checked on its
    /// own). One `crc32` instruction waits for the one before it on the same buffer, so a single
    /// short buffer leaves the unit mostly idle; four chains side by side keep it busy. Equal to
    /// four calls of `checksum`.
    public static func checksums(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer,
                                 _ c: UnsafeRawBufferPointer, _ d: UnsafeRawBufferPointer) -> (UInt32, UInt32, UInt32, UInt32) {
        #if arch(x86_64)
        if hardware {
            var ca: UInt64 = 0xFFFF_FFFF, cb: UInt64 = 0xFFFF_FFFF, cc: UInt64 = 0xFFFF_FFFF, cd: UInt64 = 0xFFFF_FFFF
            let common = min(a.count, b.count, c.count, d.count) & ~7
            var p = 0
            while p < common {
                ca = _mm_crc32_u64(ca, a.loadUnaligned(fromByteOffset: p, as: UInt64.self).littleEndian)
                cb = _mm_crc32_u64(cb, b.loadUnaligned(fromByteOffset: p, as: UInt64.self).littleEndian)
                cc = _mm_crc32_u64(cc, c.loadUnaligned(fromByteOffset: p, as: UInt64.self).littleEndian)
                cd = _mm_crc32_u64(cd, d.loadUnaligned(fromByteOffset: p, as: UInt64.self).littleEndian)
                p += 8
            }
            // The rest of each (a seed is the checksum so far, complemented back).
            func rest(_ x: UnsafeRawBufferPointer, _ crc: UInt64) -> UInt32 {
                withInstruction(UnsafeRawBufferPointer(rebasing: x[p...]), seed: ~UInt32(truncatingIfNeeded: crc))
            }
            return (rest(a, ca), rest(b, cb), rest(c, cc), rest(d, cd))
        }
        #endif
        return (checksum(a), checksum(b), checksum(c), checksum(d))
    }

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
        SlicingBy8.checksum(bytes, seed: seed, tables: tables)
    }
}
