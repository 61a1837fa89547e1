import Foundation
import SluiceCodecs
import SluiceCore
import SluiceStreams
import SluiceKinesis

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
    /// Called on every step of the run loop (processing time `now`): rows written more than a
    /// second ago reach the file even when no more come (a reader with `tail -f` sees them).
    func flushIfDue(now: Int64) throws(EngineError)
    /// Called at the end of every step with the query's watermark (`.min` while none is known)
    /// and the processing time: sinks that act on time passing (silence alerts) act here. Not
    /// called for the end of finite input, which is no passing of time.
    func advance(watermark: Int64, now: Int64) throws(EngineError)
    /// The query lost the right to write (its shard's lease went to another worker): what is
    /// buffered is dropped and nothing more is written.
    func abandon()
    /// What kind of sink it is, for the checkpoint's fingerprint (a wrapper says its inner sink's).
    var kind: String { get }
    /// The remote endpoint's client it writes through, if any (its counts are the query's).
    var remoteClient: KinesisClient? { get }
}

extension RowSink {
    func begin(resumingAt position: Int64?) throws(EngineError) {}
    func checkpoint() throws(EngineError) -> Int64? { nil }
    func state() -> JSONValue? { nil }
    func restore(_ state: JSONValue?) throws(EngineError) {}
    var streamsWritten: [String] { [] }
    func flushIfDue(now: Int64) throws(EngineError) {}
    func advance(watermark: Int64, now: Int64) throws(EngineError) {}
    func abandon() {}
    var kind: String { "\(type(of: self))" }
    var remoteClient: KinesisClient? { nil }
}

/// How often buffered rows reach their files at the latest.
let fileFlushMillis: Int64 = 1000

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
    /// When rows were last handed to the file (processing time).
    private var flushedAt: Int64 = .min

    init(path: String, format: RecordEncoder.Format, columns: [String]) throws(EngineError) {
        self.path = path
        encoder = RecordEncoder(format: format, columns: columns)
        let dir = FileNames.directory(of: path)
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineError.io("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    /// The file the checkpoint being resumed was taken writing, when it is another (a shard of a
    /// shared stream whose lease moved from another worker).
    private var previous: String? = nil

    func begin(resumingAt position: Int64?) throws(EngineError) {
        if let p = previous, p != path, let at = position {
            // The rows the last holder wrote after its checkpoint go (it is gone: dead, or stopped
            // after the checkpoint); this file goes on from its own end.
            let old = open(p, O_WRONLY | O_CLOEXEC)
            if old >= 0 {
                defer { Foundation.close(old) }
                try cutBack(old, p, to: at)
            }
            let end = lseek(fd, 0, SEEK_END)
            guard end >= 0 else { throw EngineError.io("cannot seek \(path): \(String(cString: strerror(errno)))") }
            written = Int64(end)
            buffer = end == 0 ? encoder.header : []
            return
        }
        let at = position ?? 0
        try cutBack(fd, path, to: at)
        written = at
        buffer = position == nil ? encoder.header : []
    }

    func state() -> JSONValue? { ["path": .string(path)] }
    func restore(_ state: JSONValue?) throws(EngineError) { previous = state?["path"]?.stringValue }

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
        try writeAll(fd, buffer, path)
        written += Int64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    func flushIfDue(now: Int64) throws(EngineError) {
        guard !buffer.isEmpty, fd >= 0, flushedAt == .min || now - flushedAt >= fileFlushMillis else { return }
        try flush()
        flushedAt = now
    }

    func close() throws(EngineError) {
        try flush()
        if fd >= 0 {
            Foundation.close(fd)
            fd = -1
        }
    }

    func abandon() {
        buffer = []
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
    /// The query's `ROWTIME` column, when it gives one: each row's record arrives at that time
    /// (not before the stream's last record) instead of now, and the column is not in the data.
    let arrivalColumn: Int?
    private var next = 0

    var streamsWritten: [String] { [stream] }

    /// The column of a query's rows that sets their records' arrival in a stream: a TIMESTAMP
    /// named ROWTIME (a stream declares no column of that name, so it can be nothing else).
    static func arrivalColumn(_ schema: [(name: String, type: ColumnType)]) -> Int? {
        schema.lastIndex { $0.name.uppercased() == "ROWTIME" && $0.type == .timestamp }
    }

    /// `format`: how the stream's records are written, a JSON object or a CSV line (no header:
    /// the stream's readers know its columns) each.
    init(store: StreamStore, stream: String, columns: [String], partitionKey: String?, arrivalColumn: Int? = nil,
         format: RecordEncoder.Format = .json) {
        self.store = store
        self.stream = stream
        self.arrivalColumn = arrivalColumn
        var data = columns
        if let a = arrivalColumn { data.remove(at: a) }
        encoder = RecordEncoder(format: format, columns: data)
        keyColumn = partitionKey.flatMap { k in data.firstIndex { $0.lowercased() == k.lowercased() } }
    }

    func write(_ rows: [[Value]]) throws(EngineError) {
        var i = 0
        var batch = PackedRecords()
        var data: [UInt8] = []
        let clock = store.configuration.clock
        while i < rows.count {
            batch.removeAll()
            var latest = Int64.min
            for var r in rows[i..<min(rows.count, i + 500)] {
                var arrival: Int64? = nil
                if let a = arrivalColumn {
                    if case .timestamp(let t) = r[a] { arrival = t }
                    r.remove(at: a)
                }
                if let t = arrival {
                    // A row's time is at most now: a group that the end of the input closed early
                    // leaves now. In a replay, time moves on to it instead (a replay's end is when
                    // every group has closed).
                    if let replay = clock as? ReplayClock { replay.advance(to: t) } else { arrival = min(t, clock.nowMillis()) }
                    latest = max(latest, t)
                }
                data.removeAll(keepingCapacity: true)
                encoder.append(r, to: &data)
                data.removeLast()  // the newline
                let key = keyColumn.map { RecordEncoder.text(r[$0]) }.flatMap { $0.isEmpty ? nil : $0 } ?? String(next)
                next += 1
                data.withUnsafeBytes { d in
                    // A NULL ROWTIME arrives now (the store's clock), not before the stream's last record.
                    if arrivalColumn != nil { batch.append(data: d, partitionKey: key, arrival: arrival ?? clock.nowMillis()) } else { batch.append(data: d, partitionKey: key) }
                }
            }
            let result: PutRecordsResult
            do {
                result = try store.putRecords(stream: stream, packed: batch)
            } catch {
                throw EngineError.io("cannot put rows into stream \(stream): \(error)")
            }
            if result.failedRecordCount > 0 {
                throw EngineError.io("\(result.failedRecordCount) rows could not be put into stream \(stream)")
            }
            // The put is done: its last millisecond may be read.
            if latest != .min, let replay = clock as? ReplayClock { replay.advance(to: latest + 1) }
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

/// A file sink that rolls (`roll_size`, `roll_interval`): rows go to `DIR/.NAME-000001.EXT.part`,
/// which is renamed to `DIR/NAME-000001.EXT` once it holds `roll_size` bytes or has been open
/// `roll_interval` (processing time), and at the end of the run; a reader never sees a file that
/// is still being written. CSV files each start with the header. The checkpoint records the open
/// file's number and length: a resumed run removes files rolled after it, takes the open file back
/// (renaming it back if it was rolled) and cuts it to that length, so no row is lost or repeated.
final class RollingFileSink: RowSink {
    let directory: String
    let stem: String
    let ext: String
    let encoder: RecordEncoder
    let rollBytes: Int64?
    let rollMillis: Int64?
    let clock: any SluiceClock
    private var seq = 1
    private var fd: Int32 = -1
    private var written: Int64 = 0
    private var openedAt: Int64 = 0
    private var buffer: [UInt8] = []
    private var restored: (seq: Int, offset: Int64)? = nil
    private var checkpointed: (seq: Int, offset: Int64) = (1, 0)

    init(path: String, format: RecordEncoder.Format, columns: [String], rollBytes: Int64?, rollMillis: Int64?, clock: any SluiceClock) {
        let dir = FileNames.directory(of: path)
        directory = dir.isEmpty ? "." : dir
        let file = (path as NSString).lastPathComponent
        let e = (file as NSString).pathExtension
        ext = e.isEmpty ? "" : "." + e
        stem = e.isEmpty ? file : String(file.dropLast(e.count + 1))
        encoder = RecordEncoder(format: format, columns: columns)
        self.rollBytes = rollBytes
        self.rollMillis = rollMillis
        self.clock = clock
    }

    func final(_ n: Int) -> String { directory + "/" + stem + "-" + RollingFileSink.pad(n) + ext }
    func part(_ n: Int) -> String { directory + "/." + stem + "-" + RollingFileSink.pad(n) + ext + ".part" }
    static func pad(_ n: Int) -> String { let s = String(n); return s.count >= 6 ? s : String(repeating: "0", count: 6 - s.count) + s }

    /// The numbers of this sink's files in the directory (rolled or open).
    private func existing() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var out: [Int] = []
        for n in names {
            var s = Substring(n)
            if s.hasPrefix(".") && s.hasSuffix(ext + ".part") { s = s.dropFirst().dropLast(ext.count + 5) } else if s.hasSuffix(ext) { s = s.dropLast(ext.count) } else { continue }
            guard s.hasPrefix(stem + "-") else { continue }
            if let k = Int(s.dropFirst(stem.count + 1)), s.count == stem.count + 7 { out.append(k) }
        }
        return out
    }

    func restore(_ state: JSONValue?) throws(EngineError) {
        guard let s = state, let n = s["seq"]?.int64Value, let o = s["offset"]?.int64Value else { return }
        restored = (Int(n), o)
    }

    func state() -> JSONValue? { ["seq": .int(Int64(checkpointed.seq)), "offset": .int(checkpointed.offset)] }

    func begin(resumingAt position: Int64?) throws(EngineError) {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let r = restored {
            for k in existing() where k > r.seq { unlink(final(k)); unlink(part(k)) }
            if access(final(r.seq), F_OK) == 0 { rename(final(r.seq), part(r.seq)) }  // rolled after the checkpoint
            seq = r.seq
            try open(truncatingTo: r.offset)
        } else {
            // A run from the start replaces what an earlier run wrote.
            for k in existing() { unlink(final(k)); unlink(part(k)) }
            seq = 1
            try open(truncatingTo: 0)
        }
        checkpointed = (seq, written)
    }

    private func open(truncatingTo length: Int64) throws(EngineError) {
        let p = part(seq)
        fd = Foundation.open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineError.io("cannot write \(p): \(String(cString: strerror(errno)))") }
        try cutBack(fd, p, to: length)
        written = length
        openedAt = clock.nowMillis()
        if length == 0 { buffer = encoder.header }
    }

    func write(_ rows: [[Value]]) throws(EngineError) {
        for r in rows {
            if written + Int64(buffer.count) > Int64(encoder.header.count), dueToRoll() { try roll() }
            encoder.append(r, to: &buffer)
        }
        if buffer.count >= 1 << 16 { try flush() }
    }

    private func dueToRoll() -> Bool {
        if let b = rollBytes, written + Int64(buffer.count) >= b { return true }
        if let m = rollMillis, clock.nowMillis() - openedAt >= m { return true }
        return false
    }

    private func flush() throws(EngineError) {
        try writeAll(fd, buffer, part(seq))
        written += Int64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    private var flushedAt: Int64 = .min

    func flushIfDue(now: Int64) throws(EngineError) {
        guard !buffer.isEmpty, fd >= 0, flushedAt == .min || now - flushedAt >= fileFlushMillis else { return }
        try flush()
        flushedAt = now
    }

    /// Closes the open file under its final name and opens the next.
    private func roll() throws(EngineError) {
        try flush()
        _ = fsync(fd)
        Foundation.close(fd)
        // Closed: the number may belong to another file from here on, and must not be written
        // or closed again if the rename fails.
        fd = -1
        guard rename(part(seq), final(seq)) == 0 else { throw EngineError.io("cannot roll \(part(seq)): \(String(cString: strerror(errno)))") }
        seq += 1
        try open(truncatingTo: 0)
    }

    func checkpoint() throws(EngineError) -> Int64? {
        if written + Int64(buffer.count) > Int64(encoder.header.count), dueToRoll() { try roll() }
        try flush()
        guard fsync(fd) == 0 else { throw EngineError.io("cannot flush \(part(seq)): \(String(cString: strerror(errno)))") }
        checkpointed = (seq, written)
        return nil
    }

    func close() throws(EngineError) {
        guard fd >= 0 else { return }
        try flush()
        _ = fsync(fd)
        Foundation.close(fd)
        fd = -1
        // The last file is complete; an empty one (nothing but a header) is not kept.
        if written > Int64(encoder.header.count) { rename(part(seq), final(seq)) } else { unlink(part(seq)) }
    }
}

/// Cuts an open file back to `length` (where a checkpoint left it) and moves writing there.
func cutBack(_ fd: Int32, _ path: String, to length: Int64) throws(EngineError) {
    var st = stat()
    if fstat(fd, &st) == 0, Int64(st.st_size) < length {
        throw EngineError.io("cannot resume \(path): it has \(st.st_size) bytes, the checkpoint wrote \(length)")
    }
    guard ftruncate(fd, off_t(length)) == 0, lseek(fd, off_t(length), SEEK_SET) == off_t(length) else {
        throw EngineError.io("cannot write \(path): \(String(cString: strerror(errno)))")
    }
}

func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws(EngineError) {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            throw EngineError.io("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        done += n
    }
}
