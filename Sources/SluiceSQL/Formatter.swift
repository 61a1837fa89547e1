public import SluiceCore

/// `sluice fmt`: a file's statements in canonical form, with every comment kept. A comment stays
/// on the line of the element it followed, or just above the element it preceded; a comment
/// inside an expression moves to just above that expression's line. Files with errors are not
/// formatted.
public enum Formatter {
    public static func format(_ text: String) -> Result<String, ParseFailure> {
        let file = SourceFile(name: "", text: text)
        let r = Parser.parse(text)
        if r.hasErrors { return .failure(ParseFailure(diagnostics: r.diagnostics)) }
        var comments = r.comments
        var out: [String] = []
        func take(_ pred: (SourceSpan) -> Bool) -> [SourceSpan] {
            let taken = comments.filter(pred)
            comments.removeAll(where: pred)
            return taken
        }
        func sameLine(_ a: Int, _ b: Int) -> Bool {
            guard a <= b else { return false }
            return !file.bytes[a..<b].contains(10)
        }
        for (index, statement) in r.script.statements.enumerated() {
            let sspan = statement.loc.span
            if index > 0 { out.append("") }
            // Comments before the statement.
            for c in take({ $0.start < sspan.start }) {
                out.append(file.text(c))
            }
            let lines = Printer.lines(statement)
            let nextStatementStart = index + 1 < r.script.statements.count ? r.script.statements[index + 1].loc.span.start : Int.max
            for (li, line) in lines.enumerated() {
                let pad = String(repeating: " ", count: line.indent)
                var textLine = pad + line.text
                if li == lines.count - 1 { textLine += ";" }
                if let a = line.anchor {
                    for c in take({ $0.start < a.start && $0.start >= sspan.start }) { out.append(pad + file.text(c)) }
                    // A comment after the element, on the same source line, before the next element.
                    let nextAnchor = lines[(li + 1)...].compactMap(\.anchor).first?.start ?? nextStatementStart
                    for c in take({ $0.start >= a.end && $0.start < nextAnchor && sameLine(a.end, $0.start) && $0.start > sspan.start }) {
                        textLine += " " + file.text(c)
                    }
                }
                out.append(textLine)
            }
            // Anything else inside the statement (or right after its ';' on the same line).
            for c in take({ $0.start < sspan.end || ($0.start < nextStatementStart && sameLine(sspan.end, $0.start)) }) {
                if sameLine(sspan.end, c.start) && !out.isEmpty {
                    out[out.count - 1] += " " + file.text(c)
                } else {
                    out.append(file.text(c))
                }
            }
        }
        if !comments.isEmpty {
            if !out.isEmpty { out.append("") }
            for c in comments { out.append(file.text(c)) }
        }
        return .success(out.isEmpty ? "" : out.joined(separator: "\n") + "\n")
    }

    public struct ParseFailure: Error, Sendable {
        public var diagnostics: [Diagnostic]
    }
}
