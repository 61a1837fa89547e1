import Foundation
import Glibc
import Synchronization
import Testing
import SluiceCore
import SluiceStreams
import SluiceAWS
@testable import SluiceServer

@Suite("HTTP request parsing")
struct HTTPParserTests {
    /// Parses one request from the start of a buffer, as `HTTPRequestParser` did.
    struct OneShot {
        enum Outcome {
            case incomplete
            case expectsContinue
            case request(HTTPRequest, consumed: Int)
        }
        func parse(_ b: [UInt8], continued: Bool) throws(HTTPRequestReader.Failure) -> Outcome {
            let (o, used) = try HTTPRequestReader.parse(b, continued: continued, maxHeaderBytes: 1024, maxBodyBytes: 100)
            switch o {
            case .incomplete: return .incomplete
            case .expectsContinue: return .expectsContinue
            case .request(let r): return .request(r, consumed: used)
            }
        }
    }
    let p = OneShot()

    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func contentLengthBodiesAndPipelining() throws {
        let two = bytes("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /health HTTP/1.1\r\n\r\n")
        guard case .request(let r, let used) = try p.parse(two, continued: false) else { Issue.record("no request"); return }
        #expect(r.method == "POST" && r.body == bytes("hello") && r.header("HOST") == "x" && r.keepAlive)
        guard case .request(let r2, _) = try p.parse(Array(two[used...]), continued: false) else { Issue.record("no second request"); return }
        #expect(r2.method == "GET" && r2.path == "/health")
        // Partial input waits for more.
        guard case .incomplete = try p.parse(bytes("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel"), continued: false) else { Issue.record("not incomplete"); return }
    }

    @Test func chunkedBodiesAndExpectContinue() throws {
        let chunked = bytes("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
        guard case .request(let r, let used) = try p.parse(chunked, continued: false) else { Issue.record("no request"); return }
        #expect(r.body == bytes("hello world") && used == chunked.count)
        let expect = bytes("POST / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        guard case .expectsContinue = try p.parse(expect, continued: false) else { Issue.record("no 100-continue"); return }
        guard case .incomplete = try p.parse(expect, continued: true) else { Issue.record("should wait for the body"); return }
    }

    @Test(arguments: [
        ("GARBAGE\r\n\r\n", 400),
        ("POST / HTTP/2.0\r\n\r\n", 505),
        ("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nContent-Length: -4\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n", 413),
        ("POST / HTTP/1.1\r\n\r\n", 411),
        ("POST / HTTP/1.1\r\nX: " + String(repeating: "a", count: 2000), 431),
        // A chunk size past any limit, after a first chunk: refused before the sizes are added.
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n7fffffffffffffff\r\n", 413),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffffffffffff\r\n", 413),
        // RFC 9112: Content-Length is digits only; values that differ, or Transfer-Encoding beside
        // it, frame the request two ways (smuggling).
        ("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello!", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunkedx\r\n\r\n", 501),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\n folded: line\r\nContent-Length: 0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413),
        // Unbounded lines: a chunk-size line, trailers.
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;" + String(repeating: "x", count: 5000), 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + String(repeating: "t", count: 2000), 431),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + String(repeating: "X: y\r\n", count: 300), 431),
        // Bare CR or LF where another parser would end a line.
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nX: a\nContent-Length: 5\r\nContent-Length: 0\r\n\r\n", 400),
    ])
    func malformedRequestsGetAStatus(_ text: String, _ status: Int) {
        do {
            _ = try p.parse(bytes(text), continued: false)
            Issue.record("accepted: \(text.prefix(40))")
        } catch {
            #expect(error.status == status, "\(text.prefix(40))")
        }
    }
}

@Suite("HTTP request reader: incremental and bounded")
struct HTTPReaderTests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// The same requests, fed whole, a byte at a time, or in random pieces, come out the same.
    @Test func anySplitOfTheBytesGivesTheSameRequests() throws {
        let text = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
            + "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"
            + "GET /c HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nworld"
        let all = bytes(text)
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<200 {
            var r = HTTPRequestReader(maxHeaderBytes: 1024, maxBodyBytes: 100)
            var got: [(String, [UInt8])] = []
            var at = 0
            while at < all.count {
                let n = trial == 0 ? 1 : Int.random(in: 1...20, using: &rng)
                r.feed(all[at..<min(all.count, at + n)])
                at += n
                while case .request(let q) = try r.next(continued: true) { got.append((q.path, q.body)) }
            }
            #expect(got.map(\.0) == ["/a", "/b", "/c"])
            #expect(got.map(\.1) == [bytes("hello"), bytes("abcde"), bytes("world")])
            #expect(r.isIdle && r.bufferedBytes == 0)
        }
    }

    /// Bodies sent in 1-byte chunks are read in one pass (each byte looked at a bounded number of
    /// times, not once per read), and the reader holds no more than the request.
    @Test func oneByteChunksAreReadInLinearWork() throws {
        let chunks = 200_000
        var r = HTTPRequestReader(maxHeaderBytes: 1024, maxBodyBytes: 1 << 20)
        r.feed(bytes("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"))
        var fed = 0
        var piece: [UInt8] = []
        for _ in 0..<chunks { piece += bytes("1\r\nx\r\n") }
        piece += bytes("0\r\n\r\n")
        var body: [UInt8]? = nil
        var most = 0
        while fed < piece.count {
            let n = min(1500, piece.count - fed)
            r.feed(piece[fed..<(fed + n)])
            fed += n
            if case .request(let q) = try r.next(continued: true) { body = q.body }
            most = max(most, r.bufferedBytes)
        }
        #expect(body?.count == chunks)
        #expect(r.bytesExamined < 3 * piece.count, "\(r.bytesExamined) bytes examined for \(piece.count)")
        #expect(most <= chunks + 1500 + 16)
    }
}

/// A store in a scratch directory and a server on a free loopback port.
final class ServerFixture: @unchecked Sendable {
    let dir = NSTemporaryDirectory() + "sluice-server-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    let store: StreamStore
    let server: HTTPServer

    init(limits: HTTPServer.Limits = HTTPServer.Limits()) throws {
        var c = StoreConfiguration(dataDirectory: dir)
        c.fsync = .never
        store = try StreamStore(configuration: c)
        let service = Service(store: store)
        server = try HTTPServer(port: 0, limits: limits) { service.handle($0) }
        server.start()
    }

    deinit {
        server.stop()
        store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A raw connection: sends bytes, reads what comes back until the server closes or `until` is seen.
    func exchange(_ text: String, until: String? = nil, closeAfterSend: Bool = false) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = server.port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if closeAfterSend { shutdown(fd, Int32(SHUT_WR)) }
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

    /// A signed-looking Kinesis request (the signature is not checked by default).
    static func kinesis(_ op: String, _ body: String, keepAlive: Bool = false) -> String {
        "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: Kinesis_20131202.\(op)\r\nContent-Type: application/x-amz-json-1.1\r\n"
            + "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=abc\r\n"
            + (keepAlive ? "" : "Connection: close\r\n") + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
    }
}

@Suite("HTTP server and the Kinesis API")
struct ServerTests {
    @Test func aMalformedRequestGetsAnErrorAndTheServerGoesOn() throws {
        let f = try ServerFixture()
        #expect(try f.exchange("BLAH\r\n\r\n").hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(try f.exchange("\u{0}\u{1}\u{2}garbage\r\n\r\n").hasPrefix("HTTP/1.1 400"))
        let health = try f.exchange("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        #expect(health.hasPrefix("HTTP/1.1 200 OK") && health.hasSuffix("ok\n") && health.lowercased().contains("x-amzn-requestid: "))
    }

    @Test func frameworkErrorsAreTheOnesAWSSends() throws {
        let f = try ServerFixture()
        #expect(try f.exchange("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").hasPrefix("HTTP/1.1 403"))
        let unknown = try f.exchange(ServerFixture.kinesis("MakeCoffee", "{}"))
        #expect(unknown.hasPrefix("HTTP/1.1 400") && unknown.contains("UnknownOperationException"))
        let unsigned = try f.exchange("POST / HTTP/1.1\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
        #expect(unsigned.contains("MissingAuthenticationTokenException"))
        let notJSON = try f.exchange(ServerFixture.kinesis("ListStreams", "{not json"))
        #expect(notJSON.hasPrefix("HTTP/1.1 400") && notJSON.contains("SerializationException"))
        let wrongType = try f.exchange(ServerFixture.kinesis("CreateStream", #"{"StreamName": 5, "ShardCount": 1}"#))
        #expect(wrongType.contains("SerializationException"))
        let missing = try f.exchange(ServerFixture.kinesis("DescribeStream", "{}"))
        #expect(missing.contains("ValidationException") && missing.contains("streamName"))
        let notFound = try f.exchange(ServerFixture.kinesis("DescribeStream", #"{"StreamName": "nope"}"#))
        #expect(notFound.hasPrefix("HTTP/1.1 400") && notFound.contains(#""__type":"ResourceNotFoundException""#) && notFound.contains("nope"))
    }

    @Test func putAndGetOverKeepAliveAndChunkedRequests() throws {
        let f = try ServerFixture()
        // Three requests on one connection; the second with a chunked body.
        let body = #"{"StreamName": "s", "Data": "AP9oaQ==", "PartitionKey": "a"}"#
        let chunked = "POST / HTTP/1.1\r\nX-Amz-Target: Kinesis_20131202.PutRecord\r\n"
            + "Authorization: AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=c\r\nTransfer-Encoding: chunked\r\n\r\n"
            + String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n0\r\n\r\n"
        let text = ServerFixture.kinesis("CreateStream", #"{"StreamName": "s", "ShardCount": 2}"#, keepAlive: true) + chunked
            + ServerFixture.kinesis("GetShardIterator", #"{"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}"#)
        let replies = try f.exchange(text)
        #expect(replies.components(separatedBy: "HTTP/1.1 200 OK").count == 4, "\(replies)")
        guard let itRange = replies.range(of: #""ShardIterator":""#) else { Issue.record("no iterator: \(replies)"); return }
        let iterator = String(replies[itRange.upperBound...].prefix { $0 != "\"" })
        let got = try f.exchange(ServerFixture.kinesis("GetRecords", #"{"ShardIterator": "\#(iterator)"}"#))
        #expect(got.contains(#""Data":"AP9oaQ==""#) && got.contains(#""PartitionKey":"a""#) && got.contains(#""MillisBehindLatest":0"#), "\(got)")
    }

    @Test func metricsInThePrometheusFormat() throws {
        let f = try ServerFixture()
        _ = try f.exchange(ServerFixture.kinesis("CreateStream", #"{"StreamName": "m", "ShardCount": 3}"#))
        for i in 0..<2 { _ = try f.exchange(ServerFixture.kinesis("PutRecord", #"{"StreamName": "m", "Data": "aGVsbG8=", "PartitionKey": "k\#(i)"}"#)) }
        _ = try f.exchange(ServerFixture.kinesis("PutRecord", #"{"StreamName": "nope", "Data": "eA==", "PartitionKey": "k"}"#))
        let m = try f.exchange("GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
        #expect(m.hasPrefix("HTTP/1.1 200 OK"))
        for line in [#"sluice_http_requests_total{operation="PutRecord",status="200"} 2"#, #"sluice_http_requests_total{operation="PutRecord",status="400"} 1"#,
                     #"sluice_http_requests_total{operation="CreateStream",status="200"} 1"#, #"sluice_stream_records_written_total{stream="m"} 2"#,
                     #"sluice_stream_bytes_written_total{stream="m"} 14"#, #"sluice_stream_open_shards{stream="m"} 3"#, "# TYPE sluice_stream_open_shards gauge"] {
            #expect(m.contains(line + "\n"), "\(line) in\n\(m)")
        }
    }

    @Test func tooLargeAndSlowRequestsAreCutOff() throws {
        var limits = HTTPServer.Limits()
        limits.maxBodyBytes = 1000
        limits.idleSeconds = 1
        let f = try ServerFixture(limits: limits)
        let big = try f.exchange("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n")
        #expect(big.hasPrefix("HTTP/1.1 413"))
        // Half a request, then silence: 408 once the idle timeout passes, and the connection closes.
        let slow = try f.exchange("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        #expect(slow.hasPrefix("HTTP/1.1 408"))
    }

    @Test func manyConcurrentConnections() throws {
        let f = try ServerFixture()
        _ = try f.exchange(ServerFixture.kinesis("CreateStream", #"{"StreamName": "c", "ShardCount": 1}"#))
        let ok = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            let r = try? f.exchange(ServerFixture.kinesis("PutRecord", #"{"StreamName": "c", "Data": "eA==", "PartitionKey": "k\#(i)"}"#))
            if r?.hasPrefix("HTTP/1.1 200") == true { ok.add(1, ordering: .relaxed) }
        }
        #expect(ok.load(ordering: .relaxed) == 64)
        let summary = try f.exchange(ServerFixture.kinesis("DescribeStreamSummary", #"{"StreamName": "c"}"#))
        #expect(summary.contains(#""OpenShardCount":1"#))
    }

    /// A connection from `source` (any address of 127.0.0.0/8), left open.
    func connect(_ port: UInt16, from source: String) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &local.sin_addr)
        _ = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    func ask(_ fd: Int32, _ text: String) -> String {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
    }

    /// One client holding its share of connections idle cannot keep another client out.
    @Test func oneClientCannotHoldEveryConnection() throws {
        var limits = HTTPServer.Limits()
        limits.maxConnectionsPerClient = 3
        limits.maxConnections = 6
        let f = try ServerFixture(limits: limits)
        let held = (0..<3).map { _ in connect(f.server.port, from: "127.0.0.1") }
        defer { close(held[0]); close(held[2]) }
        usleep(100_000)
        let fourth = connect(f.server.port, from: "127.0.0.1")
        defer { close(fourth) }
        let refused = ask(fourth, "GET /health HTTP/1.1\r\n\r\n")
        #expect(refused.hasPrefix("HTTP/1.1 503") && refused.contains("from this address"), "\(refused)")
        let other = connect(f.server.port, from: "127.0.0.2")
        defer { close(other) }
        #expect(ask(other, "GET /health HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 200"))
        // The held connections still work, and freeing one admits a new one from that address.
        #expect(ask(held[0], "GET /health HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 200"))
        close(held[1])
        usleep(200_000)
        let fifth = connect(f.server.port, from: "127.0.0.1")
        defer { close(fifth) }
        #expect(ask(fifth, "GET /health HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 200"))
    }

    /// The server-wide budget of request bytes: requests beyond it are told to come back (503).
    @Test func requestBytesHaveABudget() throws {
        var limits = HTTPServer.Limits()
        limits.maxBufferedBytes = 100_000
        limits.maxBodyBytes = 1 << 20
        let f = try ServerFixture(limits: limits)
        // Half-sent bodies hold what they sent.
        let a = connect(f.server.port, from: "127.0.0.1"), b = connect(f.server.port, from: "127.0.0.1")
        defer { close(a); close(b) }
        let part = "POST / HTTP/1.1\r\nContent-Length: 200000\r\n\r\n" + String(repeating: "x", count: 60_000)
        _ = Array(part.utf8).withUnsafeBytes { send(a, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        usleep(200_000)
        let over = ask(b, part)
        #expect(over.hasPrefix("HTTP/1.1 503"), "\(over.prefix(80))")
        // One client's share: a lower per-client cap refuses a client while another gets in.
        var perClient = HTTPServer.Limits()
        perClient.maxBufferedBytesPerClient = 50_000
        perClient.maxBodyBytes = 1 << 20
        let g = try ServerFixture(limits: perClient)
        let c = connect(g.server.port, from: "127.0.0.1")
        defer { close(c) }
        #expect(ask(c, part).hasPrefix("HTTP/1.1 503"))
        let d = connect(g.server.port, from: "127.0.0.3")
        defer { close(d) }
        let other = ask(d, "POST / HTTP/1.1\r\nContent-Length: 40000\r\n\r\n" + String(repeating: "y", count: 40_000))
        #expect(other.hasPrefix("HTTP/1.1 4") && !other.hasPrefix("HTTP/1.1 503"), "\(other.prefix(60))")
        #expect(try f.exchange("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n").hasPrefix("HTTP/1.1 200"))
    }

    /// An internal failure is answered without the server's file paths (they go to its log).
    @Test func errorAnswersDoNotLeakPaths() throws {
        let dir = NSTemporaryDirectory() + "sluice-leak-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = StoreConfiguration(dataDirectory: dir)
        c.fsync = .never
        let store = try StreamStore(configuration: c)
        defer { store.close() }
        let logged = Mutex<[String]>([])
        let service = Service(store: store, log: { line in logged.withLock { $0.append(line) } })
        let server = try HTTPServer(port: 0) { service.handle($0) }
        server.start()
        defer { server.stop() }
        try store.createStream(name: "s", shardCount: 1)
        // The stream's metadata cannot be replaced: a directory stands where the file goes.
        try FileManager.default.removeItem(atPath: dir + "/streams/s/meta.json")
        try FileManager.default.createDirectory(atPath: dir + "/streams/s/meta.json/blocked", withIntermediateDirectories: true)
        let f = Connection(port: server.port)
        let r = f.exchange(ServerFixture.kinesis("AddTagsToStream", #"{"StreamName": "s", "Tags": {"a": "b"}}"#))
        #expect(r.hasPrefix("HTTP/1.1 500"), "\(r)")
        #expect(!r.contains(dir) && !r.contains("/streams/"), "\(r)")
        #expect(logged.withLock { $0 }.contains { $0.contains(dir) }, "the detail is in the server's log")
    }
}

/// Raw requests to a server on a port.
struct Connection {
    let port: UInt16
    func exchange(_ text: String) -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            got += buf[0..<n]
        }
        return String(decoding: got, as: UTF8.self)
    }
}
