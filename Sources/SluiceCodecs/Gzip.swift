import CZlib

/// A gzip member written incrementally through zlib (`deflate` with a gzip header): bytes in,
/// compressed bytes appended to `output`. One writer per file; not thread-safe.
public final class GzipWriter {
    private var stream = z_stream()
    private var finished = false
    /// Compressed bytes not yet taken by `take()`.
    public private(set) var output: [UInt8] = []
    /// Bytes given to `write` so far.
    public private(set) var inputBytes = 0
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)

    /// `level` 0 (store) to 9 (smallest); 6 is gzip's default.
    public init(level: Int32 = 6) {
        // windowBits 15 + 16: a gzip header and trailer instead of a zlib one.
        let status = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        precondition(status == Z_OK, "zlib deflateInit2 failed (\(status))")
    }

    deinit { deflateEnd(&stream) }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        precondition(!finished, "write after finish")
        guard bytes.count > 0 else { return }
        inputBytes += bytes.count
        stream.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(bytes.count)
        run(Z_NO_FLUSH)
    }

    public func write(_ bytes: [UInt8]) { bytes.withUnsafeBytes { write($0) } }

    /// Ends the member (the trailer with CRC-32 and length); nothing more may be written.
    public func finish() {
        guard !finished else { return }
        stream.next_in = nil
        stream.avail_in = 0
        run(Z_FINISH)
        finished = true
    }

    /// Takes the compressed bytes produced so far.
    public func take() -> [UInt8] {
        defer { output.removeAll(keepingCapacity: true) }
        return output
    }

    private func run(_ flush: Int32) {
        while true {
            let (status, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                let s = deflate(&stream, flush)
                return (s, out.count - Int(stream.avail_out))
            }
            precondition(status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR, "zlib deflate failed (\(status))")
            output.append(contentsOf: chunk[0..<produced])
            if flush == Z_FINISH ? status == Z_STREAM_END : (stream.avail_in == 0 && produced < chunk.count) { break }
        }
    }

    /// The whole of `bytes` as one gzip member.
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        let w = GzipWriter(level: level)
        w.write(bytes)
        w.finish()
        return w.take()
    }
}

public enum Gzip {
    /// Decompresses gzip data (every member, one after another); nil if it is not valid gzip.
    public static func decompress(_ bytes: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return bytes.withUnsafeBytes { (input: UnsafeRawBufferPointer) -> [UInt8]? in
            guard let base = input.baseAddress else { return [] }
            var offset = 0
            while offset < input.count {
                stream.next_in = UnsafeMutablePointer(mutating: (base + offset).assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(input.count - offset)
                while true {
                    let (status, produced) = chunk.withUnsafeMutableBufferPointer { o -> (Int32, Int) in
                        stream.next_out = o.baseAddress
                        stream.avail_out = uInt(o.count)
                        let s = inflate(&stream, Z_NO_FLUSH)
                        return (s, o.count - Int(stream.avail_out))
                    }
                    out.append(contentsOf: chunk[0..<produced])
                    if status == Z_STREAM_END { break }
                    guard status == Z_OK else { return nil }
                    if stream.avail_in == 0 && produced < chunk.count { return nil }  // truncated
                }
                offset = input.count - Int(stream.avail_in)
                if offset < input.count { guard inflateReset(&stream) == Z_OK else { return nil } }
            }
            return out
        }
    }
}
