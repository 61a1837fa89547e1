import Dispatch
import Foundation
import Glibc
import Synchronization

/// Posts JSON documents to an `http://host:port/path` URL from a worker thread, so the caller
/// never waits on the network: each document is retried with exponential backoff (0.1 s, 0.2 s,
/// 0.4 s, ...) until a 2xx answer or `attempts` tries; what still fails is logged and counted. At
/// most `capacity` documents wait; past that new ones are dropped and counted. HTTPS is not
/// supported (no TLS in the toolchain without a package).
public final class WebhookSender: @unchecked Sendable {
    public struct Counters: Sendable, Equatable {
        public var sent = 0
        public var failed = 0
        public var dropped = 0
        public var retries = 0
    }

    public let url: String
    let host: String
    let port: UInt16
    let path: String
    let attempts: Int
    let backoffMillis: Int
    let capacity: Int
    private let queue = DispatchQueue(label: "sluice.webhook")
    private let state = Mutex<(counters: Counters, pending: Int)>((Counters(), 0))
    private let log: @Sendable (String) -> Void

    /// Parses `http://host[:port][/path]`; nil (with the reason) for anything else.
    public static func parse(_ url: String) -> Result<(host: String, port: UInt16, path: String), DeliveryError> {
        guard url.hasPrefix("http://") else {
            return .failure(DeliveryError(.invalidArgument, "webhook '\(url)' must be an http:// URL (https needs TLS, which Sluice does not have)"))
        }
        var rest = Substring(url.dropFirst(7))
        var path = "/"
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        var host = String(rest), port: UInt16 = 80
        if let colon = rest.lastIndex(of: ":") {
            guard let p = UInt16(rest[rest.index(after: colon)...]) else { return .failure(DeliveryError(.invalidArgument, "webhook '\(url)' has a bad port")) }
            host = String(rest[..<colon])
            port = p
        }
        guard !host.isEmpty else { return .failure(DeliveryError(.invalidArgument, "webhook '\(url)' has no host")) }
        return .success((host, port, path))
    }

    public init(url: String, attempts: Int = 5, backoffMillis: Int = 100, capacity: Int = 10_000,
                log: (@Sendable (String) -> Void)? = nil) throws(DeliveryError) {
        let (h, p, path) = try WebhookSender.parse(url).get()
        self.url = url
        host = h
        port = p
        self.path = path
        self.attempts = max(1, attempts)
        self.backoffMillis = backoffMillis
        self.capacity = capacity
        self.log = log ?? WebhookSender.stderrLine
    }

    static let stderrLine: @Sendable (String) -> Void = { line in
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    public var counters: Counters { state.withLock { $0.counters } }

    /// Queues a document; returns at once.
    public func send(_ body: [UInt8]) {
        let accepted = state.withLock { s -> Bool in
            guard s.pending < capacity else {
                s.counters.dropped += 1
                return false
            }
            s.pending += 1
            return true
        }
        guard accepted else {
            log("webhook \(url): \(capacity) notifications are waiting; one was dropped")
            return
        }
        queue.async { [self] in
            var delay = backoffMillis
            var lastError = ""
            for attempt in 1...attempts {
                switch post(body) {
                case .success:
                    state.withLock {
                        $0.counters.sent += 1
                        $0.pending -= 1
                    }
                    return
                case .failure(let why):
                    lastError = why.message
                    if attempt < attempts {
                        state.withLock { $0.counters.retries += 1 }
                        usleep(useconds_t(delay * 1000))
                        delay *= 2
                    }
                }
            }
            state.withLock {
                $0.counters.failed += 1
                $0.pending -= 1
            }
            log("webhook \(url): a notification was not delivered after \(attempts) attempts: \(lastError)")
        }
    }

    /// Waits until nothing is waiting, or `timeoutMillis` has passed; returns whether it drained.
    @discardableResult
    public func drain(timeoutMillis: Int) -> Bool {
        let deadline = DispatchTime.now() + .milliseconds(timeoutMillis)
        while state.withLock({ $0.pending }) > 0 {
            if DispatchTime.now() >= deadline { return false }
            usleep(5_000)
        }
        return true
    }

    /// One POST: Ok on a 2xx status line, else why not.
    func post(_ body: [UInt8]) -> Result<Void, WebhookFailure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let first = res else {
            return .failure(WebhookFailure("cannot resolve \(host)"))
        }
        defer { freeaddrinfo(res) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return .failure(WebhookFailure("socket: \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            return .failure(WebhookFailure("cannot connect to \(host):\(port): \(String(cString: strerror(errno)))"))
        }
        var request = Array("POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nUser-Agent: sluice\r\nConnection: close\r\n\r\n".utf8)
        request += body
        var off = 0
        while off < request.count {
            let n = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(WebhookFailure("send: \(String(cString: strerror(errno)))"))
            }
            off += n
        }
        // The status line is all that is needed.
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while !response.contains(10) {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        let line = String(decoding: response.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            return .failure(WebhookFailure(line.isEmpty ? "no answer" : "bad answer '\(line)'"))
        }
        return (200..<300).contains(status) ? .success(()) : .failure(WebhookFailure("HTTP \(status)"))
    }
}

struct WebhookFailure: Error {
    let message: String
    init(_ m: String) { message = m }
}

extension WebhookFailure: CustomStringConvertible { var description: String { message } }
