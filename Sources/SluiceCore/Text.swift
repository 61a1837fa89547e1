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
