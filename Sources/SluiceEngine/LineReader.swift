import Glibc
import SluiceCodecs

/// Reads a file's lines (memchr finds the newlines), calling `body` with each non-empty line
/// without its line break: a regular file through a read-only mapping, a megabyte at a time, the
/// pages behind given back; anything else (a pipe) in 128 KiB chunks. Memory stays at a chunk plus
/// the longest line. `chunk` is called before each chunk (to take one clock reading per chunk, say).
/// A mapped file that shrinks while it is read is an error, not a crash: the size is checked before
/// each chunk.
func forEachLine(_ path: String, chunk onChunk: () -> Void = {}, _ body: (UnsafeRawBufferPointer) throws(EngineError) -> Void) throws(EngineError) {
    try forEachNumberedLine(path, chunk: onChunk) { line, _ throws(EngineError) in try body(line) }
}

/// `forEachLine`, with each line's number in the file (1 for the first; empty lines count).
func forEachNumberedLine(_ path: String, chunk onChunk: () -> Void = {}, _ body: (UnsafeRawBufferPointer, Int) throws(EngineError) -> Void) throws(EngineError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw EngineError(message: "cannot read \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var lineNumber = 0
    func emit(_ line: UnsafeRawBufferPointer) throws(EngineError) {
        lineNumber += 1
        var n = line.count
        if n > 0 && line[n - 1] == 13 { n -= 1 }
        if n > 0 { try body(UnsafeRawBufferPointer(rebasing: line[0..<n]), lineNumber) }
    }
    // A regular file is mapped and its lines read in place: no copy out of the page cache.
    var st = stat()
    if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0,
       let map = mmap(nil, Int(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED {
        defer { munmap(map, Int(st.st_size)) }
        _ = madvise(map, Int(st.st_size), MADV_SEQUENTIAL)
        let all = UnsafeRawBufferPointer(start: map, count: Int(st.st_size))
        let step = 1 << 20
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var start = 0, end = 0, released = 0
        var scan = 0  // where the search for the next line break goes on (a long line is not searched twice)
        let base = all.baseAddress!
        while start < all.count {
            // Pages of lines already read leave this process's resident memory (they stay in the
            // page cache): memory does not grow with the file. (16 MB at a time: each release
            // interrupts the process's other threads to drop the pages from their view.)
            let done = start / page * page
            if done - released >= 16 * step {
                _ = madvise(map + released, done - released, MADV_DONTNEED)
                released = done
            }
            var now = stat()
            if fstat(fd, &now) == 0, Int(now.st_size) < all.count {
                throw EngineError(message: "cannot read \(path): it shrank from \(all.count) to \(now.st_size) bytes while it was being read")
            }
            onChunk()
            // The lines that end in the next megabyte (a longer line takes more rounds).
            end = min(all.count, max(end, start) + step)
            scan = max(scan, start)
            while scan < end, let hit = memchr(base + scan, 10, end - scan) {
                let i = base.distance(to: UnsafeRawPointer(hit))
                try emit(UnsafeRawBufferPointer(rebasing: all[start..<i]))
                start = i + 1
                scan = start
            }
            scan = max(scan, end)
            if end == all.count && start < end {
                try emit(UnsafeRawBufferPointer(rebasing: all[start...]))
                start = all.count
            }
        }
        return
    }
    var buffer = [UInt8](repeating: 0, count: 1 << 17)
    var carry: [UInt8] = []
    func emitArray(_ a: [UInt8]) throws(EngineError) {
        let r = a.withUnsafeBytes { l in Result { () throws(EngineError) in try emit(l) } }
        try r.get()
    }
    while true {
        onChunk()
        let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if got < 0 {
            if errno == EINTR { continue }
            throw EngineError(message: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        if got == 0 { break }
        let failure: EngineError? = buffer.withUnsafeBytes { buf in
            let base = buf.baseAddress!
            var start = 0
            do throws(EngineError) {
                while start < got, let hit = memchr(base + start, 10, got - start) {
                    let i = base.distance(to: UnsafeRawPointer(hit))
                    if carry.isEmpty {
                        try emit(UnsafeRawBufferPointer(rebasing: buf[start..<i]))
                    } else {
                        carry.append(contentsOf: buf[start..<i])
                        let line = carry
                        carry.removeAll(keepingCapacity: true)
                        try emitArray(line)
                    }
                    start = i + 1
                }
            } catch {
                return error
            }
            carry.append(contentsOf: buf[start..<got])
            return nil
        }
        if let f = failure { throw f }
    }
    if !carry.isEmpty { try emitArray(carry) }
}

/// The records of a CSV file: lines, except that a quoted field may hold line breaks (RFC 4180),
/// so a line that ends inside quotes goes on with the next (joined by a newline). `body` gets
/// each record and the number of its first line. A record left open at the end of the file, or
/// grown past `maxRecordBytes` (a stray quote), is not a record: its first line is handed over
/// alone (its decoder reports the unterminated quote) and reading resumes at the line after it.
/// The header, if any, is the first record.
func forEachCSVRecord(_ path: String, delimiter: UInt8, maxRecordBytes: Int = 1 << 20, chunk onChunk: () -> Void = {},
                      _ body: (UnsafeRawBufferPointer, Int) throws(EngineError) -> Void) throws(EngineError) {
    /// The lines of a record still open, with their numbers, their bytes in all, and whether the
    /// last one ended inside quotes.
    var open: [([UInt8], Int)] = []
    var openBytes = 0
    var openInside = false
    func hand(_ record: [UInt8], _ line: Int) throws(EngineError) {
        let r = record.withUnsafeBytes { b in Result { () throws(EngineError) in try body(b, line) } }
        try r.get()
    }
    /// One line through the state: a record is complete, goes on, or (too long) gives up its
    /// first line and has the rest read again.
    func feed(_ line: UnsafeRawBufferPointer, _ number: Int) throws(EngineError) {
        if open.isEmpty {
            if !CSVRecordDecoder.endsInsideQuotes(line, delimiter: delimiter) { try body(line, number); return }
            open = [(Array(line), number)]
            openBytes = line.count
            openInside = true
            return
        }
        open.append((Array(line), number))
        openBytes += line.count + 1
        openInside = CSVRecordDecoder.endsInsideQuotes(line, delimiter: delimiter, startingInside: openInside)
        if !openInside {
            try hand(joined(), open[0].1)
            open = []
            openBytes = 0
        } else if openBytes > maxRecordBytes {
            try giveUpFirst()
        }
    }
    /// The open record's lines joined as the file has them (empty lines included).
    func joined() -> [UInt8] {
        var out: [UInt8] = []
        var last = open[0].1
        for (k, l) in open.enumerated() {
            if k > 0 { for _ in last..<l.1 { out.append(10) } }
            out += l.0
            last = l.1
        }
        return out
    }
    func giveUpFirst() throws(EngineError) {
        let rest = Array(open.dropFirst())
        try hand(open[0].0, open[0].1)
        open = []
        openBytes = 0
        openInside = false
        for (l, n) in rest {
            let r = l.withUnsafeBytes { b in Result { () throws(EngineError) in try feed(b, n) } }
            try r.get()
        }
    }
    try forEachNumberedLine(path, chunk: onChunk) { line, number throws(EngineError) in
        try feed(line, number)
    }
    while !open.isEmpty { try giveUpFirst() }
}
