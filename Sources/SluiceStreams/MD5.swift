/// MD5 (RFC 1321), written in Swift. Kinesis routes a record by the MD5 of its partition key, read
/// as a 128-bit big-endian integer. This is a routing hash here, not a security primitive.
public struct MD5: Sendable {
    private(set) var a: UInt32 = 0x6745_2301
    private(set) var b: UInt32 = 0xefcd_ab89
    private(set) var c: UInt32 = 0x98ba_dcfe
    private(set) var d: UInt32 = 0x1032_5476
    private var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    private var buffered = 0
    private var length: UInt64 = 0

    public init() {}

    /// The digest of `bytes` in one call.
    public static func digest(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var h = MD5()
        h.update(bytes)
        return h.finalize()
    }

    public static func digest(_ bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBytes { digest($0) } }

    public static func digest(_ s: String) -> [UInt8] {
        var s = s
        return s.withUTF8 { digest(UnsafeRawBufferPointer($0)) }
    }

    /// The digest as the 128-bit big-endian integer Kinesis uses as a hash key.
    public static func hashKey(_ bytes: UnsafeRawBufferPointer) -> UInt128 {
        var h = MD5()
        if bytes.count < 56 {
            // One block, padded on the stack (partition keys are usually short).
            var block = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            withUnsafeMutableBytes(of: &block) { b in
                if bytes.count > 0 { b.copyMemory(from: bytes) }
                b[bytes.count] = 0x80
                b.storeBytes(of: (UInt64(bytes.count) &* 8).littleEndian, toByteOffset: 56, as: UInt64.self)
            }
            withUnsafeBytes(of: &block) { h.compress($0.baseAddress!) }
        } else {
            h.update(bytes)
            _ = h.finalizeWords()
        }
        let (a, b, c, d) = (h.a, h.b, h.c, h.d)
        // The digest is a, b, c, d, each little-endian; read it big-endian.
        let hi = UInt64(a.byteSwapped) << 32 | UInt64(b.byteSwapped)
        let lo = UInt64(c.byteSwapped) << 32 | UInt64(d.byteSwapped)
        return UInt128(hi) << 64 | UInt128(lo)
    }

    public static func hashKey(_ s: String) -> UInt128 {
        var s = s
        return s.withUTF8 { hashKey(UnsafeRawBufferPointer($0)) }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var p = 0
        let n = bytes.count
        length &+= UInt64(n)
        if buffered > 0 {
            let take = min(64 - buffered, n)
            withUnsafeMutableBytes(of: &buffer) { buf in
                for k in 0..<take { buf[buffered + k] = bytes[k] }
            }
            buffered += take
            p = take
            if buffered == 64 {
                let blk = buffer
                withUnsafeBytes(of: blk) { compress($0.baseAddress!) }
                buffered = 0
            }
        }
        while n - p >= 64 {
            compress(bytes.baseAddress! + p)
            p += 64
        }
        if p < n {
            withUnsafeMutableBytes(of: &buffer) { buf in
                for k in 0..<(n - p) { buf[k] = bytes[p + k] }
            }
            buffered = n - p
        }
    }

    public mutating func finalize() -> [UInt8] {
        let (a, b, c, d) = finalizeWords()
        var out = [UInt8]()
        out.reserveCapacity(16)
        for w in [a, b, c, d] {
            for s in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: w >> UInt32(s))) }
        }
        return out
    }

    private mutating func finalizeWords() -> (UInt32, UInt32, UInt32, UInt32) {
        let bitLength = length &* 8
        var pad = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                   UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let padLength = buffered < 56 ? 56 - buffered : 120 - buffered
        withUnsafeMutableBytes(of: &pad) { p in
            p[0] = 0x80
            p.storeBytes(of: bitLength.littleEndian, toByteOffset: padLength, as: UInt64.self)
        }
        withUnsafeBytes(of: &pad) { update(UnsafeRawBufferPointer(rebasing: $0[0..<(padLength + 8)])) }
        return (a, b, c, d)
    }

    @inline(__always)
    private static func rotl(_ x: UInt32, _ s: UInt32) -> UInt32 { (x << s) | (x >> (32 - s)) }

    mutating func compress(_ block: UnsafeRawPointer) {
        var m = (UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0),
                 UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0))
        withUnsafeMutableBytes(of: &m) { $0.copyMemory(from: UnsafeRawBufferPointer(start: block, count: 64)) }
        withUnsafeBytes(of: &m) { raw in
            let x = raw.bindMemory(to: UInt32.self)
            var a = self.a, b = self.b, c = self.c, d = self.d
            @inline(__always) func w(_ i: Int) -> UInt32 { UInt32(littleEndian: x[i]) }
            @inline(__always) func ff(_ a: inout UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32, _ k: Int, _ s: UInt32, _ t: UInt32) {
                a = b &+ MD5.rotl(a &+ ((b & c) | (~b & d)) &+ w(k) &+ t, s)
            }
            @inline(__always) func gg(_ a: inout UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32, _ k: Int, _ s: UInt32, _ t: UInt32) {
                a = b &+ MD5.rotl(a &+ ((b & d) | (c & ~d)) &+ w(k) &+ t, s)
            }
            @inline(__always) func hh(_ a: inout UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32, _ k: Int, _ s: UInt32, _ t: UInt32) {
                a = b &+ MD5.rotl(a &+ (b ^ c ^ d) &+ w(k) &+ t, s)
            }
            @inline(__always) func ii(_ a: inout UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32, _ k: Int, _ s: UInt32, _ t: UInt32) {
                a = b &+ MD5.rotl(a &+ (c ^ (b | ~d)) &+ w(k) &+ t, s)
            }
            ff(&a, b, c, d, 0, 7, 0xd76a_a478); ff(&d, a, b, c, 1, 12, 0xe8c7_b756)
            ff(&c, d, a, b, 2, 17, 0x2420_70db); ff(&b, c, d, a, 3, 22, 0xc1bd_ceee)
            ff(&a, b, c, d, 4, 7, 0xf57c_0faf); ff(&d, a, b, c, 5, 12, 0x4787_c62a)
            ff(&c, d, a, b, 6, 17, 0xa830_4613); ff(&b, c, d, a, 7, 22, 0xfd46_9501)
            ff(&a, b, c, d, 8, 7, 0x6980_98d8); ff(&d, a, b, c, 9, 12, 0x8b44_f7af)
            ff(&c, d, a, b, 10, 17, 0xffff_5bb1); ff(&b, c, d, a, 11, 22, 0x895c_d7be)
            ff(&a, b, c, d, 12, 7, 0x6b90_1122); ff(&d, a, b, c, 13, 12, 0xfd98_7193)
            ff(&c, d, a, b, 14, 17, 0xa679_438e); ff(&b, c, d, a, 15, 22, 0x49b4_0821)

            gg(&a, b, c, d, 1, 5, 0xf61e_2562); gg(&d, a, b, c, 6, 9, 0xc040_b340)
            gg(&c, d, a, b, 11, 14, 0x265e_5a51); gg(&b, c, d, a, 0, 20, 0xe9b6_c7aa)
            gg(&a, b, c, d, 5, 5, 0xd62f_105d); gg(&d, a, b, c, 10, 9, 0x0244_1453)
            gg(&c, d, a, b, 15, 14, 0xd8a1_e681); gg(&b, c, d, a, 4, 20, 0xe7d3_fbc8)
            gg(&a, b, c, d, 9, 5, 0x21e1_cde6); gg(&d, a, b, c, 14, 9, 0xc337_07d6)
            gg(&c, d, a, b, 3, 14, 0xf4d5_0d87); gg(&b, c, d, a, 8, 20, 0x455a_14ed)
            gg(&a, b, c, d, 13, 5, 0xa9e3_e905); gg(&d, a, b, c, 2, 9, 0xfcef_a3f8)
            gg(&c, d, a, b, 7, 14, 0x676f_02d9); gg(&b, c, d, a, 12, 20, 0x8d2a_4c8a)

            hh(&a, b, c, d, 5, 4, 0xfffa_3942); hh(&d, a, b, c, 8, 11, 0x8771_f681)
            hh(&c, d, a, b, 11, 16, 0x6d9d_6122); hh(&b, c, d, a, 14, 23, 0xfde5_380c)
            hh(&a, b, c, d, 1, 4, 0xa4be_ea44); hh(&d, a, b, c, 4, 11, 0x4bde_cfa9)
            hh(&c, d, a, b, 7, 16, 0xf6bb_4b60); hh(&b, c, d, a, 10, 23, 0xbebf_bc70)
            hh(&a, b, c, d, 13, 4, 0x289b_7ec6); hh(&d, a, b, c, 0, 11, 0xeaa1_27fa)
            hh(&c, d, a, b, 3, 16, 0xd4ef_3085); hh(&b, c, d, a, 6, 23, 0x0488_1d05)
            hh(&a, b, c, d, 9, 4, 0xd9d4_d039); hh(&d, a, b, c, 12, 11, 0xe6db_99e5)
            hh(&c, d, a, b, 15, 16, 0x1fa2_7cf8); hh(&b, c, d, a, 2, 23, 0xc4ac_5665)

            ii(&a, b, c, d, 0, 6, 0xf429_2244); ii(&d, a, b, c, 7, 10, 0x432a_ff97)
            ii(&c, d, a, b, 14, 15, 0xab94_23a7); ii(&b, c, d, a, 5, 21, 0xfc93_a039)
            ii(&a, b, c, d, 12, 6, 0x655b_59c3); ii(&d, a, b, c, 3, 10, 0x8f0c_cc92)
            ii(&c, d, a, b, 10, 15, 0xffef_f47d); ii(&b, c, d, a, 1, 21, 0x8584_5dd1)
            ii(&a, b, c, d, 8, 6, 0x6fa8_7e4f); ii(&d, a, b, c, 15, 10, 0xfe2c_e6e0)
            ii(&c, d, a, b, 6, 15, 0xa301_4314); ii(&b, c, d, a, 13, 21, 0x4e08_11a1)
            ii(&a, b, c, d, 4, 6, 0xf753_7e82); ii(&d, a, b, c, 11, 10, 0xbd3a_f235)
            ii(&c, d, a, b, 2, 15, 0x2ad7_d2bb); ii(&b, c, d, a, 9, 21, 0xeb86_d391)

            self.a &+= a; self.b &+= b; self.c &+= c; self.d &+= d
        }
    }
}
