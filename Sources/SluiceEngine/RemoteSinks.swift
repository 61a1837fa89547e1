import Foundation
import SluiceCodecs
import SluiceAWS
import SluiceCore
import SluiceDelivery
import SluiceKinesis
import SluiceStreams
import Synchronization

/// Rows put into a remote Kinesis stream (INSERT INTO, or CREATE STREAM ... AS, a stream declared
/// with `connector = 'kinesis'`, or a `type = 'kinesis'` sink): a record per row (a JSON object or
/// a CSV line), PutRecords of at most 500 records and 5 MiB, four requests at once (the records of
/// a partition key in one lane, in order); the records of a batch the endpoint did not take are
/// sent again, alone, with backoff, until they are taken or the attempts run out (then the query
/// fails saying how many and why). At least once: rows emitted again after a restart are put again.
final class RemoteStreamSink: RowSink {
    /// Where a record's partition key comes from.
    enum Key {
        /// A counter (keys spread the records over the shards).
        case counter
        /// An output column.
        case column(Int)
        /// An expression over the output columns.
        case expression(RowExpressions)
    }

    let client: KinesisClient
    let encoder: RecordEncoder
    let key: Key
    /// A ROWTIME column is the records' arrival: the remote stream sets its own, so it is left out.
    let arrivalColumn: Int?
    private var next = 0
    static let maxRecordBytes = 1 << 20, maxRequestBytes = 5 << 20, maxRecords = 500
    let maxAttempts = 8

    init(client: KinesisClient, columns: [String], key: Key, format: RecordEncoder.Format) {
        self.client = client
        var data = columns
        arrivalColumn = columns.lastIndex { $0.uppercased() == "ROWTIME" }
        if let a = arrivalColumn { data.remove(at: a) }
        encoder = RecordEncoder(format: format, columns: data)
        self.key = key
    }

    func write(_ rows: [[Value]]) throws(EngineError) {
        // Each record goes to the lane of its partition key: lanes put side by side (an endpoint
        // answers one request while this process encodes the next), a lane's requests one after
        // another, so the records of a key keep their order.
        var lanes = Array(repeating: [(data: [UInt8], partitionKey: String)](), count: RemoteStreamSink.lanes)
        var computed: [[Value]?] = []
        if case .expression(let e) = key { computed = e.evaluate(rows) }
        for (k, row) in rows.enumerated() {
            let keyValue: Value?
            switch key {
            case .counter: keyValue = nil
            case .column(let i): keyValue = row[i]
            case .expression: keyValue = computed[k]?[0]
            }
            var r = row
            if let a = arrivalColumn { r.remove(at: a) }
            var data: [UInt8] = []
            encoder.append(r, to: &data)
            data.removeLast()  // the newline
            let key = keyValue.flatMap { $0 == .null ? nil : RecordEncoder.text($0) }.flatMap { $0.isEmpty ? nil : String($0.prefix(256)) } ?? String(next)
            next += 1
            let size = data.count + key.utf8.count
            guard size <= RemoteStreamSink.maxRecordBytes else {
                throw EngineError.io("a row of \(size) bytes is larger than a Kinesis record may be (1 MiB) for \(client.place)")
            }
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            lanes[Int(h % UInt64(RemoteStreamSink.lanes))].append((data, key))
        }
        let client = self.client, attempts = maxAttempts
        let failures = BlockingWork.map(lanes.filter { !$0.isEmpty }) { lane -> EngineError? in
            do throws(EngineError) {
                try RemoteStreamSink.put(lane, client: client, attempts: attempts)
                return nil
            } catch {
                return error
            }
        }
        if let f = failures.compactMap({ $0 }).first { throw f }
    }

    /// How many requests go out at once.
    static let lanes = 4

    /// Puts records in PutRecords of at most 500 records and 5 MiB, one after another; what a
    /// request did not take goes again, alone, until taken.
    static func put(_ records: [(data: [UInt8], partitionKey: String)], client: KinesisClient, attempts: Int) throws(EngineError) {
        var start = 0
        while start < records.count {
            var end = start, bytes = 0
            while end < records.count && end - start < maxRecords {
                let size = records[end].data.count + records[end].partitionKey.utf8.count
                if end > start && bytes + size > maxRequestBytes { break }
                bytes += size
                end += 1
            }
            try putAll(Array(records[start..<end]), attempts: attempts, place: client.place, backoff: client.backoff) { (batch) throws(StreamError) in
                let failed = try client.putRecords(batch)
                client.countRefused(failed)
                return failed
            }
            start = end
        }
    }

    var remoteClient: KinesisClient? { client }

    func close() throws(EngineError) {}
}

/// Rows put into a remote Firehose delivery stream (`CREATE SINK ... WITH (type = 'firehose',
/// delivery_stream = 'NAME', ...)`): a record per row, each ending in a newline (Firehose joins
/// records as they come), PutRecordBatch of at most 500 records and 4 MiB; records the endpoint
/// did not take are sent again, alone, with backoff, until taken or the attempts run out. At least
/// once: rows a restarted query emits again are put again.
final class RemoteFirehoseSink: RowSink {
    let client: FirehoseClient
    let encoder: RecordEncoder
    static let maxRecordBytes = 1000 * 1024, maxRequestBytes = 4 << 20, maxRecords = 500
    let maxAttempts = 8

    init(client: FirehoseClient, columns: [String], format: RecordEncoder.Format) {
        self.client = client
        encoder = RecordEncoder(format: format, columns: columns)
    }

    func write(_ rows: [[Value]]) throws(EngineError) {
        var batch: [[UInt8]] = []
        var bytes = 0
        for r in rows {
            var data: [UInt8] = []
            encoder.append(r, to: &data)
            guard data.count <= RemoteFirehoseSink.maxRecordBytes else {
                throw EngineError.io("a row of \(data.count) bytes is larger than a Firehose record may be (1,000 KiB) for \(client.place)")
            }
            if batch.count == RemoteFirehoseSink.maxRecords || bytes + data.count > RemoteFirehoseSink.maxRequestBytes {
                try put(batch)
                batch.removeAll(keepingCapacity: true)
                bytes = 0
            }
            bytes += data.count
            batch.append(data)
        }
        if !batch.isEmpty { try put(batch) }
    }

    private func put(_ records: [[UInt8]]) throws(EngineError) {
        try putAll(records, attempts: maxAttempts, place: client.place, backoff: client.backoff) { (batch) throws(StreamError) in
            let failed = try client.putRecordBatch(batch)
            client.retrying.countRefused(failed)
            return failed
        }
    }

    var remoteClient: KinesisClient? { client.retrying }

    func close() throws(EngineError) {}
}

/// Puts `records` with `send`, which says which it did not take (index, error code); those go
/// again, alone, after `backoff(attempt)`, until all are taken or `attempts` in a row take none
/// of them (then an error says how many and why). A put that takes some starts the count again:
/// an endpoint that limits the rate (a shard's 1,000 records a second) takes a large batch over
/// several seconds, however many puts that needs.
func putAll<R>(_ records: [R], attempts: Int, place: String, backoff: (Int) -> Void,
               _ send: ([R]) throws(StreamError) -> [(index: Int, code: String)]) throws(EngineError) {
    var pending = records
    var attempt = 0
    while !pending.isEmpty {
        attempt += 1
        let failed: [(index: Int, code: String)]
        do { failed = try send(pending) } catch {
            throw EngineError.io("cannot put rows into \(place): \(Engine.remoteProblem(error))")
        }
        guard !failed.isEmpty else { break }
        if failed.count < pending.count { attempt = min(attempt, 1) }
        guard attempt < attempts else {
            let codes = Set(failed.map(\.code)).sorted().joined(separator: ", ")
            throw EngineError.io("\(failed.count) rows could not be put into \(place) after \(attempt) attempts (\(codes))")
        }
        pending = failed.map { pending[$0.index] }
        backoff(attempt)
    }
}

/// A file sink whose path is `s3://BUCKET/PREFIX`: the rows of each checkpoint interval become one
/// object, put when the checkpoint is taken, named as Firehose names objects (the prefix,
/// `YYYY/MM/DD/HH/`, then `SINK-1-YYYY-MM-DD-HH-MM-SS-ID` of when the interval began). The
/// object's name depends only on its number and that time, both kept in the checkpoint, so a run
/// resumed after a crash puts the interval's object again under the same name, replacing what the
/// crashed run may have put: each row once. (A scaled-out lane resuming another worker's
/// checkpoint under another prefix removes that worker's object of the interval instead.)
final class S3Sink: RowSink {
    let client: S3Client
    let bucket: String
    let prefix: String
    let name: String
    let encoder: RecordEncoder
    let clock: any SluiceClock
    private var buffer: [UInt8] = []
    /// Objects put so far, and when the interval now collecting began.
    private var count: Int64 = 0
    private var opened: Int64
    /// The prefix of the checkpoint being resumed, when another.
    private var previous: String? = nil

    init(client: S3Client, url: String, name: String, format: RecordEncoder.Format, columns: [String], clock: any SluiceClock) {
        self.client = client
        let rest = url.dropFirst("s3://".count)
        bucket = String(rest.prefix { $0 != "/" })
        prefix = String(rest.drop { $0 != "/" }.dropFirst())
        self.name = name
        encoder = RecordEncoder(format: format, columns: columns)
        self.clock = clock
        opened = clock.nowMillis()
    }

    /// The key of object `n`, of an interval that began at `time`, under `prefix`.
    func key(_ n: Int64, _ time: Int64, prefix: String) -> String {
        // An ID from the sink's name and the number: the same object, the same name.
        var h: UInt64 = 0xcbf29ce484222325
        for b in "\(name)/\(n)".utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        let id = String(h, radix: 16)
        return DeliveryStream.objectName(prefix: prefix + PrefixTemplate.timePath(time), name: name, version: 1,
                                         time: time, id: String(repeating: "0", count: 16 - id.count) + id)
    }

    func begin(resumingAt position: Int64?) throws(EngineError) {
        count = position ?? 0
        if let p = previous, p != prefix {
            // The last holder may have put the next object before it died: it goes.
            do { try client.deleteObject(bucket: bucket, key: key(count + 1, opened, prefix: p)) } catch {
                throw EngineError.io("cannot remove s3://\(bucket)/\(key(count + 1, opened, prefix: p)): \(error)")
            }
        }
    }

    func write(_ rows: [[Value]]) throws(EngineError) {
        if buffer.isEmpty { buffer = encoder.header }
        for r in rows { encoder.append(r, to: &buffer) }
    }

    private func put() throws(EngineError) {
        guard !buffer.isEmpty else { return }
        let k = key(count + 1, opened, prefix: prefix)
        do { try client.putObject(bucket: bucket, key: k, buffer) } catch {
            throw EngineError.io("cannot put s3://\(bucket)/\(k): \(error)")
        }
        count += 1
        buffer = []
    }

    func checkpoint() throws(EngineError) -> Int64? {
        try put()
        opened = clock.nowMillis()
        return count
    }

    func state() -> JSONValue? { ["prefix": .string(prefix), "opened": .int(opened)] }

    func restore(_ state: JSONValue?) throws(EngineError) {
        previous = state?["prefix"]?.stringValue
        if let o = state?["opened"]?.int64Value { opened = o }
    }

    func close() throws(EngineError) { try put() }
    func abandon() { buffer = [] }
}
