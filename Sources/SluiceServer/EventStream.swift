import SluiceCore

/// The AWS event stream encoding (`application/vnd.amazon.eventstream`) of SubscribeToShard's
/// responses: each message is a prelude (total length, headers length, CRC32 of both), headers
/// (name, type 7 = string, value), the payload and a CRC32 of all that precedes it; integers are
/// big-endian.
enum EventStreamMessage {
    static func encode(headers: [(String, String)], payload: [UInt8]) -> [UInt8] {
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
    static func event(_ type: String, json: [UInt8]) -> [UInt8] {
        encode(headers: [(":message-type", "event"), (":event-type", type), (":content-type", "application/json")], payload: json)
    }

    /// An exception that ends the stream (`:message-type` exception).
    static func exception(_ type: String, message: String) -> [UInt8] {
        let body = Array(JSONValue.object(["message": .string(message)]).serialized().utf8)
        return encode(headers: [(":message-type", "exception"), (":exception-type", type), (":content-type", "application/json")], payload: body)
    }

    private static func appendBE(_ out: inout [UInt8], _ v: UInt32) {
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as event stream messages carry it.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
