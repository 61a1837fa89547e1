import Foundation
import SluiceCodecs
import SluiceCore

/// Whether typed text holds a complete statement: a `;` outside strings, quoted names and comments.
enum StatementText {
    static func isComplete(_ text: String) -> Bool {
        var inString = false, inQuoted = false, lineComment = false, blockComment = false
        var complete = false
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            let next: Character = i + 1 < chars.count ? chars[i + 1] : " "
            if lineComment {
                if c == "\n" { lineComment = false }
            } else if blockComment {
                if c == "*" && next == "/" { blockComment = false; i += 1 }
            } else if inString {
                if c == "'" { if next == "'" { i += 1 } else { inString = false } }
            } else if inQuoted {
                if c == "\"" { inQuoted = false }
            } else if c == "-" && next == "-" {
                lineComment = true
            } else if c == "/" && next == "*" {
                blockComment = true
                i += 1
            } else if c == "'" {
                inString = true
                complete = false
            } else if c == "\"" {
                inQuoted = true
                complete = false
            } else if c == ";" {
                complete = true
            } else if !c.isWhitespace {
                complete = false
            }
            i += 1
        }
        return complete && !inString && !inQuoted && !blockComment
    }
}

/// How a push query's rows are shown (`SET result_mode`): an aligned table with a header (for an
/// updating result on a terminal, the result as it stands, redrawn in place as changes come), a
/// changelog (a line per change with its kind, as Flink's SQL client shows it: `+I` a new row,
/// `-U` and `+U` the old and new row of an update, `-D` a row withdrawn), or JSON lines (with the
/// change kind in the `op` field).
final class ResultView {
    enum Mode: String { case table, changelog, json }

    /// The columns shown (an updating result's change kind is shown apart).
    let columns: [String]
    let mode: Mode
    let inPlace: Bool
    let out: OutputStream
    private var widths: [Int]
    private var headerShown = false
    /// In-place table: the result's rows as they stand, and how many lines were drawn.
    private var current: [[String]] = []
    private var drawn = 0
    private(set) var rows = 0
    /// The rows end with their change kind (ChangeKind).
    let changes: Bool
    /// The rows the user saw: a table updated in place shows the result as it stands.
    var shownRows: Int { inPlace ? current.count : rows }
    private let allColumns: [String]
    private lazy var encoder = RecordEncoder(format: .json, columns: allColumns)

    init(columns: [String], mode: Mode, changes: Bool, terminal: Bool, out: OutputStream) {
        allColumns = columns
        self.columns = changes ? Array(columns.dropLast()) : columns
        self.mode = mode
        inPlace = mode == .table && changes && terminal
        self.changes = changes
        self.out = out
        widths = self.columns.map { max($0.count, 4) }
    }

    static func text(_ v: Value) -> String {
        switch v {
        case .null: return "NULL"
        case .string(let s): return s
        case .timestamp(let t): return TimeFormat.iso8601(t)
        default: return v.description
        }
    }

    /// A row's change kind and its shown cells.
    private func split(_ r: [Value]) -> (String, [String]) {
        guard changes, let last = r.last else { return ("+I", r.map(ResultView.text)) }
        return (ResultView.text(last), r.dropLast().map(ResultView.text))
    }

    func add(_ batch: [[Value]]) {
        rows += batch.count
        switch mode {
        case .json:
            var bytes: [UInt8] = []
            for r in batch { encoder.append(r, to: &bytes) }
            out.write(bytes: bytes)
        case .changelog, .table where changes && !inPlace:
            // Not redrawn in place (not a terminal): each change on its line, with its kind.
            let lines = batch.map(split)
            if !headerShown { widen(lines.map(\.1)) }
            header(prefix: "   ")
            for (op, cells) in lines { out.line(op + " " + line(cells)) }
        case .table where inPlace:
            // A withdrawn row leaves the table; the row that updates it takes its place.
            var at: Int? = nil
            for r in batch {
                let (op, cells) = split(r)
                if op == "-U" || op == "-D" {
                    if let i = current.firstIndex(of: cells) { current.remove(at: i); at = op == "-U" ? i : nil }
                    continue
                }
                if op == "+U", let i = at, i <= current.count { current.insert(cells, at: i) } else { current.append(cells) }
                at = nil
                for (i, c) in cells.enumerated() { widths[i] = max(widths[i], c.count) }
            }
            redraw()
        case .table:
            let cells = batch.map { split($0).1 }
            if !headerShown { widen(cells) }
            header(prefix: "")
            for r in cells { out.line(line(r)) }
        }
        out.flush()
    }

    /// The first rows set the widths; later, longer values widen their column as they come.
    private func widen(_ cells: [[String]]) {
        for r in cells.prefix(50) { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    }

    private func header(prefix: String) {
        guard !headerShown else { return }
        headerShown = true
        out.line(prefix + line(columns))
        out.line(prefix + widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-"))
    }

    private func line(_ cells: [String]) -> String {
        var parts: [String] = []
        for (i, c) in cells.enumerated() {
            if c.count > widths[i] { widths[i] = c.count }
            parts.append(c + String(repeating: " ", count: widths[i] - c.count))
        }
        var s = parts.joined(separator: " | ")
        while s.last == " " { s.removeLast() }
        return s
    }

    /// The keyed table drawn again over its previous drawing (ANSI cursor-up and erase-line).
    private func redraw() {
        var s = drawn > 0 ? "\u{1b}[\(drawn)A" : ""
        let lines = [line(columns), widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-")] + current.map { line($0) }
        for l in lines { s += "\r\u{1b}[K" + l + "\n" }
        drawn = lines.count
        out.write(s)
    }
}
