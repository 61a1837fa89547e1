import Foundation
import SluiceCore
import SluiceStreams

/// The Kinesis Data Streams operations (API 2013-12-02), each a thin mapping of its JSON members
/// onto the store, which validates them and names its errors as Kinesis does.
extension Service {
    static let kinesis: [String: Action] = [
        "CreateStream": { s, i throws(APIError) in
            let name = try i.required("StreamName", "streamName")
            var mode = StreamMode.provisioned
            if let m = try i.object("StreamModeDetails"), let text = try m.string("StreamMode") {
                guard let parsed = StreamMode(rawValue: text) else {
                    throw APIError("ValidationException", "1 validation error detected: Value '\(text)' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]")
                }
                mode = parsed
            }
            let count = try i.int("ShardCount")
            try s.store { () throws(StreamError) in try s.store.createStream(name: name, shardCount: count, mode: mode) }
            return nil
        },
        "DeleteStream": { s, i throws(APIError) in
            let name = try s.streamName(i)
            let enforce = try i.bool("EnforceConsumerDeletion") ?? false
            // A firehose that reads the stream would lose the records it holds and acknowledged.
            if let host = s.firehoses, let reader = host.readers(of: name).first {
                throw APIError("ResourceInUseException", host.readerDescription(reader, stream: name))
            }
            try s.store { () throws(StreamError) in try s.store.deleteStream(name: name, enforceConsumerDeletion: enforce) }
            return nil
        },
        "DescribeStream": { s, i throws(APIError) in
            let name = try s.streamName(i)
            let limit = try i.int("Limit") ?? 100
            let start = try Service.shardId(i, "ExclusiveStartShardId", "exclusiveStartShardId")
            return try s.store { () throws(StreamError) in try s.store.describeStream(name: name, limit: limit, exclusiveStartShardId: start).json }
        },
        "DescribeStreamSummary": { s, i throws(APIError) in
            let name = try s.streamName(i)
            return try s.store { () throws(StreamError) in try s.store.describeStreamSummary(name: name).summaryJSON }
        },
        "ListStreams": { s, i throws(APIError) in
            let limit = try i.int("Limit") ?? 100
            // NextToken is the last name of the previous page, opaque to clients.
            var start = try i.string("ExclusiveStartStreamName")
            if let t = try i.string("NextToken") {
                guard let d = Data(base64Encoded: t), let name = String(data: d, encoding: .utf8) else {
                    throw APIError("InvalidArgumentException", "The NextToken \(t) is not valid.")
                }
                start = name
            }
            let page = try s.store { () throws(StreamError) in try s.store.listStreams(limit: limit, exclusiveStartStreamName: start) }
            var summaries: [JSONValue] = []
            for n in page.names {
                guard let d = try? s.store.describeStreamSummary(name: n) else { continue }
                summaries.append(["StreamName": .string(n), "StreamARN": .string(d.arn), "StreamStatus": .string(d.status.rawValue),
                                  "StreamModeDetails": ["StreamMode": .string(d.mode.rawValue)],
                                  "StreamCreationTimestamp": .double(Double(d.creationMillis) / 1000)])
            }
            var o: JSONObject = ["StreamNames": .array(page.names.map { .string($0) }), "HasMoreStreams": .bool(page.hasMore),
                                 "StreamSummaries": .array(summaries)]
            if page.hasMore, let last = page.names.last { o["NextToken"] = .string(Data(last.utf8).base64EncodedString()) }
            return .object(o)
        },
        "ListShards": { s, i throws(APIError) in
            let name = i.has("StreamName") || i.has("StreamARN") ? try s.streamName(i) : nil
            let token = try i.string("NextToken")
            let start = try Service.shardId(i, "ExclusiveStartShardId", "exclusiveStartShardId")
            let max = try i.int("MaxResults") ?? 1000
            var filter: ShardFilter? = nil
            if let f = try i.object("ShardFilter") {
                let type = try f.required("Type", "shardFilter.type")
                switch type {
                case "AFTER_SHARD_ID":
                    guard let id = try Service.shardId(f, "ShardId", "shardFilter.shardId") else {
                        throw APIError("InvalidArgumentException", "Must specify ShardId when the ShardFilter type is AFTER_SHARD_ID.")
                    }
                    filter = .afterShardId(id)
                case "AT_TRIM_HORIZON": filter = .atTrimHorizon
                case "FROM_TRIM_HORIZON": filter = .fromTrimHorizon
                case "AT_LATEST": filter = .atLatest
                case "AT_TIMESTAMP", "FROM_TIMESTAMP":
                    guard let t = try f.timestampMillis("Timestamp") else {
                        throw APIError("InvalidArgumentException", "Must specify Timestamp when the ShardFilter type is \(type).")
                    }
                    filter = type == "AT_TIMESTAMP" ? .atTimestamp(t) : .fromTimestamp(t)
                default:
                    throw APIError("ValidationException", "1 validation error detected: Value '\(type)' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]")
                }
            }
            let page = try s.store { () throws(StreamError) in
                try s.store.listShards(streamName: name, nextToken: token, exclusiveStartShardId: start, maxResults: max, filter: filter)
            }
            var o: JSONObject = ["Shards": .array(page.shards.map(\.json))]
            if let t = page.nextToken { o["NextToken"] = .string(t) }
            return .object(o)
        },
        "PutRecord": { s, i throws(APIError) in
            let name = try s.streamName(i)
            guard let data = try i.blob("Data") else { throw .missing("data") }
            let key = try i.required("PartitionKey", "partitionKey")
            let ehk = try i.string("ExplicitHashKey")
            let ordering = try i.string("SequenceNumberForOrdering")
            let r = try s.store { () throws(StreamError) in
                try s.store.putRecord(stream: name, data: data, partitionKey: key, explicitHashKey: ehk, sequenceNumberForOrdering: ordering)
            }
            return ["ShardId": .string(r.shardId), "SequenceNumber": .string(r.sequenceNumber.description), "EncryptionType": "NONE"]
        },
        "PutRecords": { s, i throws(APIError) in
            let name = try s.streamName(i)
            guard let list = try i.array("Records") else { throw .missing("records") }
            var entries: [PutRecordsRequestEntry] = []
            entries.reserveCapacity(list.count)
            for (n, v) in list.enumerated() {
                guard case .object(let o) = v else { throw .serialization("Unexpected value for Records: expected a list of objects") }
                let e = Input(object: o)
                guard let data = try e.blob("Data") else { throw .missing("records.\(n + 1).member.data") }
                let key = try e.required("PartitionKey", "records.\(n + 1).member.partitionKey")
                entries.append(PutRecordsRequestEntry(data: data, partitionKey: key, explicitHashKey: try e.string("ExplicitHashKey")))
            }
            let r = try s.store { () throws(StreamError) in try s.store.putRecords(stream: name, records: entries) }
            return ["FailedRecordCount": .int(Int64(r.failedRecordCount)), "Records": .array(r.records.map(\.json)), "EncryptionType": "NONE"]
        },
        "GetShardIterator": { s, i throws(APIError) in
            let name = try s.streamName(i)
            guard let shard = try Service.shardId(i, "ShardId", "shardId") else { throw .missing("shardId") }
            let typeText = try i.required("ShardIteratorType", "shardIteratorType")
            guard let type = ShardIteratorType(rawValue: typeText) else {
                throw APIError("ValidationException", "1 validation error detected: Value '\(typeText)' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]")
            }
            let seq = try i.string("StartingSequenceNumber")
            let ts = try i.timestampMillis("Timestamp")
            let it = try s.store { () throws(StreamError) in
                try s.store.getShardIterator(stream: name, shardId: shard, type: type, startingSequenceNumber: seq, timestampMillis: ts)
            }
            return ["ShardIterator": .string(it)]
        },
        "GetRecords": { s, i throws(APIError) in
            let it = try i.required("ShardIterator", "shardIterator")
            let limit = try i.int("Limit") ?? 10000
            if limit < 1 { throw APIError("ValidationException", "1 validation error detected: Value '\(limit)' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1") }
            if limit > 10000 { throw APIError("ValidationException", "1 validation error detected: Value '\(limit)' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000") }
            let r = try s.store { () throws(StreamError) in try s.store.getRecords(shardIterator: it, limit: limit) }
            var o: JSONObject = ["Records": .array(Service.recordsJSON(r)), "MillisBehindLatest": .int(r.millisBehindLatest)]
            if let next = r.nextShardIterator { o["NextShardIterator"] = .string(next) }
            if let children = r.childShards { o["ChildShards"] = .array(children.map(\.json)) }
            return .object(o)
        },
        "SplitShard": { s, i throws(APIError) in
            let name = try s.streamName(i)
            guard let shard = try Service.shardId(i, "ShardToSplit", "shardToSplit") else { throw .missing("shardToSplit") }
            let key = try i.required("NewStartingHashKey", "newStartingHashKey")
            try s.store { () throws(StreamError) in try s.store.splitShard(stream: name, shardToSplit: shard, newStartingHashKey: key) }
            return nil
        },
        "MergeShards": { s, i throws(APIError) in
            let name = try s.streamName(i)
            guard let a = try Service.shardId(i, "ShardToMerge", "shardToMerge") else { throw .missing("shardToMerge") }
            guard let b = try Service.shardId(i, "AdjacentShardToMerge", "adjacentShardToMerge") else { throw .missing("adjacentShardToMerge") }
            try s.store { () throws(StreamError) in try s.store.mergeShards(stream: name, shardToMerge: a, adjacentShardToMerge: b) }
            return nil
        },
        "UpdateShardCount": { s, i throws(APIError) in
            let name = try s.streamName(i)
            guard let target = try i.int("TargetShardCount") else { throw .missing("targetShardCount") }
            let scaling = try i.required("ScalingType", "scalingType")
            guard scaling == "UNIFORM_SCALING" else {
                throw APIError("ValidationException", "1 validation error detected: Value '\(scaling)' at 'scalingType' failed to satisfy constraint: Member must satisfy enum value set: [UNIFORM_SCALING]")
            }
            let r = try s.store { () throws(StreamError) in try s.store.updateShardCount(stream: name, targetShardCount: target) }
            let d = try s.store { () throws(StreamError) in try s.store.describeStreamSummary(name: name) }
            return ["StreamName": .string(name), "StreamARN": .string(d.arn), "CurrentShardCount": .int(Int64(r.current)), "TargetShardCount": .int(Int64(r.target))]
        },
        "DescribeLimits": { s, _ throws(APIError) in
            var open = 0, onDemand = 0
            var start: String? = nil
            while let page = try? s.store.listStreams(limit: 100, exclusiveStartStreamName: start), !page.names.isEmpty {
                for n in page.names {
                    guard let d = try? s.store.describeStreamSummary(name: n) else { continue }
                    open += d.openShardCount
                    if d.mode == .onDemand { onDemand += 1 }
                }
                start = page.names.last
                if !page.hasMore { break }
            }
            return ["ShardLimit": .int(Int64(s.store.configuration.shardLimit)), "OpenShardCount": .int(Int64(open)),
                    "OnDemandStreamCount": .int(Int64(onDemand)), "OnDemandStreamCountLimit": 50]
        },
        "StartStreamEncryption": encryption(start: true),
        "StopStreamEncryption": encryption(start: false),
        "EnableEnhancedMonitoring": monitoring(enable: true),
        "DisableEnhancedMonitoring": monitoring(enable: false),
        "PutResourcePolicy": { s, i throws(APIError) in
            let arn = s.canonicalARN(try i.required("ResourceARN", "resourceARN"))
            let policy = try i.required("Policy", "policy")
            guard (try? JSONValue.parse(bytes: Array(policy.utf8)))?.objectValue != nil else {
                throw APIError("InvalidArgumentException", "The policy is not a JSON document.")
            }
            let stream = try s.policyStream(arn)
            try s.store { () throws(StreamError) in try s.store.setPolicy(stream: stream, arn: arn, policy: policy) }
            return nil
        },
        "GetResourcePolicy": { s, i throws(APIError) in
            let arn = s.canonicalARN(try i.required("ResourceARN", "resourceARN"))
            let stream = try s.policyStream(arn)
            let p = try s.store { () throws(StreamError) in try s.store.policy(stream: stream, arn: arn) }
            return ["Policy": .string(p ?? "{}")]
        },
        "DeleteResourcePolicy": { s, i throws(APIError) in
            let arn = s.canonicalARN(try i.required("ResourceARN", "resourceARN"))
            let stream = try s.policyStream(arn)
            guard try s.store({ () throws(StreamError) in try s.store.policy(stream: stream, arn: arn) }) != nil else {
                throw APIError("ResourceNotFoundException", "No resource policy found for resource ARN \(arn).")
            }
            try s.store { () throws(StreamError) in try s.store.setPolicy(stream: stream, arn: arn, policy: nil) }
            return nil
        },
        "IncreaseStreamRetentionPeriod": retention(increase: true),
        "DecreaseStreamRetentionPeriod": retention(increase: false),
        "AddTagsToStream": { s, i throws(APIError) in
            let name = try s.streamName(i)
            guard let t = try i.object("Tags") else { throw .missing("tags") }
            var tags: [String: String] = [:]
            for (k, v) in t.object.entries {
                guard case .string(let value) = v else { throw .serialization("Unexpected value for Tags: expected string values") }
                try Service.checkTag(k, value)
                tags[k] = value
            }
            try s.store { () throws(StreamError) in try s.store.addTags(name: name, tags: tags) }
            return nil
        },
        "RemoveTagsFromStream": { s, i throws(APIError) in
            let name = try s.streamName(i)
            guard let keys = try i.array("TagKeys") else { throw .missing("tagKeys") }
            var list: [String] = []
            for k in keys {
                guard case .string(let key) = k else { throw .serialization("Unexpected value for TagKeys: expected strings") }
                list.append(key)
            }
            try s.store { () throws(StreamError) in try s.store.removeTags(name: name, keys: list) }
            return nil
        },
        "ListTagsForStream": { s, i throws(APIError) in
            let name = try s.streamName(i)
            let start = try i.string("ExclusiveStartTagKey")
            let limit = try i.int("Limit") ?? 50
            if limit < 1 || limit > 50 {
                throw APIError("ValidationException", "1 validation error detected: Value '\(limit)' at 'limit' failed to satisfy constraint: Member must have value \(limit < 1 ? "greater than or equal to 1" : "less than or equal to 50")")
            }
            let all = try s.store { () throws(StreamError) in try s.store.listTags(name: name) }
            let after = all.filter { start == nil || $0.key > start! }
            let page = after.prefix(limit)
            return ["Tags": .array(page.map { ["Key": .string($0.key), "Value": .string($0.value)] }), "HasMoreTags": .bool(after.count > page.count)]
        },
    ]

    /// A shard id member: 1-128 characters of `[a-zA-Z0-9_.-]` (ValidationException otherwise, before
    /// any lookup, as Kinesis answers); nil when absent.
    static func shardId(_ i: Input, _ key: String, _ field: String) throws(APIError) -> String? {
        guard let id = try i.string(key) else { return nil }
        let ok = (1...128).contains(id.utf8.count) && id.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 46 || c == 45
        }
        guard ok else {
            throw APIError("ValidationException", "1 validation error detected: Value '\(id)' at '\(field)' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 128")
        }
        return id
    }

    /// Start/StopStreamEncryption: KMS with a key id; recorded and described (records are not
    /// encrypted at rest here).
    static func encryption(start: Bool) -> Action {
        { s, i throws(APIError) in
            let name = try s.streamName(i)
            let type = try i.required("EncryptionType", "encryptionType")
            guard ["KMS", "NONE"].contains(type) else {
                throw APIError("ValidationException", "1 validation error detected: Value '\(type)' at 'encryptionType' failed to satisfy constraint: Member must satisfy enum value set: [KMS, NONE]")
            }
            let key = try i.required("KeyId", "keyId")
            guard (1...2048).contains(key.utf8.count) else {
                throw APIError("ValidationException", "1 validation error detected: Value '\(key)' at 'keyId' failed to satisfy constraint: Member must have length between 1 and 2048")
            }
            guard type == "KMS" else { throw APIError("InvalidArgumentException", "Encryption type NONE is not supported: use KMS.") }
            try s.store { () throws(StreamError) in try s.store.setEncryption(name: name, keyId: start ? key : nil) }
            return nil
        }
    }

    static let shardLevelMetrics = ["IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords", "WriteProvisionedThroughputExceeded",
                                    "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds", "ALL"]

    /// Enable/DisableEnhancedMonitoring: the shard-level metrics are recorded and described.
    static func monitoring(enable: Bool) -> Action {
        { s, i throws(APIError) in
            let name = try s.streamName(i)
            guard let list = try i.array("ShardLevelMetrics") else { throw .missing("shardLevelMetrics") }
            var metrics: [String] = []
            for v in list {
                guard case .string(let m) = v, shardLevelMetrics.contains(m) else {
                    throw APIError("ValidationException", "1 validation error detected: Value '\(v.serialized())' at 'shardLevelMetrics' failed to satisfy constraint: Member must satisfy enum value set: [\(shardLevelMetrics.joined(separator: ", "))]")
                }
                metrics.append(m)
            }
            guard !metrics.isEmpty else { throw APIError("ValidationException", "1 validation error detected: Value '[]' at 'shardLevelMetrics' failed to satisfy constraint: Member must have length greater than or equal to 1") }
            let r = try s.store { () throws(StreamError) in
                try s.store.changeMonitoring(name: name, enable: enable ? metrics : [], disable: enable ? [] : metrics)
            }
            let d = try s.store { () throws(StreamError) in try s.store.describeStreamSummary(name: name) }
            return ["StreamName": .string(name), "StreamARN": .string(d.arn), "CurrentShardLevelMetrics": .array(r.current.map { .string($0) }),
                    "DesiredShardLevelMetrics": .array(r.desired.map { .string($0) })]
        }
    }

    /// The stream a resource policy's ARN belongs to (a stream ARN or one of its consumers').
    func policyStream(_ arn: String) throws(APIError) -> String {
        guard arn.hasPrefix("arn:"), let r = arn.range(of: ":stream/") else {
            throw APIError("ValidationException", "1 validation error detected: Value '\(arn)' at 'resourceARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:.*stream\\/\\S+")
        }
        let rest = arn[r.upperBound...]
        let name = String(rest.prefix { $0 != "/" })
        if rest.contains("/consumer/") {
            _ = try store { () throws(StreamError) in try store.resolveConsumer(arn: arn, streamName: nil, consumerName: nil) }
        }
        return name
    }

    /// Increase/DecreaseStreamRetentionPeriod: the store checks the direction and the bounds.
    static func retention(increase: Bool) -> Action {
        { s, i throws(APIError) in
            let name = try s.streamName(i)
            guard let hours = try i.int("RetentionPeriodHours") else { throw .missing("retentionPeriodHours") }
            try s.store { () throws(StreamError) in
                if increase { try s.store.increaseRetention(name: name, hours: hours) } else { try s.store.decreaseRetention(name: name, hours: hours) }
            }
            return nil
        }
    }

    /// Tag keys are 1-128 characters, values 0-256, of letters, digits, spaces and `_ . : / = + - @`.
    static func checkTag(_ key: String, _ value: String) throws(APIError) {
        // Sluice's own bookkeeping: the header line of a CSV file loaded into a stream (a client's
        // `.load`, as `--input` records it), commas and all.
        if key == "sluice.csv-header" {
            guard value.utf8.count <= 65_536 else { throw APIError("InvalidArgumentException", "A CSV header is at most 64 KiB.") }
            return
        }
        func allowed(_ s: String) -> Bool {
            s.unicodeScalars.allSatisfy { CharacterSet.letters.contains($0) || CharacterSet.decimalDigits.contains($0) || " _.:/=+-@".unicodeScalars.contains($0) }
        }
        guard (1...128).contains(key.count), value.count <= 256, allowed(key), allowed(value) else {
            throw APIError("InvalidArgumentException", "Some tags contain invalid characters or lengths. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.")
        }
    }
}
