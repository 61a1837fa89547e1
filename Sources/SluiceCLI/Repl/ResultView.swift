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

/// How a push query's rows are shown (`SET result_mode`): an aligned table with a header (for
/// `EMIT CHANGES` on a terminal, one row per key, updated in place; one row for an aggregate
/// without GROUP BY), a changelog (a line per change, as Flink's SQL client shows it: `+I` a new
/// row, `-U` and `+U` the old and new row of an update), or JSON lines.
final class ResultView {
    enum Mode: String { case table, changelog, json }

    let columns: [String]
    let mode: Mode
    let keyColumns: [Int]
    let inPlace: Bool
    let out: OutputStream
    private var widths: [Int]
    private var headerShown = false
    /// In-place table: rows by key, in first-seen order, and how many lines were drawn.
    private var keyed: [[String]: [String]] = [:]
    private var order: [[String]] = []
    private var drawn = 0
    private(set) var rows = 0
    let changes: Bool
    /// The changelog's last row per key (an update shows the old row first).
    private var previous: [[String]: [String]] = [:]
    /// The rows the user saw: a table updated in place has one per key.
    var shownRows: Int { inPlace ? order.count : rows }
    private lazy var encoder = RecordEncoder(format: .json, columns: columns)

    init(columns: [String], mode: Mode, keyColumns: [Int], changes: Bool, terminal: Bool, out: OutputStream) {
        self.columns = columns
        self.mode = mode
        self.keyColumns = keyColumns
        inPlace = mode == .table && changes && terminal
        self.changes = changes
        self.out = out
        widths = columns.map { max($0.count, 4) }
    }

    static func text(_ v: Value) -> String {
        switch v {
        case .null: return "NULL"
        case .string(let s): return s
        case .timestamp(let t): return TimeFormat.iso8601(t)
        default: return v.description
        }
    }

    func add(_ batch: [[Value]]) {
        rows += batch.count
        switch mode {
        case .json:
            var bytes: [UInt8] = []
            for r in batch { encoder.append(r, to: &bytes) }
            out.write(bytes: bytes)
        case .changelog:
            let cells = batch.map { $0.map(ResultView.text) }
            if !headerShown { widen(cells) }
            header(prefix: "   ")
            for r in cells {
                guard changes else { out.line("+I " + line(r)); continue }
                let key = keyColumns.map { r[$0] }
                if let old = previous[key] {
                    out.line("-U " + line(old))
                    out.line("+U " + line(r))
                } else {
                    out.line("+I " + line(r))
                }
                previous[key] = r
            }
        case .table where inPlace:
            for r in batch {
                let cells = r.map(ResultView.text)
                let key = keyColumns.map { cells[$0] }
                if keyed[key] == nil { order.append(key) }
                keyed[key] = cells
                for (i, c) in cells.enumerated() { widths[i] = max(widths[i], c.count) }
            }
            redraw()
        case .table:
            let cells = batch.map { $0.map(ResultView.text) }
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
        let lines = [line(columns), widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-")] + order.map { line(keyed[$0]!) }
        for l in lines { s += "\r\u{1b}[K" + l + "\n" }
        drawn = lines.count
        out.write(s)
    }
}
