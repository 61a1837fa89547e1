import Foundation
import Glibc
import Testing
import SluiceCore
@testable import SluiceCLI

/// How the REPL shows an updating result: its rows end with their change kind (`op`).
@Suite("REPL result views")
struct ResultViewTests {
    /// What a view writes for some batches of rows.
    func shown(_ mode: ResultView.Mode, terminal: Bool, _ batches: [[[Value]]]) -> String {
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        let out = OutputStream(fd: fds[1])
        let view = ResultView(columns: ["url", "n", "op"], mode: mode, changes: true, terminal: terminal, out: out)
        for b in batches { view.add(b) }
        out.flush()
        close(fds[1])
        var text: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buf, buf.count)
            if n <= 0 { break }
            text += buf[0..<n]
        }
        close(fds[0])
        return String(decoding: text, as: UTF8.self)
    }

    static let changes: [[[Value]]] = [
        [[.string("/a"), .int(1), .string("+I")], [.string("/b"), .int(1), .string("+I")]],
        [[.string("/a"), .int(1), .string("-U")], [.string("/a"), .int(2), .string("+U")]],
        [[.string("/b"), .int(1), .string("-D")]],
    ]

    @Test func aTerminalTableShowsTheResultAsItStands() {
        let screen = shown(.table, terminal: true, Self.changes)
        // The last drawing: /a updated in place, /b withdrawn; the kind is not a column.
        let last = screen.components(separatedBy: "\u{1b}[").last ?? ""
        #expect(screen.contains("/a   | 2"), "\(screen)")
        #expect(!last.contains("/b"), "\(screen)")
        #expect(!screen.contains("op"), "\(screen)")
    }

    @Test func elsewhereEveryChangeIsShownWithItsKind() {
        for mode in [ResultView.Mode.table, .changelog] {
            let lines = shown(mode, terminal: false, Self.changes).split(separator: "\n").map(String.init)
            #expect(lines.dropFirst(2) == ["+I /a   | 1", "+I /b   | 1", "-U /a   | 1", "+U /a   | 2", "-D /b   | 1"], "\(mode): \(lines)")
        }
        // JSON lines keep the kind in the op field.
        #expect(shown(.json, terminal: false, Self.changes).contains(#"{"url":"/a","n":2,"op":"+U"}"#))
    }
}
