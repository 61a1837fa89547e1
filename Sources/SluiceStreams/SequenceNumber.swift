/// A Kinesis sequence number: a 56-digit decimal whose hexadecimal form (47 digits) is, from the
/// most significant end (the "version 2" layout real AWS numbers decode to):
///
///     2 | shard creation epoch seconds (9) | low nibble of the shard index (1) | sequence index (16,
///     first digit <= 7) | 00 (2) | record epoch seconds (9) | shard index (8) | 2
///
/// The sequence index rises by at least one on every put to a shard, so numbers are strictly
/// increasing within a shard; the shard index makes them unique across the stream.
public struct SequenceNumber: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Epoch seconds at which the shard was created (36 bits).
    public var shardCreationSeconds: UInt64
    /// The shard's index (`shardId-000000000007` has index 7).
    public var shardIndex: UInt32
    /// Position within the shard (63 bits); `SequenceNumber.endingIndex` marks a closed shard's end.
    public var index: UInt64
    /// Epoch seconds of the record (36 bits).
    public var recordSeconds: UInt64
    /// The byte real numbers carry between the index and the record time (always 0 here).
    public var reservedByte: UInt8

    public static let endingIndex: UInt64 = 0x7fff_ffff_ffff_ffff
    static let maxSeconds: UInt64 = (1 << 36) - 1

    public init(shardCreationSeconds: UInt64, shardIndex: UInt32, index: UInt64, recordSeconds: UInt64,
                reservedByte: UInt8 = 0) {
        self.shardCreationSeconds = shardCreationSeconds & SequenceNumber.maxSeconds
        self.shardIndex = shardIndex
        self.index = index & SequenceNumber.endingIndex
        self.recordSeconds = recordSeconds & SequenceNumber.maxSeconds
        self.reservedByte = reservedByte
    }

    /// Parses a decimal sequence number; nil unless it is a well-formed version-2 number.
    public init?(_ text: String) {
        let u = Array(text.utf8)
        guard !u.isEmpty, u.count <= 60, u.allSatisfy({ $0 >= 48 && $0 <= 57 }), u.count == 1 || u[0] != 48,
              let v = UInt192(decimal: u)
        else { return nil }
        // 188 bits: top nibble 2, bottom nibble 2.
        guard v.bitWidthUsed <= 188 else { return nil }
        var x = v
        guard x.popBits(4) == 2 else { return nil }
        shardIndex = UInt32(x.popBits(32))
        recordSeconds = x.popBits(36)
        reservedByte = UInt8(x.popBits(8))
        index = x.popBits(64)
        let nibble = x.popBits(4)
        shardCreationSeconds = x.popBits(36)
        let version = x.popBits(4)
        guard version == 2, x.isZero, index <= SequenceNumber.endingIndex,
              nibble == UInt64(shardIndex & 0xf)
        else { return nil }
    }

    var value: UInt192 {
        var v = UInt192()
        v.push(2, bits: 4)
        v.push(shardCreationSeconds, bits: 36)
        v.push(UInt64(shardIndex & 0xf), bits: 4)
        v.push(index, bits: 64)
        v.push(UInt64(reservedByte), bits: 8)
        v.push(recordSeconds, bits: 36)
        v.push(UInt64(shardIndex), bits: 32)
        v.push(2, bits: 4)
        return v
    }

    public var description: String { value.decimalString }

    public static func < (a: SequenceNumber, b: SequenceNumber) -> Bool { a.value < b.value }
}

/// A 192-bit unsigned integer: just enough arithmetic for sequence numbers.
struct UInt192: Comparable, Sendable {
    var hi: UInt64 = 0, mid: UInt64 = 0, lo: UInt64 = 0

    init() {}

    init?(decimal: [UInt8]) {
        for c in decimal {
            guard mulAdd(10, UInt64(c - 48)) else { return nil }
        }
    }

    var isZero: Bool { hi == 0 && mid == 0 && lo == 0 }

    var bitWidthUsed: Int {
        if hi != 0 { return 128 + 64 - hi.leadingZeroBitCount }
        if mid != 0 { return 64 + 64 - mid.leadingZeroBitCount }
        return 64 - lo.leadingZeroBitCount
    }

    /// self = self * m + a; false on overflow past 192 bits.
    mutating func mulAdd(_ m: UInt64, _ a: UInt64) -> Bool {
        let l = lo.multipliedFullWidth(by: m)
        let md = mid.multipliedFullWidth(by: m)
        let h = hi.multipliedFullWidth(by: m)
        let (nlo, c0) = l.low.addingReportingOverflow(a)
        var carry: UInt64 = l.high &+ (c0 ? 1 : 0)
        let (nmid, c1) = md.low.addingReportingOverflow(carry)
        carry = md.high &+ (c1 ? 1 : 0)
        let (nhi, c2) = h.low.addingReportingOverflow(carry)
        if h.high != 0 || c2 { return false }
        (lo, mid, hi) = (nlo, nmid, nhi)
        return true
    }

    /// Shifts left by `bits` (< 64) and ors in `value`'s low `bits` bits.
    mutating func push(_ value: UInt64, bits: Int) {
        let v = bits == 64 ? value : value & ((1 << UInt64(bits)) - 1)
        if bits == 64 {
            hi = mid; mid = lo; lo = v
        } else {
            hi = (hi << UInt64(bits)) | (mid >> UInt64(64 - bits))
            mid = (mid << UInt64(bits)) | (lo >> UInt64(64 - bits))
            lo = (lo << UInt64(bits)) | v
        }
    }

    /// Removes and returns the low `bits` bits.
    mutating func popBits(_ bits: Int) -> UInt64 {
        if bits == 64 {
            let r = lo
            lo = mid; mid = hi; hi = 0
            return r
        }
        let r = lo & ((1 << UInt64(bits)) - 1)
        lo = (lo >> UInt64(bits)) | (mid << UInt64(64 - bits))
        mid = (mid >> UInt64(bits)) | (hi << UInt64(64 - bits))
        hi = hi >> UInt64(bits)
        return r
    }

    /// Divides by d in place and returns the remainder.
    mutating func divide(by d: UInt64) -> UInt64 {
        var r: UInt64 = 0
        (hi, r) = d.dividingFullWidth((0, hi))
        (mid, r) = d.dividingFullWidth((r, mid))
        (lo, r) = d.dividingFullWidth((r, lo))
        return r
    }

    var decimalString: String {
        if isZero { return "0" }
        var x = self
        var chunks: [UInt64] = []
        while !x.isZero { chunks.append(x.divide(by: 10_000_000_000_000_000_000)) }
        var s = String(chunks.removeLast())
        for c in chunks.reversed() {
            let t = String(c)
            s += String(repeating: "0", count: 19 - t.count) + t
        }
        return s
    }

    static func < (a: UInt192, b: UInt192) -> Bool { (a.hi, a.mid, a.lo) < (b.hi, b.mid, b.lo) }
}
