import Testing
@testable import SluiceServer

@Suite("Event stream encoding")
struct EventStreamTests {
    @Test func crc32KnownAnswers() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
    }

    /// The layout AWS documents, read back field by field: lengths, both CRCs, headers, payload.
    @Test func messagesFollowTheDocumentedLayout() {
        let payload = Array(#"{"a":1}"#.utf8)
        let m = EventStreamMessage.event("SubscribeToShardEvent", json: payload)
        func be(_ at: Int) -> UInt32 { m[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        #expect(Int(be(0)) == m.count)
        let headersLength = Int(be(4))
        #expect(be(8) == CRC32.checksum(Array(m[0..<8])))
        #expect(be(m.count - 4) == CRC32.checksum(Array(m[0..<(m.count - 4)])))
        #expect(Array(m[(12 + headersLength)..<(m.count - 4)]) == payload)
        var headers: [String: String] = [:]
        var at = 12
        while at < 12 + headersLength {
            let n = Int(m[at])
            let name = String(decoding: m[(at + 1)..<(at + 1 + n)], as: UTF8.self)
            #expect(m[at + 1 + n] == 7)
            let len = Int(m[at + 2 + n]) << 8 | Int(m[at + 3 + n])
            headers[name] = String(decoding: m[(at + 4 + n)..<(at + 4 + n + len)], as: UTF8.self)
            at += 4 + n + len
        }
        #expect(headers == [":message-type": "event", ":event-type": "SubscribeToShardEvent", ":content-type": "application/json"])
        let e = EventStreamMessage.exception("ResourceInUseException", message: "taken \"over\"")
        #expect(String(decoding: e, as: UTF8.self).contains(#"{"message":"taken \"over\""}"#))
    }
}
