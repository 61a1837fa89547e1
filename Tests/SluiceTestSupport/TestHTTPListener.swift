import Foundation
import Glibc
import Synchronization

/// A tiny HTTP/1.1 listener on 127.0.0.1 for tests: it records each request's body and answers
/// with the next status of `statuses` (then 200).
public final class TestHTTPListener: @unchecked Sendable {
    public let port: UInt16
    private let fd: Int32
    private let state: Mutex<(bodies: [String], statuses: [Int], requests: Int)>
    private var thread: Thread?

    public init(statuses: [Int] = []) throws {
        state = Mutex(([], statuses, 0))
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = UInt16(bigEndian: addr.sin_port)
        self.fd = fd
        let t = Thread { [self] in serve() }
        thread = t
        t.start()
    }

    deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }

    public var bodies: [String] { state.withLock { $0.bodies } }
    public var requests: Int { state.withLock { $0.requests } }

    private func serve() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { return }
            var data: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            var expected: Int? = nil
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                data += chunk[0..<n]
                if expected == nil, let end = Self.headerEnd(data) {
                    let head = String(decoding: data[0..<end], as: UTF8.self).lowercased()
                    let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }.flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
                    expected = end + 4 + length
                }
                if let e = expected, data.count >= e { break }
            }
            let end = Self.headerEnd(data) ?? data.count
            let body = String(decoding: data[min(data.count, end + 4)...], as: UTF8.self)
            let status = state.withLock { s -> Int in
                s.requests += 1
                let code = s.statuses.isEmpty ? 200 : s.statuses.removeFirst()
                if code == 200 { s.bodies.append(body) }
                return code
            }
            let reply = Array("HTTP/1.1 \(status) X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
            _ = reply.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(c)
        }
    }

    static func headerEnd(_ d: [UInt8]) -> Int? {
        guard d.count >= 4 else { return nil }
        for i in 0...(d.count - 4) where d[i] == 13 && d[i + 1] == 10 && d[i + 2] == 13 && d[i + 3] == 10 { return i }
        return nil
    }
}

