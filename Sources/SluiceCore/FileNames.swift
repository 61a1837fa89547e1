/// Names from users (streams, firehoses, consumers, S3 keys) turned into paths under a directory
/// the server owns: a name is one path component, and an S3 key (a string, not a path) maps onto
/// files below its bucket's directory without ever leaving it.
public enum FileNames {
    /// Whether `name` can be used as one path component: not empty, not `.` or `..`, and without
    /// `/` or NUL.
    public static func isSafeComponent(_ name: String) -> Bool {
        guard !name.isEmpty, name != ".", name != ".." else { return false }
        return !name.utf8.contains { $0 == 0x2F || $0 == 0 }
    }

    /// The file of object `key` under a bucket's directory. S3 keeps a key as text, so a key may
    /// hold segments that a file system reads as moves: `..` and `.` segments are written
    /// percent-encoded (`%2E%2E`, `%2E`) and NUL as `%00`, so the path stays below `directory`
    /// whatever the key. (Empty segments, as in `a//b`, stay: they cannot climb.)
    public static func objectPath(directory: String, key: String) -> String {
        var out = directory
        for segment in key.split(separator: "/", omittingEmptySubsequences: false) {
            out += "/"
            switch segment {
            case ".": out += "%2E"
            case "..": out += "%2E%2E"
            default: out += segment.utf8.contains(0) ? String(segment).replacingAll("\u{0}", with: "%00") : String(segment)
            }
        }
        return out
    }

    /// Whether a key has a segment that `objectPath` escapes (`.`, `..`, or one with NUL), so that
    /// a prefix can be refused where it is defined.
    public static func keyNeedsEscaping(_ key: String) -> Bool {
        key.split(separator: "/", omittingEmptySubsequences: false).contains { $0 == "." || $0 == ".." || $0.utf8.contains(0) }
    }

    /// The directory part of a path, as POSIX `dirname` has it but "" for a path without a
    /// slash: "a/b" is "a", "/a" is "/", "a//b/" is "a". (Foundation's
    /// `deletingLastPathComponent` traps on a path of one non-ASCII character, such as "é".)
    public static func directory(of path: String) -> String {
        let b = Array(path.utf8)
        var end = b.count
        while end > 1 && b[end - 1] == 0x2F { end -= 1 }  // trailing slashes
        guard let slash = b[..<end].lastIndex(of: 0x2F) else { return "" }
        var cut = slash
        while cut > 0 && b[cut - 1] == 0x2F { cut -= 1 }  // the slashes before the last component
        return cut == 0 ? "/" : String(decoding: b[..<cut], as: UTF8.self)
    }
}
