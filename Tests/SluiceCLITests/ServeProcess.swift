import Foundation
import Glibc
import SluiceCore

/// A real `sluice serve` process on a free loopback port, and raw HTTP requests to it: what a
/// hostile client sends, byte for byte.
final class ServeProcess {
    let process: Process
    let dataDir: String
    private(set) var port: UInt16 = 0
    private let errLines = LockedLines()

    init(dataDir: String, extra: [String] = []) throws {
        self.dataDir = dataDir
        process = try CLI.spawn(["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir] + extra, stderrInto: errLines)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let l = errLines.all.first(where: { $0.hasPrefix("listening on http://") }),
               let colon = l.dropFirst("listening on http://".count).split(separator: " ").first?.split(separator: ":").last,
               let p = UInt16(colon) {
                port = p
                return
            }
            if !process.isRunning { break }
            usleep(20_000)
        }
        process.terminate()
        throw POSIXError(.ETIMEDOUT)
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

    /// What the server wrote to standard error so far.
    var stderr: [String] { errLines.all }

    /// Sends SIGTERM and waits (at most `seconds`) for the exit; nil when it did not exit.
    func terminate(within seconds: Double = 30) -> Int32? {
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { return nil }
        errLines.waitClosed()
        return process.terminationStatus
    }

    /// Bytes as they are, on a fresh connection; what came back until the server closed it or
    /// `until` appeared.
    func raw(_ bytes: [UInt8], until: String? = nil, timeout: Int = 10) -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { return "" }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            got += buf[0..<n]
            if let u = until, String(decoding: got, as: UTF8.self).contains(u) { break }
        }
        return String(decoding: got, as: UTF8.self)
    }

    /// A JSON API call (signed-looking; the server checks signatures only under --require-auth):
    /// the status and the parsed body.
    func call(_ operation: String, _ body: String, service: String = "Kinesis_20131202") -> (status: Int, body: JSONValue?) {
        let text = "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: \(service).\(operation)\r\nContent-Type: application/x-amz-json-1.1\r\n"
            + "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=abc\r\n"
            + "Connection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        let reply = raw(Array(text.utf8))
        return ServeProcess.parse(reply)
    }

    /// SQL through the SQL API (`POST /v1/sql`): the status and the parsed answer.
    func sql(_ text: String) -> (status: Int, body: JSONValue?) {
        let head = "POST /v1/sql HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: \(text.utf8.count)\r\n\r\n"
        return ServeProcess.parse(raw(Array((head + text).utf8)))
    }

    static func parse(_ reply: String) -> (status: Int, body: JSONValue?) {
        let status = reply.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        guard let r = reply.range(of: "\r\n\r\n") else { return (status, nil) }
        return (status, try? JSONValue.parse(bytes: Array(reply[r.upperBound...].utf8)))
    }

    /// Whether the server still answers.
    var healthy: Bool { raw(Array("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n".utf8)).hasPrefix("HTTP/1.1 200") }
}

final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    private let done = DispatchSemaphore(value: 0)
    func append(_ l: String) { lock.withLock { lines.append(l) } }
    var all: [String] { lock.withLock { lines } }
    func close() { done.signal() }
    func waitClosed() { _ = done.wait(timeout: .now() + 5) }

    /// Reads `handle` on a thread of its own, a line at a time, until it ends.
    func collect(_ handle: FileHandle) {
        Thread { [self] in
            var pending = Data()
            while true {
                let d = handle.availableData
                if d.isEmpty { break }
                pending.append(d)
                while let nl = pending.firstIndex(of: 10) {
                    append(String(decoding: pending[pending.startIndex..<nl], as: UTF8.self))
                    pending = Data(pending[(nl + 1)...])
                }
            }
            close()
        }.start()
    }
}
