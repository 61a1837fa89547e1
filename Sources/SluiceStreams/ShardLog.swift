import Foundation
import SluiceChecksum

/// Records returned by one read: the raw frames in one buffer (bytes read from the segment, or
/// the segment's mapping in place), with an entry per record. Reading allocates one buffer per
/// call at most, never one object per record.
public struct RecordBatch: Sendable {
    enum Storage: Sendable {
        case bytes([UInt8])
        /// Offsets are the segment file's.
        case mapped(MappedRange)
    }

    let storage: Storage
    let entries: [Entry]

    struct Entry: Sendable {
        var index: UInt64
        var arrival: Int64
        var keyOffset: Int
        var keyLength: Int
        var dataLength: Int
        var dataOffset: Int { keyOffset + keyLength }
    }

    init(buffer: [UInt8], entries: [Entry]) {
        storage = .bytes(buffer)
        self.entries = entries
    }

    init(mapped: MappedRange, entries: [Entry]) {
        storage = .mapped(mapped)
        self.entries = entries
    }

    /// The bytes the entries point into.
    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .bytes(let a): return try a.withUnsafeBytes(body)
        case .mapped(let m): return try body(m.file.bytes)
        }
    }

    static let empty = RecordBatch(buffer: [], entries: [])

    /// Records read from elsewhere (a remote stream's GetRecords): each one's partition key and
    /// data packed into `bytes` (key then data), its arrival, and its place `i` as its index.
    public init(bytes: [UInt8], records: [(keyOffset: Int, keyLength: Int, dataLength: Int, arrival: Int64)]) {
        var entries: [Entry] = []
        entries.reserveCapacity(records.count)
        for (i, r) in records.enumerated() {
            entries.append(Entry(index: UInt64(i), arrival: r.arrival, keyOffset: r.keyOffset, keyLength: r.keyLength, dataLength: r.dataLength))
        }
        self.init(buffer: bytes, entries: entries)
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The records of `range` (the same bytes, not copied).
    public func records(_ range: Range<Int>) -> RecordBatch {
        let part = Array(entries[range.clamped(to: 0..<entries.count)])
        switch storage {
        case .bytes(let b): return RecordBatch(buffer: b, entries: part)
        case .mapped(let m): return RecordBatch(mapped: m, entries: part)
        }
    }

    /// Sum of keys and data, as Kinesis counts the size of a response.
    public var payloadBytes: Int { entries.reduce(0) { $0 + $1.keyLength + $1.dataLength } }

    public func sequenceIndex(_ i: Int) -> UInt64 { entries[i].index }
    public func arrivalMillis(_ i: Int) -> Int64 { entries[i].arrival }
    public func partitionKey(_ i: Int) -> String {
        let e = entries[i]
        return withBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[e.keyOffset..<e.dataOffset]), as: UTF8.self) }
    }
    public func data(_ i: Int) -> [UInt8] {
        let e = entries[i]
        return withBytes { Array($0[e.dataOffset..<(e.dataOffset + e.dataLength)]) }
    }
    /// Calls `body` with each record's index, arrival time and data bytes, in order, without
    /// copying them (one access to the buffer for the whole batch).
    public func forEachRecord(_ body: (_ index: Int, _ arrival: Int64, _ data: UnsafeRawBufferPointer) throws -> Void) rethrows {
        try withBytes { raw in
            try entries.withUnsafeBufferPointer { es in
                for i in es.indices {
                    let e = es[i]
                    try body(i, e.arrival, UnsafeRawBufferPointer(rebasing: raw[e.dataOffset..<(e.dataOffset + e.dataLength)]))
                }
            }
        }
    }

    /// Calls `body` with the record's data bytes without copying them.
    public func withData<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let e = entries[i]
        return try withBytes { try body(UnsafeRawBufferPointer(rebasing: $0[e.dataOffset..<(e.dataOffset + e.dataLength)])) }
    }
}

/// The append-only log of one shard: a directory of segments (see `SegmentFormat`).
/// Thread-safe. `lock` guards what readers see: the segments, their committed sizes and indexes,
/// the next index. An append builds, checksums and writes its frames past the committed end
/// holding only `appendLock` (one append at a time), then publishes them under `lock`: readers
/// never wait for a write, and never see a frame before it is whole in the file. Whatever else
/// changes the segments (trimming, destroying, raising the next index) holds both. Lock order: a
/// stream's lock before its logs' locks, `appendLock` before `lock`.
final class ShardLog: @unchecked Sendable {
    let directory: String
    private let lock = NSLock()
    private let appendLock = NSLock()
    private var segments: [Segment] = []
    /// The sequence index the next record gets.
    private var _nextIndex: UInt64 = 0
    /// Arrival time of the newest record (arrivals never go backwards within a shard).
    private var _lastArrival: Int64 = 0
    private let segmentBytes: Int
    private let mapSegments: Bool
    private let writeBuffer = ByteBuffer()
    private var sealedUnsynced: [Segment] = []
    private var cursors: [(position: UInt64, base: UInt64, offset: Int)] = []
    /// What opening the log found damaged.
    private(set) var damage: [SegmentDamage] = []
    private var cursorNext = 0
    /// The mean size of the frames the last read went over: how much the next read asks for.
    private var meanFrameBytes = 256

    /// The sequence index the next record gets.
    var nextIndex: UInt64 { lock.locked { _nextIndex } }

    /// Opens (or creates) the log in `directory`, repairing a torn tail in the newest segment.
    init(directory: String, segmentBytes: Int, mapSegments: Bool = true, create: Bool) throws(StreamError) {
        self.directory = directory
        self.segmentBytes = segmentBytes
        self.mapSegments = mapSegments
        if create { try makeDirectory(directory) }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw StreamError(.storage, "cannot list \(directory): \(error.localizedDescription)")
        }
        var bases = names.compactMap(SegmentFormat.base(fromFileName:)).sorted()
        var i = 0
        while i < bases.count {
            let base = bases[i]
            let isLast = i == bases.count - 1
            let seg = try Segment.open(path: directory + "/" + SegmentFormat.fileName(base: base), base: base,
                                       repairTail: isLast)
            if let at = seg.damagedAt {
                let firstLost = seg.count > 0 ? seg.lastIndex + 1 : base
                if let valid = seg.validAfterDamage {
                    // Corruption with records after it: those are copied into a segment of their
                    // own (once; a later open finds it there), and the loss is reported.
                    // (Its base falls before the next segment's: a salvaged index is within reach
                    // of the last good one.)
                    if !bases.contains(valid.index), i + 1 == bases.count || valid.index < bases[i + 1] {
                        try ShardLog.copyFrames(of: seg, from: valid.offset, into: directory, base: valid.index)
                        bases.insert(valid.index, at: i + 1)
                    }
                    let lost = valid.index >= firstLost ? valid.index - firstLost : 0
                    damage.append(SegmentDamage(segment: seg.path, offset: at, lostRecords: Int(clamping: lost), firstLostIndex: firstLost,
                                                keptFrom: valid.index))
                } else {
                    damage.append(SegmentDamage(segment: seg.path, offset: at, lostRecords: nil, firstLostIndex: firstLost, keptFrom: nil))
                }
            }
            segments.append(seg)
            i += 1
        }
        if let last = segments.last {
            _nextIndex = last.count > 0 ? max(last.lastIndex + 1, last.base) : last.base
            _lastArrival = segments.last(where: { $0.count > 0 })?.lastArrival ?? 0
        } else {
            segments.append(try Segment.create(directory: directory, base: 0))
        }
    }

    /// Copies a damaged segment's frames from `offset` to its end into a new segment file.
    static func copyFrames(of seg: Segment, from offset: Int, into directory: String, base: UInt64) throws(StreamError) {
        let path = directory + "/" + SegmentFormat.fileName(base: base)
        let tmp = path + ".salvage"
        let fd = Glibc.open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StreamError.io("create", tmp) }
        defer { close(fd) }
        var header = [UInt8]()
        header.appendLE(SegmentFormat.magic)
        header.appendLE(SegmentFormat.version)
        header.appendLE(base)
        try writeAll(fd: fd, bytes: header, at: 0, path: tmp)
        var at = offset, out = SegmentFormat.headerBytes
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while at < seg.fileSize {
            let want = min(chunk.count, seg.fileSize - at)
            let n = chunk.withUnsafeMutableBytes { pread(seg.fd, $0.baseAddress, want, off_t(at)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw StreamError.io("read", seg.path) }
            let w = chunk.withUnsafeBytes { b in
                Result { () throws(StreamError) in try writeAll(fd: fd, bytes: UnsafeRawBufferPointer(rebasing: b[0..<n]), at: out, path: tmp) }
            }
            try w.get()
            at += n
            out += n
        }
        guard fsync(fd) == 0, rename(tmp, path) == 0 else { throw StreamError.io("save", path) }
        let dir = Glibc.open(directory, O_RDONLY | O_CLOEXEC)
        if dir >= 0 { _ = fsync(dir); close(dir) }
    }

    var recordCount: Int { lock.locked { segments.reduce(0) { $0 + $1.count } } }

    /// Raises the next index so that the next record's index is at least `index`.
    func ensureNextIndex(atLeast index: UInt64) {
        appendLock.locked { lock.locked { if _nextIndex < index { _nextIndex = index } } }
    }

    /// Appends records in order, each at the arrival time it asks for (`PutSource.arrival`), else
    /// at `now`, clamped so arrivals never go back. Returns the index of the first record and the
    /// arrival of each (`arrivals`, empty when all took `arrival`); the records get consecutive
    /// indexes. Nothing is acknowledged, or seen by readers, unless the bytes reached the file: on
    /// a write error the log is left as it was and the error is thrown.
    func append(entries: some PutSource, positions: some Collection<Int>, arrival now: Int64,
                syncNow: Bool) throws(StreamError) -> (first: UInt64, arrival: Int64, arrivals: [Int64]) {
        appendLock.lock()
        defer { appendLock.unlock() }
        // Only appends (holding `appendLock`) change the next index, the last arrival, the newest
        // segment and its size: they are read here without `lock`.
        var arrival = max(now, _lastArrival)
        let own = positions.first.map { entries.arrival($0) != nil } ?? false
        var arrivals: [Int64] = []
        if own {
            arrival = _lastArrival
            arrivals.reserveCapacity(positions.count)
        }
        let first = _nextIndex
        var index = first
        // The segments this append writes: the newest, and any it rolls over to.
        var written = [Written(segment: segments[segments.count - 1], isNew: false)]
        writeBuffer.count = 0
        var pending: [(index: UInt64, offset: Int, arrival: Int64)] = []
        pending.reserveCapacity(positions.count)
        do throws(StreamError) {
            for p in positions {
                let keyLen = entries.keyCount(p)
                let payloadLen = SegmentFormat.payloadFixedBytes + keyLen + entries.dataCount(p)
                let frameLen = SegmentFormat.frameHeaderBytes + payloadLen
                let w = written[written.count - 1]
                if w.end + writeBuffer.count + frameLen > segmentBytes && (w.segment.count > 0 || writeBuffer.count > 0) {
                    // Seal this segment and begin the next one at this record's index.
                    try flush(&written[written.count - 1], pending: &pending)
                    written.append(Written(segment: try Segment.create(directory: directory, base: index), isNew: true))
                }
                if own {
                    arrival = max(arrival, entries.arrival(p) ?? now)
                    arrivals.append(arrival)
                }
                pending.append((index, written[written.count - 1].end + writeBuffer.count, arrival))
                let dst = writeBuffer.grow(by: frameLen)
                dst.storeBytes(of: UInt32(payloadLen).littleEndian, toByteOffset: 0, as: UInt32.self)
                dst.storeBytes(of: index.littleEndian, toByteOffset: 8, as: UInt64.self)
                dst.storeBytes(of: UInt64(bitPattern: arrival).littleEndian, toByteOffset: 16, as: UInt64.self)
                dst.storeBytes(of: UInt16(keyLen).littleEndian, toByteOffset: 24, as: UInt16.self)
                let keyDst = dst + SegmentFormat.frameHeaderBytes + SegmentFormat.payloadFixedBytes
                entries.withRecord(p) { key, data in
                    if keyLen > 0 { keyDst.copyMemory(from: key.baseAddress!, byteCount: keyLen) }
                    if data.count > 0 { (keyDst + keyLen).copyMemory(from: data.baseAddress!, byteCount: data.count) }
                }
                index += 1  // (its checksum goes in as the frames are flushed, four at a time)
            }
            try flush(&written[written.count - 1], pending: &pending)
        } catch {
            // Back to the committed ends; segments begun here go.
            for w in written {
                if w.isNew { unlink(w.segment.path) } else { _ = ftruncate(w.segment.fd, off_t(w.segment.size)) }
            }
            writeBuffer.count = 0
            throw error
        }
        if syncNow {
            for w in written { _ = fdatasync(w.segment.fd) }
        }
        // Publish: readers see the frames from here on.
        lock.locked {
            for w in written {
                for (idx, off, arrival) in w.frames { w.segment.noteFrame(index: idx, arrival: arrival, offset: off) }
                w.segment.size = w.end
                if w.isNew { segments.append(w.segment) }
            }
            sealedUnsynced.append(contentsOf: written.dropLast().map(\.segment))
            if !syncNow { written[written.count - 1].segment.dirty = true }
            _nextIndex = index
            _lastArrival = arrival
        }
        return (first, arrival, arrivals)
    }

    /// A segment an append writes to: its frames written so far (not yet published) and where
    /// they end.
    private struct Written {
        let segment: Segment
        let isNew: Bool
        var end: Int
        var frames: [(index: UInt64, offset: Int, arrival: Int64)] = []
        init(segment: Segment, isNew: Bool) {
            self.segment = segment
            self.isNew = isNew
            end = segment.size
        }
    }

    /// Checksums the buffered frames and writes them at `w`'s end; they join `w.frames`.
    private func flush(_ w: inout Written, pending: inout [(index: UInt64, offset: Int, arrival: Int64)]) throws(StreamError) {
        guard writeBuffer.count > 0 else { return }
        // Each buffered frame's checksum of its payload, four frames side by side.
        let base = writeBuffer.base, at = w.end
        func payload(_ k: Int) -> UnsafeRawBufferPointer {
            let frame = base + (pending[k].offset - at)
            return UnsafeRawBufferPointer(start: frame + SegmentFormat.frameHeaderBytes, count: Int(UInt32(littleEndian: frame.loadUnaligned(as: UInt32.self))))
        }
        func seal(_ k: Int, _ crc: UInt32) { (base + (pending[k].offset - at)).storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self) }
        var k = 0
        while k + 4 <= pending.count {
            let c = CRC32C.checksums(payload(k), payload(k + 1), payload(k + 2), payload(k + 3))
            seal(k, c.0); seal(k + 1, c.1); seal(k + 2, c.2); seal(k + 3, c.3)
            k += 4
        }
        while k < pending.count {
            seal(k, CRC32C.checksum(payload(k)))
            k += 1
        }
        try writeAll(fd: w.segment.fd, bytes: UnsafeRawBufferPointer(start: writeBuffer.base, count: writeBuffer.count),
                     at: w.end, path: w.segment.path)
        w.frames.append(contentsOf: pending)
        w.end += writeBuffer.count
        writeBuffer.count = 0
        pending.removeAll(keepingCapacity: true)
    }

    /// Flushes written data to stable storage (for the fsync policy).
    func sync() {
        let (toSync, current): ([Segment], Segment?) = lock.locked {
            let sealed = sealedUnsynced
            sealedUnsynced.removeAll()
            let cur = segments.last
            if let c = cur, c.dirty {
                c.dirty = false
                return (sealed, c)
            }
            return (sealed, nil)
        }
        for s in toSync { _ = fdatasync(s.fd) }
        if let c = current { _ = fdatasync(c.fd) }
    }

    // MARK: Reading

    struct ReadOutcome {
        var batch: RecordBatch
        /// Where the next read continues (the next iterator's position).
        var nextPosition: UInt64
        /// Arrival of the first record not returned, if there is one (for MillisBehindLatest).
        var nextArrival: Int64?
        /// Every committed record up to the end of the log was looked at.
        var reachedEnd: Bool
    }

    /// Reads records with index >= `position`, skipping those that arrived before `minArrival`
    /// (trimmed by retention), up to `limit` records and `maxBytes` of keys and data.
    func read(from position: UInt64, limit: Int, maxBytes: Int, minArrival: Int64,
              shardName: String) throws(StreamError) -> ReadOutcome {
        // Where to begin and what the segments were, under the lock; the frames are then read
        // without it (committed bytes do not change, and appends publish only whole frames), so
        // an append never waits for a read, nor a read for an append's write.
        let (start, segments, perFrame) = lock.locked { (cursor(for: position) ?? locate(position), self.segments, meanFrameBytes) }
        guard var (segPos, offset) = start else {
            return ReadOutcome(batch: .empty, nextPosition: position, nextArrival: nil, reachedEnd: true)
        }
        // Read positions to remember for the next read, noted under the lock at the end.
        var remembered: [(position: UInt64, base: UInt64, offset: Int)] = []
        func remember(position: UInt64, base: UInt64, offset: Int) { remembered.append((position, base, offset)) }
        var buffer: [UInt8] = []
        var mapped: (file: MappedFile, from: Int, to: Int)? = nil
        var entries: [RecordBatch.Entry] = []
        entries.reserveCapacity(min(limit, 16_384))  // a read mostly fills its limit: no regrowing on the way
        var bytes = 0
        var nextPosition = position
        var nextArrival: Int64? = nil
        // Read about what the limit needs, by the frames' mean size so far: bytes read past the
        // last record returned are read again by the next call.
        func estimate(_ frames: Int) -> Int { min(16 << 20, max(4096, min(frames, 1 << 20) * perFrame + perFrame / 2 + 512)) }
        var chunk = estimate(limit)
        var framesSeen = 0, bytesSeen = 0
        var reachedEnd = false

        /// Takes the whole frames of `b` from `start` (which is at `fileOffset` in `seg`): how many
        /// bytes, and whether the read is over (the limit reached, or damage after some records).
        func frames(_ b: UnsafeRawBufferPointer, from start: Int, fileOffset: Int, _ seg: Segment, committed: Int) throws(StreamError) -> (Int, Bool) {
            var p = start
            var consumed = 0
            // The checksums of the next whole frames, computed four at a time: the three after
            // the one asked for wait here (their offsets in `b`, -1 for none, and checksums).
            var aheadAt = (-1, -1, -1), aheadCRC: (UInt32, UInt32, UInt32) = (0, 0, 0)
            func payload(at q: Int) -> UnsafeRawBufferPointer? {
                guard q + SegmentFormat.frameHeaderBytes <= b.count else { return nil }
                let n = Int(b.loadUnaligned(fromByteOffset: q, as: UInt32.self).littleEndian)
                guard n >= SegmentFormat.payloadFixedBytes, q + SegmentFormat.frameHeaderBytes + n <= b.count else { return nil }
                return UnsafeRawBufferPointer(rebasing: b[(q + SegmentFormat.frameHeaderBytes)..<(q + SegmentFormat.frameHeaderBytes + n)])
            }
            func checksum(at q: Int, _ body: UnsafeRawBufferPointer) -> UInt32 {
                if aheadAt.0 == q { return aheadCRC.0 }
                if aheadAt.1 == q { return aheadCRC.1 }
                if aheadAt.2 == q { return aheadCRC.2 }
                aheadAt = (-1, -1, -1)
                let h = SegmentFormat.frameHeaderBytes
                let q1 = q + h + body.count
                guard let b1 = payload(at: q1) else { return CRC32C.checksum(body) }
                let q2 = q1 + h + b1.count
                guard let b2 = payload(at: q2) else { return CRC32C.checksum(body) }
                let q3 = q2 + h + b2.count
                guard let b3 = payload(at: q3) else { return CRC32C.checksum(body) }
                let c = CRC32C.checksums(body, b1, b2, b3)
                aheadAt = (q1, q2, q3)
                aheadCRC = (c.1, c.2, c.3)
                return c.0
            }
            while p + SegmentFormat.frameHeaderBytes <= b.count {
                let payloadLen = Int(b.loadUnaligned(fromByteOffset: p, as: UInt32.self).littleEndian)
                let frameLen = SegmentFormat.frameHeaderBytes + payloadLen
                if p + frameLen > b.count {
                    if fileOffset + consumed + frameLen > committed || payloadLen < SegmentFormat.payloadFixedBytes {
                        throw corrupt(shardName, seg, fileOffset + consumed)
                    }
                    break
                }
                let crc = b.loadUnaligned(fromByteOffset: p + 4, as: UInt32.self).littleEndian
                let q = p + SegmentFormat.frameHeaderBytes
                guard payloadLen >= SegmentFormat.payloadFixedBytes,
                      checksum(at: p, UnsafeRawBufferPointer(rebasing: b[q..<(q + payloadLen)])) == crc else {
                    if entries.isEmpty { throw corrupt(shardName, seg, fileOffset + consumed) }
                    return (consumed, true)  // return what came before; the next read reports the damage
                }
                let index = b.loadUnaligned(fromByteOffset: q, as: UInt64.self).littleEndian
                let arrival = Int64(bitPattern: b.loadUnaligned(fromByteOffset: q + 8, as: UInt64.self).littleEndian)
                let keyLen = Int(b.loadUnaligned(fromByteOffset: q + 16, as: UInt16.self).littleEndian)
                let dataLen = payloadLen - SegmentFormat.payloadFixedBytes - keyLen
                if index >= position && arrival >= minArrival {
                    if entries.count >= limit || (bytes + keyLen + dataLen > maxBytes && !entries.isEmpty) {
                        nextPosition = index
                        nextArrival = arrival
                        remember(position: index, base: seg.base, offset: fileOffset + consumed)
                        return (consumed, true)
                    }
                    entries.append(.init(index: index, arrival: arrival, keyOffset: q + SegmentFormat.payloadFixedBytes,
                                         keyLength: keyLen, dataLength: dataLen))
                    bytes += keyLen + dataLen
                }
                nextPosition = max(nextPosition, index + 1)
                p += frameLen
                consumed += frameLen
                framesSeen += 1
                bytesSeen += frameLen
            }
            return (consumed, false)
        }

        var committed = 0
        outer: while segPos < segments.count {
            let seg = segments[segPos]
            let mapping: MappedFile?
            (committed, mapping) = lock.locked {
                (seg.size, mapSegments && offset < seg.size ? seg.mapping(through: seg.size, reserve: segmentBytes) : nil)
            }
            if let file = mapping {
                // The frames where they lie in the segment's mapping: nothing copied.
                let (consumed, over) = try frames(UnsafeRawBufferPointer(rebasing: file.bytes[0..<committed]), from: offset,
                                                  fileOffset: offset, seg, committed: committed)
                if !entries.isEmpty { mapped = (file, offset, offset + consumed) }
                if over { break outer }
                offset += consumed
            }
            while offset < committed {
                // Bring at least one whole frame into the buffer.
                let bufStart = buffer.count
                let want = min(committed - offset, chunk)
                try readInto(&buffer, fd: seg.fd, at: offset, count: want, path: seg.path)
                let taken = buffer.withUnsafeBytes { b in
                    Result { () throws(StreamError) in try frames(b, from: bufStart, fileOffset: offset, seg, committed: committed) }
                }
                let (consumed, over) = try taken.get()
                if over { break outer }
                // The next chunk: what the records still wanted need, and at least the frame cut short.
                chunk = estimate(limit - entries.count)
                let p = bufStart + consumed
                if p + SegmentFormat.frameHeaderBytes <= buffer.count {
                    chunk = max(chunk, min(committed - offset - consumed, SegmentFormat.frameHeaderBytes + Int(buffer.loadLE(UInt32.self, at: p))))
                }
                // Drop a partial frame from the buffer; it is read again with the next chunk.
                buffer.removeSubrange((bufStart + consumed)...)
                offset += consumed
            }
            segPos += 1
            offset = SegmentFormat.headerBytes
            if segPos == segments.count {
                reachedEnd = true
            } else if !entries.isEmpty {
                // A read's records come from one segment (one buffer or one mapping): the next
                // read goes on from the next segment.
                let next = segments[segPos]
                if let first = lock.locked({ next.count > 0 ? next.firstArrival : nil }) { nextArrival = first }
                remember(position: nextPosition, base: next.base, offset: offset)
                break outer
            }
        }
        if reachedEnd, let last = segments.last {
            remember(position: nextPosition, base: last.base, offset: committed)
        }
        lock.locked {
            if framesSeen > 0 { meanFrameBytes = max(64, (bytesSeen + framesSeen / 2) / framesSeen) }
            for r in remembered { self.remember(position: r.position, base: r.base, offset: r.offset) }
        }
        let batch = mapped.map { RecordBatch(mapped: MappedRange(file: $0.file, from: $0.from, to: $0.to), entries: entries) }
            ?? RecordBatch(buffer: buffer, entries: entries)
        return ReadOutcome(batch: batch, nextPosition: nextPosition, nextArrival: nextArrival, reachedEnd: reachedEnd)
    }

    private func corrupt(_ shard: String, _ seg: Segment, _ offset: Int) -> StreamError {
        StreamError(.internalFailure, "Corrupt record in \(shard) (segment \(seg.path), byte \(offset)); it is not returned.")
    }

    /// Appends up to `count` bytes of the file at `offset` (fewer at its end). The bytes are read
    /// straight into new storage, with what the buffer held copied before them: nothing is
    /// zero-filled first.
    private func readInto(_ buffer: inout [UInt8], fd: Int32, at offset: Int, count: Int, path: String) throws(StreamError) {
        let start = buffer.count
        var failed = false
        let grown = [UInt8](unsafeUninitializedCapacity: start + count) { out, initialized in
            let base = out.baseAddress!
            buffer.withUnsafeBufferPointer { old in
                if let o = old.baseAddress, start > 0 { base.initialize(from: o, count: start) }
            }
            var got = 0
            while got < count {
                let n = pread(fd, base + start + got, count - got, off_t(offset + got))
                if n < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    break
                }
                if n == 0 { break }
                got += n
            }
            initialized = start + got
        }
        if failed { throw StreamError.io("read", path) }
        buffer = grown
    }

    /// A remembered read position: (segment index in `segments`, byte offset).
    private func cursor(for position: UInt64) -> (Int, Int)? {
        guard let c = cursors.first(where: { $0.position == position }),
              let i = segmentPosition(base: c.base)
        else { return nil }
        return (i, c.offset)
    }

    private func remember(position: UInt64, base: UInt64, offset: Int) {
        let entry = (position, base, offset)
        if let i = cursors.firstIndex(where: { $0.position == position }) {
            cursors[i] = entry
        } else if cursors.count < 16 {
            cursors.append(entry)
        } else {
            cursors[cursorNext] = entry
            cursorNext = (cursorNext + 1) % 16
        }
    }

    private func segmentPosition(base: UInt64) -> Int? {
        var lo = 0, hi = segments.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if segments[mid].base == base { return mid }
            if segments[mid].base < base { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }

    /// The segment and byte offset of the first record with index >= `target`, or nil past the end.
    private func locate(_ target: UInt64) -> (Int, Int)? {
        guard let i = segments.firstIndex(where: { $0.count > 0 && $0.lastIndex >= target }) else { return nil }
        let seg = segments[i]
        if target <= seg.firstIndex { return (i, SegmentFormat.headerBytes) }
        // Last sparse entry at or before the target, then walk frame headers.
        var lo = 0, hi = seg.sparse.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if seg.sparse[mid].index <= target { lo = mid } else { hi = mid - 1 }
        }
        return (i, walk(seg, from: seg.sparse[lo].offset) { index, _ in index >= target })
    }

    /// Walks frames from `offset` and returns the offset of the first frame matching `stop`
    /// (or the committed end).
    private func walk(_ seg: Segment, from start: Int, stop: (UInt64, Int64) -> Bool) -> Int {
        var offset = start
        var header = [UInt8](repeating: 0, count: SegmentFormat.frameHeaderBytes + 16)
        while offset + header.count <= seg.size {
            let n = header.withUnsafeMutableBytes { pread(seg.fd, $0.baseAddress, $0.count, off_t(offset)) }
            guard n == header.count else { break }
            let index = header.loadLE(UInt64.self, at: 8)
            let arrival = Int64(bitPattern: header.loadLE(UInt64.self, at: 16))
            if stop(index, arrival) { return offset }
            offset += SegmentFormat.frameHeaderBytes + Int(header.loadLE(UInt32.self, at: 0))
        }
        return min(offset, seg.size)
    }

    /// The index of the first record that arrived at or after `millis` (the next index if none).
    func firstIndex(arrivedAtOrAfter millis: Int64) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        guard let i = segments.firstIndex(where: { $0.count > 0 && $0.lastArrival >= millis }) else { return _nextIndex }
        let seg = segments[i]
        if seg.firstArrival >= millis { return seg.firstIndex }
        var lo = 0, hi = seg.sparse.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if seg.sparse[mid].arrival < millis { lo = mid } else { hi = mid - 1 }
        }
        let off = walk(seg, from: seg.sparse[lo].offset) { _, arrival in arrival >= millis }
        var header = [UInt8](repeating: 0, count: 16)
        let n = header.withUnsafeMutableBytes { pread(seg.fd, $0.baseAddress, 16, off_t(off)) }
        return n == 16 ? header.loadLE(UInt64.self, at: 8) : _nextIndex
    }

    // MARK: Retention

    /// Deletes segments whose every record arrived before `horizon`. The newest segment is never
    /// deleted while it holds the next index: when it has expired it is replaced by an empty one.
    /// Returns the number of records removed.
    @discardableResult
    func trim(before horizon: Int64) throws(StreamError) -> Int {
        appendLock.lock()
        defer { appendLock.unlock() }
        lock.lock()
        defer { lock.unlock() }
        if let last = segments.last, last.count > 0, last.lastArrival < horizon {
            segments.append(try Segment.create(directory: directory, base: _nextIndex))
        }
        var removed = 0
        while segments.count > 1, segments[0].count == 0 || segments[0].lastArrival < horizon {
            let seg = segments.removeFirst()
            removed += seg.count
            unlink(seg.path)
            sealedUnsynced.removeAll { $0 === seg }
        }
        cursors.removeAll()
        return removed
    }

    /// Removes the whole log from disk (an expired or deleted shard).
    func destroy() {
        appendLock.locked { lock.locked {
            segments.removeAll()
            sealedUnsynced.removeAll()
            try? FileManager.default.removeItem(atPath: directory)
        } }
    }
}

func makeDirectory(_ path: String) throws(StreamError) {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw StreamError(.storage, "cannot create directory \(path): \(error.localizedDescription)")
    }
}

/// A growable byte buffer in manually managed memory: frames are encoded straight into it.
final class ByteBuffer {
    private(set) var base: UnsafeMutableRawPointer
    private var capacity: Int
    var count = 0

    init(capacity: Int = 1 << 16) {
        self.capacity = capacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    /// Extends the buffer by `n` uninitialised bytes and returns where they start.
    @inline(__always)
    func grow(by n: Int) -> UnsafeMutableRawPointer {
        if count + n > capacity {
            var c = capacity * 2
            while c < count + n { c *= 2 }
            let b = UnsafeMutableRawPointer.allocate(byteCount: c, alignment: 16)
            b.copyMemory(from: base, byteCount: count)
            base.deallocate()
            base = b
            capacity = c
        }
        let p = base + count
        count += n
        return p
    }
}
