import Foundation
import SluiceCore
import SluiceStreams

/// `sluice demo`: a short tour of the stream store on a sample file. It puts the file into a
/// 4-shard stream keyed by a field, splits the busiest shard half way, then reads everything back
/// through a consumer application (parents before children) and checks that every key's records
/// came back in the order they were put.
struct DemoCommand {
    let out: OutputStream
    let err: OutputStream

    static let usage = """
        usage: sluice demo [--input FILE] [--key-field FIELD] [--data-dir DIR]
          defaults: --input samples/clicks.jsonl --key-field user_id, a scratch data directory
        """

    func run(_ argv: ArraySlice<String>) throws -> Int32 {
        let a = try Arguments(argv, valued: ["input", "key-field", "data-dir"])
        if !a.positionals.isEmpty { throw UsageError("unexpected argument '\(a.positionals[0])'\n" + DemoCommand.usage) }
        let input = a.value("input") ?? "samples/clicks.jsonl"
        let field = a.value("key-field") ?? "user_id"
        guard let bytes = FileManager.default.contents(atPath: input) else {
            throw UsageError("cannot read \(input) (run from the repository root, or pass --input)")
        }
        let scratch = a.value("data-dir") == nil
        let dir = a.value("data-dir") ?? NSTemporaryDirectory() + "sluice-demo-\(getpid())"
        defer { if scratch { try? FileManager.default.removeItem(atPath: dir) } }
        let store = try StreamStore(configuration: StoreConfiguration(dataDirectory: dir))
        defer { store.close() }
        let stream = "demo-\(UInt32(truncatingIfNeeded: getpid()))"
        try store.createStream(name: stream, shardCount: 4)

        // Records keyed by the field, as PutRecords batches of up to 500.
        var entries: [PutRecordsRequestEntry] = []
        for line in bytes.split(separator: 10) where !line.isEmpty {
            let data = Array(line)
            guard let key = (try? JSONValue.parse(bytes: data))?[field].flatMap({ $0.stringValue ?? $0.int64Value.map(String.init) }) else {
                throw StreamError(.invalidArgument, "a line of \(input) has no field '\(field)'")
            }
            entries.append(PutRecordsRequestEntry(data: data, partitionKey: key))
        }
        let half = entries.count / 2
        let watch = Stopwatch()
        var putOrder: [String: [String]] = [:]
        func put(_ slice: ArraySlice<PutRecordsRequestEntry>) throws {
            var i = slice.startIndex
            while i < slice.endIndex {
                let batch = Array(slice[i..<min(i + 500, slice.endIndex)])
                let r = try store.putRecords(stream: stream, records: batch)
                for (e, res) in zip(batch, r.records) {
                    guard case .success(let ok) = res else { throw StreamError(.internalFailure, "a record was not written") }
                    putOrder[e.partitionKey, default: []].append(ok.sequenceNumber.description)
                }
                i += 500
            }
        }
        try put(entries[..<half])
        let counts = try store.describeStream(name: stream).shards.map { s in (s, try count(store, stream, s.shardId)) }
        let busiest = counts.max { $0.1 < $1.1 }!.0
        let mid = busiest.hashKeyRange.lowerBound + (busiest.hashKeyRange.upperBound - busiest.hashKeyRange.lowerBound) / 2
        try store.splitShard(stream: stream, shardToSplit: busiest.shardId, newStartingHashKey: String(mid))
        try put(entries[half...])
        let putSeconds = watch.elapsedSeconds

        out.line("put \(entries.count) records from \(input) into stream '\(stream)' (4 shards, keyed by \(field)); "
                 + "split \(busiest.shardId) half way through")
        out.line("")
        out.line(pad("shard", 22) + pad("parent", 22) + pad("state", 8) + "records")
        for s in try store.describeStream(name: stream).shards {
            out.line(pad(s.shardId, 22) + pad(s.parentShardId ?? "-", 22) + pad(s.isOpen ? "open" : "closed", 8)
                     + String(try count(store, stream, s.shardId)))
        }

        // Read it all back as a consumer application.
        let consumer = try StreamConsumer(store: store, stream: stream, application: "demo")
        var readOrder: [String: [String]] = [:]
        var read = 0
        while true {
            let polled = try consumer.poll()
            if polled.isEmpty { break }
            for p in polled {
                for i in 0..<p.result.records.count {
                    readOrder[p.result.records.partitionKey(i), default: []].append(p.result.sequenceNumber(i).description)
                }
                read += p.result.records.count
            }
        }
        try consumer.checkpoint()
        let inOrder = readOrder == putOrder
        out.line("")
        out.line("consumer 'demo' read \(read) records; every key in put order: \(inOrder ? "yes" : "NO")")
        out.line(String(format: "put throughput (debug builds are slower): %.0f records/s", Double(entries.count) / putSeconds))
        return inOrder && read == entries.count ? 0 : 1
    }

    private func count(_ store: StreamStore, _ stream: String, _ shard: String) throws -> Int {
        var it: String? = try store.getShardIterator(stream: stream, shardId: shard, type: .trimHorizon)
        var n = 0
        while let i = it {
            let r = try store.getRecords(shardIterator: i)
            n += r.records.count
            it = r.records.count == 0 ? nil : r.nextShardIterator
        }
        return n
    }
}
