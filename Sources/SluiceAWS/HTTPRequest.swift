import Foundation

/// An HTTP/1.1 request: as a server read it (header names lower-cased, the body whole, after
/// Content-Length or chunked transfer decoding), or as a client builds it to sign and send.
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

    /// The first value of a query parameter (`?stream=bids&...`), percent-decoded; nil when the
    /// target has none by that name (or it does not decode).
    public func query(_ name: String) -> String? {
        guard let q = target.firstIndex(of: "?") else { return nil }
        for pair in target[target.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if kv[0] == name { return (kv.count > 1 ? String(kv[1]) : "").replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
        }
        return nil
    }

    /// Whether the connection stays open after the response (HTTP/1.1 unless `Connection: close`).
    public var keepAlive: Bool {
        let c = header("connection")?.lowercased() ?? ""
        return version == "HTTP/1.0" ? c.contains("keep-alive") : !c.contains("close")
    }
}
