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
            // The rest of each, its last bytes read with the word that ends it.
            return (finish(a, from: p, ca), finish(b, from: p, cb), finish(c, from: p, cc), finish(d, from: p, cd))
        }
        #endif
        return (checksum(a), checksum(b), checksum(c), checksum(d))
    }

    #if arch(x86_64)
    /// Eight bytes per `crc32` instruction. Only where `hardware`.
    public static func withInstruction(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        finish(bytes, from: 0, UInt64(~seed))
    }

    /// The checksum of `bytes` given `state`, the register after the bytes before `start`: eight
    /// bytes per instruction, then the last one to seven in one more. A CRC is linear, so
    /// running the register through those k bytes equals running a zero register through eight
    /// bytes that are the register's k low bytes xor the k bytes, behind 8 - k zero bytes (a
    /// zero register stays zero over zeros), xor what of the register is left past k bytes (its
    /// bytes above the k-th, shifted down; nothing when k >= 4). The eight bytes are the word
    /// that ends the buffer with its first 8 - k bytes (already counted) cleared, so the tail
    /// costs one instruction instead of a chain of k.
    @inline(__always)
    static func finish(_ bytes: UnsafeRawBufferPointer, from start: Int, _ state: UInt64) -> UInt32 {
        var crc = state
        var p = start
        let n = bytes.count
        while n - p >= 8 {
            crc = _mm_crc32_u64(crc, bytes.loadUnaligned(fromByteOffset: p, as: UInt64.self).littleEndian)
            p += 8
        }
        let k = n - p
        if k == 0 { return ~UInt32(truncatingIfNeeded: crc) }
        if n >= 8 {
            let shift = UInt64(64 - 8 * k)
            let word = bytes.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self).littleEndian
            var c = UInt32(truncatingIfNeeded: _mm_crc32_u64(0, ((word >> shift) << shift) ^ (crc << shift)))
            if k < 4 { c ^= UInt32(truncatingIfNeeded: crc >> UInt64(8 * k)) }
            return ~c
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
