import Foundation
import SluiceCore
import SluiceEngine
import SluiceServer
import SluiceStreams

/// `sluice stream ...` through a server that holds the data directory (or `--server URL`): each
/// command is the Kinesis API calls it stands for, and prints what it prints without a server,
/// so scripts see no difference. Errors are the server's (`ResourceNotFoundException: ...`).
struct RemoteStreams {
    let client: APIClient
    let out: OutputStream
    let err: OutputStream

    func create(_ name: String, shards: Int?, onDemand: Bool, retentionHours: Int?) throws -> Int32 {
        var input: JSONObject = ["StreamName": .string(name)]
        if let n = shards { input["ShardCount"] = .int(Int64(n)) }
        if onDemand { input["StreamModeDetails"] = ["StreamMode": "ON_DEMAND"] }
        _ = try client.kinesis("CreateStream", .object(input))
        if let h = retentionHours, h != 24 {
            _ = try client.kinesis(h > 24 ? "IncreaseStreamRetentionPeriod" : "DecreaseStreamRetentionPeriod",
                                   ["StreamName": .string(name), "RetentionPeriodHours": .int(Int64(h))])
        }
        out.json(try client.kinesis("DescribeStreamSummary", ["StreamName": .string(name)]), pretty: true)
        return 0
    }

    func list() throws -> Int32 {
        var names: [JSONValue] = [], summaries: [JSONValue] = []
        var start: String? = nil
        repeat {
            var input: JSONObject = ["Limit": 100]
            if let s = start { input["ExclusiveStartStreamName"] = .string(s) }
            let page = try client.kinesis("ListStreams", .object(input))
            let pageNames = page["StreamNames"]?.arrayValue ?? []
            names += pageNames
            summaries += page["StreamSummaries"]?.arrayValue ?? []
            start = page["HasMoreStreams"] == .bool(true) ? pageNames.last?.stringValue : nil
        } while start != nil
        out.json(["StreamNames": .array(names), "HasMoreStreams": false, "StreamSummaries": .array(summaries)], pretty: true)
        return 0
    }

    /// DescribeStream with every shard (following HasMoreShards).
    func describeAll(_ name: String) throws -> JSONValue {
        var shards: [JSONValue] = []
        var description = JSONObject()
        var start: String? = nil
        repeat {
            var input: JSONObject = ["StreamName": .string(name), "Limit": 100]
            if let s = start { input["ExclusiveStartShardId"] = .string(s) }
            guard case .object(let d)? = try client.kinesis("DescribeStream", .object(input))["StreamDescription"] else {
                throw APIClient.Failure(name: "", message: "the server's DescribeStream answer has no StreamDescription", status: 0)
            }
            description = d
            let page = d["Shards"]?.arrayValue ?? []
            shards += page
            start = d["HasMoreShards"] == .bool(true) ? page.last?["ShardId"]?.stringValue : nil
        } while start != nil
        description["Shards"] = .array(shards)
        description["HasMoreShards"] = false
        return ["StreamDescription": .object(description)]
    }

    func describe(_ name: String) throws -> Int32 {
        out.json(try describeAll(name), pretty: true)
        return 0
    }

    func put(_ name: String, data: String, partitionKey: String, explicitHashKey: String?, sequenceNumberForOrdering: String?) throws -> Int32 {
        var input: JSONObject = ["StreamName": .string(name), "Data": .string(Data(data.utf8).base64EncodedString()), "PartitionKey": .string(partitionKey)]
        if let h = explicitHashKey { input["ExplicitHashKey"] = .string(h) }
        if let s = sequenceNumberForOrdering { input["SequenceNumberForOrdering"] = .string(s) }
        let r = try client.kinesis("PutRecord", .object(input))
        out.json(["ShardId": r["ShardId"] ?? .null, "SequenceNumber": r["SequenceNumber"] ?? .null])
        return 0
    }

    /// Reads a shard from an iterator on, as `sluice stream get` does without a server
    /// (following it with `follow`: records put from anywhere show up as they arrive).
    func get(_ name: String, shardId: String, type: ShardIteratorType, sequenceNumber: String?, timestampMillis: Int64?, limit: Int?, follow: Bool) throws -> Int32 {
        var input: JSONObject = ["StreamName": .string(name), "ShardId": .string(shardId), "ShardIteratorType": .string(type.rawValue)]
        if let s = sequenceNumber { input["StartingSequenceNumber"] = .string(s) }
        if let t = timestampMillis { input["Timestamp"] = .double(Double(t) / 1000) }
        var iterator = try client.kinesis("GetShardIterator", .object(input))["ShardIterator"]?.stringValue
        var printed = 0
        while let it = iterator {
            let want = min(10000, limit.map { $0 - printed } ?? 10000)
            let r = try client.kinesis("GetRecords", ["ShardIterator": .string(it), "Limit": .int(Int64(want))])
            let records = r["Records"]?.arrayValue ?? []
            for rec in records {
                out.json(["SequenceNumber": rec["SequenceNumber"] ?? .null, "ApproximateArrivalTimestamp": rec["ApproximateArrivalTimestamp"] ?? .null,
                          "PartitionKey": rec["PartitionKey"] ?? .null, "Data": rec["Data"] ?? .null])
            }
            printed += records.count
            out.flush()
            if let l = limit, printed >= l { break }
            if let children = r["ChildShards"]?.arrayValue {
                err.line("shard \(shardId) is closed and has been read to its end; child shards: "
                         + (children.isEmpty ? "none" : children.compactMap { $0["ShardId"]?.stringValue }.joined(separator: ", ")))
            }
            iterator = r["NextShardIterator"]?.stringValue
            if records.isEmpty && r["MillisBehindLatest"]?.int64Value == 0 {
                guard follow else { break }
                usleep(200_000)
            }
        }
        return 0
    }

    /// Calls `operation` on stream `name`, then prints the stream as `describe` does.
    func change(_ operation: String, _ name: String, _ input: JSONObject) throws -> Int32 {
        var i = input
        i["StreamName"] = .string(name)
        _ = try client.kinesis(operation, .object(i))
        out.json(try describeAll(name), pretty: true)
        return 0
    }

    func scale(_ name: String, target: Int) throws -> Int32 {
        let r = try client.kinesis("UpdateShardCount", ["StreamName": .string(name), "TargetShardCount": .int(Int64(target)), "ScalingType": "UNIFORM_SCALING"])
        out.json(["StreamName": .string(name), "StreamARN": r["StreamARN"] ?? .null, "CurrentShardCount": r["CurrentShardCount"] ?? .null,
                  "TargetShardCount": r["TargetShardCount"] ?? .null], pretty: true)
        return 0
    }

    func retention(_ name: String, hours: Int) throws -> Int32 {
        let summary = try client.kinesis("DescribeStreamSummary", ["StreamName": .string(name)])
        let current = summary["StreamDescriptionSummary"]?["RetentionPeriodHours"]?.int64Value ?? 24
        if Int64(hours) != current {
            _ = try client.kinesis(Int64(hours) > current ? "IncreaseStreamRetentionPeriod" : "DecreaseStreamRetentionPeriod",
                                   ["StreamName": .string(name), "RetentionPeriodHours": .int(Int64(hours))])
        }
        out.json(try client.kinesis("DescribeStreamSummary", ["StreamName": .string(name)]), pretty: true)
        return 0
    }

    func delete(_ name: String) throws -> Int32 {
        _ = try client.kinesis("DeleteStream", ["StreamName": .string(name)])
        return 0
    }
}

/// A bulk put's batches through a server's PutRecords.
struct RemotePutTarget: PutTarget {
    let client: APIClient
    /// Kinesis's limits (the server refuses what exceeds its own with a clear error per record).
    var maxRecordBytes: Int { 1 << 20 }
    var maxBatchBytes: Int { 5 << 20 }

    func shardStarts(_ stream: String) throws -> [String] {
        var starts: [String] = []
        var token: String? = nil
        repeat {
            let input: JSONValue = token.map { ["NextToken": .string($0)] } ?? ["StreamName": .string(stream), "ShardFilter": ["Type": "AT_LATEST"]]
            let page = try client.kinesis("ListShards", input)
            for s in page["Shards"]?.arrayValue ?? [] { if let k = s["HashKeyRange"]?["StartingHashKey"]?.stringValue { starts.append(k) } }
            token = page["NextToken"]?.stringValue
        } while token != nil
        return starts
    }

    func put(_ stream: String, _ entries: [PutRecordsRequestEntry]) throws -> [PutOutcome] {
        let records: [JSONValue] = entries.map { e in
            var o: JSONObject = ["Data": .string(Data(e.data).base64EncodedString()), "PartitionKey": .string(e.partitionKey)]
            if let h = e.explicitHashKey { o["ExplicitHashKey"] = .string(h) }
            return .object(o)
        }
        let r = try client.kinesis("PutRecords", ["StreamName": .string(stream), "Records": .array(records)])
        let answers = r["Records"]?.arrayValue ?? []
        guard answers.count == entries.count else {
            throw APIClient.Failure(name: "", message: "the server answered \(answers.count) records for \(entries.count)", status: 0)
        }
        return answers.map { a in
            if let code = a["ErrorCode"]?.stringValue { return .failed(code: code, message: a["ErrorMessage"]?.stringValue ?? "") }
            return .put(["ShardId": a["ShardId"] ?? .null, "SequenceNumber": a["SequenceNumber"] ?? .null])
        }
    }
}

/// A load's puts through a server's Kinesis API: PutRecords of the packed records, the ones
/// refused for throughput (or an internal failure) sent again after a pause, up to 50 times.
final class RemoteLoadTarget: LoadTarget, @unchecked Sendable {
    let client: APIClient
    init(client: APIClient) { self.client = client }

    var maxRecordBytes: Int { 1 << 20 }
    var maxPutRecordsBytes: Int { 5 << 20 }
    /// A Sluice server's load API takes a megabyte at a time, each batch put at a millisecond of
    /// its own (as a local load's).
    var loadBatch: (records: Int, bytes: Int) { (1 << 16, 1 << 20) }
    func load(_ records: PackedRecords, into stream: String) throws -> Int {
        var failed: [Int] = []
        do throws(APIClient.Failure) {
            failed = try client.load(stream: stream, records)
        } catch {
            // A server without the load API: PutRecords, at its clock.
            guard error.status == 404 else { throw error }
            failed = Array(0..<records.count)
        }
        // What a throughput limit refused goes again, by PutRecords (as a put's would).
        return failed.isEmpty ? 0 : try putInParts(records, failed, into: stream)
    }

    /// Puts records `positions` of `records` by PutRecords, 500 records and 5 MB at a time.
    private func putInParts(_ records: PackedRecords, _ positions: [Int], into stream: String) throws -> Int {
        var part = PackedRecords()
        var notPut = 0
        for p in positions {
            let r = records.record(p)
            if part.count == 500 || part.byteCount + r.data.count + r.partitionKey.utf8.count > maxPutRecordsBytes {
                notPut += try put(part, into: stream)
                part.removeAll()
            }
            r.data.withUnsafeBytes { part.append(data: $0, partitionKey: r.partitionKey) }
        }
        if part.count > 0 { notPut += try put(part, into: stream) }
        return notPut
    }

    func put(_ records: PackedRecords, into stream: String) throws -> Int {
        var todo: [JSONValue] = (0..<records.count).map { i in
            let r = records.record(i)
            return ["Data": .string(Data(r.data).base64EncodedString()), "PartitionKey": .string(r.partitionKey)]
        }
        var attempts = 0
        while !todo.isEmpty {
            let r = try client.kinesis("PutRecords", ["StreamName": .string(stream), "Records": .array(todo)])
            let answers = r["Records"]?.arrayValue ?? []
            guard answers.count == todo.count else {
                throw APIClient.Failure(name: "", message: "the server answered \(answers.count) records for \(todo.count)", status: 0)
            }
            var again: [JSONValue] = []
            for (record, answer) in zip(todo, answers) {
                guard let code = answer["ErrorCode"]?.stringValue else { continue }
                guard attempts < 50, code == "ProvisionedThroughputExceededException" || code == "InternalFailure" else {
                    throw APIClient.Failure(name: code, message: answer["ErrorMessage"]?.stringValue ?? "", status: 0)
                }
                again.append(record)
            }
            todo = again
            attempts += 1
            if !todo.isEmpty { usleep(100_000) }
        }
        return 0
    }

    func addTags(stream: String, tags: [String: String]) throws {
        var t = JSONObject()
        for (k, v) in tags { t[k] = .string(v) }
        _ = try client.kinesis("AddTagsToStream", ["StreamName": .string(stream), "Tags": .object(t)])
    }
}
