import Foundation
import SluiceCodecs
import SluiceCore
import SluiceStreams

/// Where a query's rows go.
protocol RowSink: AnyObject {
    /// Called once before the first row: from the start (nil) or resuming a checkpoint taken when
    /// `checkpoint()` returned `position`.
    func begin(resumingAt position: Int64?) throws(EngineError)
    func write(_ rows: [[Value]]) throws(EngineError)
    /// Makes every row written so far durable; returns where a resumed run continues, or nil when
    /// the sink cannot take back rows written after a checkpoint (it then gets them again: at least once).
    func checkpoint() throws(EngineError) -> Int64?
    func close() throws(EngineError)
    /// State the sink keeps in the query's checkpoint (taken right after `checkpoint()`), and
    /// gets back before `begin` when the query resumes.
    func state() -> JSONValue?
    func restore(_ state: JSONValue?) throws(EngineError)
    /// The built-in streams the sink puts rows into.
    var streamsWritten: [String] { get }
}

extension RowSink {
    func begin(resumingAt position: Int64?) throws(EngineError) {}
    func checkpoint() throws(EngineError) -> Int64? { nil }
    func state() -> JSONValue? { nil }
    func restore(_ state: JSONValue?) throws(EngineError) {}
    var streamsWritten: [String] { [] }
}

/// JSON lines or CSV appended to a file (DIALECT.md §6), flushed as rows come and on close.
/// A run resumed from a checkpoint cuts the file back to its length at that checkpoint, so rows
/// emitted after it and emitted again are not duplicated (exactly once into files).
final class FileSink: RowSink {
    let path: String
    let encoder: RecordEncoder
    private var fd: Int32
    private var buffer: [UInt8] = []
    /// Bytes handed to the file so far.
    private var written: Int64 = 0

    init(path: String, format: RecordEncoder.Format, columns: [String]) throws(EngineError) {
        self.path = path
        encoder = RecordEncoder(format: format, columns: columns)
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineError.io("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    func begin(resumingAt position: Int64?) throws(EngineError) {
        let at = position ?? 0
        var st = stat()
        if fstat(fd, &st) == 0, Int64(st.st_size) < at {
            throw EngineError.io("cannot resume \(path): it has \(st.st_size) bytes, the checkpoint wrote \(at)")
        }
        guard ftruncate(fd, off_t(at)) == 0, lseek(fd, off_t(at), SEEK_SET) == off_t(at) else {
            throw EngineError.io("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        written = at
        buffer = position == nil ? encoder.header : []
    }

    func checkpoint() throws(EngineError) -> Int64? {
        try flush()
        guard fsync(fd) == 0 else { throw EngineError.io("cannot flush \(path): \(String(cString: strerror(errno)))") }
        return written
    }

    func write(_ rows: [[Value]]) throws(EngineError) {
        for r in rows { encoder.append(r, to: &buffer) }
        if buffer.count >= 1 << 16 { try flush() }
    }

    func flush() throws(EngineError) {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + done, buffer.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw EngineError.io("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            done += n
        }
        written += Int64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws(EngineError) {
        try flush()
        if fd >= 0 {
            Foundation.close(fd)
            fd = -1
        }
    }
}

/// Rows as JSON lines on a file descriptor (stdout for a push query).
final class DescriptorSink: RowSink {
    let fd: Int32
    let encoder: RecordEncoder
    init(fd: Int32, columns: [String]) {
        self.fd = fd
        encoder = RecordEncoder(format: .json, columns: columns)
    }
    func write(_ rows: [[Value]]) throws(EngineError) {
        var out: [UInt8] = []
        for r in rows { encoder.append(r, to: &out) }
        var done = 0
        while done < out.count {
            let n = out.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + done, out.count - done) }
            if n <= 0 { return }
            done += n
        }
    }
    func close() throws(EngineError) {}
}

/// Rows as JSON records put into a built-in stream (INSERT INTO a stream).
final class StreamSink: RowSink {
    let store: StreamStore
    let stream: String
    let encoder: RecordEncoder
    let keyColumn: Int?
    private var next = 0

    var streamsWritten: [String] { [stream] }

    init(store: StreamStore, stream: String, columns: [String], partitionKey: String?) {
        self.store = store
        self.stream = stream
        encoder = RecordEncoder(format: .json, columns: columns)
        keyColumn = partitionKey.flatMap { k in columns.firstIndex { $0.lowercased() == k.lowercased() } }
    }

    func write(_ rows: [[Value]]) throws(EngineError) {
        var i = 0
        while i < rows.count {
            let chunk = rows[i..<min(rows.count, i + 500)]
            var entries: [PutRecordsRequestEntry] = []
            for r in chunk {
                var data: [UInt8] = []
                encoder.append(r, to: &data)
                data.removeLast()  // the newline
                let key = keyColumn.map { RecordEncoder.text(r[$0]) }.flatMap { $0.isEmpty ? nil : $0 } ?? String(next)
                next += 1
                entries.append(PutRecordsRequestEntry(data: data, partitionKey: key))
            }
            let result: PutRecordsResult
            do {
                result = try store.putRecords(stream: stream, records: entries)
            } catch {
                throw EngineError.io("cannot put rows into stream \(stream): \(error)")
            }
            if result.failedRecordCount > 0 {
                throw EngineError.io("\(result.failedRecordCount) rows could not be put into stream \(stream)")
            }
            i += 500
        }
    }

    func close() throws(EngineError) {}
}

/// Rows handed to a function (tests, the REPL).
final class CallbackSink: RowSink {
    let onRows: ([[Value]]) -> Void
    init(_ onRows: @escaping ([[Value]]) -> Void) { self.onRows = onRows }
    func write(_ rows: [[Value]]) throws(EngineError) { onRows(rows) }
    func close() throws(EngineError) {}
}
