import Glibc

/// Reads a file's lines in 128 KiB chunks (memchr finds the newlines), calling `body` with each
/// non-empty line without its line break. Memory stays at one chunk plus the longest line.
/// `chunk` is called before each chunk is read (to take one clock reading per chunk, say).
func forEachLine(_ path: String, chunk onChunk: () -> Void = {}, _ body: (UnsafeRawBufferPointer) throws(EngineError) -> Void) throws(EngineError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw EngineError(message: "cannot read \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 1 << 17)
    var carry: [UInt8] = []
    func emit(_ line: UnsafeRawBufferPointer) throws(EngineError) {
        var n = line.count
        if n > 0 && line[n - 1] == 13 { n -= 1 }
        if n > 0 { try body(UnsafeRawBufferPointer(rebasing: line[0..<n])) }
    }
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
