/// A byte range in a source text: `start..<end` in UTF-8 bytes.
public struct SourceSpan: Sendable, Hashable, CustomStringConvertible {
    public var start: Int
    public var end: Int

    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    public static func at(_ offset: Int) -> SourceSpan { SourceSpan(start: offset, end: offset) }

    /// The smallest span that covers both.
    public func union(_ other: SourceSpan) -> SourceSpan {
        SourceSpan(start: Swift.min(start, other.start), end: Swift.max(end, other.end))
    }

    public var description: String { "\(start)..<\(end)" }
}

/// One problem found in user input (SQL, a command line, a record), with a stable id that tests
/// and documentation refer to, e.g. `syntax.unexpected-token` or `bind.unknown-column`.
/// Rendering (file:line:column, the source line, carets) is `DiagnosticRenderer`'s job.
public struct Diagnostic: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning, note }

    public struct Note: Sendable, Hashable {
        public var message: String
        public var span: SourceSpan?
        public init(_ message: String, span: SourceSpan? = nil) {
            self.message = message
            self.span = span
        }
    }

    public var id: String
    public var severity: Severity
    public var message: String
    public var span: SourceSpan?
    public var notes: [Note]
    /// A suggestion, e.g. "did you mean 'FROM'?".
    public var help: String?

    public init(id: String, severity: Severity = .error, message: String, span: SourceSpan?, notes: [Note] = [], help: String? = nil) {
        self.id = id
        self.severity = severity
        self.message = message
        self.span = span
        self.notes = notes
        self.help = help
    }

    public var description: String { "\(severity.rawValue)[\(id)]: \(message)" }
}

/// A source text with a name, and the conversion from byte offsets to lines and columns.
public struct SourceFile: Sendable {
    public let name: String
    public let text: String
    public let bytes: [UInt8]
    private let lineStarts: [Int]

    public init(name: String, text: String) {
        self.init(name: name, bytes: Array(text.utf8))
    }

    /// A file as bytes (which need not be valid UTF-8: offsets stay byte offsets).
    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
        text = String(decoding: bytes, as: UTF8.self)
        var starts = [0]
        for (i, b) in bytes.enumerated() where b == 10 { starts.append(i + 1) }
        lineStarts = starts
    }

    /// 1-based line and column (columns count characters, not bytes) of a byte offset.
    public func location(of offset: Int) -> (line: Int, column: Int) {
        let o = Swift.max(0, Swift.min(offset, bytes.count))
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= o { lo = mid } else { hi = mid - 1 }
        }
        let column = String(decoding: bytes[lineStarts[lo]..<o], as: UTF8.self).count + 1
        return (lo + 1, column)
    }

    /// The text of a 1-based line, without its line break.
    public func line(_ n: Int) -> String {
        guard n >= 1 && n <= lineStarts.count else { return "" }
        let start = lineStarts[n - 1]
        var end = n < lineStarts.count ? lineStarts[n] - 1 : bytes.count
        if end > start && bytes[end - 1] == 13 { end -= 1 }
        return String(decoding: bytes[start..<Swift.max(start, end)], as: UTF8.self)
    }

    public func text(_ span: SourceSpan) -> String {
        let s = Swift.max(0, Swift.min(span.start, bytes.count)), e = Swift.max(s, Swift.min(span.end, bytes.count))
        return String(decoding: bytes[s..<e], as: UTF8.self)
    }
}

/// Renders diagnostics the way compilers do:
///
///     queries/x.sql:3:8: error[syntax.unexpected-token]: expected an expression, found FROM
///       |
///     3 | SELECT FROM clicks
///       |        ^^^^
///       = help: ...
public enum DiagnosticRenderer {
    public static func render(_ d: Diagnostic, in file: SourceFile) -> String {
        var out = ""
        guard let span = d.span else {
            out += "\(file.name): \(d.severity.rawValue)[\(d.id)]: \(d.message)\n"
            for n in d.notes { out += "  = note: \(n.message)\n" }
            if let h = d.help { out += "  = help: \(h)\n" }
            return out
        }
        let (line, column) = file.location(of: span.start)
        out += "\(file.name):\(line):\(column): \(d.severity.rawValue)[\(d.id)]: \(d.message)\n"
        out += snippet(span, in: file)
        for n in d.notes {
            if let s = n.span {
                let (l, c) = file.location(of: s.start)
                out += "  = note: \(n.message) (\(file.name):\(l):\(c))\n"
            } else {
                out += "  = note: \(n.message)\n"
            }
        }
        if let h = d.help { out += "  = help: \(h)\n" }
        return out
    }

    /// The source line of `span` with carets under it (only the first line of a multi-line span).
    static func snippet(_ span: SourceSpan, in file: SourceFile) -> String {
        let (line, column) = file.location(of: span.start)
        let text = file.line(line).replacingTabs()
        let gutter = String(line)
        let pad = String(repeating: " ", count: gutter.count)
        let (endLine, endColumn) = file.location(of: Swift.max(span.start, span.end))
        let width: Int
        if endLine == line {
            width = Swift.max(1, endColumn - column)
        } else {
            width = Swift.max(1, text.count - column + 1)
        }
        var out = "\(pad) |\n\(gutter) | \(text)\n"
        out += "\(pad) | " + String(repeating: " ", count: column - 1) + String(repeating: "^", count: width) + "\n"
        return out
    }
}

extension String {
    fileprivate func replacingTabs() -> String {
        var s = ""
        for c in self { s.append(c == "\t" ? " " : c) }
        return s
    }
}

/// The candidate closest to `word` by edit distance, if close enough to be a likely typo.
public func closestMatch(_ word: String, in candidates: some Sequence<String>) -> String? {
    let w = word.lowercased()
    var best: (String, Int)? = nil
    for c in candidates {
        let d = editDistance(w, c.lowercased())
        if d <= Swift.max(1, c.count / 3), best == nil || d < best!.1 { best = (c, d) }
    }
    return best?.0
}

/// Edit distance over Unicode scalars, counting a swap of two neighbours as one edit
/// (optimal string alignment), so `FORM` is one edit from `FROM`.
public func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = Swift.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = Swift.min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[a.count][b.count]
}
