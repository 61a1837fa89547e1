import Foundation
import Glibc

/// The terminal in raw mode while a line is edited (termios: no echo, no line buffering, no
/// signals from Ctrl-C, no flow control; output processing kept, so "\n" still returns the
/// carriage), restored afterwards.
final class RawMode {
    private var saved = termios()
    private(set) var active = false
    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    func enable() {
        guard !active, tcgetattr(fd, &saved) == 0 else { return }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL | BRKINT | INPCK | ISTRIP)
        raw.c_cflag |= tcflag_t(CS8)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        if tcsetattr(fd, TCSADRAIN, &raw) == 0 { active = true }  // typed-ahead input is kept
    }

    func disable() {
        guard active else { return }
        tcsetattr(fd, TCSADRAIN, &saved)
        active = false
    }

    /// Columns of the terminal (80 when unknown).
    static func width(_ fd: Int32) -> Int {
        var w = winsize()
        if ioctl(fd, UInt(TIOCGWINSZ), &w) == 0, w.ws_col > 0 { return Int(w.ws_col) }
        return 80
    }
}

/// A line editor on termios, no readline: the cursor moves by character (arrows, Ctrl-B/F), by
/// word (Alt-B/F, Ctrl-arrows) and to either end (Home/End, Ctrl-A/E); Backspace, Delete, Ctrl-K,
/// Ctrl-U and Ctrl-W delete; Up/Down (Ctrl-P/N) walk the history, which is kept in a file across
/// runs; Ctrl-R searches it backwards; Tab completes through `completer`; Ctrl-C abandons the line;
/// Ctrl-D on an empty line ends the input. While it waits for a key it calls `idle` every 100 ms.
final class LineEditor {
    enum Outcome: Equatable { case line(String), interrupted, eof }

    let input: Int32
    let output: Int32
    private let raw: RawMode
    private let ownsMode: Bool
    private(set) var history: [String] = []
    let historyPath: String?
    static let historyLimit = 1000
    /// The word before the cursor -> the words it may become.
    var completer: ((String) -> [String])?
    var idle: (() -> Void)?

    private var buffer: [Character] = []
    private var cursor = 0
    private var prompt = ""
    private var pending: [UInt8] = []

    /// `raw`: the terminal mode the caller keeps for the whole session (so no keystroke falls into
    /// a moment of cooked mode between two reads); without it each read switches on its own.
    init(input: Int32 = 0, output: Int32 = 1, historyPath: String?, raw: RawMode? = nil) {
        self.input = input
        self.output = output
        self.historyPath = historyPath
        ownsMode = raw == nil
        self.raw = raw ?? RawMode(fd: input)
        if let p = historyPath, let text = try? String(contentsOfFile: p, encoding: .utf8) {
            history = text.split(separator: "\n").map { $0.replacingOccurrences(of: "\\n", with: "\n") }.suffix(LineEditor.historyLimit).map { $0 }
        }
    }

    /// Bytes typed while something else ran (a push query): read before anything new.
    func pushBack(_ bytes: [UInt8]) { pending += bytes }

    /// Adds an entry (a whole statement) to the history and its file.
    func remember(_ entry: String) {
        let e = entry.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !e.isEmpty, history.last != e else { return }
        history.append(e)
        if history.count > LineEditor.historyLimit { history.removeFirst(history.count - LineEditor.historyLimit) }
        guard let p = historyPath else { return }
        let line = e.replacingOccurrences(of: "\n", with: "\\n") + "\n"
        if let h = FileHandle(forWritingAtPath: p) {
            h.seekToEndOfFile()
            h.write(Data(line.utf8))
            h.closeFile()
        } else {
            FileManager.default.createFile(atPath: p, contents: Data(line.utf8))
        }
    }

    func read(prompt: String) -> Outcome {
        self.prompt = prompt
        cursorRow = 0
        buffer = []
        cursor = 0
        raw.enable()
        defer { if ownsMode { raw.disable() } }
        refresh()
        var historyIndex = history.count
        var draft: [Character] = []
        var lastWasTab = false
        while true {
            guard let key = nextKey() else { return .eof }
            let wasTab = lastWasTab
            lastWasTab = false
            switch key {
            case .enter:
                // The rest of the session goes below the whole line, wherever the cursor was in it.
                if cursor != buffer.count {
                    cursor = buffer.count
                    refresh()
                }
                emit("\r\n")
                return .line(String(buffer))
            case .ctrl("c"):
                emit("^C\r\n")
                return .interrupted
            case .ctrl("d"):
                if buffer.isEmpty {
                    emit("\r\n")
                    return .eof
                }
                if cursor < buffer.count { buffer.remove(at: cursor) }
            case .char(let c):
                buffer.insert(c, at: cursor)
                cursor += 1
            case .backspace:
                if cursor > 0 {
                    cursor -= 1
                    buffer.remove(at: cursor)
                }
            case .delete:
                if cursor < buffer.count { buffer.remove(at: cursor) }
            case .left, .ctrl("b"): cursor = max(0, cursor - 1)
            case .right, .ctrl("f"): cursor = min(buffer.count, cursor + 1)
            case .home, .ctrl("a"): cursor = 0
            case .end, .ctrl("e"): cursor = buffer.count
            case .wordLeft: cursor = wordStart(before: cursor)
            case .wordRight:
                var i = cursor
                while i < buffer.count && !isWord(buffer[i]) { i += 1 }
                while i < buffer.count && isWord(buffer[i]) { i += 1 }
                cursor = i
            case .ctrl("k"): buffer.removeSubrange(cursor...)
            case .ctrl("u"):
                buffer.removeSubrange(..<cursor)
                cursor = 0
            case .ctrl("w"):
                let s = wordStart(before: cursor)
                buffer.removeSubrange(s..<cursor)
                cursor = s
            case .ctrl("l"):
                emit("\u{1b}[H\u{1b}[2J")
            case .up, .ctrl("p"):
                if historyIndex > 0 {
                    if historyIndex == history.count { draft = buffer }
                    historyIndex -= 1
                    buffer = Array(history[historyIndex].replacingOccurrences(of: "\n", with: " "))
                    cursor = buffer.count
                }
            case .down, .ctrl("n"):
                if historyIndex < history.count {
                    historyIndex += 1
                    buffer = historyIndex == history.count ? draft : Array(history[historyIndex].replacingOccurrences(of: "\n", with: " "))
                    cursor = buffer.count
                }
            case .ctrl("r"):
                if let (found, run) = search() {
                    buffer = Array(found.replacingOccurrences(of: "\n", with: " "))
                    cursor = buffer.count
                    if run {
                        // Enter on a match runs it, as bash and readline do.
                        refresh()
                        emit("\r\n")
                        return .line(String(buffer))
                    }
                }
            case .tab:
                complete(listing: wasTab)
                lastWasTab = true
            default:
                break
            }
            refresh()
        }
    }

    // MARK: - Keys

    enum Key: Equatable {
        case char(Character), ctrl(Character), enter, tab, backspace, delete
        case left, right, up, down, home, end, wordLeft, wordRight, escape, unknown
    }

    /// One byte, waiting with `poll` in slices of 100 ms (calling `idle`); nil at end of input.
    private func byte(wait: Bool = true) -> UInt8? {
        if !pending.isEmpty { return pending.removeFirst() }
        while true {
            var p = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, wait ? 100 : 30)
            if r == 0 {
                if !wait { return nil }
                idle?()
                continue
            }
            if r < 0 { if errno == EINTR { continue }; return nil }
            var b: UInt8 = 0
            let n = Glibc.read(input, &b, 1)
            if n == 1 { return b }
            if n < 0 && errno == EINTR { continue }
            return nil
        }
    }

    private func nextKey() -> Key? {
        guard let b = byte() else { return nil }
        switch b {
        case 13, 10: return .enter
        case 9: return .tab
        case 127, 8: return .backspace
        case 27: return escape()
        case 1...26: return .ctrl(Character(Unicode.Scalar(b + 96)))
        case 0..<32: return .unknown
        default:
            // UTF-8: gather the continuation bytes of a multi-byte character.
            var bytes = [b]
            let extra = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0
            for _ in 0..<extra { if let c = byte() { bytes.append(c) } }
            return String(decoding: bytes, as: UTF8.self).first.map { .char($0) } ?? .unknown
        }
    }

    private func escape() -> Key {
        guard let b = byte(wait: false) else { return .escape }
        switch b {
        case UInt8(ascii: "b"): return .wordLeft
        case UInt8(ascii: "f"): return .wordRight
        case UInt8(ascii: "["), UInt8(ascii: "O"):
            var params: [UInt8] = []
            while let c = byte(wait: false) {
                if (c >= 0x40 && c <= 0x7e) {
                    let p = String(decoding: params, as: UTF8.self)
                    switch (c, p) {
                    case (UInt8(ascii: "A"), _): return .up
                    case (UInt8(ascii: "B"), _): return .down
                    case (UInt8(ascii: "C"), let p): return p.hasSuffix(";5") || p.hasSuffix(";3") ? .wordRight : .right
                    case (UInt8(ascii: "D"), let p): return p.hasSuffix(";5") || p.hasSuffix(";3") ? .wordLeft : .left
                    case (UInt8(ascii: "H"), _): return .home
                    case (UInt8(ascii: "F"), _): return .end
                    case (UInt8(ascii: "~"), "1"), (UInt8(ascii: "~"), "7"): return .home
                    case (UInt8(ascii: "~"), "4"), (UInt8(ascii: "~"), "8"): return .end
                    case (UInt8(ascii: "~"), "3"): return .delete
                    default: return .unknown
                    }
                }
                params.append(c)
            }
            return .unknown
        default:
            return .unknown
        }
    }

    // MARK: - Editing helpers

    private func isWord(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }

    private func wordStart(before i: Int) -> Int {
        var j = i
        while j > 0 && !isWord(buffer[j - 1]) { j -= 1 }
        while j > 0 && isWord(buffer[j - 1]) { j -= 1 }
        return j
    }

    /// Tab: the word before the cursor completed to its only candidate, or to the candidates'
    /// common prefix; a second Tab lists them.
    private func complete(listing: Bool) {
        var start = cursor
        while start > 0 && (isWord(buffer[start - 1]) || buffer[start - 1] == ".") { start -= 1 }
        let word = String(buffer[start..<cursor])
        guard !word.isEmpty, let candidates = completer?(word), !candidates.isEmpty else { return }
        if candidates.count == 1 {
            replace(start, with: candidates[0] + " ")
            return
        }
        var prefix = candidates[0]
        for c in candidates.dropFirst() {
            while !c.lowercased().hasPrefix(prefix.lowercased()) { prefix.removeLast() }
        }
        if prefix.count > word.count {
            replace(start, with: prefix)
        } else if listing {
            emit("\r\n" + candidates.joined(separator: "  ") + "\r\n")
        }
    }

    private func replace(_ start: Int, with text: String) {
        buffer.replaceSubrange(start..<cursor, with: Array(text))
        cursor = start + text.count
    }

    /// Ctrl-R: reverse incremental search through the history; Enter takes the match and runs
    /// it, an editing key takes it to edit, Ctrl-C or Escape gives up.
    private func search() -> (String, run: Bool)? {
        var query = ""
        var from = history.count
        var match: Int? = nil
        func find(_ before: Int) -> Int? {
            guard !query.isEmpty else { return nil }
            var i = before - 1
            while i >= 0 {
                if history[i].lowercased().contains(query.lowercased()) { return i }
                i -= 1
            }
            return nil
        }
        while true {
            let shown = match.map { history[$0].replacingOccurrences(of: "\n", with: " ") } ?? ""
            let line = "(reverse-i-search)`\(query)': \(shown)"
            draw(line, cursorAt: line.count)
            guard let key = nextKey() else { return nil }
            switch key {
            case .char(let c):
                query.append(c)
                match = find(match.map { $0 + 1 } ?? from)
            case .backspace:
                if !query.isEmpty { query.removeLast() }
                match = find(history.count)
            case .ctrl("r"):
                if let m = match { from = m; match = find(m) ?? m }
            case .ctrl("c"), .ctrl("g"), .escape:
                return nil
            case .enter:
                return match.map { (history[$0], true) }
            default:
                return match.map { (history[$0], false) }
            }
        }
    }

    /// The row of the cursor within the line as last drawn (a line wider than the terminal wraps).
    private var cursorRow = 0

    /// The terminal's width now (it may have been resized), or 80.
    private func columns() -> Int {
        var size = winsize()
        if ioctl(output, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }

    /// Writes lines above the line being edited (something that happened while the prompt
    /// waited), then draws the prompt and the line again below them.
    func printAbove(_ lines: [String]) {
        guard !lines.isEmpty else { return }
        var out = cursorRow > 0 ? "\u{1b}[\(cursorRow)A" : ""
        out += "\r\u{1b}[J" + lines.joined(separator: "\r\n") + "\r\n"
        cursorRow = 0
        emit(out)
        refresh()
    }

    /// Draws the prompt and the line over what was drawn before, however many rows it wrapped
    /// onto (at the width of the moment), and puts the cursor in place.
    private func refresh() {
        draw(prompt + String(buffer), cursorAt: prompt.count + cursor)
    }

    /// Draws `text` (in place of what was drawn, over as many rows as it takes) with the cursor
    /// at character `pos`.
    private func draw(_ text: String, cursorAt pos: Int) {
        let cols = columns()
        let total = text.count
        var out = cursorRow > 0 ? "\u{1b}[\(cursorRow)A" : ""
        out += "\r\u{1b}[J" + text
        // At the end of a full row the terminal waits to wrap: move to the next row for real.
        var endRow = total / cols
        let endColumn = total % cols
        if total > 0 && endColumn == 0 {
            out += "\r\n"
        } else if endColumn == 0 {
            endRow = 0
        }
        let posRow = pos / cols, posColumn = pos % cols
        if endRow > posRow { out += "\u{1b}[\(endRow - posRow)A" }
        out += "\r"
        if posColumn > 0 { out += "\u{1b}[\(posColumn)C" }
        cursorRow = posRow
        emit(out)
    }

    private func emit(_ s: String) {
        let bytes = Array(s.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(output, $0.baseAddress! + done, bytes.count - done) }
            if n <= 0 { break }
            done += n
        }
    }
}
