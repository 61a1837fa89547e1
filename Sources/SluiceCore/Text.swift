extension String {
    /// Every occurrence of `target` replaced by `replacement`, left to right (SQL's REPLACE, and
    /// quoting in printed SQL). Needs no Foundation; an empty `target` changes nothing.
    public func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

extension String {
    /// Without leading and trailing spaces (CSV fields, option values).
    public var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

/// Sizes and durations as option values are written.
public enum Units {
    /// `64MB`, `512 KB`, `1GiB` or bytes (K, M and G are powers of 1024, as Firehose's SizeInMBs).
    public static func bytes(_ text: String) -> Int64? {
        let t = text.uppercased().replacingAll(" ", with: "")
        let units: [(String, Int64)] = [("GIB", 1 << 30), ("GB", 1 << 30), ("G", 1 << 30), ("MIB", 1 << 20), ("MB", 1 << 20), ("M", 1 << 20),
                                        ("KIB", 1 << 10), ("KB", 1 << 10), ("K", 1 << 10), ("B", 1)]
        for (u, scale) in units where t.hasSuffix(u) {
            return Int64(t.dropLast(u.count)).flatMap { Millis.scaled($0, by: scale) }
        }
        return Int64(t)
    }

    /// `500ms`, `10s`, `5m`, `1h`, `2d` (fractions allowed) or milliseconds.
    public static func millis(_ text: String) -> Int64? {
        let t = text.trimmingSpaces.lowercased()
        for (suffix, ms) in [("ms", Int64(1)), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)] where t.hasSuffix(suffix) {
            if let v = Double(t.dropLast(suffix.count)) { return Int64(checking: v * Double(ms), rounding: .towardZero) }
        }
        return Int64(t)
    }
}
