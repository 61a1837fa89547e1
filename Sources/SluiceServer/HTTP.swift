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
