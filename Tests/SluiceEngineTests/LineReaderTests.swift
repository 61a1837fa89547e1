import Foundation
import Testing
@testable import SluiceEngine

/// `forEachLine` maps a regular file and reads anything else (a pipe) in chunks: both give the
/// same lines, whatever the line breaks, the lengths and the end of the file.
@Suite("Line reader")
struct LineReaderTests {
    static func lines(_ path: String) throws -> [String] {
        var out: [String] = []
        try forEachLine(path) { line throws(EngineError) in out.append(String(decoding: line, as: UTF8.self)) }
        return out
    }

    /// The lines through a pipe: the chunked path.
    static func linesThroughPipe(_ bytes: [UInt8]) throws -> [String] {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let out = fds[1]
        let writer = Thread {
            bytes.withUnsafeBytes { b in
                var at = 0
                while at < b.count {
                    let n = write(out, b.baseAddress! + at, min(65536, b.count - at))
                    if n <= 0 { break }
                    at += n
                }
            }
            close(out)
        }
        writer.start()
        defer { close(fds[0]) }
        return try lines("/dev/fd/\(fds[0])")
    }

    static let cases: [(String, [UInt8])] = {
        let long = String(repeating: "x", count: 3 << 20)  // longer than a chunk of either path
        return [
            ("plain", Array("a\nbb\nccc\n".utf8)),
            ("no final break", Array("a\nbb\nccc".utf8)),
            ("CRLF and empty lines", Array("a\r\n\r\n\nbb\r\nccc\r\n".utf8)),
            ("long lines", Array("first\n\(long)\nmiddle\n\(long)y".utf8)),
            ("one byte", Array("z".utf8)),
            ("only breaks", Array("\n\n\r\n".utf8)),
        ]
    }()

    @Test(arguments: 0..<6)
    func mappedAndPipedReadsAgree(_ k: Int) throws {
        let (name, bytes) = LineReaderTests.cases[k]
        let path = NSTemporaryDirectory() + "sluice-lines-\(getpid())-\(k)"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { unlink(path) }
        // On bytes: a String holds "\r\n" as one character.
        let expected = bytes.split(separator: 10, omittingEmptySubsequences: false)
            .map { $0.last == 13 ? $0.dropLast() : $0 }.filter { !$0.isEmpty }.map { String(decoding: $0, as: UTF8.self) }
        #expect(try LineReaderTests.lines(path) == expected, "\(name) (mapped)")
        #expect(try LineReaderTests.linesThroughPipe(bytes) == expected, "\(name) (piped)")
    }

    @Test func anEmptyFileHasNoLines() throws {
        let path = NSTemporaryDirectory() + "sluice-lines-empty-\(getpid())"
        FileManager.default.createFile(atPath: path, contents: Data())
        defer { unlink(path) }
        #expect(try LineReaderTests.lines(path).isEmpty)
    }

    /// A file cut short while it is read is reported, not read past its end (which would crash).
    @Test func aFileThatShrinksIsAnError() throws {
        let path = NSTemporaryDirectory() + "sluice-lines-shrink-\(getpid())"
        let line = String(repeating: "y", count: 99) + "\n"
        FileManager.default.createFile(atPath: path, contents: Data(String(repeating: line, count: 50_000).utf8))  // 5 MB
        defer { unlink(path) }
        var seen = 0
        #expect(throws: EngineError.self) {
            try forEachLine(path) { _ throws(EngineError) in
                seen += 1
                if seen == 100 { _ = truncate(path, 1 << 20) }
            }
        }
        #expect(seen > 100 && seen < 50_000)
    }
}
