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
            let start = try i.string("ExclusiveStartShardId")
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
            let start = try i.string("ExclusiveStartShardId")
            let max = try i.int("MaxResults") ?? 1000
            var filter: ShardFilter? = nil
            if let f = try i.object("ShardFilter") {
                let type = try f.required("Type", "shardFilter.type")
                switch type {
                case "AFTER_SHARD_ID":
                    guard let id = try f.string("ShardId") else {
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
            let shard = try i.required("ShardId", "shardId")
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
            let shard = try i.required("ShardToSplit", "shardToSplit")
            let key = try i.required("NewStartingHashKey", "newStartingHashKey")
            try s.store { () throws(StreamError) in try s.store.splitShard(stream: name, shardToSplit: shard, newStartingHashKey: key) }
            return nil
        },
        "MergeShards": { s, i throws(APIError) in
            let name = try s.streamName(i)
            let a = try i.required("ShardToMerge", "shardToMerge")
            let b = try i.required("AdjacentShardToMerge", "adjacentShardToMerge")
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
        func allowed(_ s: String) -> Bool {
            s.unicodeScalars.allSatisfy { CharacterSet.letters.contains($0) || CharacterSet.decimalDigits.contains($0) || " _.:/=+-@".unicodeScalars.contains($0) }
        }
        guard (1...128).contains(key.count), value.count <= 256, allowed(key), allowed(value) else {
            throw APIError("InvalidArgumentException", "Some tags contain invalid characters or lengths. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.")
        }
    }
}
