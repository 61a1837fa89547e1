import Foundation
import SluiceChecksum
import Glibc

/// On-disk layout of a shard's log.
///
/// A shard is a directory of segment files `<base index, 20 digits>.seg`. A segment starts with a
/// 16-byte header (`SLSG`, format version, base index) followed by record frames:
///
///     u32 payload length | u32 CRC-32C of the payload | payload
///     payload = u64 sequence index | i64 arrival ms | u16 key length | key (UTF-8) | data
///
/// All integers little-endian. Frames are only ever appended; a segment is sealed when it reaches
/// its size limit and a new one begins. The base index in a file name is the sequence index the
/// segment began at, so the next index survives even when every record has been trimmed.
enum SegmentFormat {
    static let magic: UInt32 = 0x4753_4C53  // "SLSG" little-endian
    static let version: UInt32 = 1
    static let headerBytes = 16
    static let frameHeaderBytes = 8
    static let payloadFixedBytes = 18
    /// Frames are indexed sparsely: one entry per this many records.
    static let sparseEvery = 64

    static func fileName(base: UInt64) -> String {
        let s = String(base)
        return String(repeating: "0", count: 20 - s.count) + s + ".seg"
    }

    static func base(fromFileName name: String) -> UInt64? {
        guard name.hasSuffix(".seg"), name.utf8.count == 24 else { return nil }
        return UInt64(name.prefix(20))
    }
}

/// A posting in a segment's sparse index.
struct SparseEntry {
    var index: UInt64
    var offset: Int
    var arrival: Int64
}

/// One segment file. Owned by its `ShardLog`; every mutation happens under the log's lock.
/// Readers may keep a reference after the log drops it (trimmed): the descriptor closes on deinit.
final class Segment: @unchecked Sendable {
    let path: String
    let base: UInt64
    let fd: Int32
    /// Bytes committed (header and whole frames); everything below is immutable.
    var size: Int
    var count = 0
    var firstIndex: UInt64 = 0
    var lastIndex: UInt64 = 0
    var firstArrival: Int64 = 0
    var lastArrival: Int64 = 0
    var sparse: [SparseEntry] = []
    var dirty = false
    /// Where the segment turned out to be damaged when it was opened: the segment ends there
    /// (frames from here on are not served from this file).
    var damagedAt: Int? = nil
    /// Valid frames found after the damage: where the first starts and its sequence index. They
    /// are copied into a segment of their own (named by that index) so they stay readable.
    var validAfterDamage: (offset: Int, index: UInt64)? = nil
    /// The bytes of the file when it was opened.
    var fileSize = 0

    init(path: String, base: UInt64, fd: Int32, size: Int) {
        self.path = path
        self.base = base
        self.fd = fd
        self.size = size
    }

    /// A read-only mapping of the file, made by the first read that wants one (under the log's lock).
    private var mapped: MappedFile? = nil
    /// The system refused to map the file once (too many mappings, say): reads copy, and do not
    /// ask again.
    private var unmappable = false

    deinit { close(fd) }

    /// A mapping of the file that covers its first `size` bytes: the one made before if it is
    /// long enough, else a new one of at least `reserve` bytes (room for the segment to grow to
    /// its limit). Nil when the system will not map it (reads then copy). Bytes past `size` are
    /// not to be touched: they may lie past the end of the file.
    func mapping(through size: Int, reserve: Int) -> MappedFile? {
        if let m = mapped, m.bytes.count >= size { return m }
        guard !unmappable else { return nil }
        mapped = MappedFile(fd: fd, length: max(size, reserve))
        unmappable = mapped == nil
        return mapped
    }

    /// Notes a frame that now sits at `offset` (called in append order).
    func noteFrame(index: UInt64, arrival: Int64, offset: Int) {
        if count == 0 {
            firstIndex = index
            firstArrival = arrival
        }
        if count % SegmentFormat.sparseEvery == 0 {
            sparse.append(SparseEntry(index: index, offset: offset, arrival: arrival))
        }
        lastIndex = index
        lastArrival = arrival
        count += 1
    }

    /// Creates a new, empty segment file.
    static func create(directory: String, base: UInt64) throws(StreamError) -> Segment {
        let path = directory + "/" + SegmentFormat.fileName(base: base)
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StreamError.io("create", path) }
        var header = [UInt8]()
        header.appendLE(SegmentFormat.magic)
        header.appendLE(SegmentFormat.version)
        header.appendLE(base)
        do throws(StreamError) {
            try writeAll(fd: fd, bytes: header, at: 0, path: path)
        } catch {
            close(fd)
            throw error
        }
        return Segment(path: path, base: base, fd: fd, size: SegmentFormat.headerBytes)
    }

    /// Opens an existing segment and indexes its frames. A bad frame (a partial frame, a bad
    /// checksum, a frame out of order) with no valid frame after it is a torn tail: in the newest
    /// segment (`repairTail`) it is a write the process did not finish and is cut off the file.
    /// Damage followed by valid frames is corruption, never cut: the segment ends at the damage
    /// (`damagedAt`), and `validAfterDamage` says where the frames after it begin, so that the
    /// log keeps them readable. A sealed segment's file is never changed.
    static func open(path: String, base: UInt64, repairTail: Bool) throws(StreamError) -> Segment {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw StreamError.io("open", path) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw StreamError.io("stat", path)
        }
        let fileSize = Int(st.st_size)
        let seg = Segment(path: path, base: base, fd: fd, size: SegmentFormat.headerBytes)
        // Header: when torn or foreign, the segment holds nothing usable.
        var header = [UInt8](repeating: 0, count: SegmentFormat.headerBytes)
        let got = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, SegmentFormat.headerBytes, 0) }
        let headerOK = got == SegmentFormat.headerBytes && header.loadLE(UInt32.self, at: 0) == SegmentFormat.magic
            && header.loadLE(UInt64.self, at: 8) == base
        if !headerOK {
            guard repairTail else { throw StreamError(.storage, "segment \(path) has a bad header") }
            // Rewrite the header: the segment was created but the crash came before its header landed.
            var h = [UInt8]()
            h.appendLE(SegmentFormat.magic)
            h.appendLE(SegmentFormat.version)
            h.appendLE(base)
            _ = ftruncate(fd, 0)
            try writeAll(fd: fd, bytes: h, at: 0, path: path)
            return seg
        }
        // Scan frames in 1 MiB chunks.
        var offset = SegmentFormat.headerBytes
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var chunkStart = offset
        var chunkLen = 0
        var previous: UInt64? = nil
        scan: while offset < fileSize {
            // Make sure the frame header is in the chunk.
            if offset + SegmentFormat.frameHeaderBytes > chunkStart + chunkLen {
                chunkStart = offset
                chunkLen = try readChunk(fd: fd, into: &chunk, at: offset, limit: fileSize - offset, path: path)
                if chunkLen < SegmentFormat.frameHeaderBytes { break scan }
            }
            let rel = offset - chunkStart
            let payloadLen = Int(chunk.loadLE(UInt32.self, at: rel))
            let crc = chunk.loadLE(UInt32.self, at: rel + 4)
            let frameLen = SegmentFormat.frameHeaderBytes + payloadLen
            guard payloadLen >= SegmentFormat.payloadFixedBytes, payloadLen <= 16 << 20,
                  offset + frameLen <= fileSize
            else { break scan }
            if offset + frameLen > chunkStart + chunkLen {
                if frameLen > chunk.count { chunk = [UInt8](repeating: 0, count: frameLen) }
                chunkStart = offset
                chunkLen = try readChunk(fd: fd, into: &chunk, at: offset, limit: fileSize - offset, path: path)
                if chunkLen < frameLen { break scan }
            }
            let p = offset - chunkStart + SegmentFormat.frameHeaderBytes
            let actual = chunk.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[p..<(p + payloadLen)])) }
            guard actual == crc else { break scan }
            let index = chunk.loadLE(UInt64.self, at: p)
            let arrival = Int64(bitPattern: chunk.loadLE(UInt64.self, at: p + 8))
            let keyLen = Int(chunk.loadLE(UInt16.self, at: p + 16))
            guard SegmentFormat.payloadFixedBytes + keyLen <= payloadLen, index >= base,
                  previous.map({ index > $0 }) ?? true
            else { break scan }
            previous = index
            seg.noteFrame(index: index, arrival: arrival, offset: offset)
            offset += frameLen
        }
        seg.size = offset
        seg.fileSize = fileSize
        if offset < fileSize {
            let resync = try findValidFrame(fd: fd, path: path, after: offset, fileSize: fileSize,
                                            previous: previous, lastArrival: seg.count > 0 ? seg.lastArrival : Int64.min, base: base)
            var tornTail = false
            if case .none = resync { tornTail = true }
            guard repairTail, tornTail else {
                // Corruption, or damage in a sealed segment: keep the trustworthy prefix, say where
                // it ends, and where the frames after it begin.
                seg.damagedAt = offset
                if case .found(let at, let index) = resync { seg.validAfterDamage = (at, index) }
                return seg
            }
            guard ftruncate(fd, off_t(offset)) == 0 else { throw StreamError.io("truncate", path) }
            _ = fsync(fd)
            seg.fileSize = offset
        }
        return seg
    }

    /// The first offset after `damaged` where a valid frame starts and is followed by valid
    /// frames to the end of the file (or to a torn tail, or to more damage after at least two
    /// frames); nil when there is none (a torn tail). A frame is valid when its checksum holds,
    /// its arrival is not before the last good one, and its sequence index comes after the last
    /// good one by no more than the damaged bytes could have held (a frame takes at least 26
    /// bytes): frames found inside a record's data, with made-up indexes, are not taken. The
    /// checksums computed are bounded (`budget` bytes): past it the search gives up, and the
    /// segment is treated as damaged with nothing kept after the damage, never cut.
    static func findValidFrame(fd: Int32, path: String, after damaged: Int, fileSize: Int, previous: UInt64?,
                               lastArrival: Int64, base: UInt64, budget: Int = 256 << 20) throws(StreamError) -> Resync {
        var rest = [UInt8](repeating: 0, count: fileSize - damaged)
        let got = try readChunk(fd: fd, into: &rest, at: damaged, limit: rest.count, path: path)
        guard got == rest.count else { return .none }
        let firstPossible = previous.map { $0 + 1 } ?? base
        let minFrame = SegmentFormat.frameHeaderBytes + SegmentFormat.payloadFixedBytes
        var spent = 0
        enum Frame { case valid(length: Int, index: UInt64, arrival: Int64), incomplete, invalid }
        func frame(_ at: Int, after last: UInt64?, lowest: UInt64, highest: UInt64, arrivalFrom: Int64) -> Frame {
            guard at + SegmentFormat.frameHeaderBytes <= rest.count else { return at == rest.count ? .invalid : .incomplete }
            let payloadLen = Int(rest.loadLE(UInt32.self, at: at))
            guard payloadLen >= SegmentFormat.payloadFixedBytes, payloadLen <= 16 << 20 else { return .invalid }
            guard at + SegmentFormat.frameHeaderBytes + payloadLen <= rest.count else { return .incomplete }
            let p = at + SegmentFormat.frameHeaderBytes
            let index = rest.loadLE(UInt64.self, at: p)
            let arrival = Int64(bitPattern: rest.loadLE(UInt64.self, at: p + 8))
            let keyLen = Int(rest.loadLE(UInt16.self, at: p + 16))
            guard index >= lowest, index <= highest, last.map({ index > $0 }) ?? true, arrival >= arrivalFrom,
                  SegmentFormat.payloadFixedBytes + keyLen <= payloadLen else { return .invalid }
            spent += payloadLen
            let crc = rest.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[p..<(p + payloadLen)])) }
            guard crc == rest.loadLE(UInt32.self, at: at + 4) else { return .invalid }
            return .valid(length: SegmentFormat.frameHeaderBytes + payloadLen, index: index, arrival: arrival)
        }
        var candidate = 1
        while candidate + minFrame <= rest.count {
            if spent > budget { return .gaveUp }
            // At most one record per 26 damaged bytes can have been lost before this one.
            let highest = firstPossible &+ UInt64(candidate / minFrame + 1)
            if case .valid(let length, let index, let arrival) = frame(candidate, after: previous, lowest: firstPossible, highest: highest, arrivalFrom: lastArrival) {
                var at = candidate + length, frames = 1, last = (index: index, arrival: arrival)
                var ending = Frame.invalid
                while true {
                    let f = frame(at, after: last.index, lowest: last.index + 1, highest: last.index + 1, arrivalFrom: last.arrival)
                    guard case .valid(let l, let i, let a) = f else { ending = f; break }
                    at += l
                    frames += 1
                    last = (i, a)
                }
                if at == rest.count || frames >= 2 || (frames == 1 && { if case .incomplete = ending { return true }; return false }()) {
                    return .found(offset: damaged + candidate, index: index)
                }
            }
            candidate += 1
        }
        return .none
    }

    /// What the search for valid frames after damage found.
    enum Resync {
        case found(offset: Int, index: UInt64)
        case none
        case gaveUp
    }

    private static func readChunk(fd: Int32, into chunk: inout [UInt8], at offset: Int, limit: Int,
                                  path: String) throws(StreamError) -> Int {
        let want = min(chunk.count, limit)
        var got = 0
        while got < want {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, want - got, off_t(offset + got)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StreamError.io("read", path)
            }
            if n == 0 { break }
            got += n
        }
        return got
    }
}

func writeAll(fd: Int32, bytes: [UInt8], at offset: Int, path: String) throws(StreamError) {
    let r = bytes.withUnsafeBytes { b in Result { () throws(StreamError) in try writeAll(fd: fd, bytes: b, at: offset, path: path) } }
    try r.get()
}

func writeAll(fd: Int32, bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(StreamError) {
    var done = 0
    while done < bytes.count {
        let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
        if n < 0 {
            if errno == EINTR { continue }
            throw StreamError.io("write", path)
        }
        done += n
    }
}

extension StreamError {
    static func io(_ op: String, _ path: String) -> StreamError {
        let e = errno
        return StreamError(.storage, "cannot \(op) \(path): \(String(cString: strerror(e)))")
    }
}

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }

    @inline(__always)
    func loadLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}

/// A read-only shared mapping of a segment file; unmapped when the last batch reading from it
/// and its segment are gone (a trimmed segment's records stay readable until then).
final class MappedFile: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer

    init?(fd: Int32, length: Int) {
        guard length > 0, let p = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else { return nil }
        bytes = UnsafeRawBufferPointer(start: p, count: length)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), bytes.count) }
}

/// The part of a mapping one read's records lie in. When the batch is done with, the whole pages
/// of that part leave the process's resident memory (they stay in the page cache, and a later
/// read maps them again): reading a stream through does not grow the process by its size.
final class MappedRange: @unchecked Sendable {
    let file: MappedFile
    let range: Range<Int>

    init(file: MappedFile, from: Int, to: Int) {
        self.file = file
        range = from..<to
    }

    static let page = Int(sysconf(Int32(_SC_PAGESIZE)))

    deinit {
        let lo = (range.lowerBound + MappedRange.page - 1) / MappedRange.page * MappedRange.page
        let hi = range.upperBound / MappedRange.page * MappedRange.page
        if hi > lo { _ = madvise(UnsafeMutableRawPointer(mutating: file.bytes.baseAddress! + lo), hi - lo, MADV_DONTNEED) }
    }
}
