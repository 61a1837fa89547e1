public import SluiceCore

/// A client of an AWS JSON 1.1 API (Kinesis, Firehose, DynamoDB) at an endpoint: `https://HOST`
/// (AWS; the certificate verified) or `http://HOST:PORT` (a local endpoint such as `sluice serve`
/// or moto's server): each call a POST with `X-Amz-Target: PREFIX.Operation`, SigV4-signed with
/// the credentials given.
public struct AWSJSONClient: Sendable {
    public let host: String
    public let port: UInt16
    public let service: String
    public let targetPrefix: String
    let credentials: AWSCredentials
    public let region: String
    /// Over TLS (https).
    public let tls: Bool
    /// The certificate authorities an https endpoint's certificate must chain to (a PEM file);
    /// nil: the system's.
    public let caBundle: String?

    /// A failed call: the API's error (`name` from `__type`, without its namespace), or no answer
    /// (`name` empty, `status` 0).
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var name: String
        public var message: String
        public var status: Int
        /// Without an answer: why (the connection's error).
        public var unreachable: String? = nil
        public var description: String { name.isEmpty ? message : "\(name): \(message)" }
        public init(name: String, message: String, status: Int, unreachable: String? = nil) {
            self.name = name
            self.message = message
            self.status = status
            self.unreachable = unreachable
        }
    }

    /// Nil when `endpoint` is not `http://HOST[:PORT]` or `https://HOST[:PORT]` (a trailing slash allowed).
    public init?(endpoint: String, service: String, targetPrefix: String, credentials: AWSCredentials, region: String, caBundle: String? = nil) {
        let secure = endpoint.hasPrefix("https://")
        guard secure || endpoint.hasPrefix("http://") else { return nil }
        var rest = endpoint.dropFirst(secure ? "https://".count : "http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/") else { return nil }
        var p: UInt16 = secure ? 443 : 80
        // host, host:port, [v6], [v6]:port
        if let close = rest.lastIndex(of: "]"), rest.first == "[" {
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":", let n = UInt16(after.dropFirst()) else { return nil }
                p = n
            }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
        } else if let colon = rest.lastIndex(of: ":") {
            guard colon != rest.startIndex, let n = UInt16(rest[rest.index(after: colon)...]) else { return nil }
            p = n
            host = String(rest[..<colon])
        } else {
            host = String(rest)
        }
        guard !host.isEmpty else { return nil }
        port = p
        tls = secure
        self.caBundle = caBundle
        self.service = service
        self.targetPrefix = targetPrefix
        self.credentials = credentials
        self.region = region
    }

    /// Whether the host is this machine (plain HTTP is for these).
    public var isLoopback: Bool { host == "localhost" || host.hasPrefix("127.") || host == "::1" }

    /// Kinesis Data Streams at `endpoint`.
    public static func kinesis(endpoint: String, credentials: AWSCredentials, region: String, caBundle: String? = nil) -> AWSJSONClient? {
        AWSJSONClient(endpoint: endpoint, service: "kinesis", targetPrefix: "Kinesis_20131202", credentials: credentials, region: region, caBundle: caBundle)
    }

    /// Firehose at `endpoint`.
    public static func firehose(endpoint: String, credentials: AWSCredentials, region: String, caBundle: String? = nil) -> AWSJSONClient? {
        AWSJSONClient(endpoint: endpoint, service: "firehose", targetPrefix: "Firehose_20150804", credentials: credentials, region: region, caBundle: caBundle)
    }

    /// DynamoDB at `endpoint`.
    public static func dynamoDB(endpoint: String, credentials: AWSCredentials, region: String, caBundle: String? = nil) -> AWSJSONClient? {
        AWSJSONClient(endpoint: endpoint, service: "dynamodb", targetPrefix: "DynamoDB_20120810", credentials: credentials, region: region, caBundle: caBundle)
    }

    public var endpoint: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return (tls ? "https://" : "http://") + h + (port == (tls ? 443 : 80) ? "" : ":\(port)")
    }
    /// Where the credentials came from and their access key id (for messages; never the secret).
    public var credentialsSource: String { credentials.source }
    public var accessKeyId: String { credentials.accessKeyId }

    /// Calls `operation` with its JSON input; returns its JSON output.
    public func call(_ operation: String, _ input: JSONValue) throws(Failure) -> JSONValue {
        let status: Int, answer: [UInt8]
        do throws(HTTPClientError) {
            (status, answer) = try HTTPClient.exchange(host: host, port: port, tls: tls, caBundle: caBundle, request(operation, input))
        } catch {
            throw unreachable(error)
        }
        let json = answer.isEmpty ? JSONValue.object(JSONObject()) : ((try? JSONValue.parse(bytes: answer)) ?? .null)
        guard (200..<300).contains(status) else { throw failure(status, answer) }
        return json
    }

    /// Calls an operation whose answer is a stream (SubscribeToShard's events): a successful
    /// answer's body goes to `onBytes` as it arrives, until it ends or `onBytes` says false; a
    /// failed one is thrown as `call` throws it. `timeoutSeconds`: the longest wait for more.
    public func stream(_ operation: String, _ input: JSONValue, timeoutSeconds: Int = 60, cancel: CallCancellation? = nil,
                       onBytes: ([UInt8]) -> Bool) throws(Failure) {
        var failed: [UInt8] = []
        let status: Int
        do throws(HTTPClientError) {
            status = try HTTPClient.stream(host: host, port: port, tls: tls, caBundle: caBundle, timeout: timeoutSeconds, cancel: cancel,
                                           request(operation, input)) { status, bytes in
                guard (200..<300).contains(status) else { failed += bytes; return true }
                return onBytes(bytes)
            }
        } catch {
            throw unreachable(error)
        }
        guard (200..<300).contains(status) else { throw failure(status, failed) }
    }

    private func request(_ operation: String, _ input: JSONValue) -> HTTPRequest {
        var request = HTTPRequest(method: "POST", target: "/", headers: [
            ("host", String(endpoint.drop { $0 != "/" }.dropFirst(2))), ("content-type", "application/x-amz-json-1.1"), ("x-amz-target", targetPrefix + "." + operation),
        ], body: Array(input.serialized().utf8))
        SigV4.sign(&request, credentials: credentials, region: region, service: service)
        return request
    }

    private func unreachable(_ error: HTTPClientError) -> Failure {
        Failure(name: "", message: "cannot reach \(service) at \(endpoint): \(error.message)", status: 0, unreachable: error.message)
    }

    /// A failed answer's error: its `__type` (without the namespace) and message.
    private func failure(_ status: Int, _ answer: [UInt8]) -> Failure {
        let json = (try? JSONValue.parse(bytes: answer)) ?? .null
        let name = json["__type"]?.stringValue.map { String($0.split(separator: "#").last ?? "") } ?? "HTTP \(status)"
        return Failure(name: name, message: json["message"]?.stringValue ?? json["Message"]?.stringValue ?? String(decoding: answer.prefix(300), as: UTF8.self), status: status)
    }
}
