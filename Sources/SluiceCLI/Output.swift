import Foundation
import SluiceCore

/// Buffered writes to a file descriptor (stdout, stderr). Safe to share between threads (a
/// server's queries log from their own): a line goes out whole.
final class OutputStream: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []
    private let lock = NSLock()

    init(fd: Int32) { self.fd = fd }

    func write(_ s: String) {
        lock.withLock { append(s.utf8) }
    }

    func write(bytes: [UInt8]) {
        lock.withLock { append(bytes) }
    }

    func line(_ s: String) {
        lock.withLock {
            buffer.append(contentsOf: s.utf8)
            append(CollectionOfOne(10))
        }
    }

    func json(_ v: JSONValue, pretty: Bool = false) {
        lock.withLock {
            v.write(to: &buffer, pretty: pretty)
            append(CollectionOfOne(10))
        }
    }

    /// (The lock held.)
    private func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { drain() }
    }

    func flush() {
        lock.withLock { drain() }
    }

    /// (The lock held.)
    private func drain() {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + done, buffer.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                break  // a closed pipe: nothing more can be said
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { drain() }
}
