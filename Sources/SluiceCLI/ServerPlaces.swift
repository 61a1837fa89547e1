import SluiceCore
import SluiceEngine
import SluiceSQL

/// Statements sent to a server keep their places in the text the user wrote, and the server's
/// diagnostics come back to those places: so a client draws a refusal (line, caret, help) as a
/// local run draws it.
enum ServerPlaces {
    /// The statements' text at their places in `file`, everything else blanked (line breaks
    /// kept, and the semicolon that ends each where the file has one): the server's lines and
    /// columns are the file's.
    static func text(of statements: [Statement], in file: SourceFile) -> String {
        var bytes = file.bytes.map { $0 == 10 ? UInt8(10) : UInt8(32) }
        for s in statements {
            let r = max(0, s.loc.span.start)..<min(file.bytes.count, s.loc.span.end)
            bytes.replaceSubrange(r, with: file.bytes[r])
            var j = r.upperBound
            while j < file.bytes.count, [32, 9, 10, 13].contains(file.bytes[j]) { j += 1 }
            if j < file.bytes.count && file.bytes[j] == 59 { bytes[j] = 59 }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The server's diagnostics (`id`, `message`, `line`, `column`, `end_line`, `end_column`,
    /// `help`) placed in `file`.
    static func diagnostics(_ errors: [JSONValue], _ file: SourceFile) -> [Diagnostic] {
        errors.map { e in
            var span: SourceSpan? = nil
            if let l = e["line"]?.int64Value, let c = e["column"]?.int64Value {
                let start = offset(file, line: Int(l), column: Int(c))
                let end = e["end_line"]?.int64Value.flatMap { el in e["end_column"]?.int64Value.map { offset(file, line: Int(el), column: Int($0)) } } ?? start
                span = SourceSpan(start: start, end: max(start, end))
            }
            return Diagnostic(id: e["id"]?.stringValue ?? "api.error", severity: e["severity"]?.stringValue.flatMap(Diagnostic.Severity.init) ?? .error,
                              message: e["message"]?.stringValue ?? "refused", span: span, help: e["help"]?.stringValue)
        }
    }

    /// The byte offset of a 1-based line and column (columns count characters).
    static func offset(_ file: SourceFile, line: Int, column: Int) -> Int {
        var start = 0, l = 1
        while l < line, let nl = file.bytes[start...].firstIndex(of: 10) {
            start = nl + 1
            l += 1
        }
        return start + file.line(line).prefix(max(0, column - 1)).utf8.count
    }
}
