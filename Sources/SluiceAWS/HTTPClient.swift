import COpenSSL
import Foundation
import Glibc
import Synchronization

/// Why a request got no answer: the host, the connection, or the answer's form.
package struct HTTPClientError: Error, CustomStringConvertible {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// One connection of HTTP/1.1 (one request, `connection: close`), plain or over TLS: what the
/// API clients share. An answer that stops coming is given up after `timeout` seconds.
package struct HTTPConnection {
    package let fd: Int32
    /// The TLS session (an OpenSSL `SSL*`) of an https connection.
    let tls: OpaquePointer?

    /// `tls`: the server's certificate verified (against `caBundle`, else the system's CAs).
    package static func open(host: String, port: UInt16, timeout: Int = 60, tls: Bool = false, caBundle: String? = nil) throws(HTTPClientError) -> HTTPConnection {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { throw HTTPClientError("unknown host \(host)") }
        defer { freeaddrinfo(list) }
        var at: UnsafeMutablePointer<addrinfo>? = first
        while let a = at {
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if fd >= 0 && Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 {
                var tv = timeval(tv_sec: timeout, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                guard tls else { return HTTPConnection(fd: fd, tls: nil) }
                do {
                    return HTTPConnection(fd: fd, tls: try TLS.connect(fd: fd, host: host, caBundle: caBundle))
                } catch {
                    Glibc.close(fd)
                    throw error
                }
            }
            if fd >= 0 { Glibc.close(fd) }
            at = a.pointee.ai_next
        }
        throw HTTPClientError(String(cString: strerror(errno)))
    }

    /// Writes the request (its Content-Length and `connection: close` added).
    package func send(_ r: HTTPRequest) throws(HTTPClientError) {
        var head = "\(r.method) \(r.target) HTTP/1.1\r\n"
        for (n, v) in r.headers { head += "\(n): \(v)\r\n" }
        head += "content-length: \(r.body.count)\r\nconnection: close\r\n\r\n"
        let bytes = Array(head.utf8) + r.body
        var sent = 0
        while sent < bytes.count {
            let n: Int = bytes.withUnsafeBytes { b in
                if let ssl = tls { return Int(SSL_write(ssl, b.baseAddress! + sent, Int32(min(bytes.count - sent, Int(Int32.max))))) }
                return Glibc.send(fd, b.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n <= 0 { throw HTTPClientError("the connection closed while sending") }
            sent += n
        }
    }

    /// Appends what arrives next to `buffer`; false at the end of the answer (or an error).
    package func receive(into buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n: Int = chunk.withUnsafeMutableBytes { b in
                if let ssl = tls { return Int(SSL_read(ssl, b.baseAddress!, Int32(b.count))) }
                return recv(fd, b.baseAddress!, b.count, 0)
            }
            if n < 0 && errno == EINTR && tls == nil { continue }
            if n <= 0 { return false }
            buffer += chunk[0..<n]
            return true
        }
    }

    package func close() {
        if let ssl = tls {
            SSL_shutdown(ssl)
            SSL_free(ssl)
        }
        Glibc.close(fd)
    }
}

package enum HTTPClient {
    /// Sends the request on a new connection and reads the answer to its end: the status and the
    /// body (by Content-Length, else chunked, else to the close).
    package static func exchange(host: String, port: UInt16, tls: Bool = false, caBundle: String? = nil, _ r: HTTPRequest) throws(HTTPClientError) -> (status: Int, body: [UInt8]) {
        var body: [UInt8] = []
        let status = try stream(host: host, port: port, tls: tls, caBundle: caBundle, r) { _, bytes in body += bytes; return true }
        return (status, body)
    }

    /// Sends the request on a new connection and hands the answer's body to `onBody` as it
    /// arrives, with the status (by Content-Length, else chunked, else to the close), until it
    /// ends or `onBody` says false; returns the status. `cancel` ends it from another thread.
    package static func stream(host: String, port: UInt16, tls: Bool = false, caBundle: String? = nil, timeout: Int = 60,
                               cancel: CallCancellation? = nil, _ r: HTTPRequest, onBody: (_ status: Int, _ bytes: [UInt8]) -> Bool) throws(HTTPClientError) -> Int {
        let c = try HTTPConnection.open(host: host, port: port, timeout: timeout, tls: tls, caBundle: caBundle)
        defer { c.close() }
        guard cancel?.attach(c.fd) ?? true else { throw HTTPClientError("cancelled") }
        defer { cancel?.detach() }
        try c.send(r)
        var answer: [UInt8] = []
        var end: Range<Int>? = nil
        while end == nil {
            guard c.receive(into: &answer) else { throw HTTPClientError(cancel?.isCancelled == true ? "cancelled" : answer.isEmpty ? "no answer" : "the answer was cut short") }
            end = answer.firstRange(of: [13, 10, 13, 10])
            if end == nil && answer.count > 65536 { throw HTTPClientError("an answer whose head does not end") }
        }
        let lines = String(decoding: answer[..<end!.lowerBound], as: UTF8.self).split(separator: "\r\n")
        guard let statusLine = lines.first, let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw HTTPClientError("a malformed answer")
        }
        let headers = lines.dropFirst().map { $0.lowercased() }
        var body = BodyDecoder(headers: headers)
        var more = answer[end!.upperBound...]
        while true {
            let (bytes, finished) = try body.feed(more)
            if !bytes.isEmpty && !onBody(status, bytes) { return status }
            if finished { return status }
            var next: [UInt8] = []
            guard c.receive(into: &next) else {
                if cancel?.isCancelled == true { throw HTTPClientError("cancelled") }
                if body.endsAtClose { return status }
                throw HTTPClientError("the answer was cut short")
            }
            more = next[...]
        }
    }
}

/// Ends a call in progress from another thread: its connection is shut down, so a read waiting
/// on it returns at once.
public final class CallCancellation: Sendable {
    private let state = Mutex<(fd: Int32?, cancelled: Bool)>((nil, false))
    public init() {}

    public func cancel() {
        state.withLock { s in
            s.cancelled = true
            if let fd = s.fd { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// False when cancelled already.
    func attach(_ fd: Int32) -> Bool {
        state.withLock { s in
            s.fd = fd
            return !s.cancelled
        }
    }

    func detach() { state.withLock { $0.fd = nil } }
}

/// An answer's body from the bytes after its head, as they arrive: Content-Length bytes, the
/// data of chunks (chunked transfer encoding), or everything up to the close.
struct BodyDecoder {
    enum Framing { case length(Int), chunked, toClose }
    var framing: Framing
    private var buffer: [UInt8] = []
    /// Chunked: data bytes of the current chunk still to come; whether its CRLF is.
    private var remaining = 0
    private var needLineEnd = false

    init(headers: [String]) {
        if headers.contains(where: { $0.hasPrefix("transfer-encoding:") && $0.contains("chunked") }) {
            framing = .chunked
        } else if let cl = headers.first(where: { $0.hasPrefix("content-length:") }), let n = Int(cl.dropFirst(15).trimmingCharacters(in: .whitespaces)) {
            framing = .length(n)
        } else {
            framing = .toClose
        }
    }

    var endsAtClose: Bool { if case .toClose = framing { return true } else { return false } }

    /// The body bytes in `bytes`, and whether the body ended.
    mutating func feed(_ bytes: ArraySlice<UInt8>) throws(HTTPClientError) -> ([UInt8], Bool) {
        switch framing {
        case .toClose: return (Array(bytes), false)
        case .length(let n):
            let take = min(n, bytes.count)
            framing = .length(n - take)
            return (Array(bytes.prefix(take)), n - take == 0)
        case .chunked: break
        }
        buffer += bytes
        var out: [UInt8] = []
        var i = 0
        defer { buffer.removeSubrange(0..<i) }
        while true {
            if remaining > 0 {
                let take = min(remaining, buffer.count - i)
                if take == 0 { return (out, false) }
                out += buffer[i..<(i + take)]
                i += take
                remaining -= take
                if remaining == 0 { needLineEnd = true }
                continue
            }
            if needLineEnd {
                if buffer.count - i < 2 { return (out, false) }
                i += 2
                needLineEnd = false
                continue
            }
            guard let nl = buffer[i...].firstRange(of: [13, 10]) else {
                if buffer.count - i > 1024 { throw HTTPClientError("a malformed chunked answer") }
                return (out, false)
            }
            guard let size = Int(String(decoding: buffer[i..<nl.lowerBound], as: UTF8.self).split(separator: ";").first?.trimmingCharacters(in: .whitespaces) ?? "", radix: 16), size >= 0 else {
                throw HTTPClientError("a malformed chunked answer")
            }
            i = nl.upperBound
            if size == 0 { return (out, true) }
            remaining = size
        }
    }
}
