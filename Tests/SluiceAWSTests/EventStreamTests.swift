import Testing
import SluiceChecksum
import SluiceCore
@testable import SluiceAWS

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

    /// Messages read back whatever pieces the bytes arrive in, every byte of a message checked:
    /// any flipped bit is refused, never read as something else.
    @Test func theDecoderReadsMessagesInAnyPiecesAndRefusesDamage() throws {
        var rng = SplitMix64(seed: 7)
        for round in 0..<200 {
            var bytes: [UInt8] = []
            var sent: [EventStreamMessage] = []
            for k in 0..<(1 + Int(rng.next() % 5)) {
                let payload = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                let headers = [(":message-type", "event"), (":event-type", "E\(round).\(k)"), (":content-type", "application/json")]
                bytes += EventStreamMessage.encode(headers: headers, payload: payload)
                sent.append(EventStreamMessage(headers: Dictionary(uniqueKeysWithValues: headers), payload: payload))
            }
            var decoder = EventStreamDecoder()
            var got: [EventStreamMessage] = []
            var at = 0
            while at < bytes.count {
                let n = min(bytes.count - at, 1 + Int(rng.next() % 64))
                got += try decoder.feed(bytes[at..<(at + n)])
                at += n
            }
            #expect(got == sent)
            #expect(!decoder.isMidMessage)
            // One bit flipped anywhere: an error (prelude or message CRC), or, in a length, a
            // message that is not complete yet; never a message read.
            var damaged = bytes
            let i = Int(rng.next() % UInt64(bytes.count))
            damaged[i] ^= UInt8(1 << (rng.next() % 8))
            var d = EventStreamDecoder()
            do {
                let read = try d.feed(damaged)
                #expect(read.count < sent.count || read != sent, "bit \(i) flipped went unnoticed")
            } catch {}
        }
    }

    @Test func headersOfOtherTypesAreSkippedAndBadLengthsRefused() throws {
        // A header of each non-string type before a string one.
        var h: [UInt8] = []
        func name(_ n: String, _ type: UInt8) { h.append(UInt8(n.utf8.count)); h += n.utf8; h.append(type) }
        name("t", 0); name("b", 2); h += [1]; name("s", 3); h += [0, 1]; name("i", 4); h += [0, 0, 0, 1]
        name("l", 8); h += [UInt8](repeating: 0, count: 8); name("u", 9); h += [UInt8](repeating: 0, count: 16)
        name("x", 6); h += [0, 2, 9, 9]; name(":event-type", 7); h += [0, 1] + Array("E".utf8)
        #expect(try EventStreamDecoder.headers(h[...]) == [":event-type": "E"])
        #expect(throws: EventStreamDecoder.Failure.self) { try EventStreamDecoder.headers(h.dropLast(1)) }
        #expect(throws: EventStreamDecoder.Failure.self) { try EventStreamDecoder.headers([1, 65, 42][...]) }
        // A prelude claiming more than 16 MiB, with a good CRC: refused before anything is buffered.
        var prelude: [UInt8] = [0x02, 0, 0, 0, 0, 0, 0, 0]
        let crc = CRC32.checksum(prelude)
        prelude += [UInt8(crc >> 24), UInt8((crc >> 16) & 0xff), UInt8((crc >> 8) & 0xff), UInt8(crc & 0xff)]
        var d = EventStreamDecoder()
        #expect(throws: EventStreamDecoder.Failure.self) { try d.feed(prelude) }
    }

    /// A chunked body read back whatever pieces it arrives in.
    @Test func chunkedBodiesAreReadInAnyPieces() throws {
        var rng = SplitMix64(seed: 3)
        for _ in 0..<100 {
            var body: [UInt8] = [], wire: [UInt8] = []
            for _ in 0..<(1 + Int(rng.next() % 6)) {
                let chunk = (0..<(1 + Int(rng.next() % 200))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                body += chunk
                wire += Array((String(chunk.count, radix: 16) + (rng.next() % 2 == 0 ? ";ext=1" : "") + "\r\n").utf8) + chunk + [13, 10]
            }
            wire += Array("0\r\n\r\n".utf8)
            var decoder = BodyDecoder(headers: ["transfer-encoding: chunked"])
            var got: [UInt8] = []
            var finished = false
            var at = 0
            while at < wire.count && !finished {
                let n = min(wire.count - at, 1 + Int(rng.next() % 40))
                let (bytes, done) = try decoder.feed(wire[at..<(at + n)])
                got += bytes
                finished = done
                at += n
            }
            #expect(finished && got == body)
        }
        var bad = BodyDecoder(headers: ["transfer-encoding: chunked"])
        #expect(throws: HTTPClientError.self) { try bad.feed(Array("zz\r\n".utf8)[...]) }
        var sized = BodyDecoder(headers: ["content-length: 3"])
        let (b, done) = try sized.feed(Array("abcdef".utf8)[...])
        #expect(b == Array("abc".utf8) && done)
    }
}
