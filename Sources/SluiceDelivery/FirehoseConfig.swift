public import SluiceCore
import Foundation

/// Why a delivery stream could not be created, opened or fed, with the Firehose error name.
public struct DeliveryError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidArgument = "InvalidArgumentException"
        case resourceNotFound = "ResourceNotFoundException"
        case resourceInUse = "ResourceInUseException"
        case storage = "StorageException"
        case serviceUnavailable = "ServiceUnavailableException"
        case internalFailure = "InternalFailure"
        case concurrentModification = "ConcurrentModificationException"
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code.rawValue): \(message)" }
}

/// How a delivery stream buffers, names and writes what it delivers (Firehose's
/// ExtendedS3DestinationConfiguration, with a directory standing in for the bucket).
public struct FirehoseConfig: Sendable, Equatable {
    public enum Compression: String, Sendable { case none = "UNCOMPRESSED", gzip = "GZIP" }

    public var name: String
    /// The directory objects are written under (`destination = 'file:DIR'`); empty for S3.
    public var directory: String
    /// `destination = 's3://BUCKET'`: objects are put into this bucket of S3 (at `s3Endpoint`, in
    /// `s3Region`; AWS's in the environment's region by default).
    public var s3Bucket: String? = nil
    public var s3Endpoint: String? = nil
    public var s3Region: String? = nil
    /// The object key prefix; without `!{...}` expressions, `YYYY/MM/dd/HH/` is appended.
    public var prefix: String = ""
    /// The prefix of objects holding records that failed; by default
    /// `!{firehose:error-output-type}/` and the time path.
    public var errorPrefix: String = ""
    /// Buffering hints: an object is written when its buffer holds this many bytes (1-128 MiB)...
    public var bufferSizeBytes: Int = 5 << 20
    /// ...or when its oldest record is this old (0-900 s), whichever comes first.
    public var bufferIntervalMillis: Int64 = 300_000
    public var compression: Compression = .none
    /// A newline after each record (Firehose itself adds no delimiter).
    public var newlineDelimiter: Bool = false
    /// Read records from this built-in stream instead of taking direct puts.
    public var sourceStream: String? = nil
    /// A SQL SELECT over the records in place of a Lambda transformation.
    public var transform: String? = nil
    /// SQL expressions (`expr AS name, ...`) whose values `!{partitionKeyFromQuery:name}` reads.
    public var partitionKeys: String? = nil
    /// How records decode for a transformation, partition keys, and queries reading the firehose.
    public var format: String = "json"
    /// The declared columns (`CREATE FIREHOSE name (columns)`): name, type name, JSON path.
    public var columns: [Column] = []
    /// Other `WITH` options, kept for queries that read the firehose (`header`, `delimiter`).
    public var extra: [String: String] = [:]
    /// The destination's version (Firehose's VersionId): 1, and one more on every change of the
    /// destination; object names carry it (`name-VERSION-yyyy-MM-dd-...`).
    public var version: Int = 1
    /// When the firehose was first defined (epoch milliseconds; 0 if unknown).
    public var createdMillis: Int64 = 0
    /// As given to the API (`sluice serve`): the bucket and role ARNs, reported back by Describe.
    public var bucketARN: String? = nil
    public var roleARN: String? = nil
    /// When the destination last changed (UpdateDestination; epoch milliseconds, 0: never).
    public var lastUpdateMillis: Int64 = 0
    /// Tags given on create or by TagDeliveryStream.
    public var tags: [String: String] = [:]
    /// Server-side encryption as asked for (CreateDeliveryStream, Start/StopDeliveryStreamEncryption):
    /// recorded and described; objects are not encrypted at rest.
    public var encryption: Encryption? = nil

    public struct Encryption: Sendable, Equatable {
        /// AWS_OWNED_CMK or CUSTOMER_MANAGED_CMK.
        public var keyType: String
        public var keyARN: String?
        public var enabled: Bool
        public init(keyType: String, keyARN: String?, enabled: Bool) {
            self.keyType = keyType
            self.keyARN = keyARN
            self.enabled = enabled
        }
    }

    public struct Column: Sendable, Equatable {
        public var name: String
        public var type: String
        public var path: [String]
        public init(name: String, type: String, path: [String]) {
            self.name = name
            self.type = type
            self.path = path
        }
    }

    public init(name: String, directory: String) {
        self.name = name
        self.directory = directory
    }

    /// The stream the records live in: the source stream, or the firehose's own (same name).
    public var stream: String { sourceStream ?? name }
    public var isDirectPut: Bool { sourceStream == nil }

    /// Firehose names: 1-64 characters of [a-zA-Z0-9_.-].
    public static func validate(name: String) throws(DeliveryError) {
        let ok = !name.isEmpty && name.count <= 64 && name.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 46 || c == 45
        }
        // A firehose's name names its definition file and its stream's directory.
        if ok, !FileNames.isSafeComponent(name) {
            throw DeliveryError(.invalidArgument, "1 validation error detected: Value '\(name)' at 'deliveryStreamName' failed to satisfy constraint: Member must not be '.' or '..'")
        }
        guard ok else {
            throw DeliveryError(.invalidArgument, "1 validation error detected: Value '\(name)' at 'deliveryStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 64")
        }
    }

    /// The options of `CREATE FIREHOSE ... WITH (...)` (keys lower-cased, values as text).
    public static func parse(name: String, options: [String: String]) throws(DeliveryError) -> FirehoseConfig {
        try validate(name: name)
        func bad(_ m: String) -> DeliveryError { DeliveryError(.invalidArgument, m) }
        let known: Set<String> = ["destination", "buffer_size", "buffer_interval", "compression", "prefix", "error_prefix",
                                  "newline_delimiter", "source", "transform", "partition_keys", "format", "header", "delimiter",
                                  "s3_endpoint", "region"]
        for k in options.keys.sorted() where !known.contains(k) {
            let hint = closestMatch(k, in: Array(known)).map { " (did you mean '\($0)'?)" } ?? ""
            throw bad("unknown firehose option '\(k)'\(hint)")
        }
        guard let dest = options["destination"] else { throw bad("a firehose needs WITH (destination = 'file:DIR' or 's3://BUCKET')") }
        var c: FirehoseConfig
        if dest.hasPrefix("s3://") {
            let bucket = String(dest.dropFirst("s3://".count))
            guard (3...63).contains(bucket.count), bucket.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }) else {
                throw bad("destination '\(dest)' must be s3://BUCKET (3 to 63 of a-z, 0-9, '.' and '-'); the key prefix is the prefix option")
            }
            c = FirehoseConfig(name: name, directory: "")
            c.s3Bucket = bucket
            c.s3Endpoint = options["s3_endpoint"]
            c.s3Region = options["region"]
        } else {
            guard dest.hasPrefix("file:"), dest.count > 5 else {
                throw bad("destination '\(dest)' is not supported: write 'file:DIR' (a directory laid out as an S3 bucket) or 's3://BUCKET'")
            }
            if options["s3_endpoint"] != nil { throw bad("s3_endpoint is for a destination in S3 (s3://BUCKET)") }
            var dir = String(dest.dropFirst(5))
            if !dir.hasPrefix("/") { dir = FileManager.default.currentDirectoryPath + "/" + dir }  // the same place from any later command
            c = FirehoseConfig(name: name, directory: dir)
        }
        for k in ["header", "delimiter"] { if let v = options[k] { c.extra[k] = v } }
        if let s = options["buffer_size"] {
            guard let bytes = parseSize(s), bytes >= 1 << 20, bytes <= 128 << 20 else {
                throw bad("buffer_size '\(s)' must be between 1MB and 128MB (MB here are MiB, as Firehose's SizeInMBs)")
            }
            c.bufferSizeBytes = bytes
        }
        if let s = options["buffer_interval"] {
            guard let ms = parseSeconds(s), ms >= 0, ms <= 900_000 else {
                throw bad("buffer_interval '\(s)' must be between 0s and 900s")
            }
            c.bufferIntervalMillis = ms
        }
        if let s = options["compression"] {
            switch s.lowercased() {
            case "gzip": c.compression = .gzip
            case "none", "uncompressed": c.compression = .none
            default: throw bad("compression '\(s)' is not supported: 'gzip' or 'none'")
            }
        }
        if let s = options["newline_delimiter"] {
            switch s.lowercased() {
            case "true": c.newlineDelimiter = true
            case "false": c.newlineDelimiter = false
            default: throw bad("newline_delimiter must be true or false")
            }
        }
        if let s = options["source"] {
            guard s.hasPrefix("stream:"), s.count > 7 else { throw bad("source '\(s)' must be 'stream:NAME' (a built-in stream read from its start)") }
            c.sourceStream = String(s.dropFirst(7))
        }
        if let f = options["format"] {
            guard f == "json" || f == "csv" else { throw bad("format '\(f)' is not supported: 'json' or 'csv'") }
            c.format = f
        }
        c.transform = options["transform"]
        c.partitionKeys = options["partition_keys"]
        c.prefix = options["prefix"] ?? ""
        c.errorPrefix = options["error_prefix"] ?? ""
        try c.validatePrefixes()
        return c
    }

    /// The rules the prefixes follow: at most 1,024 characters, expressions Firehose knows, an
    /// error prefix beside a prefix with expressions, and partition keys only where they exist.
    public func validatePrefixes() throws(DeliveryError) {
        func bad(_ m: String) -> DeliveryError { DeliveryError(.invalidArgument, m) }
        guard prefix.utf8.count <= 1024, errorPrefix.utf8.count <= 1024 else { throw bad("prefix and error_prefix are at most 1,024 characters") }
        let p = try PrefixTemplate(prefix, field: "prefix")
        let e = try PrefixTemplate(errorPrefix, field: "error_prefix")
        if !e.partitionKeys.isEmpty {
            throw bad("error_prefix cannot use !{partitionKeyFromQuery:...}: records that fail have no partition keys")
        }
        if !p.partitionKeys.isEmpty && partitionKeys == nil {
            throw bad("prefix uses !{partitionKeyFromQuery:\(p.partitionKeys[0])} but the firehose has no partition_keys = '...'")
        }
        if p.hasExpressions && errorPrefix.isEmpty {
            throw bad("a prefix with !{...} expressions needs an error_prefix too (as Firehose requires ErrorOutputPrefix)")
        }
        // S3 keeps `a/../b` as text; objects here are files below the bucket's directory, where a
        // `.` or `..` segment would be a move. Refused where the prefix is written (values of
        // partition keys are escaped where they are used).
        for (template, field) in [(p, "prefix"), (e, "error_prefix")] {
            let sample = template.evaluate(time: 1_700_000_000_000, keys: Dictionary(template.partitionKeys.map { ($0, "k") }, uniquingKeysWith: { a, _ in a }),
                                           errorType: "processing-failed", random: "r")
            if sample.split(separator: "/").contains(where: { $0.utf8.count > 200 }) {
                throw bad("\(field) has a path segment longer than 200 bytes, which no file system takes as a name")
            }
            if FileNames.keyNeedsEscaping(sample) {
                throw bad("\(field) '\(field == "prefix" ? prefix : errorPrefix)' makes keys with a '.' or '..' segment ('\(sample)'); sluice writes objects as files under the bucket's directory, so such segments are refused")
            }
        }
    }

    /// `5MB`, `5 MiB`, `512KB`, or bytes.
    static func parseSize(_ s: String) -> Int? { Units.bytes(s).map { Int($0) } }

    /// `60s`, `5m`, or a plain number of seconds (as IntervalInSeconds); milliseconds.
    static func parseSeconds(_ s: String) -> Int64? {
        if let seconds = Int64(s.trimmingSpaces) { return Millis.scaled(seconds, by: 1000) }
        return Units.millis(s)
    }

    // MARK: - Persistence

    public var json: JSONValue {
        var o = JSONObject()
        o["name"] = .string(name)
        o["directory"] = .string(directory)
        o["prefix"] = .string(prefix)
        o["error_prefix"] = .string(errorPrefix)
        o["buffer_size_bytes"] = .int(Int64(bufferSizeBytes))
        o["buffer_interval_ms"] = .int(bufferIntervalMillis)
        o["compression"] = .string(compression.rawValue)
        o["newline_delimiter"] = .bool(newlineDelimiter)
        o["source_stream"] = sourceStream.map { .string($0) } ?? .null
        o["transform"] = transform.map { .string($0) } ?? .null
        o["partition_keys"] = partitionKeys.map { .string($0) } ?? .null
        o["format"] = .string(format)
        o["columns"] = .array(columns.map { ["name": .string($0.name), "type": .string($0.type), "path": .array($0.path.map { .string($0) })] })
        var e = JSONObject()
        for (k, v) in extra.sorted(by: { $0.key < $1.key }) { e[k] = .string(v) }
        o["options"] = .object(e)
        o["version"] = .int(Int64(version))
        o["created_ms"] = .int(createdMillis)
        if let b = s3Bucket { o["s3_bucket"] = .string(b) }
        if let e = s3Endpoint { o["s3_endpoint"] = .string(e) }
        if let r = s3Region { o["s3_region"] = .string(r) }
        if let b = bucketARN { o["bucket_arn"] = .string(b) }
        if let r = roleARN { o["role_arn"] = .string(r) }
        if lastUpdateMillis > 0 { o["last_update_ms"] = .int(lastUpdateMillis) }
        if !tags.isEmpty {
            var t = JSONObject()
            for (k, v) in tags.sorted(by: { $0.key < $1.key }) { t[k] = .string(v) }
            o["tags"] = .object(t)
        }
        if let e = encryption {
            o["encryption"] = ["key_type": .string(e.keyType), "key_arn": e.keyARN.map { .string($0) } ?? .null, "enabled": .bool(e.enabled)]
        }
        return .object(o)
    }

    public init(json j: JSONValue) throws(DeliveryError) {
        guard let name = j["name"]?.stringValue, let dir = j["directory"]?.stringValue else {
            throw DeliveryError(.storage, "a firehose definition is unreadable")
        }
        self.init(name: name, directory: dir)
        prefix = j["prefix"]?.stringValue ?? ""
        errorPrefix = j["error_prefix"]?.stringValue ?? ""
        bufferSizeBytes = Int(j["buffer_size_bytes"]?.int64Value ?? Int64(bufferSizeBytes))
        bufferIntervalMillis = j["buffer_interval_ms"]?.int64Value ?? bufferIntervalMillis
        compression = Compression(rawValue: j["compression"]?.stringValue ?? "") ?? .none
        newlineDelimiter = j["newline_delimiter"]?.boolValue ?? false
        sourceStream = j["source_stream"]?.stringValue
        transform = j["transform"]?.stringValue
        partitionKeys = j["partition_keys"]?.stringValue
        format = j["format"]?.stringValue ?? "json"
        for c in j["columns"]?.arrayValue ?? [] {
            guard let n = c["name"]?.stringValue, let t = c["type"]?.stringValue else { continue }
            columns.append(Column(name: n, type: t, path: c["path"]?.arrayValue?.compactMap(\.stringValue) ?? [n]))
        }
        for (k, v) in j["options"]?.objectValue?.entries ?? [] { if let s = v.stringValue { extra[k] = s } }
        version = Int(j["version"]?.int64Value ?? 1)
        createdMillis = j["created_ms"]?.int64Value ?? 0
        s3Bucket = j["s3_bucket"]?.stringValue
        s3Endpoint = j["s3_endpoint"]?.stringValue
        s3Region = j["s3_region"]?.stringValue
        bucketARN = j["bucket_arn"]?.stringValue
        roleARN = j["role_arn"]?.stringValue
        lastUpdateMillis = j["last_update_ms"]?.int64Value ?? 0
        for (k, v) in j["tags"]?.objectValue?.entries ?? [] { if let s = v.stringValue { tags[k] = s } }
        if let e = j["encryption"], let t = e["key_type"]?.stringValue {
            encryption = Encryption(keyType: t, keyARN: e["key_arn"]?.stringValue, enabled: e["enabled"]?.boolValue ?? true)
        }
    }
}
