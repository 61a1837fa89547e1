import Foundation
import SluiceCore
public import SluiceAWS
import Synchronization
public import SluiceStreams
import SluiceDelivery

/// An error as the AWS JSON protocols send it: `{"__type": name, "message": ...}` with a status.
struct APIError: Error {
    var name: String
    var message: String
    var status: Int = 400

    init(_ name: String, _ message: String, status: Int = 400) {
        self.name = name
        self.message = message
        self.status = status
    }

    init(_ e: StreamError) {
        name = e.code.rawValue
        message = e.message
        status = e.code == .internalFailure || e.code == .storage ? 500 : 400
        if e.code == .storage { name = "InternalFailure" }
    }

    static func serialization(_ m: String) -> APIError { APIError("SerializationException", m) }

    /// `1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null`
    static func missing(_ field: String) -> APIError {
        APIError("ValidationException", "1 validation error detected: Value null at '\(field)' failed to satisfy constraint: Member must not be null")
    }

    var response: HTTPResponse {
        let body: JSONValue = ["__type": .string(name), "message": .string(message)]
        return HTTPResponse(status: status, headers: [("Content-Type", "application/x-amz-json-1.1")], body: Array(body.serialized().utf8))
    }
}

/// A request's JSON members, read with the types the API model gives them: a member of the wrong
/// type is a SerializationException, as AWS answers.
struct Input {
    let object: JSONObject

    func has(_ k: String) -> Bool { if let v = object[k], v != .null { return true }; return false }

    func string(_ k: String) throws(APIError) -> String? {
        guard let v = object[k], v != .null else { return nil }
        guard case .string(let s) = v else { throw .serialization("Unexpected value for \(k): expected a string") }
        return s
    }

    /// A required string member; `field` is its camel-case name in validation messages.
    func required(_ k: String, _ field: String) throws(APIError) -> String {
        guard let s = try string(k) else { throw .missing(field) }
        return s
    }

    func int(_ k: String) throws(APIError) -> Int? {
        guard let v = object[k], v != .null else { return nil }
        guard let i = v.int64Value, let n = Int(exactly: i) else { throw .serialization("Unexpected value for \(k): expected an integer") }
        return n
    }

    func bool(_ k: String) throws(APIError) -> Bool? {
        guard let v = object[k], v != .null else { return nil }
        guard case .bool(let b) = v else { throw .serialization("Unexpected value for \(k): expected a boolean") }
        return b
    }

    /// A timestamp: epoch seconds (a JSON number), as the SDKs send it; in milliseconds.
    func timestampMillis(_ k: String) throws(APIError) -> Int64? {
        guard let v = object[k], v != .null else { return nil }
        guard let d = v.doubleValue, let ms = Millis.fromSeconds(d), abs(ms) <= Millis.maxTimestamp else {
            throw .serialization("Unexpected value for \(k): expected a timestamp in epoch seconds (years 1 to 9999)")
        }
        return ms
    }

    /// A blob: base64 text.
    func blob(_ k: String) throws(APIError) -> [UInt8]? {
        guard let s = try string(k) else { return nil }
        guard let d = Data(base64Encoded: s) else { throw .serialization("Unexpected value for \(k): it is not valid base64") }
        return [UInt8](d)
    }

    func object(_ k: String) throws(APIError) -> Input? {
        guard let v = object[k], v != .null else { return nil }
        guard case .object(let o) = v else { throw .serialization("Unexpected value for \(k): expected an object") }
        return Input(object: o)
    }

    func array(_ k: String) throws(APIError) -> [JSONValue]? {
        guard let v = object[k], v != .null else { return nil }
        guard case .array(let a) = v else { throw .serialization("Unexpected value for \(k): expected a list") }
        return a
    }
}

/// The HTTP endpoint's requests: `X-Amz-Target: Kinesis_20131202.<Operation>` (JSON 1.1) against
/// the stream store, `GET /health`. Framework errors as AWS sends them: a method other than POST
/// 403 AccessDeniedException, an unknown target UnknownOperationException, an unsigned request
/// MissingAuthenticationTokenException, a body that is not a JSON object SerializationException.
public final class Service: Sendable {
    public let store: StreamStore
    /// Requests answered, by operation and status.
    private let answered = Mutex<[Count: Int]>([:])

    struct Count: Hashable {
        var operation: String
        var status: Int
    }

    /// With `--require-auth`: access key id → secret; every request must carry a valid SigV4
    /// signature by one of them. Nil: any signed-looking request is accepted, as the emulators do.
    let accessKeys: [String: String]?
    /// With `--require-auth`: the console's token. The console is served to `GET /?token=TOKEN`,
    /// and its requests to the SQL API and /metrics carry `Authorization: Bearer TOKEN` (a browser
    /// cannot sign them); nil: no console under --require-auth.
    let consoleToken: String?
    /// The delivery streams behind the Firehose API (nil: the API answers UnknownOperation).
    public let firehoses: FirehoseHost?

    /// SubscribeToShard streams, by consumer ARN and shard.
    let subscriptions = Mutex<[String: Subscription]>([:])
    /// How long a SubscribeToShard stream lasts (Kinesis: 5 minutes), and how often it looks for
    /// new records when there were none.
    let subscriptionMillis: Int64
    let pollMicros: useconds_t

    /// Where failures the server keeps to itself (with their file paths) are written.
    let log: @Sendable (String) -> Void
    /// More series for /metrics, in the Prometheus text format (the server's queries).
    let extraMetrics: (@Sendable () -> String)?
    /// What runs the SQL API's statements (none: the API answers 404).
    let sqlBackend: (any SQLBackend)?

    public init(store: StreamStore, accessKeys: [String: String]? = nil, firehoses: FirehoseHost? = nil,
                subscriptionSeconds: Int = 300, subscriptionPollMillis: Int = 100,
                log: (@Sendable (String) -> Void)? = nil, extraMetrics: (@Sendable () -> String)? = nil, sql: (any SQLBackend)? = nil,
                consoleToken: String? = nil) {
        self.extraMetrics = extraMetrics
        self.consoleToken = consoleToken
        sqlBackend = sql
        self.store = store
        self.log = log ?? { FileHandle.standardError.write(Data(("sluice serve: " + $0 + "\n").utf8)) }
        self.accessKeys = accessKeys
        self.firehoses = firehoses
        subscriptionMillis = Int64(subscriptionSeconds) * 1000
        pollMicros = useconds_t(subscriptionPollMillis * 1000)
    }

    /// The operations of each service, by its X-Amz-Target prefix (SubscribeToShard, whose
    /// response is a stream, is answered apart).
    static let services: [String: [String: Action]] = ["Kinesis_20131202": kinesis.merging(consumers) { a, _ in a }, "Firehose_20150804": firehose]
    static let known: Set<String> = Set(services.values.flatMap(\.keys)).union(["SubscribeToShard"])

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        if request.method == "GET" && request.path == "/health" { return .text(200, "ok\n") }
        if request.path == "/v1/sql" { return sql(request) }
        if request.path == "/v1/load" { return load(request) }
        if request.method == "GET" && (request.path == "/" || request.path == "/index.html") && sqlBackend != nil {
            // The console reads the SQL API (so it is served where SQL runs) and /metrics without
            // signing: only where requests need no signature (loopback without --require-auth).
            // Elsewhere GET / answers as AWS does.
            if accessKeys != nil {
                guard let t = consoleToken, let g = request.query("token"), Service.same(g, t) else {
                    return .text(403, "under --require-auth the console is at the address with its token that the server printed when it started (/?token=...)\n")
                }
            }
            return .text(200, Console.page, type: "text/html; charset=utf-8")
        }
        if request.method == "GET" && request.path == "/metrics" {
            // It names every stream: under --require-auth it needs a signature like any request
            // (curl --aws-sigv4 "aws:amz:REGION:kinesis" --user ID:SECRET), or the console's token.
            if let refusal = refusedUnsigned(request) { return refusal }
            return .text(200, metrics(), type: "text/plain; version=0.0.4")
        }
        let operation = request.header("x-amz-target").map { String($0.split(separator: ".").last ?? "") } ?? ""
        let response = redacted(answer(request), operation)
        let known = Service.known.contains(operation) ? operation : "unknown"
        answered.withLock { $0[Count(operation: known, status: response.status), default: 0] += 1 }
        return response
    }

    /// Under --require-auth, why a request to the SQL API or /metrics is refused (403): neither
    /// a valid SigV4 signature nor the console's bearer token. Nil: it may go on.
    func refusedUnsigned(_ request: HTTPRequest) -> HTTPResponse? {
        guard let keys = accessKeys else { return nil }
        guard let authorization = request.header("authorization") else {
            return APIError("MissingAuthenticationTokenException", "Missing Authentication Token", status: 403).response
        }
        if authorization.hasPrefix("Bearer ") {
            guard let t = consoleToken, Service.same(String(authorization.dropFirst(7)), t) else {
                return APIError("AccessDeniedException", "The bearer token is not the console's.", status: 403).response
            }
            return nil
        }
        if var e = SigV4.verify(request, keys: keys, now: Int64(Date().timeIntervalSince1970 * 1000)) {
            e.status = 403
            return e.response
        }
        return nil
    }

    /// Equal strings, compared in time that does not depend on where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<min(x.count, y.count) { diff |= x[i] ^ y[i] }
        return diff == 0
    }

    /// An error answer tells the client what it did wrong, never where the server keeps its
    /// files: an internal failure is logged whole and answered with a plain message, and any
    /// other message has the data and bucket directories' paths taken out.
    func redacted(_ response: HTTPResponse, _ operation: String) -> HTTPResponse {
        guard response.status >= 400, let j = try? JSONValue.parse(bytes: response.body), let name = j["__type"]?.stringValue,
              let message = j["message"]?.stringValue else { return response }
        if response.status >= 500 {
            log("\(operation.isEmpty ? "request" : operation) failed: \(name): \(message)")
            return APIError(name, "The service could not complete the request; the server's log says why.", status: response.status).response
        }
        var clean = message
        for root in redactedRoots where clean.contains(root + "/") { clean = clean.replacingAll(root + "/", with: "<data>/") }
        return clean == message ? response : APIError(name, clean, status: response.status).response
    }

    /// The directories whose paths answers never show (as given and absolute, longest first).
    var redactedRoots: [String] {
        var roots = [store.configuration.dataDirectory]
        if let b = firehoses?.bucketsDirectory { roots.append(b) }
        roots += roots.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        return Array(Set(roots.filter { $0.count > 2 })).sorted { $0.count > $1.count }
    }

    /// The Prometheus text format: requests by operation and status, and per stream the records
    /// and bytes written since the server started, the writes refused by throughput limits, and
    /// the open shards.
    func metrics() -> String {
        var out = "# HELP sluice_http_requests_total API requests answered, by operation and HTTP status.\n# TYPE sluice_http_requests_total counter\n"
        let counts = answered.withLock { $0 }
        for (c, n) in counts.sorted(by: { ($0.key.operation, $0.key.status) < ($1.key.operation, $1.key.status) }) {
            out += "sluice_http_requests_total{operation=\"\(c.operation)\",status=\"\(c.status)\"} \(n)\n"
        }
        var names: [String] = []
        var more = true
        while more, let page = try? store.listStreams(limit: 1000, exclusiveStartStreamName: names.last) {
            names += page.names
            more = page.hasMore && !page.names.isEmpty
        }
        let series = [("sluice_stream_records_written_total", "counter", "Records written to the stream since the server started."),
                      ("sluice_stream_bytes_written_total", "counter", "Bytes written to the stream since the server started (data and partition keys, as Kinesis counts throughput)."),
                      ("sluice_stream_throttled_writes_total", "counter", "Writes refused by the stream's throughput limits."),
                      ("sluice_stream_open_shards", "gauge", "Open shards of the stream.")]
        var values: [[String]] = Array(repeating: [], count: series.count)
        for n in names {
            guard let w = try? store.writeCounters(name: n), let d = try? store.describeStreamSummary(name: n) else { continue }
            let label = "{stream=\"\(n)\"}"
            for (i, v) in [w.records, w.bytes, w.throttled, Int64(d.openShardCount)].enumerated() { values[i].append("\(series[i].0)\(label) \(v)") }
        }
        for (i, s) in series.enumerated() {
            out += "# HELP \(s.0) \(s.2)\n# TYPE \(s.0) \(s.1)\n"
            for line in values[i] { out += line + "\n" }
        }
        out += "# HELP sluice_store_damaged_segments Segments found damaged when the store opened (see the server's standard error).\n# TYPE sluice_store_damaged_segments gauge\n"
        out += "# HELP sluice_store_unreadable_records Acknowledged records that damage made unreadable (known counts only).\n# TYPE sluice_store_unreadable_records gauge\n"
        var damaged: [String: (segments: Int, records: Int)] = [:]
        for d in store.damage { damaged[d.stream, default: (0, 0)].segments += 1; damaged[d.stream, default: (0, 0)].records += d.lostRecords ?? 0 }
        for (stream, v) in damaged.sorted(by: { $0.key < $1.key }) {
            out += "sluice_store_damaged_segments{stream=\"\(stream)\"} \(v.segments)\nsluice_store_unreadable_records{stream=\"\(stream)\"} \(v.records)\n"
        }
        if let extra = extraMetrics { out += extra() }
        if let host = firehoses {
            let delivered = host.counters
            let fseries: [(String, String, KeyPath<DeliveryCounters, Int64>)] = [
                ("sluice_firehose_records_delivered_total", "Records delivered in objects since the server started.", \.recordsDelivered),
                ("sluice_firehose_records_failed_total", "Records written under the error prefix since the server started.", \.recordsFailed),
                ("sluice_firehose_objects_total", "Objects written since the server started.", \.objects),
                ("sluice_firehose_bytes_written_total", "Bytes of objects written since the server started.", \.bytesWritten),
            ]
            for (name, help, path) in fseries {
                out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n"
                for (n, c) in delivered { out += "\(name){firehose=\"\(n)\"} \(c[keyPath: path])\n" }
            }
        }
        return out
    }

    private func answer(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "POST" else {
            return APIError("AccessDeniedException", "Unable to determine service/operation name to be authorized", status: 403).response
        }
        guard let target = request.header("x-amz-target"), let dot = target.firstIndex(of: ".") else {
            return APIError("UnknownOperationException", "").response
        }
        let service = target[..<dot], operation = String(target[target.index(after: dot)...])
        guard let actions = Service.services[String(service)] else { return APIError("UnknownOperationException", "").response }
        guard let auth = request.header("authorization"), !auth.isEmpty else {
            return APIError("MissingAuthenticationTokenException", "Missing Authentication Token").response
        }
        if let keys = accessKeys {
            if let e = SigV4.verify(request, keys: keys, now: Int64(Date().timeIntervalSince1970 * 1000)) { return e.response }
        } else if SigV4.parse(auth) == nil {
            return APIError("IncompleteSignatureException", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters of AWS4-HMAC-SHA256").response
        }
        let input: Input
        if request.body.isEmpty {
            input = Input(object: JSONObject())
        } else {
            guard let j = try? JSONValue.parse(bytes: request.body), case .object(let o) = j else {
                return APIError.serialization("Start of structure or map found where not expected.").response
            }
            input = Input(object: o)
        }
        if service == "Kinesis_20131202" && operation == "SubscribeToShard" {
            do throws(APIError) { return try subscribe(input) } catch { return error.response }
        }
        do throws(APIError) {
            guard let action = actions[operation] else { throw APIError("UnknownOperationException", "") }
            var out = try action(self, input)
            // ARNs name the region the client signed for (its credential scope), as AWS's do.
            if let o = out, let region = SigV4.parse(auth).flatMap({ Service.region(ofScope: $0.scope) }), region != store.configuration.region {
                out = Service.localize(o, from: store.configuration.region, to: region)
            }
            var body: [UInt8] = []
            if let o = out { o.write(to: &body) }
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/x-amz-json-1.1")], body: body)
        } catch {
            return error.response
        }
    }

    /// The region of a SigV4 credential scope (`DATE/REGION/SERVICE/aws4_request`), if it looks like one.
    static func region(ofScope scope: String) -> String? {
        let parts = scope.split(separator: "/")
        guard parts.count == 4, (1...32).contains(parts[1].utf8.count),
              parts[1].utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }) else { return nil }
        return String(parts[1])
    }

    /// The answer with the Kinesis and Firehose ARNs of region `from` in region `to`: the values
    /// of members named `...ARN` only (a partition key or a tag that looks like an ARN is data).
    static func localize(_ v: JSONValue, from: String, to: String, arnMember: Bool = false) -> JSONValue {
        switch v {
        case .string(let s):
            guard arnMember else { return v }
            return .string(regionalized(s, from: from, to: to))
        case .array(let a): return .array(a.map { localize($0, from: from, to: to, arnMember: arnMember) })
        case .object(let o):
            var out = JSONObject()
            for (k, x) in o.entries { out[k] = localize(x, from: from, to: to, arnMember: k.hasSuffix("ARN")) }
            return .object(out)
        default: return v
        }
    }

    /// A Kinesis or Firehose ARN of region `from` in region `to` (anything else as it is).
    static func regionalized(_ s: String, from: String, to: String) -> String {
        for service in ["kinesis", "firehose"] where s.hasPrefix("arn:aws:\(service):\(from):") {
            return "arn:aws:\(service):\(to):" + s.dropFirst("arn:aws:\(service):\(from):".count)
        }
        return s
    }

    /// An ARN a client sent, in the store's region (clients name the region they signed for).
    func canonicalARN(_ arn: String) -> String {
        let parts = arn.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "arn", parts[2] == "kinesis" || parts[2] == "firehose" else { return arn }
        return "arn:\(parts[1]):\(parts[2]):\(store.configuration.region):\(parts[4])"
    }

    /// Runs a store call, its errors as API errors.
    func store<T>(_ body: () throws(StreamError) -> T) throws(APIError) -> T {
        do { return try body() } catch { throw APIError(error) }
    }

    /// The stream a request names, by `StreamName` or `StreamARN`.
    func streamName(_ i: Input) throws(APIError) -> String {
        if let n = try i.string("StreamName") { return n }
        if let arn = try i.string("StreamARN") {
            guard let r = arn.range(of: ":stream/") else { throw APIError("InvalidArgumentException", "\(arn) is not a stream ARN") }
            return String(arn[r.upperBound...])
        }
        throw .missing("streamName")
    }

    typealias Action = @Sendable (Service, Input) throws(APIError) -> JSONValue?
}
