import Foundation
import SluiceCore

/// An exclusive lock on a data directory, held for the life of a store, so that two processes never
/// write the same shard files. The lock is an `flock` on `<dir>/LOCK`: the kernel drops it when the
/// process dies, even by `kill -9`, so there is never a stale lock to clean up.
final class DataDirectoryLock: @unchecked Sendable {
    private var fd: Int32

    init(directory: String) throws(StreamError) {
        try makeDirectory(directory)
        let path = directory + "/LOCK"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StreamError.io("open", path) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 32, 0) }
            let pid = n > 0 ? String(decoding: buf[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            close(fd)
            fd = -1
            throw StreamError(.dataDirectoryInUse,
                              "data directory \(directory) is in use by another sluice process (pid \(pid)); "
                                  + "stop it or choose another --data-dir")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        try? writeAll(fd: fd, bytes: pid, at: 0, path: path)
    }

    func release() {
        if fd >= 0 {
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}

/// Writes a file so that a reader sees either the old contents or the new, never a mixture:
/// a temporary file, flushed, then renamed over the old name, then the directory flushed.
public func writeFileAtomically(_ path: String, _ bytes: [UInt8]) throws(StreamError) {
    let file = try AtomicFile(path)
    do throws(StreamError) {
        try file.write(bytes)
    } catch {
        file.abandon()
        throw error
    }
    try file.commit()
}

/// A file written piece by piece that appears whole or not at all: the pieces go to `path.tmp`,
/// and `commit` syncs it and renames it over `path` (a large checkpoint is written as it is
/// serialized, never held whole in memory).
public final class AtomicFile {
    public let path: String
    let tmp: String
    private var fd: Int32
    private var offset = 0

    public init(_ path: String) throws(StreamError) {
        self.path = path
        tmp = path + ".tmp"
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StreamError.io("create", tmp) }
    }

    public func write(_ bytes: [UInt8]) throws(StreamError) {
        try writeAll(fd: fd, bytes: bytes, at: offset, path: tmp)
        offset += bytes.count
    }

    /// Syncs the file and puts it in place (then its directory, so the rename survives a crash).
    public func commit() throws(StreamError) {
        _ = fsync(fd)
        close(fd)
        fd = -1
        guard rename(tmp, path) == 0 else { throw StreamError.io("rename", tmp) }
        let dir = FileNames.directory(of: path)
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Gives up: the file at `path` stays as it was.
    public func abandon() {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(tmp)
    }

    deinit { if fd >= 0 { close(fd) } }
}

public func readFile(_ path: String) -> [UInt8]? {
    guard let d = FileManager.default.contents(atPath: path) else { return nil }
    return [UInt8](d)
}

extension NSLock {
    /// Runs `body` with the lock held, keeping `body`'s typed error.
    @inline(__always)
    func locked<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
