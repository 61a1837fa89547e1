import Foundation
import SluiceCore
import SluiceStreams
import SluiceDelivery

/// `sluice stream ...`: the stream store from the command line. Output that describes the store is
/// JSON with the field names of the Kinesis API responses.
struct StreamCommands {
    let out: OutputStream
    let err: OutputStream

    static let usage = """
        usage: sluice stream <command> [--data-dir DIR] ...
          create NAME --shards N [--retention-hours H] [--on-demand]
          list
          describe NAME
          put NAME --partition-key K [--explicit-hash-key H] --data TEXT
          put NAME [--key-field FIELD | --key-column COLUMN] < records   (one record per line)
          get NAME --shard-id ID [--iterator-type TYPE] [--sequence-number N | --timestamp T] [--limit N] [--follow]
          split NAME --shard-id ID --new-starting-hash-key H
          merge NAME --shard-id A --adjacent-shard-id B
          scale NAME --target-shard-count N
          retention NAME --hours H
          delete NAME
        options for every command: --data-dir DIR, --fsync never|always|interval[:MS], --enforce-limits,
        --server URL
          While `sluice serve` holds the data directory, each command goes through the server's
          Kinesis API (found in DIR/server.json), prints the same, and works beside other clients:
          `get --follow` in one terminal sees what `put` sends from another. --server http://HOST:PORT
          names a server; without one and with no server running, commands open the store directly.
        """

    static let common: Set<String> = ["data-dir", "fsync", "server"]

    func run(_ argv: ArraySlice<String>) throws -> Int32 {
        guard let sub = argv.first else { throw UsageError("missing stream command\n" + StreamCommands.usage) }
        let rest = argv.dropFirst()
        func parse(_ valued: Set<String>, _ booleans: Set<String> = []) throws -> Arguments {
            try Arguments(rest, valued: valued.union(StreamCommands.common), booleans: booleans.union(["enforce-limits"]))
        }
        func name(_ a: Arguments) throws -> String {
            guard a.positionals.count == 1 else {
                throw UsageError(a.positionals.isEmpty ? "missing stream name" : "unexpected argument '\(a.positionals[1])'")
            }
            return a.positionals[0]
        }
        switch sub {
        case "--help", "-h", "help":
            out.line(StreamCommands.usage)
            return 0
        case "create":
            let a = try parse(["shards", "retention-hours"], ["on-demand"])
            let n = try name(a)
            if let r = try remote(a) {
                if try a.int("shards") == nil && !a.flag("on-demand") { throw UsageError("missing --shards (or --on-demand)") }
                return try r.create(n, shards: try a.int("shards"), onDemand: a.flag("on-demand"), retentionHours: try a.int("retention-hours"))
            }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            let shards = try a.int("shards")
            if shards == nil && !a.flag("on-demand") { throw UsageError("missing --shards (or --on-demand)") }
            try store.createStream(name: n, shardCount: shards, mode: a.flag("on-demand") ? .onDemand : .provisioned,
                                   retentionHours: try a.int("retention-hours") ?? 24)
            out.json(try store.describeStreamSummary(name: n).summaryJSON, pretty: true)
        case "list":
            let a = try parse([])
            if !a.positionals.isEmpty { throw UsageError("unexpected argument '\(a.positionals[0])'") }
            if let r = try remote(a) { return try r.list() }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            var names: [String] = []
            var more = true
            while more {
                let page = try store.listStreams(limit: 100, exclusiveStartStreamName: names.last)
                names += page.names
                more = page.hasMore
            }
            var summaries: [JSONValue] = []
            for n in names {
                let d = try store.describeStreamSummary(name: n)
                summaries.append(["StreamName": .string(n), "StreamARN": .string(d.arn), "StreamStatus": .string(d.status.rawValue),
                                  "StreamModeDetails": ["StreamMode": .string(d.mode.rawValue)],
                                  "StreamCreationTimestamp": .double(Double(d.creationMillis) / 1000)])
            }
            out.json(["StreamNames": .array(names.map { .string($0) }), "HasMoreStreams": false,
                      "StreamSummaries": .array(summaries)], pretty: true)
        case "describe":
            let a = try parse([])
            let n = try name(a)
            if let r = try remote(a) { return try r.describe(n) }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            out.json(try describeAll(store, n), pretty: true)
        case "put":
            let a = try parse(["partition-key", "explicit-hash-key", "data", "key-field", "key-column", "sequence-number-for-ordering"])
            let n = try name(a)
            let server = try remote(a)
            let store = server == nil ? try SluiceMain.openStore(a, warnings: err) : nil
            defer { store?.close() }
            if let data = a.value("data") {
                guard let key = a.value("partition-key") else { throw UsageError("missing --partition-key") }
                if let server {
                    return try server.put(n, data: data, partitionKey: key, explicitHashKey: a.value("explicit-hash-key"),
                                          sequenceNumberForOrdering: a.value("sequence-number-for-ordering"))
                }
                let r = try store!.putRecord(stream: n, data: Array(data.utf8), partitionKey: key,
                                            explicitHashKey: a.value("explicit-hash-key"),
                                            sequenceNumberForOrdering: a.value("sequence-number-for-ordering"))
                out.json(r.json)
            } else {
                if a.value("partition-key") != nil { throw UsageError("--partition-key needs --data; bulk put reads keys with --key-field or --key-column") }
                if a.value("key-field") != nil && a.value("key-column") != nil { throw UsageError("give --key-field or --key-column, not both") }
                let target: any PutTarget = server.map { RemotePutTarget(client: $0.client) } ?? store!
                return try BulkPut(target: target, stream: n, out: out, err: err,
                                   keyField: a.value("key-field"), keyColumn: a.value("key-column")).run()
            }
        case "get":
            let a = try parse(["shard-id", "iterator-type", "sequence-number", "timestamp", "limit"], ["follow"])
            let n = try name(a)
            if let r = try remote(a) {
                let (type, ts, limit) = try getOptions(a)
                return try r.get(n, shardId: try a.required("shard-id"), type: type, sequenceNumber: a.value("sequence-number"),
                                 timestampMillis: ts, limit: limit, follow: a.flag("follow"))
            }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            return try get(store, n, a)
        case "split":
            let a = try parse(["shard-id", "new-starting-hash-key"])
            let n = try name(a)
            if let r = try remote(a) {
                return try r.change("SplitShard", n, ["ShardToSplit": .string(try a.required("shard-id")),
                                                      "NewStartingHashKey": .string(try a.required("new-starting-hash-key"))])
            }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            try store.splitShard(stream: n, shardToSplit: try a.required("shard-id"), newStartingHashKey: try a.required("new-starting-hash-key"))
            out.json(try describeAll(store, n), pretty: true)
        case "merge":
            let a = try parse(["shard-id", "adjacent-shard-id"])
            let n = try name(a)
            if let r = try remote(a) {
                return try r.change("MergeShards", n, ["ShardToMerge": .string(try a.required("shard-id")),
                                                       "AdjacentShardToMerge": .string(try a.required("adjacent-shard-id"))])
            }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            try store.mergeShards(stream: n, shardToMerge: try a.required("shard-id"), adjacentShardToMerge: try a.required("adjacent-shard-id"))
            out.json(try describeAll(store, n), pretty: true)
        case "scale":
            let a = try parse(["target-shard-count"])
            let n = try name(a)
            guard let target = try a.int("target-shard-count") else { throw UsageError("missing --target-shard-count") }
            if let r = try remote(a) { return try r.scale(n, target: target) }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            let r = try store.updateShardCount(stream: n, targetShardCount: target)
            let d = try store.describeStreamSummary(name: n)
            out.json(["StreamName": .string(n), "StreamARN": .string(d.arn), "CurrentShardCount": .int(Int64(r.current)),
                      "TargetShardCount": .int(Int64(r.target))], pretty: true)
        case "retention":
            let a = try parse(["hours"])
            let n = try name(a)
            guard let hours = try a.int("hours") else { throw UsageError("missing --hours") }
            if let r = try remote(a) { return try r.retention(n, hours: hours) }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            try store.setRetention(name: n, hours: hours)
            out.json(try store.describeStreamSummary(name: n).summaryJSON, pretty: true)
        case "delete":
            let a = try parse([])
            let n = try name(a)
            if let r = try remote(a) { return try r.delete(n) }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            if let reader = DeliveryStream.readers(of: n, store: store).first {
                throw StreamError(.resourceInUse, "stream \(n) is read by firehose \(reader), which would lose the records it holds; delete the firehose first (sluice firehose delete \(reader))")
            }
            try store.deleteStream(name: n)
        default:
            let hint = closest(sub, in: ["create", "list", "describe", "put", "get", "split", "merge", "scale", "retention", "delete"])
                .map { " (did you mean '\($0)'?)" } ?? ""
            throw UsageError("unknown stream command '\(sub)'\(hint)")
        }
        return 0
    }

    /// The server to go through: --server URL, else the one holding the data directory, if any.
    func remote(_ a: Arguments) throws -> RemoteStreams? {
        try SluiceMain.server(a).map { RemoteStreams(client: $0, out: out, err: err) }
    }

    /// DescribeStream with every shard (following HasMoreShards).
    func describeAll(_ store: StreamStore, _ name: String) throws -> JSONValue {
        var d = try store.describeStream(name: name, limit: 100)
        var shards = d.shards
        while d.hasMoreShards, let last = shards.last {
            d = try store.describeStream(name: name, limit: 100, exclusiveStartShardId: last.shardId)
            shards += d.shards
        }
        d.shards = shards
        d.hasMoreShards = false
        return d.json
    }

    /// `get`'s iterator type, timestamp (ms) and limit, checked.
    func getOptions(_ a: Arguments) throws -> (ShardIteratorType, Int64?, Int?) {
        let typeText = a.value("iterator-type") ?? (a.value("sequence-number") != nil ? "AT_SEQUENCE_NUMBER" : a.value("timestamp") != nil ? "AT_TIMESTAMP" : "TRIM_HORIZON")
        guard let type = ShardIteratorType(rawValue: typeText.uppercased()) else {
            throw UsageError("--iterator-type takes one of \(ShardIteratorType.allCases.map(\.rawValue).joined(separator: ", ")), not '\(typeText)'")
        }
        var ts: Int64? = nil
        if let t = a.value("timestamp") {
            if let secs = Double(t) {
                guard let ms = Millis.fromSeconds(secs), abs(ms) <= Millis.maxTimestamp else {
                    throw UsageError("--timestamp \(t) is out of range (epoch seconds of the years 1 to 9999)")
                }
                ts = ms
            } else if let ms = TimeFormat.parseISO8601(t) {
                ts = ms
            } else {
                throw UsageError("--timestamp takes epoch seconds or an ISO-8601 time, not '\(t)'")
            }
        }
        let limit = try a.int("limit")
        if let l = limit, l < 1 { throw UsageError("--limit must be at least 1") }
        return (type, ts, limit)
    }

    func get(_ store: StreamStore, _ name: String, _ a: Arguments) throws -> Int32 {
        let shardId = try a.required("shard-id")
        let (type, ts, limit) = try getOptions(a)
        var iterator: String? = try store.getShardIterator(stream: name, shardId: shardId, type: type,
                                                           startingSequenceNumber: a.value("sequence-number"), timestampMillis: ts)
        var printed = 0
        while let it = iterator {
            let want = min(10000, limit.map { $0 - printed } ?? 10000)
            let r = try store.getRecords(shardIterator: it, limit: want)
            for i in 0..<r.records.count {
                let data = r.records.data(i)
                let o: JSONValue = ["SequenceNumber": .string(r.sequenceNumber(i).description),
                                    "ApproximateArrivalTimestamp": .double(Double(r.records.arrivalMillis(i)) / 1000),
                                    "PartitionKey": .string(r.records.partitionKey(i)),
                                    "Data": .string(Data(data).base64EncodedString())]
                out.json(o)
            }
            printed += r.records.count
            out.flush()
            if let l = limit, printed >= l { break }
            if let children = r.childShards {
                err.line("shard \(shardId) is closed and has been read to its end; child shards: "
                         + (children.isEmpty ? "none" : children.map(\.shardId).joined(separator: ", ")))
            }
            iterator = r.nextShardIterator
            if r.records.count == 0 && r.millisBehindLatest == 0 {
                guard a.flag("follow") else { break }
                usleep(200_000)
            }
        }
        return 0
    }
}
