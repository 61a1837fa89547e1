import Foundation
import Glibc
import SluiceCore
public import SluiceAWS

/// HTTP/1.1 over TCP sockets: an accept loop on its own thread and a thread per connection, with
/// keep-alive, Content-Length and chunked bodies, `Expect: 100-continue`, limits on header and
/// body sizes (431, 413), a read timeout and a whole-request deadline for slow clients (the
/// connection closes), a cap on open connections in all and per client address (503 beyond
/// them), and a cap on the bytes all connections may hold at once (503). A malformed request gets
/// an error response and the connection closes; nothing a client sends can stop the server.
public final class HTTPServer: @unchecked Sendable {
    public struct Limits: Sendable {
        public var maxHeaderBytes = 64 << 10
        /// kinesalite's limit: a 5 MiB PutRecords request grows by a third in base64.
        public var maxBodyBytes = 8 << 20
        /// Seconds a connection may stay silent (between requests, or within one).
        public var idleSeconds = 30
        /// Seconds a request may take to arrive, first byte to last.
        public var requestSeconds = 60
        public var maxConnections = 256
        /// Connections one client address may hold open, so that one client cannot take every slot.
        public var maxConnectionsPerClient = 32
        /// Bytes of requests in progress (received, or being answered) that all connections
        /// together may hold, and that the connections of one client address may hold.
        public var maxBufferedBytes = 256 << 20
        public var maxBufferedBytesPerClient = 64 << 20
        public init() {}
    }

    public typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse

    public let host: String
    public private(set) var port: UInt16
    let limits: Limits
    let handler: Handler
    private let listener: Int32
    private let lock = NSLock()
    private var open = 0
    private var stopped = false
    private var clients: Set<Int32> = []
    /// Open connections per client address.
    private var perClient: [UInt32: Int] = [:]
    /// Bytes held by requests in progress, over every connection and per client address.
    private var buffered = 0
    private var bufferedPerClient: [UInt32: Int] = [:]

    /// Binds and listens (port 0: any free port, then `port` tells which).
    public init(host: String = "127.0.0.1", port: UInt16, limits: Limits = Limits(), handler: @escaping Handler) throws {
        self.host = host
        self.limits = limits
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError("cannot open a socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            close(fd)
            throw ServerError("'\(host)' is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw ServerError("cannot listen on \(host):\(port): \(why)")
        }
        guard listen(fd, 128) == 0 else {
            close(fd)
            throw ServerError("cannot listen on \(host):\(port): \(String(cString: strerror(errno)))")
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.port = UInt16(bigEndian: actual.sin_port)
        listener = fd
    }

    /// Starts accepting connections on a thread of its own.
    public func start() {
        let t = Thread { [self] in acceptLoop() }
        t.name = "sluice-http-accept"
        t.start()
    }

    /// Stops accepting, and closes the connections that are open.
    public func stop() {
        let fds: [Int32] = lock.withLock {
            stopped = true
            return Array(clients)
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while true {
            var peer = sockaddr_in()
            var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
            let c = withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &peerLength) } }
            if c < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if lock.withLock({ stopped }) { return }
                if errno == EMFILE || errno == ENFILE { usleep(10_000); continue }
                return
            }
            var timeout = timeval(tv_sec: limits.idleSeconds, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var one: Int32 = 1
            setsockopt(c, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let client = peer.sin_addr.s_addr
            let refusal = lock.withLock { () -> String? in
                if stopped { return "the server is stopping" }
                guard open < limits.maxConnections else { return "too many open connections" }
                guard perClient[client, default: 0] < limits.maxConnectionsPerClient else {
                    return "too many open connections from this address (at most \(limits.maxConnectionsPerClient))"
                }
                open += 1
                perClient[client, default: 0] += 1
                clients.insert(c)
                return nil
            }
            if let refusal {
                var r = HTTPResponse.text(503, refusal + "\n")
                r.headers.append(("Retry-After", "1"))
                _ = send(c, r.serialized(close: true))
                close(c)
                continue
            }
            let t = Thread { [self] in
                serve(c, client: client)
                lock.withLock {
                    open -= 1
                    perClient[client, default: 1] -= 1
                    if perClient[client] == 0 { perClient[client] = nil }
                    clients.remove(c)
                }
                close(c)
            }
            // The SQL API binds and plans statements on this thread, as deep as the parser
            // allows: the main thread's 8 MB (reserved, not used, until needed).
            t.stackSize = 8 << 20
            t.start()
        }
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// Reads and answers requests on one connection until it closes, errs or times out.
    private func serve(_ fd: Int32, client: UInt32) {
        var reader = HTTPRequestReader(maxHeaderBytes: limits.maxHeaderBytes, maxBodyBytes: limits.maxBodyBytes)
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var continued = false
        var started: Date? = nil
        // Bytes of this connection counted in `buffered` (and its client's share).
        var held = 0
        defer {
            lock.withLock {
                buffered -= held
                bufferedPerClient[client, default: held] -= held
                if bufferedPerClient[client] == 0 { bufferedPerClient[client] = nil }
            }
        }
        func fail(_ status: Int, _ message: String) {
            var r = HTTPResponse.text(status, message + "\n")
            if status == 503 { r.headers.append(("Retry-After", "1")) }
            _ = send(fd, r.serialized(close: true))
        }
        while true {
            let outcome: HTTPRequestReader.Outcome
            do {
                outcome = try reader.next(continued: continued)
            } catch {
                fail(error.status, error.message)
                return
            }
            // The connection's share of the server's buffer budget follows what it holds: the
            // request in progress, and the body of one being answered until its answer is sent.
            var now = reader.bufferedBytes
            if case .request(let r) = outcome { now += r.body.count }
            if now != held {
                let granted = lock.withLock { () -> Bool in
                    let more = now - held
                    if more > 0 && (buffered + more > limits.maxBufferedBytes
                                    || bufferedPerClient[client, default: 0] + more > limits.maxBufferedBytesPerClient) { return false }
                    buffered += more
                    bufferedPerClient[client, default: 0] += more
                    return true
                }
                guard granted else {
                    fail(503, "the server holds too many request bytes; try again")
                    return
                }
                held = now
            }
            switch outcome {
            case .request(let request):
                continued = false
                started = reader.isIdle ? nil : Date()
                var response = handler(request)
                if response.headers.first(where: { $0.name.lowercased() == "x-amzn-requestid" }) == nil {
                    response.headers.append(("x-amzn-RequestId", UUID().uuidString.lowercased()))
                }
                let keep = request.keepAlive && !lock.withLock({ stopped })
                guard send(fd, response.serialized(close: !keep)) else { return }
                if let stream = response.stream {
                    var alive = true
                    stream(BodyWriter(send: { [self] bytes in
                        alive = alive && send(fd, bytes)
                        return alive
                    }, stopping: { [self] in lock.withLock { stopped } }))
                    guard alive, send(fd, Array("0\r\n\r\n".utf8)) else { return }
                }
                guard keep else { return }
                continue
            case .expectsContinue:
                continued = true
                guard send(fd, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) else { return }
            case .incomplete:
                break
            }
            if let s = started, Date().timeIntervalSince(s) > Double(limits.requestSeconds) {
                fail(408, "the request took longer than \(limits.requestSeconds) s to arrive")
                return
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                // Closed, or silent past the idle timeout: a request cut short gets a 408 if it can.
                if n < 0 && !reader.isIdle { fail(408, "the request was not completed in time") }
                return
            }
            if reader.isIdle { started = Date() }
            reader.feed(chunk[0..<n])
        }
    }
}

public struct ServerError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
