import Foundation

/// Amazon S3's REST API as far as Sluice needs it (buckets made, objects put, got, listed,
/// deleted), SigV4-signed with the payload's hash: virtual-hosted addressing at AWS
/// (`https://BUCKET.s3.REGION.amazonaws.com/KEY`), path-style at any other endpoint
/// (`http://127.0.0.1:5000/BUCKET/KEY`, moto's server).
public struct S3Client: Sendable {
    public let host: String
    public let port: UInt16
    public let tls: Bool
    public let region: String
    let credentials: AWSCredentials
    let caBundle: String?
    /// Path-style addressing (any endpoint given); virtual-hosted at AWS's own.
    let pathStyle: Bool

    /// A failed request: S3's error code (`NoSuchKey`, `NoSuchBucket`, `AccessDenied`, ...) or no answer.
    public struct Failure: Error, CustomStringConvertible {
        public var code: String
        public var message: String
        public var status: Int
        public var description: String { code.isEmpty ? message : "\(code): \(message)" }
    }

    /// `endpoint` nil: AWS's S3 in `region`; nil when `endpoint` is not a URL.
    public init?(endpoint: String?, region: String, credentials: AWSCredentials, caBundle: String? = nil) {
        let url = endpoint ?? "https://s3.\(region).amazonaws.com"
        guard let parsed = AWSJSONClient(endpoint: url, service: "s3", targetPrefix: "", credentials: credentials, region: region) else { return nil }
        host = parsed.host
        port = parsed.port
        tls = parsed.tls
        self.region = region
        self.credentials = credentials
        self.caBundle = caBundle
        pathStyle = endpoint != nil
    }

    public var endpoint: String { (tls ? "https://" : "http://") + host + (port == (tls ? 443 : 80) ? "" : ":\(port)") }
    /// Whether the host is this machine (plain HTTP is for these).
    public var isLoopback: Bool { host == "localhost" || host.hasPrefix("127.") || host == "::1" }

    /// One signed request; the status and body of a 2xx answer (404 too when `missingIsNil`).
    func request(_ method: String, bucket: String, key: String = "", query: String = "", body: [UInt8] = [], missingIsNil: Bool = false) throws(Failure) -> [UInt8]? {
        let path = "/" + SigV4.encode(key, slash: true)
        let target = (pathStyle ? "/" + bucket + (key.isEmpty ? "" : path) : path) + (query.isEmpty ? "" : "?" + query)
        let hostHeader = (pathStyle ? host : bucket + "." + host) + (port == (tls ? 443 : 80) ? "" : ":\(port)")
        var r = HTTPRequest(method: method, target: target, headers: [("host", hostHeader), ("x-amz-content-sha256", hex(SHA256.hash(body)))], body: body)
        SigV4.sign(&r, credentials: credentials, region: region, service: "s3")
        let status: Int, answer: [UInt8]
        do throws(HTTPClientError) {
            (status, answer) = try HTTPClient.exchange(host: pathStyle ? host : bucket + "." + host, port: port, tls: tls, caBundle: caBundle, r)
        } catch {
            throw Failure(code: "", message: "cannot reach S3 at \(endpoint): \(error.message)", status: 0)
        }
        if status == 404 && missingIsNil { return nil }
        guard (200..<300).contains(status) else {
            let text = String(decoding: answer, as: UTF8.self)
            func element(_ name: String) -> String? {
                guard let a = text.range(of: "<\(name)>"), let b = text.range(of: "</\(name)>", range: a.upperBound..<text.endIndex) else { return nil }
                return String(text[a.upperBound..<b.lowerBound])
            }
            throw Failure(code: element("Code") ?? "HTTP \(status)", message: (element("Message") ?? text.prefix(200).description) + " (\(method) s3://\(bucket)/\(key) at \(endpoint))", status: status)
        }
        return answer
    }

    public func createBucket(_ bucket: String) throws(Failure) {
        _ = try request("PUT", bucket: bucket)
    }

    public func putObject(bucket: String, key: String, _ body: [UInt8]) throws(Failure) {
        _ = try request("PUT", bucket: bucket, key: key, body: body)
    }

    /// The object's bytes; nil when there is no such key.
    public func getObject(bucket: String, key: String) throws(Failure) -> [UInt8]? {
        try request("GET", bucket: bucket, key: key, missingIsNil: true)
    }

    public func deleteObject(bucket: String, key: String) throws(Failure) {
        _ = try request("DELETE", bucket: bucket, key: key)
    }

    /// Every key under `prefix`, in S3's order (ListObjectsV2, page by page).
    public func listKeys(bucket: String, prefix: String = "", pageSize: Int? = nil) throws(Failure) -> [String] {
        var keys: [String] = []
        var token: String? = nil
        repeat {
            var q = "list-type=2&prefix=" + SigV4.encode(prefix, slash: false) + (pageSize.map { "&max-keys=\($0)" } ?? "")
            if let t = token { q += "&continuation-token=" + SigV4.encode(t, slash: false) }
            let text = String(decoding: try request("GET", bucket: bucket, query: q) ?? [], as: UTF8.self)
            for part in text.components(separatedBy: "<Key>").dropFirst() {
                if let k = part.components(separatedBy: "</Key>").first { keys.append(S3Client.unescape(k)) }
            }
            token = text.contains("<IsTruncated>true</IsTruncated>")
                ? text.components(separatedBy: "<NextContinuationToken>").dropFirst().first?.components(separatedBy: "</NextContinuationToken>").first
                : nil
        } while token != nil
        return keys
    }

    static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&apos;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
    }
}
