public import SluiceChecksum
public import SluiceCore

/// The AWS event stream encoding (`application/vnd.amazon.eventstream`) of SubscribeToShard's
/// answers, both ways (`sluice serve` writes it, the Kinesis client reads it): each message is a
/// prelude (total length, headers length, CRC32 of both), headers (name, type, value), the
/// payload and a CRC32 of all that precedes it; integers are big-endian.
public struct EventStreamMessage: Sendable, Equatable {
    public var headers: [String: String]
    public var payload: [UInt8]

    public init(headers: [String: String], payload: [UInt8]) {
        self.headers = headers
        self.payload = payload
    }

    /// `:message-type` (event, exception, error).
    public var messageType: String? { headers[":message-type"] }
    /// `:event-type` of an event, `:exception-type` of an exception, `:error-code` of an error.
    public var type: String? { headers[":event-type"] ?? headers[":exception-type"] ?? headers[":error-code"] }

    /// A message whose headers are strings (type 7), in the order given.
    public static func encode(headers: [(String, String)], payload: [UInt8]) -> [UInt8] {
        var h: [UInt8] = []
        for (name, value) in headers {
            h.append(UInt8(name.utf8.count))
            h += name.utf8
            h.append(7)
            let v = Array(value.utf8)
            h.append(UInt8(v.count >> 8))
            h.append(UInt8(v.count & 0xff))
            h += v
        }
        let total = 12 + h.count + payload.count + 4
        var out: [UInt8] = []
        out.reserveCapacity(total)
        appendBE(&out, UInt32(total))
        appendBE(&out, UInt32(h.count))
        appendBE(&out, CRC32.checksum(out))
        out += h
        out += payload
        appendBE(&out, CRC32.checksum(out))
        return out
    }

    /// An event: `:message-type` event, its type and a JSON payload.
    public static func event(_ type: String, json: [UInt8]) -> [UInt8] {
        encode(headers: [(":message-type", "event"), (":event-type", type), (":content-type", "application/json")], payload: json)
    }

    /// An exception that ends the stream (`:message-type` exception).
    public static func exception(_ type: String, message: String) -> [UInt8] {
        let body = Array(JSONValue.object(["message": .string(message)]).serialized().utf8)
        return encode(headers: [(":message-type", "exception"), (":exception-type", type), (":content-type", "application/json")], payload: body)
    }

    private static func appendBE(_ out: inout [UInt8], _ v: UInt32) {
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }
}

/// Reads event stream messages from bytes as they arrive, in pieces of any size. Both CRCs are
/// checked, lengths bounded; a message that fails either is an error (the stream cannot be
/// trusted after it), never skipped.
public struct EventStreamDecoder: Sendable {
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// The largest message taken (AWS: 16 MiB).
    public static let maxMessage = 16 << 20
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Whether bytes of an unfinished message are held.
    public var isMidMessage: Bool { start < buffer.count }

    public mutating func feed(_ bytes: [UInt8]) throws(Failure) -> [EventStreamMessage] { try feed(bytes[...]) }

    /// Adds bytes; returns the messages they complete.
    public mutating func feed(_ bytes: ArraySlice<UInt8>) throws(Failure) -> [EventStreamMessage] {
        buffer.append(contentsOf: bytes)
        var out: [EventStreamMessage] = []
        while buffer.count - start >= 12 {
            func be(_ at: Int) -> UInt32 { buffer[(start + at)..<(start + at + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
            let total = Int(be(0)), headersLength = Int(be(4))
            guard CRC32.checksum(buffer[start..<(start + 8)]) == be(8) else { throw Failure(message: "an event stream message's prelude fails its CRC") }
            guard total >= 16, total <= EventStreamDecoder.maxMessage, headersLength <= total - 16 else {
                throw Failure(message: "an event stream message claims \(total) bytes with \(headersLength) of headers")
            }
            guard buffer.count - start >= total else { break }
            guard CRC32.checksum(buffer[start..<(start + total - 4)]) == be(total - 4) else {
                throw Failure(message: "an event stream message fails its CRC")
            }
            let headers = try EventStreamDecoder.headers(buffer[(start + 12)..<(start + 12 + headersLength)])
            out.append(EventStreamMessage(headers: headers, payload: Array(buffer[(start + 12 + headersLength)..<(start + total - 4)])))
            start += total
        }
        if start > 0 && (start == buffer.count || start > 1 << 20) {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        return out
    }

    /// Headers by name: strings (type 7) as they are; the other types (booleans, integers, bytes,
    /// timestamps, UUIDs) skipped by their sizes, since the Kinesis events carry strings only.
    static func headers(_ b: ArraySlice<UInt8>) throws(Failure) -> [String: String] {
        var out: [String: String] = [:]
        var at = b.startIndex
        func need(_ n: Int) throws(Failure) { if at + n > b.endIndex { throw Failure(message: "an event stream message's headers are cut short") } }
        while at < b.endIndex {
            try need(1)
            let n = Int(b[at])
            try need(2 + n)
            let name = String(decoding: b[(at + 1)..<(at + 1 + n)], as: UTF8.self)
            let type = b[at + 1 + n]
            at += 2 + n
            switch type {
            case 0, 1: break                       // true, false
            case 2: try need(1); at += 1           // byte
            case 3: try need(2); at += 2           // short
            case 4: try need(4); at += 4           // integer
            case 5, 8: try need(8); at += 8        // long, timestamp
            case 9: try need(16); at += 16         // uuid
            case 6, 7:                             // bytes, string
                try need(2)
                let len = Int(b[at]) << 8 | Int(b[at + 1])
                try need(2 + len)
                if type == 7 { out[name] = String(decoding: b[(at + 2)..<(at + 2 + len)], as: UTF8.self) }
                at += 2 + len
            default: throw Failure(message: "an event stream header of unknown type \(type)")
            }
        }
        return out
    }
}
