import Testing
@testable import SluiceCore

@Suite("Names as paths, and checked numbers")
struct SafetyTests {
    @Test func aNameIsOneComponentOrRefused() {
        for bad in ["", ".", "..", "a/b", "/", "x\u{0}y", "../x"] { #expect(!FileNames.isSafeComponent(bad), "\(bad)") }
        for ok in ["a", "...", ".hidden", "a.b", "a..b", "-_."] { #expect(FileNames.isSafeComponent(ok), "\(ok)") }
    }

    /// A path's directory as `dirname` has it ("" without a slash), for any text: a path of one
    /// non-ASCII character made Foundation's `deletingLastPathComponent` trap.
    @Test func aPathsDirectoryIsFoundForAnyText() {
        let cases: [(String, String)] = [("é", ""), ("日", ""), ("a", ""), ("", ""), ("a/b", "a"), ("a/é", "a"), ("/a", "/"), ("/", "/"),
                                         ("//", "/"), ("a//b", "a"), ("a/b/", "a"), ("a/b//", "a"), ("/a/", "/"), ("out/é/x.jsonl", "out/é"),
                                         ("/tmp/résumé.jsonl", "/tmp"), ("./x", ".")]
        for (path, dir) in cases { #expect(FileNames.directory(of: path) == dir, "\(path)") }
    }

    /// Whatever the key, its file is below the bucket's directory: no segment of the path
    /// after the directory is `.` or `..`.
    @Test(arguments: ["../../etc/passwd", "a/../../b", "./x", "a/./b/..", "..", "/abs/../x", "a//b", "x\u{0}/../y", "ok/key-1"])
    func anObjectKeyNeverLeavesItsBucket(_ key: String) {
        let path = FileNames.objectPath(directory: "/data/s3/bucket", key: key)
        #expect(path.hasPrefix("/data/s3/bucket/"))
        let rest = path.dropFirst("/data/s3/bucket/".count).split(separator: "/", omittingEmptySubsequences: false)
        #expect(!rest.contains { $0 == "." || $0 == ".." }, "\(path)")
        #expect(!path.utf8.contains(0))
    }

    @Test func keysThatNeedEscapingAreKnown() {
        for k in ["../x", "a/./b", "a/..", ".", "x\u{0}y"] { #expect(FileNames.keyNeedsEscaping(k), "\(k)") }
        for k in ["a//b", "a/b/", "...", "a..b/.c", "2024/01/01/x-1"] { #expect(!FileNames.keyNeedsEscaping(k), "\(k)") }
    }

    @Test func numbersOutOfRangeAreNilNotTraps() {
        for d in [1e300, -1e300, .infinity, -.infinity, .nan, 9.3e18, -9.3e18] { #expect(Int64(checking: d) == nil, "\(d)") }
        #expect(Int64(checking: 9.2e18) == 9_200_000_000_000_000_000)
        #expect(Int64(checking: -2.5) == -3 && Int64(checking: -2.5, rounding: .down) == -3 && Int64(checking: 2.5, rounding: .towardZero) == 2)
        #expect(Millis.fromSeconds(9.3e15) == nil && Millis.fromSeconds(1e300) == nil && Millis.fromSeconds(1.5) == 1500)
        #expect(Millis.scaled(.max / 2, by: 3) == nil && Millis.scaled(7, by: 1000) == 7000)
        #expect(Units.millis("1e300s") == nil && Units.millis("9999999999999999h") == nil && Units.millis("1.5s") == 1500)
        #expect(Units.bytes("99999999999999GB") == nil && Units.bytes("2KB") == 2048)
        #expect(Int(clampingToward: 1e300) == .max && Int(clampingToward: -1e300) == .min && Int(clampingToward: .nan) == nil)
    }
}
