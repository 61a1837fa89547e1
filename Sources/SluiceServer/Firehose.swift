import Foundation
import SluiceCore
import SluiceDelivery
import SluiceStreams

extension APIError {
    init(_ e: DeliveryError) {
        switch e.code {
        case .storage, .internalFailure: self.init("InternalFailure", e.message, status: 500)
        default: self.init(e.code.rawValue, e.message)
        }
    }

    /// `1 validation error detected: Value 'v' at 'field' failed to satisfy constraint: Member must ...`
    static func invalid(_ value: String?, _ field: String, _ constraint: String) -> APIError {
        let v = value.map { "Value '\($0)'" } ?? "Value"
        return APIError("ValidationException", "1 validation error detected: \(v) at '\(field)' failed to satisfy constraint: Member must \(constraint)")
    }
}

/// The Firehose operations (API 2015-08-04) over delivery streams with an S3 destination: a
/// bucket `arn:aws:s3:::B` is the directory `--s3-dir/B`, object keys as Firehose names them.
/// Fields are validated (ValidationException, before any lookup) in the order AWS checks them.
extension Service {
    static let firehoseSources = ["DirectPut", "KinesisStreamAsSource", "MSKAsSource", "DatabaseAsSource"]
    static let otherDestinations = ["RedshiftDestinationConfiguration", "ElasticsearchDestinationConfiguration",
                                    "AmazonopensearchserviceDestinationConfiguration", "SplunkDestinationConfiguration",
                                    "HttpEndpointDestinationConfiguration", "AmazonOpenSearchServerlessDestinationConfiguration",
                                    "SnowflakeDestinationConfiguration", "IcebergDestinationConfiguration"]

    static let firehose: [String: Action] = [
        "CreateDeliveryStream": { s, i throws(APIError) in
            let host = try s.firehoseHost()
            let name = try firehoseName(i)
            let type = try i.string("DeliveryStreamType") ?? "DirectPut"
            guard firehoseSources.contains(type) else {
                throw .invalid(type, "deliveryStreamType", "satisfy enum value set: [\(firehoseSources.joined(separator: ", "))]")
            }
            var source: String? = nil
            switch type {
            case "DirectPut":
                if i.has("KinesisStreamSourceConfiguration") {
                    throw APIError("InvalidArgumentException", "KinesisStreamSourceConfiguration is only for DeliveryStreamType KinesisStreamAsSource.")
                }
            case "KinesisStreamAsSource":
                guard let k = try i.object("KinesisStreamSourceConfiguration") else {
                    throw APIError("InvalidArgumentException", "KinesisStreamSourceConfiguration is required when DeliveryStreamType is KinesisStreamAsSource.")
                }
                let arn = try k.required("KinesisStreamARN", "kinesisStreamSourceConfiguration.kinesisStreamARN")
                _ = try k.required("RoleARN", "kinesisStreamSourceConfiguration.roleARN")
                guard let r = arn.range(of: ":stream/"), arn.hasPrefix("arn:"), !arn[r.upperBound...].isEmpty else {
                    throw .invalid(arn, "kinesisStreamSourceConfiguration.kinesisStreamARN", "satisfy regular expression pattern: arn:.*:kinesis:[a-zA-Z0-9\\-]+:\\d{12}:stream/[a-zA-Z0-9_.-]+")
                }
                source = String(arn[r.upperBound...])
                guard (try? s.store.describeStreamSummary(name: source!)) != nil else {
                    throw APIError("InvalidArgumentException", "Stream \(source!) under account \(s.store.configuration.accountId) not found.")
                }
            default:
                throw APIError("InvalidArgumentException", "sluice serve delivers DirectPut and KinesisStreamAsSource delivery streams, not \(type).")
            }
            let given = (["ExtendedS3DestinationConfiguration", "S3DestinationConfiguration"] + otherDestinations).filter { i.has($0) }
            if given.count > 1 {
                throw APIError("InvalidArgumentException", "Exactly one destination configuration is supported; the request has \(given.joined(separator: " and ")).")
            }
            let (dest, field) = try s3Destination(i, "Configuration")
            guard let d = dest else {
                if let other = otherDestinations.first(where: { i.has($0) }) {
                    throw APIError("InvalidArgumentException", "\(other) is not supported by sluice serve: it delivers to S3 (ExtendedS3DestinationConfiguration), a directory per bucket.")
                }
                throw APIError("InvalidArgumentException", "A destination is required: ExtendedS3DestinationConfiguration.")
            }
            var config = FirehoseConfig(name: name, directory: "")
            config.sourceStream = source
            config.bufferSizeBytes = 5 << 20
            config.bufferIntervalMillis = 300_000
            try applyS3(d, field, to: &config, host: host, creating: true)
            if let e = try i.object("DeliveryStreamEncryptionConfigurationInput") { config.encryption = try encryptionInput(e) }
            if let list = try i.array("Tags") { config.tags = try tagList(list, field: "tags") }
            let saved = try delivery { () throws(DeliveryError) in try host.define(config) }
            return ["DeliveryStreamARN": .string(saved.arn(s.store))]
        },
        "DeleteDeliveryStream": { s, i throws(APIError) in
            let host = try s.firehoseHost()
            let name = try firehoseName(i)
            _ = try i.bool("AllowForceDelete")
            try delivery { () throws(DeliveryError) in try host.delete(name) }
            return [:]
        },
        "DescribeDeliveryStream": { s, i throws(APIError) in
            let host = try s.firehoseHost()
            let name = try firehoseName(i)
            if let l = try i.int("Limit"), !(1...10000).contains(l) {
                throw .invalid(String(l), "limit", l < 1 ? "have value greater than or equal to 1" : "have value less than or equal to 10000")
            }
            _ = try i.string("ExclusiveStartDestinationId")
            return ["DeliveryStreamDescription": try delivery { () throws(DeliveryError) in try host.config(name) }.apiDescription(s.store)]
        },
        "ListDeliveryStreams": { s, i throws(APIError) in
            let host = try s.firehoseHost()
            let limit = try i.int("Limit") ?? 10
            if !(1...10000).contains(limit) {
                throw .invalid(String(limit), "limit", limit < 1 ? "have value greater than or equal to 1" : "have value less than or equal to 10000")
            }
            let type = try i.string("DeliveryStreamType")
            if let t = type, !firehoseSources.contains(t) {
                throw .invalid(t, "deliveryStreamType", "satisfy enum value set: [\(firehoseSources.joined(separator: ", "))]")
            }
            let start = try i.string("ExclusiveStartDeliveryStreamName")
            var names: [String] = []
            for n in host.names where start == nil || n > start! {
                guard let c = try? host.config(n) else { continue }
                if let t = type, t != (c.isDirectPut ? "DirectPut" : "KinesisStreamAsSource") { continue }
                names.append(n)
            }
            let page = names.prefix(limit)
            return ["DeliveryStreamNames": .array(page.map { .string($0) }), "HasMoreDeliveryStreams": .bool(names.count > page.count)]
        },
        "PutRecord": { s, i throws(APIError) in
            let host = try s.firehoseHost()
            let name = try firehoseName(i)
            guard let r = try i.object("Record") else { throw .missing("record") }
            guard let data = try r.blob("Data") else { throw .missing("record.data") }
            if data.count > DeliveryStream.maxRecordBytes {
                throw .invalid(nil, "record.data", "have length less than or equal to \(DeliveryStream.maxRecordBytes)")
            }
            let id = try delivery { () throws(DeliveryError) in
                try DeliveryStream.putBatch(try host.config(name), store: s.store, records: [data])[0].get()
            }
            return ["RecordId": .string(id.description), "Encrypted": false]
        },
        "PutRecordBatch": { s, i throws(APIError) in
            let host = try s.firehoseHost()
            let name = try firehoseName(i)
            guard let list = try i.array("Records") else { throw .missing("records") }
            if list.isEmpty { throw .invalid("[]", "records", "have length greater than or equal to 1") }
            if list.count > DeliveryStream.maxBatchRecords {
                throw .invalid(nil, "records", "have length less than or equal to \(DeliveryStream.maxBatchRecords)")
            }
            var records: [[UInt8]] = []
            records.reserveCapacity(list.count)
            var total = 0
            for (n, v) in list.enumerated() {
                guard case .object(let o) = v else { throw .serialization("Unexpected value for Records: expected a list of objects") }
                guard let data = try Input(object: o).blob("Data") else { throw .missing("records.\(n + 1).member.data") }
                if data.count > DeliveryStream.maxRecordBytes {
                    throw .invalid(nil, "records.\(n + 1).member.data", "have length less than or equal to \(DeliveryStream.maxRecordBytes)")
                }
                total += data.count
                records.append(data)
            }
            if total > DeliveryStream.maxBatchBytes {
                throw APIError("InvalidArgumentException", "The records of a PutRecordBatch hold \(total) bytes; the limit is 4 MiB (\(DeliveryStream.maxBatchBytes) bytes).")
            }
            let results = try delivery { () throws(DeliveryError) in try DeliveryStream.putBatch(try host.config(name), store: s.store, records: records) }
            do {
                var failed = 0
                let responses: [JSONValue] = results.map { r in
                    switch r {
                    case .success(let seq): return ["RecordId": .string(seq.description)]
                    case .failure(let e):
                        failed += 1
                        return ["ErrorCode": .string(e.code.rawValue), "ErrorMessage": .string(e.message)]
                    }
                }
                return ["FailedPutCount": .int(Int64(failed)), "Encrypted": false, "RequestResponses": .array(responses)]
            }
        },
        "UpdateDestination": { s, i throws(APIError) in
            let host = try s.firehoseHost()
            let name = try firehoseName(i)
            let version = try i.required("CurrentDeliveryStreamVersionId", "currentDeliveryStreamVersionId")
            guard (1...50).contains(version.utf8.count), version.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                throw .invalid(version, "currentDeliveryStreamVersionId", "satisfy regular expression pattern: [0-9]+")
            }
            let destination = try i.required("DestinationId", "destinationId")
            let current = try delivery { () throws(DeliveryError) in try host.config(name) }
            guard destination == "destinationId-000000000001" else {
                throw APIError("InvalidArgumentException", "Destination Id \(destination) not found for firehose \(name).")
            }
            if i.has("ExtendedS3DestinationUpdate") && i.has("S3DestinationUpdate") {
                throw APIError("InvalidArgumentException", "Exactly one destination update is supported; the request has ExtendedS3DestinationUpdate and S3DestinationUpdate.")
            }
            let (update, field) = try s3Destination(i, "Update")
            var next = current
            if let u = update {
                try applyS3(u, field, to: &next, host: host, creating: false)
            } else if let other = otherDestinations.map({ $0.replacingOccurrences(of: "Configuration", with: "Update") }).first(where: { i.has($0) }) {
                throw APIError("InvalidArgumentException", "\(other) is not supported by sluice serve: its destinations are S3 (ExtendedS3DestinationUpdate).")
            }
            try delivery { () throws(DeliveryError) in try host.update(name, version: version, next: next) }
            return [:]
        },
        "StartDeliveryStreamEncryption": { s, i throws(APIError) in
            let host = try s.firehoseHost()
            let name = try firehoseName(i)
            let e = try i.object("DeliveryStreamEncryptionConfigurationInput").map { (e: Input) throws(APIError) in try encryptionInput(e) }
                ?? FirehoseConfig.Encryption(keyType: "AWS_OWNED_CMK", keyARN: nil, enabled: true)
            try delivery { () throws(DeliveryError) in try host.changeSettings(name) { $0.encryption = e } }
            return [:]
        },
        "StopDeliveryStreamEncryption": { s, i throws(APIError) in
            let host = try s.firehoseHost()
            let name = try firehoseName(i)
            try delivery { () throws(DeliveryError) in
                try host.changeSettings(name) { c in
                    if var e = c.encryption { e.enabled = false; c.encryption = e }
                }
            }
            return [:]
        },
        "TagDeliveryStream": { s, i throws(APIError) in
            let host = try s.firehoseHost()
            let name = try firehoseName(i)
            guard let list = try i.array("Tags") else { throw .missing("tags") }
            let tags = try tagList(list, field: "tags")
            if tags.isEmpty { throw .invalid("[]", "tags", "have length greater than or equal to 1") }
            try delivery { () throws(DeliveryError) in
                try host.changeSettings(name) { c throws(DeliveryError) in
                    var merged = c.tags
                    for (k, v) in tags { merged[k] = v }
                    guard merged.count <= 50 else { throw DeliveryError(.invalidArgument, "A firehose has at most 50 tags.") }
                    c.tags = merged
                }
            }
            return [:]
        },
        "UntagDeliveryStream": { s, i throws(APIError) in
            let host = try s.firehoseHost()
            let name = try firehoseName(i)
            guard let keys = try i.array("TagKeys") else { throw .missing("tagKeys") }
            var list: [String] = []
            for k in keys {
                guard case .string(let key) = k else { throw .serialization("Unexpected value for TagKeys: expected strings") }
                list.append(key)
            }
            if list.isEmpty { throw .invalid("[]", "tagKeys", "have length greater than or equal to 1") }
            try delivery { () throws(DeliveryError) in try host.changeSettings(name) { c in for k in list { c.tags[k] = nil } } }
            return [:]
        },
        "ListTagsForDeliveryStream": { s, i throws(APIError) in
            let host = try s.firehoseHost()
            let name = try firehoseName(i)
            let start = try i.string("ExclusiveStartTagKey")
            let limit = try i.int("Limit") ?? 50
            if !(1...50).contains(limit) {
                throw .invalid(String(limit), "limit", limit < 1 ? "have value greater than or equal to 1" : "have value less than or equal to 50")
            }
            let tags = try delivery { () throws(DeliveryError) in try host.config(name) }.tags.sorted { $0.key < $1.key }.filter { start == nil || $0.key > start! }
            let page = tags.prefix(limit)
            return ["Tags": .array(page.map { ["Key": .string($0.key), "Value": .string($0.value)] }), "HasMoreTags": .bool(tags.count > page.count)]
        },
    ]

    /// `DeliveryStreamEncryptionConfigurationInput`: KeyType AWS_OWNED_CMK, or CUSTOMER_MANAGED_CMK
    /// with a KeyARN.
    static func encryptionInput(_ e: Input) throws(APIError) -> FirehoseConfig.Encryption {
        let type = try e.required("KeyType", "deliveryStreamEncryptionConfigurationInput.keyType")
        guard ["AWS_OWNED_CMK", "CUSTOMER_MANAGED_CMK"].contains(type) else {
            throw .invalid(type, "deliveryStreamEncryptionConfigurationInput.keyType", "satisfy enum value set: [AWS_OWNED_CMK, CUSTOMER_MANAGED_CMK]")
        }
        let arn = try e.string("KeyARN")
        if type == "CUSTOMER_MANAGED_CMK" && arn == nil {
            throw APIError("InvalidArgumentException", "KeyARN is required when KeyType is CUSTOMER_MANAGED_CMK.")
        }
        if type == "AWS_OWNED_CMK" && arn != nil {
            throw APIError("InvalidArgumentException", "KeyARN is not allowed when KeyType is AWS_OWNED_CMK.")
        }
        return FirehoseConfig.Encryption(keyType: type, keyARN: arn, enabled: true)
    }

    /// A list of `{"Key": ..., "Value": ...}` tags (at most 50; keys 1-128, values 0-256 characters).
    static func tagList(_ list: [JSONValue], field: String) throws(APIError) -> [String: String] {
        if list.count > 50 { throw .invalid(nil, field, "have length less than or equal to 50") }
        var tags: [String: String] = [:]
        for v in list {
            guard case .object(let o) = v else { throw .serialization("Unexpected value for Tags: expected a list of objects") }
            let t = Input(object: o)
            let key = try t.required("Key", "\(field).member.key")
            let value = try t.string("Value") ?? ""
            try Service.checkTag(key, value)
            tags[key] = value
        }
        return tags
    }

    /// Runs a delivery call, its errors as API errors.
    static func delivery<T>(_ body: () throws(DeliveryError) -> T) throws(APIError) -> T {
        do { return try body() } catch { throw APIError(error) }
    }

    func firehoseHost() throws(APIError) -> FirehoseHost {
        guard let h = firehoses else { throw APIError("UnknownOperationException", "") }
        return h
    }

    static func firehoseName(_ i: Input) throws(APIError) -> String {
        let name = try i.required("DeliveryStreamName", "deliveryStreamName")
        if name.isEmpty { throw .invalid(name, "deliveryStreamName", "have length greater than or equal to 1") }
        if name.count > 64 { throw .invalid(name, "deliveryStreamName", "have length less than or equal to 64") }
        do { try FirehoseConfig.validate(name: name) } catch {
            throw .invalid(name, "deliveryStreamName", "satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
        }
        return name
    }

    /// The S3 destination member of a Create (`...Configuration`) or UpdateDestination (`...Update`)
    /// request: ExtendedS3, or the older S3 form with the same fields; and its camel-case name.
    static func s3Destination(_ i: Input, _ suffix: String) throws(APIError) -> (Input?, String) {
        if let d = try i.object("ExtendedS3Destination" + suffix) { return (d, "extendedS3Destination" + suffix) }
        if let d = try i.object("S3Destination" + suffix) { return (d, "s3Destination" + suffix) }
        return (nil, "")
    }

    /// Applies an S3 destination's members to a definition: a bucket is a directory under
    /// `--s3-dir`; buffering hints come in pairs; GZIP or no compression; `AppendDelimiterToRecord`
    /// is the processor a plain destination can use (transformations are SQL, in query files).
    static func applyS3(_ d: Input, _ field: String, to c: inout FirehoseConfig, host: FirehoseHost, creating: Bool) throws(APIError) {
        if let role = try d.string("RoleARN") { c.roleARN = role } else if creating { throw .missing("\(field).roleARN") }
        if let bucket = try d.string("BucketARN") {
            let parts = bucket.split(separator: ":", omittingEmptySubsequences: false)
            let name = parts.count == 6 ? String(parts[5]) : ""
            guard parts.count == 6, parts[0] == "arn", parts[2] == "s3", (1...255).contains(name.count), name != ".", name != "..",
                  name.utf8.allSatisfy({ c in (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 46 || c == 45 })
            else { throw .invalid(bucket, "\(field).bucketARN", "satisfy regular expression pattern: arn:.*:s3:::[\\w\\.\\-]{1,255}") }
            c.bucketARN = bucket
            c.directory = host.bucketsDirectory + "/" + name
        } else if creating {
            throw .missing("\(field).bucketARN")
        }
        if let h = try d.object("BufferingHints") {
            let size = try h.int("SizeInMBs"), interval = try h.int("IntervalInSeconds")
            if let v = size, !(1...128).contains(v) {
                throw .invalid(String(v), "\(field).bufferingHints.sizeInMBs", v < 1 ? "have value greater than or equal to 1" : "have value less than or equal to 128")
            }
            if let v = interval, !(0...900).contains(v) {
                throw .invalid(String(v), "\(field).bufferingHints.intervalInSeconds", v < 0 ? "have value greater than or equal to 0" : "have value less than or equal to 900")
            }
            guard let size, let interval else {
                throw APIError("InvalidArgumentException", "BufferingHints must set both SizeInMBs and IntervalInSeconds.")
            }
            c.bufferSizeBytes = size << 20
            c.bufferIntervalMillis = Int64(interval) * 1000
        }
        if let f = try d.string("CompressionFormat") {
            switch f {
            case "UNCOMPRESSED": c.compression = .none
            case "GZIP": c.compression = .gzip
            case "ZIP", "Snappy", "HADOOP_SNAPPY":
                throw APIError("InvalidArgumentException", "CompressionFormat \(f) is not supported by sluice serve: UNCOMPRESSED or GZIP.")
            default:
                throw .invalid(f, "\(field).compressionFormat", "satisfy enum value set: [UNCOMPRESSED, GZIP, ZIP, Snappy, HADOOP_SNAPPY]")
            }
        }
        if let p = try d.string("Prefix") { c.prefix = p }
        if let p = try d.string("ErrorOutputPrefix") { c.errorPrefix = p }
        if let p = try d.object("ProcessingConfiguration") {
            let enabled = try p.bool("Enabled") ?? true
            var delimiter = false
            for v in try p.array("Processors") ?? [] {
                guard case .object(let o) = v else { throw .serialization("Unexpected value for Processors: expected a list of objects") }
                let type = try Input(object: o).required("Type", "\(field).processingConfiguration.processors.member.type")
                guard type == "AppendDelimiterToRecord" else {
                    throw APIError("InvalidArgumentException", "Processor type \(type) is not supported by sluice serve: AppendDelimiterToRecord is (transformations are SQL: CREATE FIREHOSE ... WITH (transform = ...) in a query file).")
                }
                delimiter = true
            }
            c.newlineDelimiter = enabled && delimiter
        }
        for (member, what) in [("DataFormatConversionConfiguration", "record format conversion"), ("DynamicPartitioningConfiguration", "dynamic partitioning from the API")] {
            if let o = try d.object(member), try o.bool("Enabled") ?? true {
                throw APIError("InvalidArgumentException", "\(member): \(what) is not supported by sluice serve.")
            }
        }
        if let ext = try d.string("FileExtension"), !ext.isEmpty {
            throw APIError("InvalidArgumentException", "FileExtension is not supported by sluice serve: objects are named as Firehose names them by default.")
        }
        try delivery { () throws(DeliveryError) in try c.validatePrefixes() }
    }
}
