public import SluiceCore

/// An HTTP/1.1 request as the server read it: header names lower-cased, the body whole (after
/// Content-Length or chunked transfer decoding).
public struct HTTPRequest: Sendable {
    public var method: String
    public var target: String
    public var version: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, target: String, version: String = "HTTP/1.1", headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
    }

    /// The first value of a header (names compare without regard to case).
    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.name == n }?.value
    }

    /// The path without the query string.
    public var path: String { String(target.prefix { $0 != "?" }) }

    /// Whether the connection stays open after the response (HTTP/1.1 unless `Connection: close`).
    public var keepAlive: Bool {
        let c = header("connection")?.lowercased() ?? ""
        return version == "HTTP/1.0" ? c.contains("keep-alive") : !c.contains("close")
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// A body written as it is produced (chunked transfer encoding) instead of `body`: the
    /// connection's thread calls it and the response ends when it returns.
    public var stream: (@Sendable (BodyWriter) -> Void)? = nil

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func text(_ status: Int, _ text: String, type: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", type)], body: Array(text.utf8))
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 411: return "Length Required"
        case 413: return "Payload Too Large"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }

    /// The response as bytes, with Content-Length (and `Connection: close` when it closes); for a
    /// streamed body, the head only, with `Transfer-Encoding: chunked`.
    func serialized(close: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(HTTPResponse.reason(status))\r\n"
        for (n, v) in headers where !["content-length", "connection", "transfer-encoding"].contains(n.lowercased()) { head += "\(n): \(v)\r\n" }
        head += stream == nil ? "Content-Length: \(body.count)\r\n" : "Transfer-Encoding: chunked\r\n"
        if close { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (stream == nil ? body : [])
    }
}

/// Writes a streamed response body, a chunk per call, on the connection's thread.
public final class BodyWriter: @unchecked Sendable {
    let send: ([UInt8]) -> Bool
    let stopping: () -> Bool

    init(send: @escaping ([UInt8]) -> Bool, stopping: @escaping () -> Bool) {
        self.send = send
        self.stopping = stopping
    }

    /// Sends one chunk; false once the client is gone.
    public func write(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return true }
        return send(Array((String(bytes.count, radix: 16) + "\r\n").utf8) + bytes + [13, 10])
    }

    /// Whether the server is stopping (a long response should end).
    public var serverStopping: Bool { stopping() }
}

/// Parses requests out of the bytes a connection has received, one at a time. Malformed input
/// is an error with the status to answer (and the connection closes after it).
struct HTTPRequestParser {
    struct Failure: Error {
        var status: Int
        var message: String
    }

    let maxHeaderBytes: Int
    let maxBodyBytes: Int

    enum Outcome {
        /// More bytes are needed.
        case incomplete
        /// The headers are in and the client waits for `100 Continue` before sending the body.
        case expectsContinue
        /// A whole request, and how many bytes of the buffer it used.
        case request(HTTPRequest, consumed: Int)
    }

    /// Looks for one whole request at the start of `buffer`. `continued` says that 100 Continue was sent.
    func parse(_ buffer: [UInt8], continued: Bool) throws(Failure) -> Outcome {
        guard let headEnd = HTTPRequestParser.find(buffer, [13, 10, 13, 10]) else {
            if buffer.count > maxHeaderBytes { throw Failure(status: 431, message: "the request headers exceed \(maxHeaderBytes) bytes") }
            return .incomplete
        }
        if headEnd > maxHeaderBytes { throw Failure(status: 431, message: "the request headers exceed \(maxHeaderBytes) bytes") }
        let head = String(decoding: buffer[0..<headEnd], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard requestLine.count == 3, !requestLine[0].isEmpty, requestLine[0].allSatisfy({ $0.isUppercase }), requestLine[1].hasPrefix("/") || requestLine[1] == "*" else {
            throw Failure(status: 400, message: "malformed request line")
        }
        guard requestLine[2] == "HTTP/1.1" || requestLine[2] == "HTTP/1.0" else {
            throw Failure(status: 505, message: "only HTTP/1.1 and HTTP/1.0 are spoken here")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex, !line[line.startIndex..<colon].contains(" ") else {
                throw Failure(status: 400, message: "malformed header line")
            }
            headers.append((line[..<colon].lowercased(), String(line[line.index(after: colon)...]).trimmingSpaces))
        }
        var request = HTTPRequest(method: requestLine[0], target: requestLine[1], version: requestLine[2], headers: headers)
        let bodyStart = headEnd + 4
        let chunked = request.header("transfer-encoding")?.lowercased().contains("chunked") ?? false
        if !chunked, let cl = request.header("content-length") {
            guard let n = Int(cl), n >= 0 else { throw Failure(status: 400, message: "Content-Length is not a number") }
            if n > maxBodyBytes { throw Failure(status: 413, message: "the request body of \(n) bytes exceeds the limit of \(maxBodyBytes) bytes") }
            if buffer.count - bodyStart < n {
                if !continued, n > 0, request.header("expect")?.lowercased() == "100-continue" { return .expectsContinue }
                return .incomplete
            }
            request.body = Array(buffer[bodyStart..<(bodyStart + n)])
            return .request(request, consumed: bodyStart + n)
        }
        if chunked {
            if !continued, request.header("expect")?.lowercased() == "100-continue", buffer.count == bodyStart { return .expectsContinue }
            var at = bodyStart
            var body: [UInt8] = []
            while true {
                guard let lineEnd = HTTPRequestParser.find(buffer, [13, 10], from: at) else { return .incomplete }
                let sizeText = String(String(decoding: buffer[at..<lineEnd], as: UTF8.self).prefix { $0 != ";" }).trimmingSpaces
                guard let size = Int(sizeText, radix: 16), size >= 0 else { throw Failure(status: 400, message: "malformed chunk size") }
                at = lineEnd + 2
                if size == 0 {
                    // Trailers (ignored) end with an empty line.
                    guard let end = HTTPRequestParser.find(buffer, [13, 10], from: at) else { return .incomplete }
                    if end == at {
                        request.body = body
                        return .request(request, consumed: end + 2)
                    }
                    guard let trailersEnd = HTTPRequestParser.find(buffer, [13, 10, 13, 10], from: at) else { return .incomplete }
                    request.body = body
                    return .request(request, consumed: trailersEnd + 4)
                }
                if body.count + size > maxBodyBytes { throw Failure(status: 413, message: "the request body exceeds the limit of \(maxBodyBytes) bytes") }
                guard buffer.count >= at + size + 2 else { return .incomplete }
                body += buffer[at..<(at + size)]
                guard buffer[at + size] == 13, buffer[at + size + 1] == 10 else { throw Failure(status: 400, message: "a chunk does not end with CRLF") }
                at += size + 2
            }
        }
        if ["POST", "PUT"].contains(request.method) { throw Failure(status: 411, message: "a request body needs Content-Length or chunked encoding") }
        return .request(request, consumed: bodyStart)
    }

    static func find(_ b: [UInt8], _ pattern: [UInt8], from start: Int = 0) -> Int? {
        guard b.count >= pattern.count, start <= b.count - pattern.count else { return nil }
        var i = start
        let last = b.count - pattern.count
        outer: while i <= last {
            for (k, p) in pattern.enumerated() where b[i + k] != p { i += 1; continue outer }
            return i
        }
        return nil
    }
}
