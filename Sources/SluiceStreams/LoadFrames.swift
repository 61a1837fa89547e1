/// Records as a Sluice server's load request carries them (`POST /v1/load`, the body a client's
/// bulk load sends): for each record its partition key, then its data, each after its length in
/// four bytes, big-endian. Binary, so a load sends its bytes as they are (PutRecords' JSON
/// carries them in base64, a third larger) and the server reads them without a JSON parser.
extension PackedRecords {
    /// Why a body is not a run of frames: where it went wrong.
    public struct FrameError: Error, CustomStringConvertible, Equatable {
        public let message: String
        public var description: String { message }
    }

    /// The records as frames.
    public var frames: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(byteCount + 8 * count)
        func length(_ n: Int) {
            let v = UInt32(n)
            out.append(contentsOf: [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)])
        }
        for i in 0..<count {
            withRecord(i) { key, data in
                length(key.count)
                out.append(contentsOf: key)
                length(data.count)
                out.append(contentsOf: data)
            }
        }
        return out
    }

    /// The records of a body of frames. Refused: a body that ends inside a length or inside the
    /// bytes a length promises (what the frames hold is checked as a put checks it, later).
    public init(frames body: [UInt8]) throws(FrameError) {
        self.init()
        var at = 0
        func field(_ what: String, of record: Int) throws(FrameError) -> Range<Int> {
            guard body.count - at >= 4 else {
                throw FrameError(message: "the body ends inside the length of record \(record + 1)'s \(what) (byte \(at) of \(body.count))")
            }
            let n = Int(body[at]) << 24 | Int(body[at + 1]) << 16 | Int(body[at + 2]) << 8 | Int(body[at + 3])
            at += 4
            guard body.count - at >= n else {
                throw FrameError(message: "record \(record + 1)'s \(what) of \(n) bytes goes past the end of the body (byte \(at) of \(body.count))")
            }
            defer { at += n }
            return at..<(at + n)
        }
        var frames: [(key: Range<Int>, data: Range<Int>)] = []
        while at < body.count {
            let key = try field("partition key", of: frames.count)
            frames.append((key, try field("data", of: frames.count)))
        }
        body.withUnsafeBytes { all in
            for f in frames { append(data: UnsafeRawBufferPointer(rebasing: all[f.data]), partitionKey: UnsafeRawBufferPointer(rebasing: all[f.key])) }
        }
    }
}
