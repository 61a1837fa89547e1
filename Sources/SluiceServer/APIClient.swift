public import Foundation
import Glibc
import SluiceAWS
public import SluiceCore
public import SluiceStreams

/// A client of a Sluice server's (or any Kinesis endpoint's) JSON APIs over plain HTTP/1.1: one
/// request per connection, SigV4-signed with the credentials the AWS CLI would use (the
/// environment, then `AWS_PROFILE`'s profile in `~/.aws/credentials` and `~/.aws/config`; a
/// session token is sent and signed) or, when there are none (or they cannot be read), a
/// placeholder pair that a server without `--require-auth` accepts. The CLI's commands use it
/// when a server holds the data directory they name.
public struct APIClient: Sendable {
    public let host: String
    public let port: UInt16
    let credentials: AWSCredentials
    let region: String

    /// A failed call: the API's error (`name` as in `__type`, and its message), or no answer.
    public struct Failure: Error, CustomStringConvertible {
        public var name: String
        public var message: String
        public var status: Int
        public var description: String { name.isEmpty ? message : "\(name): \(message)" }

        public init(name: String, message: String, status: Int) {
            self.name = name
            self.message = message
            self.status = status
        }
    }

    /// `url` is `http://HOST:PORT` (a trailing slash allowed); nil when it is not one.
    public init?(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard url.hasPrefix("http://") else { return nil }
        var rest = url.dropFirst("http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let colon = rest.lastIndex(of: ":"), let p = UInt16(rest[rest.index(after: colon)...]), colon != rest.startIndex else { return nil }
        host = String(rest[..<colon])
        port = p
        let profiles = AWSProfiles(environment: environment)
        credentials = ((try? profiles.credentials()) ?? nil) ?? AWSCredentials(accessKeyId: "sluice", secretAccessKey: "sluice", source: "a placeholder")
        region = profiles.region() ?? "us-east-1"
    }

    public var url: String { "http://\(host):\(port)" }

    /// Calls a Kinesis operation (`PutRecord`, ...) with its JSON input; returns its JSON output.
    public func kinesis(_ operation: String, _ input: JSONValue) throws(Failure) -> JSONValue {
        try call("Kinesis_20131202." + operation, service: "kinesis", input)
    }

    /// Calls a Firehose operation with its JSON input; returns its JSON output.
    public func firehose(_ operation: String, _ input: JSONValue) throws(Failure) -> JSONValue {
        try call("Firehose_20150804." + operation, service: "firehose", input)
    }

    func call(_ target: String, service: String, _ input: JSONValue) throws(Failure) -> JSONValue {
        let dot = target.lastIndex(of: ".")!
        let client = AWSJSONClient(endpoint: url, service: service, targetPrefix: String(target[..<dot]), credentials: credentials, region: region)!
        do throws(AWSJSONClient.Failure) {
            return try client.call(String(target[target.index(after: dot)...]), input)
        } catch {
            // No answer: said of the server, as the CLI's commands say it.
            if let why = error.unreachable { throw fail(why) }
            throw Failure(name: error.name, message: error.message, status: error.status)
        }
    }

    /// POSTs `body` to `path` and hands each line of the answer to `onLine` as it arrives (a
    /// streamed, chunked answer: a push query's rows), until the answer ends or `onLine` says
    /// stop (false), which closes the connection. Returns the status.
    public func streamLines(_ path: String, json body: JSONValue, _ onLine: (String) -> Bool) throws(Failure) -> Int {
        var r = HTTPRequest(method: "POST", target: path, headers: [("host", "\(host):\(port)"), ("content-type", "application/json")],
                            body: Array(body.serialized().utf8))
        sign(&r, service: "kinesis")
        let connection: HTTPConnection
        do throws(HTTPClientError) {
            connection = try HTTPConnection.open(host: host, port: port)
            try connection.send(r)
        } catch { throw fail(error.message) }
        defer { connection.close() }
        var buffer: [UInt8] = []
        func more() -> Bool { connection.receive(into: &buffer) }
        while buffer.firstRange(of: [13, 10, 13, 10]) == nil { guard more() else { throw Failure(name: "", message: "no answer from \(url)", status: 0) } }
        let end = buffer.firstRange(of: [13, 10, 13, 10])!
        let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self).lowercased()
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        buffer.removeSubrange(..<end.upperBound)
        let chunked = head.contains("transfer-encoding: chunked")
        var body: [UInt8] = []
        var pending: [UInt8] = []
        func emit(_ bytes: ArraySlice<UInt8>) -> Bool {
            pending += bytes
            while let nl = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                if !onLine(line) { return false }
            }
            return true
        }
        if !chunked {
            while more() {}
            body = buffer
            _ = emit(body[...] + [10])
            return status
        }
        while true {
            // A chunk: its size in hex, CRLF, the bytes, CRLF; size 0 ends the answer.
            while buffer.firstRange(of: [13, 10]) == nil { guard more() else { return status } }
            let nl = buffer.firstRange(of: [13, 10])!
            guard let size = Int(String(decoding: buffer[..<nl.lowerBound], as: UTF8.self).split(separator: ";").first ?? "", radix: 16) else { return status }
            if size == 0 { return status }
            while buffer.count < nl.upperBound + size + 2 { guard more() else { return status } }
            let data = buffer[nl.upperBound..<(nl.upperBound + size)]
            let keep = emit(data)
            buffer.removeSubrange(..<(nl.upperBound + size + 2))
            if !keep { return status }
        }
    }

    /// Signs a request with Signature Version 4 (its host, content type, date, target and token headers).
    func sign(_ request: inout HTTPRequest, service: String) {
        SigV4.sign(&request, credentials: credentials, region: region, service: service)
    }

    /// Runs SQL through the server's SQL API (`POST /v1/sql`): the status and the JSON answer.
    public func sql(_ text: String, check: Bool = false) throws(Failure) -> (Int, JSONValue) {
        var input: JSONObject = ["sql": .string(text)]
        if check { input["check"] = true }
        var request = HTTPRequest(method: "POST", target: "/v1/sql", headers: [("host", "\(host):\(port)"), ("content-type", "application/json")],
                                  body: Array(JSONValue.object(input).serialized().utf8))
        sign(&request, service: "kinesis")
        let (status, body) = try exchange(request)
        guard let j = try? JSONValue.parse(bytes: body) else {
            throw Failure(name: "", message: "the server answered \(status) without JSON: \(String(decoding: body.prefix(200), as: UTF8.self))", status: status)
        }
        return (status, j)
    }

    /// Puts one batch of a bulk load through the server's load API (`POST /v1/load`, records as
    /// frames): the positions of the records it could not put (a throughput limit, a storage
    /// failure), for the caller to put again. A server without the API answers 404.
    public func load(stream: String, _ records: PackedRecords) throws(Failure) -> [Int] {
        let name = stream.utf8.allSatisfy { $0 < 128 && (UInt8(ascii: "a")...UInt8(ascii: "z") ~= $0 | 0x20 || UInt8(ascii: "0")...UInt8(ascii: "9") ~= $0 || $0 == 45 || $0 == 46 || $0 == 95) }
            ? stream : stream.utf8.map { String(format: "%%%02X", $0) }.joined()
        var request = HTTPRequest(method: "POST", target: "/v1/load?stream=" + name,
                                  headers: [("host", "\(host):\(port)"), ("content-type", "application/octet-stream")], body: records.frames)
        sign(&request, service: "kinesis")
        let (status, body) = try exchange(request)
        let j = try? JSONValue.parse(bytes: body)
        guard status == 200, let failed = j?["failed"]?.arrayValue else {
            throw Failure(name: j?["__type"]?.stringValue ?? "", message: j?["message"]?.stringValue
                          ?? "the server answered \(status): \(String(decoding: body.prefix(200), as: UTF8.self))", status: status)
        }
        return failed.compactMap { $0.int64Value.map(Int.init) }
    }

    /// GET `path`: the status and body, or nil when nothing answers.
    public func get(_ path: String) -> (Int, [UInt8])? {
        try? exchange(HTTPRequest(method: "GET", target: path, headers: [("host", "\(host):\(port)")]))
    }

    private func fail(_ why: String) -> Failure { Failure(name: "", message: "cannot reach the server at \(url): \(why)", status: 0) }

    /// Sends the request on a new connection and reads the answer to its end.
    private func exchange(_ r: HTTPRequest) throws(Failure) -> (Int, [UInt8]) {
        do throws(HTTPClientError) { return try HTTPClient.exchange(host: host, port: port, r) } catch { throw fail(error.message) }
    }
}

/// Where a running server of a data directory listens: `server.json` in the directory, written
/// (atomically) when the server starts and removed when it stops. Commands given the directory
/// read it to talk to the server instead of opening the store the server holds.
public enum ServerAddress {
    public static func path(_ dataDirectory: String) -> String { dataDirectory + "/server.json" }

    /// Records the server's URL and process.
    public static func write(url: String, dataDirectory: String) throws {
        let o: JSONValue = ["url": .string(url), "pid": .int(Int64(getpid()))]
        let path = path(dataDirectory), temp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temp, contents: Data((o.serialized() + "\n").utf8)) else {
            throw APIClient.Failure(name: "", message: "cannot write \(path)", status: 0)
        }
        guard rename(temp, path) == 0 else {
            unlink(temp)
            throw APIClient.Failure(name: "", message: "cannot write \(path): \(String(cString: strerror(errno)))", status: 0)
        }
    }

    /// Removes the record, if it is this process's.
    public static func remove(dataDirectory: String) {
        let path = path(dataDirectory)
        if let d = FileManager.default.contents(atPath: path), let j = try? JSONValue.parse(bytes: Array(d)), j["pid"]?.int64Value == Int64(getpid()) {
            unlink(path)
        }
    }

    /// A client of the server holding the directory, when one runs and answers its health check;
    /// nil when none does (a record left by a server that died is ignored).
    public static func find(dataDirectory: String) -> APIClient? {
        guard let d = FileManager.default.contents(atPath: path(dataDirectory)), let j = try? JSONValue.parse(bytes: Array(d)),
              let url = j["url"]?.stringValue, let pid = j["pid"]?.int64Value, let client = APIClient(url: url) else { return nil }
        guard kill(pid_t(pid), 0) == 0 || errno == EPERM else { return nil }
        guard let (status, body) = client.get("/health"), status == 200, String(decoding: body, as: UTF8.self).hasPrefix("ok") else { return nil }
        return client
    }
}
