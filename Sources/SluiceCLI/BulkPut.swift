import Foundation
import SluiceCore
import SluiceCodecs
import SluiceStreams

/// What became of one record of a batch: its place (`ShardId`, `SequenceNumber`), or why it was refused.
enum PutOutcome {
    case put(JSONValue)
    case failed(code: String, message: String)
}

/// Where a bulk put sends its batches: the store itself, or a server that holds it.
protocol PutTarget {
    var maxRecordBytes: Int { get }
    var maxBatchBytes: Int { get }
    /// The starting hash keys of the stream's open shards (the stream must exist).
    func shardStarts(_ stream: String) throws -> [String]
    func put(_ stream: String, _ entries: [PutRecordsRequestEntry]) throws -> [PutOutcome]
}

extension StreamStore: PutTarget {
    var maxRecordBytes: Int { configuration.maxRecordBytes }
    var maxBatchBytes: Int { configuration.maxPutRecordsBytes }

    func shardStarts(_ stream: String) throws -> [String] {
        try listShards(streamName: stream, filter: .atLatest).shards.map { String($0.hashKeyRange.lowerBound) }
    }

    func put(_ stream: String, _ entries: [PutRecordsRequestEntry]) throws -> [PutOutcome] {
        try putRecords(stream: stream, records: entries).records.map { r in
            switch r {
            case .success(let ok): return .put(ok.json)
            case .failure(let code, let message): return .failed(code: code.rawValue, message: message)
            }
        }
    }
}

/// `sluice stream put NAME < records`: one record per input line, put in PutRecords batches.
/// Prints one result line per record, in input order, as soon as its batch is acknowledged.
/// A line that cannot be put (no key, too large) gets an error line in its place; the others go on.
struct BulkPut {
    let target: any PutTarget
    let stream: String
    let out: OutputStream
    let err: OutputStream
    let keyField: String?
    let keyColumn: String?

    private struct Pending {
        var line: Int
        var entry: PutRecordsRequestEntry?
        var error: String?
    }

    func run() throws -> Int32 {
        let starts = try target.shardStarts(stream)
        var roundRobin = 0
        var columnIndex: Int? = nil
        let fieldPath = keyField.map { $0.split(separator: ".").map(String.init) }

        var lineNumber = 0
        var failed = 0
        var total = 0
        var pending: [Pending] = []
        var pendingBytes = 0
        func flush() throws {
            guard !pending.isEmpty else { return }
            try putBatch(&pending, failed: &failed)
            pending.removeAll(keepingCapacity: true)
            pendingBytes = 0
            out.flush()
        }

        func handle(_ lineBytes: ArraySlice<UInt8>) throws {
            lineNumber += 1
            var line = lineBytes
            if line.last == 13 { line = line.dropLast() }  // CRLF
            if line.allSatisfy({ $0 == 32 || $0 == 9 }) { return }  // blank lines are not records
            if let col = keyColumn, columnIndex == nil {
                guard let header = Array(line).withUnsafeBytes({ CSVRecordDecoder.values(of: $0) }) else {
                    throw StreamError(.invalidArgument, "the CSV header (line \(lineNumber)) has an unterminated quote")
                }
                guard let i = header.firstIndex(of: col) ?? header.firstIndex(where: { $0.lowercased() == col.lowercased() }) else {
                    throw StreamError(.invalidArgument, "column '\(col)' is not in the CSV header (line \(lineNumber)): \(header.joined(separator: ", "))")
                }
                columnIndex = i
                return
            }
            total += 1
            let data = Array(line)
            var p = Pending(line: lineNumber)
            var key: String? = nil
            var ehk: String? = nil
            if let path = fieldPath {
                switch extractField(data, path) {
                case .success(let k): key = k
                case .failure(let e): p.error = "line \(lineNumber): \(e.message)"
                }
            } else if let i = columnIndex {
                if let fields = data.withUnsafeBytes({ CSVRecordDecoder.values(of: $0) }) {
                    if i < fields.count { key = fields[i] } else { p.error = "line \(lineNumber): no column \(i + 1) (\(keyColumn!))" }
                } else {
                    p.error = "line \(lineNumber): unterminated quote"
                }
            } else {
                key = String(lineNumber)
                ehk = starts[roundRobin % starts.count]
                roundRobin += 1
            }
            if let k = key {
                if k.isEmpty {
                    p.error = "line \(lineNumber): the partition key is empty"
                } else if k.unicodeScalars.count > 256 {
                    p.error = "line \(lineNumber): the partition key has more than 256 characters"
                } else if k.utf8.count + data.count > target.maxRecordBytes {
                    p.error = "line \(lineNumber): the record has \(k.utf8.count + data.count) bytes; the limit is \(target.maxRecordBytes)"
                } else {
                    p.entry = PutRecordsRequestEntry(data: data, partitionKey: k, explicitHashKey: ehk)
                }
            }
            let size = data.count + (key?.utf8.count ?? 0)
            if pending.count == 500 || pendingBytes + size > target.maxBatchBytes { try flush() }
            pending.append(p)
            pendingBytes += size
        }

        // Acknowledge what has arrived so far rather than wait for a full batch.
        try forEachInputLine(handle, afterChunk: flush)
        try flush()
        if failed > 0 {
            err.line("error: \(failed) of \(total) records were not put (see the ErrorCode lines)")
            return 1
        }
        return 0
    }

    /// Puts the batch, retrying records refused by throughput limits or internal failures with
    /// backoff, then prints a line per record in order.
    private func putBatch(_ batch: inout [Pending], failed: inout Int) throws {
        var results = [JSONValue?](repeating: nil, count: batch.count)
        var todo: [Int] = []
        for (i, p) in batch.enumerated() {
            if let e = p.error {
                results[i] = ["ErrorCode": "InvalidArgumentException", "ErrorMessage": .string(e)]
                failed += 1
            } else {
                todo.append(i)
            }
        }
        var delay: UInt32 = 50_000
        var attempts = 0
        while !todo.isEmpty {
            let r = try target.put(stream, todo.map { batch[$0].entry! })
            var again: [Int] = []
            for (k, i) in todo.enumerated() {
                switch r[k] {
                case .put(let ok): results[i] = ok
                case .failed(let code, let message):
                    if attempts < 50 {
                        again.append(i)
                    } else {
                        results[i] = ["ErrorCode": .string(code), "ErrorMessage": .string("line \(batch[i].line): \(message)")]
                        failed += 1
                    }
                }
            }
            todo = again
            if !todo.isEmpty {
                attempts += 1
                usleep(delay)
                delay = min(delay * 2, 1_000_000)
            }
        }
        for r in results { out.json(r!) }
    }

    private func extractField(_ line: [UInt8], _ path: [String]) -> Result<String, StreamError> {
        // The rule queries follow: a record that is not UTF-8 cannot be decoded.
        if let why = line.withUnsafeBytes({ UTF8Check.problem($0) }) { return .failure(StreamError(.invalidArgument, why)) }
        let doc: JSONValue
        do {
            doc = try JSONValue.parse(bytes: line)
        } catch {
            return .failure(StreamError(.invalidArgument, "not JSON (\(error))"))
        }
        var v: JSONValue? = doc
        for p in path { v = v?[p] }
        switch v {
        case .string(let s)?: return .success(s)
        case .int(let i)?: return .success(String(i))
        case .double(let d)?: return .success(d.description)
        case .bool(let b)?: return .success(b ? "true" : "false")
        case nil, .null?: return .failure(StreamError(.invalidArgument, "no field '\(path.joined(separator: "."))' for the partition key"))
        default: return .failure(StreamError(.invalidArgument, "field '\(path.joined(separator: "."))' is not a string or number"))
        }
    }
}

/// Reads standard input in 1 MiB chunks and calls `handle` with each line (without its newline;
/// the last line may lack one), then `afterChunk` once the lines of a chunk are handled.
func forEachInputLine(_ handle: (ArraySlice<UInt8>) throws -> Void, afterChunk: () throws -> Void) throws {
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    var carry: [UInt8] = []
    while true {
        let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw StreamError(.storage, "cannot read standard input: \(String(cString: strerror(errno)))")
        }
        if n == 0 { break }
        var start = 0
        for i in 0..<n where chunk[i] == 10 {
            if carry.isEmpty {
                try handle(chunk[start..<i])
            } else {
                carry.append(contentsOf: chunk[start..<i])
                try handle(carry[...])
                carry.removeAll(keepingCapacity: true)
            }
            start = i + 1
        }
        carry.append(contentsOf: chunk[start..<n])
        try afterChunk()
    }
    if !carry.isEmpty { try handle(carry[...]) }
}
