/// UTF-8 validity of raw record bytes. JSON and CSV records are UTF-8 text: a record that is not
/// is a bad record (it goes to the error stream), never text with replacement characters.
public enum UTF8Check {
    /// The offset of the first byte that does not belong to a well-formed UTF-8 sequence
    /// (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF), or nil if every byte
    /// does. ASCII runs are checked 32 bytes at a time.
    @inlinable
    public static func firstInvalidByte(_ b: UnsafeRawBufferPointer) -> Int? {
        let n = b.count
        guard let base = b.baseAddress else { return nil }
        var i = 0
        let highs: UInt64 = 0x8080_8080_8080_8080
        while i + 32 <= n {
            let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self) | base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
                | base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self) | base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)
            if w & highs != 0 { break }
            i += 32
        }
        while i + 8 <= n, base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & highs == 0 { i += 8 }
        // The last few bytes in one load that overlaps what was checked.
        if i < n && n - i < 8 && n >= 8 && base.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) & highs == 0 { return nil }
        while i < n {
            let c = b[i]
            if c < 0x80 { i += 1; continue }
            let length: Int, low: UInt8, high: UInt8
            switch c {
            case 0xC2...0xDF: (length, low, high) = (2, 0x80, 0xBF)
            case 0xE0: (length, low, high) = (3, 0xA0, 0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: (length, low, high) = (3, 0x80, 0xBF)
            case 0xED: (length, low, high) = (3, 0x80, 0x9F)  // no surrogates
            case 0xF0: (length, low, high) = (4, 0x90, 0xBF)
            case 0xF1...0xF3: (length, low, high) = (4, 0x80, 0xBF)
            case 0xF4: (length, low, high) = (4, 0x80, 0x8F)  // nothing past U+10FFFF
            default: return i
            }
            guard i + length <= n, b[i + 1] >= low, b[i + 1] <= high else { return i }
            for k in 2..<max(2, length) where b[i + k] & 0xC0 != 0x80 { return i }
            i += length
        }
        return nil
    }

    /// The reason a record is not UTF-8, for the error stream; nil when it is.
    public static func problem(_ b: UnsafeRawBufferPointer) -> String? {
        guard let at = firstInvalidByte(b) else { return nil }
        let hex = String(b[at], radix: 16, uppercase: true)
        return "the record is not valid UTF-8 (byte \(at + 1) is 0x\(hex.count == 1 ? "0" + hex : hex))"
    }
}
