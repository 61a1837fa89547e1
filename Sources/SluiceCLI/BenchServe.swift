import Foundation
import Glibc
import SluiceCore
import SluiceServer
import SluiceStreams
import Synchronization

extension BenchCommand {
    /// `sluice bench serve`: a `sluice serve` endpoint started in this process on a loopback port
    /// over a scratch store, and a load generator of C client connections (threads) with keep-alive
    /// sending PutRecords of 500 generated bids each, as the SDKs send them (JSON 1.1, base64 data,
    /// a SigV4-shaped Authorization header); then GetRecords reading every shard back 10,000 records
    /// a call. Records/s and MB/s of data, and per-request latency p50 / p99.
    func serve(_ a: Arguments) throws -> Int32 {
        #if DEBUG
        err.line("warning: this is a debug build; build with 'swift build -c release' for meaningful figures")
        #endif
        let n = try a.int("records") ?? 1_000_000
        let clients = try a.int("connections") ?? 4
        let shards = try a.int("shards") ?? 4
        guard n >= 500, clients >= 1, shards >= 1 else { throw UsageError("--records at least 500, --connections and --shards at least 1") }
        let base = a.value("dir") ?? NSTemporaryDirectory() + "sluice-bench-serve-\(getpid())"
        try? FileManager.default.removeItem(atPath: base)
        defer { if a.value("dir") == nil { try? FileManager.default.removeItem(atPath: base) } }
        var config = StoreConfiguration(dataDirectory: base)
        if let f = a.value("fsync") {
            guard let p = FsyncPolicy(f) else { throw UsageError("--fsync takes never, always, interval or interval:<ms>") }
            config.fsync = p
        }
        let store = try StreamStore(configuration: config)
        defer { store.close() }
        try store.createStream(name: "bench", shardCount: shards)
        let service = Service(store: store)
        let server = try HTTPServer(port: 0) { service.handle($0) }
        server.start()
        defer { server.stop() }

        // The request bodies, built before the clock starts: batches of 500 bids.
        let (data, ends) = BidGenerator.lines(n)
        var bodies: [[UInt8]] = []
        var start = 0, k = 0
        while k < ends.count {
            var o = "{\"StreamName\":\"bench\",\"Records\":["
            let upto = min(ends.count, k + 500)
            for i in k..<upto {
                if i > k { o += "," }
                o += "{\"Data\":\"\(Data(data[start..<ends[i]]).base64EncodedString())\",\"PartitionKey\":\"k\(i % 1000)\"}"
                start = ends[i]
            }
            o += "]}"
            bodies.append(Array(o.utf8))
            k = upto
        }
        let requests = bodies
        out.line("serve: \(n) bid records (\(data.count) bytes), PutRecords of 500 over \(clients) keep-alive connections to 127.0.0.1:\(server.port), \(shards) shards; server and clients in one process")
        out.flush()
        let next = Atomic(0)
        let latencies = Mutex<[Double]>([])
        let failures = Atomic(0)
        let watch = Stopwatch()
        DispatchQueue.concurrentPerform(iterations: clients) { _ in
            guard let c = try? LoadClient(port: server.port) else { failures.add(1, ordering: .relaxed); return }
            var mine: [Double] = []
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                if i >= requests.count { break }
                let t = Stopwatch()
                guard let (status, body) = try? c.post("Kinesis_20131202.PutRecords", requests[i]), status == 200,
                      String(decoding: body.prefix(40), as: UTF8.self).contains("\"FailedRecordCount\":0") else {
                    failures.add(1, ordering: .relaxed)
                    continue
                }
                mine.append(t.elapsedSeconds)
            }
            latencies.withLock { $0 += mine }
        }
        let putSeconds = watch.elapsedSeconds
        let put = latencies.withLock { $0 }.sorted()
        if failures.load(ordering: .relaxed) > 0 { err.line("error: \(failures.load(ordering: .relaxed)) PutRecords requests failed") }
        out.line(String(format: "PutRecords: %@ records/s, %.1f MB/s of data, p50 %.2f ms, p99 %.2f ms per request (%d requests)",
                        fmt(Double(n) / putSeconds), Double(data.count) / 1e6 / putSeconds, percentile(put, 0.5) * 1000, percentile(put, 0.99) * 1000, put.count))
        out.flush()

        // GetRecords: every shard from TRIM_HORIZON, one connection per shard.
        let read = Atomic(0)
        let getLatencies = Mutex<[Double]>([])
        let getWatch = Stopwatch()
        DispatchQueue.concurrentPerform(iterations: shards) { s in
            guard let c = try? LoadClient(port: server.port) else { return }
            let shard = String(format: "shardId-%012d", s)
            guard let (_, first) = try? c.post("Kinesis_20131202.GetShardIterator",
                                               Array("{\"StreamName\":\"bench\",\"ShardId\":\"\(shard)\",\"ShardIteratorType\":\"TRIM_HORIZON\"}".utf8)),
                  var iterator = (try? JSONValue.parse(bytes: first))?["ShardIterator"]?.stringValue else { return }
            var mine: [Double] = []
            while true {
                let t = Stopwatch()
                guard let (status, body) = try? c.post("Kinesis_20131202.GetRecords", Array("{\"ShardIterator\":\"\(iterator)\",\"Limit\":10000}".utf8)), status == 200,
                      let j = try? JSONValue.parse(bytes: body), let records = j["Records"]?.arrayValue else { return }
                mine.append(t.elapsedSeconds)
                read.add(records.count, ordering: .relaxed)
                guard let nextIt = j["NextShardIterator"]?.stringValue, !records.isEmpty else { break }
                iterator = nextIt
            }
            getLatencies.withLock { $0 += mine }
        }
        let getSeconds = getWatch.elapsedSeconds
        let get = getLatencies.withLock { $0 }.sorted()
        let got = read.load(ordering: .relaxed)
        if got != n { err.line("error: read back \(got) records of \(n)") }
        out.line(String(format: "GetRecords: %@ records/s, %.1f MB/s of data, p50 %.2f ms, p99 %.2f ms per request of up to 10,000 (%d requests)",
                        fmt(Double(got) / getSeconds), Double(data.count) / 1e6 / getSeconds, percentile(get, 0.5) * 1000, percentile(get, 0.99) * 1000, get.count))
        out.line(String(format: "peak RSS %.0f MB", peakRSSMegabytes()))
        return failures.load(ordering: .relaxed) == 0 && got == n ? 0 : 1
    }

    private func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }
}

/// One keep-alive HTTP/1.1 connection sending signed-looking JSON 1.1 requests.
final class LoadClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { close(fd); throw UsageError("cannot connect to 127.0.0.1:\(port)") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    /// Sends one request and reads its response: the status and the body.
    func post(_ target: String, _ body: [UInt8]) throws -> (Int, [UInt8]) {
        let head = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: \(target)\r\nContent-Type: application/x-amz-json-1.1\r\n"
            + "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-target, Signature=0\r\n"
            + "Content-Length: \(body.count)\r\n\r\n"
        let request = Array(head.utf8) + body
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, request.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw UsageError("the connection closed") }
            sent += n
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            if let end = HTTPHead.end(buffer) {
                let text = String(decoding: buffer[0..<end], as: UTF8.self)
                let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
                var length = 0
                for line in text.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    length = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0
                }
                if buffer.count >= end + 4 + length {
                    let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                    buffer.removeFirst(end + 4 + length)
                    return (status, body)
                }
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw UsageError("the connection closed") }
            buffer += chunk[0..<n]
        }
    }
}

enum HTTPHead {
    /// Where `\r\n\r\n` starts.
    static func end(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
        return nil
    }
}
