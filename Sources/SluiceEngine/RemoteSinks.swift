import Foundation
import SluiceCodecs
import SluiceCore
import SluiceKinesis
import SluiceStreams
import Synchronization

/// Rows put into a remote Kinesis stream (INSERT INTO, or CREATE STREAM ... AS, a stream declared
/// with `connector = 'kinesis'`): a record per row (a JSON object or a CSV line), PutRecords of at
/// most 500 records and 5 MiB; the records of a batch the endpoint did not take are sent again,
/// alone, with backoff, until they are taken or the attempts run out (then the query fails
/// saying how many and why). At least once: rows emitted again after a restart are put again.
final class RemoteStreamSink: RowSink {
    let client: KinesisClient
    let encoder: RecordEncoder
    let keyColumn: Int?
    /// A ROWTIME column is the records' arrival: the remote stream sets its own, so it is left out.
    let arrivalColumn: Int?
    private var next = 0
    /// Records sent again after a partial failure of their batch.
    private(set) var resent = 0
    static let maxRecordBytes = 1 << 20, maxRequestBytes = 5 << 20, maxRecords = 500
    let maxAttempts = 8

    init(client: KinesisClient, columns: [String], partitionKey: String?, format: RecordEncoder.Format) {
        self.client = client
        var data = columns
        arrivalColumn = columns.lastIndex { $0.uppercased() == "ROWTIME" }
        if let a = arrivalColumn { data.remove(at: a) }
        encoder = RecordEncoder(format: format, columns: data)
        keyColumn = partitionKey.flatMap { k in data.firstIndex { $0.lowercased() == k.lowercased() } }
    }

    func write(_ rows: [[Value]]) throws(EngineError) {
        var batch: [(data: [UInt8], partitionKey: String)] = []
        var bytes = 0
        for var r in rows {
            if let a = arrivalColumn { r.remove(at: a) }
            var data: [UInt8] = []
            encoder.append(r, to: &data)
            data.removeLast()  // the newline
            let key = keyColumn.map { RecordEncoder.text(r[$0]) }.flatMap { $0.isEmpty ? nil : String($0.prefix(256)) } ?? String(next)
            next += 1
            let size = data.count + key.utf8.count
            guard size <= RemoteStreamSink.maxRecordBytes else {
                throw EngineError.io("a row of \(size) bytes is larger than a Kinesis record may be (1 MiB) for \(client.place)")
            }
            if batch.count == RemoteStreamSink.maxRecords || bytes + size > RemoteStreamSink.maxRequestBytes {
                try put(batch)
                batch.removeAll(keepingCapacity: true)
                bytes = 0
            }
            batch.append((data, key))
            bytes += size
        }
        if !batch.isEmpty { try put(batch) }
    }

    /// Puts a batch; what failed goes again, alone, until taken.
    private func put(_ records: [(data: [UInt8], partitionKey: String)]) throws(EngineError) {
        var pending = records
        var attempt = 0
        while !pending.isEmpty {
            attempt += 1
            let failed: [(index: Int, code: String)]
            do {
                failed = try client.putRecords(pending)
            } catch {
                throw EngineError.io("cannot put rows into \(client.place): \(Engine.remoteProblem(error))")
            }
            guard !failed.isEmpty else { return }
            guard attempt < maxAttempts else {
                let codes = Set(failed.map(\.code)).sorted().joined(separator: ", ")
                throw EngineError.io("\(failed.count) rows could not be put into \(client.place) after \(attempt) attempts (\(codes))")
            }
            pending = failed.map { pending[$0.index] }
            resent += pending.count
            client.retries.add(1, ordering: .relaxed)
            client.backoff(attempt)
        }
    }

    func close() throws(EngineError) {}
}
