/// Base64 (RFC 4648, standard alphabet, padded) as the AWS JSON APIs carry record data: decoded
/// straight into a byte buffer and encoded from one, without Foundation's `Data` between.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    /// Each byte's value in the alphabet; 64: padding `=`; 255: not base64.
    private static let values: [UInt8] = {
        var t = [UInt8](repeating: 255, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        t[Int(UInt8(ascii: "="))] = 64
        return t
    }()

    /// Appends the bytes `text` encodes to `out`; false (and `out` as it was) when `text` is not
    /// padded base64.
    public static func decode(_ text: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        guard text.count % 4 == 0 else { return false }
        let start = out.count
        out.reserveCapacity(start + text.count / 4 * 3)
        let ok: Bool = values.withUnsafeBufferPointer { v in
            var i = 0
            while i < text.count {
                let a = v[Int(text[i])], b = v[Int(text[i + 1])], c = v[Int(text[i + 2])], d = v[Int(text[i + 3])]
                guard a < 64, b < 64 else { return false }
                out.append(a << 2 | b >> 4)
                if c == 64 {
                    // "xx==": the last quantum, one byte.
                    guard d == 64, i + 4 == text.count else { return false }
                    break
                }
                guard c < 64 else { return false }
                out.append(b << 4 | c >> 2)
                if d == 64 {
                    guard i + 4 == text.count else { return false }
                    break
                }
                guard d < 64 else { return false }
                out.append(c << 6 | d)
                i += 4
            }
            return true
        }
        if !ok { out.removeSubrange(start...) }
        return ok
    }

    public static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var t = text
        return t.withUTF8 { decode(UnsafeRawBufferPointer($0), into: &out) } ? out : nil
    }

    /// Appends the base64 text of `bytes` to `out`.
    public static func encode(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + (bytes.count + 2) / 3 * 4)
        alphabet.withUnsafeBufferPointer { a in
            var i = 0
            while i + 3 <= bytes.count {
                let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                out.append(a[Int(n >> 18)]); out.append(a[Int(n >> 12 & 63)]); out.append(a[Int(n >> 6 & 63)]); out.append(a[Int(n & 63)])
                i += 3
            }
            let rest = bytes.count - i
            if rest > 0 {
                let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
                out.append(a[Int(n >> 18)]); out.append(a[Int(n >> 12 & 63)])
                out.append(rest == 2 ? a[Int(n >> 6 & 63)] : UInt8(ascii: "="))
                out.append(UInt8(ascii: "="))
            }
        }
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        bytes.withUnsafeBytes { encode($0, into: &out) }
        return String(decoding: out, as: UTF8.self)
    }
}
