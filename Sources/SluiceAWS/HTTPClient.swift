import COpenSSL
import Foundation
import Glibc

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
        let c = try HTTPConnection.open(host: host, port: port, tls: tls, caBundle: caBundle)
        defer { c.close() }
        try c.send(r)
        var answer: [UInt8] = []
        while c.receive(into: &answer) {}
        guard let end = answer.firstRange(of: [13, 10, 13, 10]) else { throw HTTPClientError("no answer") }
        let lines = String(decoding: answer[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
        guard let statusLine = lines.first, let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw HTTPClientError("a malformed answer")
        }
        var body = Array(answer[end.upperBound...])
        let headers = lines.dropFirst().map { $0.lowercased() }
        if let cl = headers.first(where: { $0.hasPrefix("content-length:") }), let n = Int(cl.dropFirst(15).trimmingCharacters(in: .whitespaces)) {
            body = Array(body.prefix(n))
        } else if headers.contains(where: { $0.hasPrefix("transfer-encoding:") && $0.contains("chunked") }) {
            body = dechunk(body)
        }
        return (status, body)
    }

    /// A chunked body's bytes.
    package static func dechunk(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [], i = 0
        while let nl = b[i...].firstRange(of: [13, 10]) {
            guard let size = Int(String(decoding: b[i..<nl.lowerBound], as: UTF8.self).split(separator: ";").first ?? "", radix: 16), size > 0 else { break }
            let start = nl.upperBound
            guard start + size <= b.count else { break }
            out += b[start..<(start + size)]
            i = start + size + 2
            if i >= b.count { break }
        }
        return out
    }
}
