import Testing
import SluiceCore
@testable import SluiceStreams

/// The body of a server's load API (`POST /v1/load`): records as length-prefixed frames.
@Suite("Load frames")
struct LoadFramesTests {
    static func records(_ rng: inout SplitMix64, count: Int) -> [(key: [UInt8], data: [UInt8])] {
        (0..<count).map { _ in
            let key = (0..<Int(rng.next() % 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let data = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            return (key, data)
        }
    }

    static func packed(_ records: [(key: [UInt8], data: [UInt8])]) -> PackedRecords {
        var p = PackedRecords()
        for r in records { r.data.withUnsafeBytes { d in r.key.withUnsafeBytes { k in p.append(data: d, partitionKey: k) } } }
        return p
    }

    static func contents(_ p: PackedRecords) -> [[UInt8]] {
        (0..<p.count).flatMap { i in p.withRecord(i) { k, d in [Array(k), Array(d)] } }
    }

    /// Any records (empty keys and data, any bytes) come back as they went.
    @Test func recordsRoundTrip() throws {
        var rng = SplitMix64(seed: 77)
        for n in [0, 1, 2, 17, 300] {
            let records = Self.records(&rng, count: n)
            let p = Self.packed(records)
            let back = try PackedRecords(frames: p.frames)
            #expect(back.count == n)
            #expect(Self.contents(back) == records.flatMap { [$0.key, $0.data] })
            #expect(p.frames.count == p.byteCount + 8 * n)
        }
    }

    /// A body cut anywhere but between frames is refused, saying which record; cut between
    /// frames it is the records before the cut.
    @Test func everyCutIsRefusedOrAWholePrefix() throws {
        var rng = SplitMix64(seed: 5)
        let records = Self.records(&rng, count: 4)
        let body = Self.packed(records).frames
        var boundaries: [Int: Int] = [0: 0]
        var at = 0
        for (i, r) in records.enumerated() { at += 8 + r.key.count + r.data.count; boundaries[at] = i + 1 }
        for cut in 0...body.count {
            if let whole = boundaries[cut] {
                let p = try PackedRecords(frames: Array(body[..<cut]))
                #expect(Self.contents(p) == records.prefix(whole).flatMap { [$0.key, $0.data] })
            } else {
                #expect(throws: PackedRecords.FrameError.self) { try PackedRecords(frames: Array(body[..<cut])) }
            }
        }
        let e = #expect(throws: PackedRecords.FrameError.self) { try PackedRecords(frames: [0, 0, 0, 1, 65, 0, 0, 0xff, 0xff, 1]) }
        #expect(e?.message == "record 1's data of 65535 bytes goes past the end of the body (byte 9 of 10)")
        let huge = #expect(throws: PackedRecords.FrameError.self) { try PackedRecords(frames: [0xff, 0xff, 0xff, 0xff]) }
        #expect(huge?.message.contains("4294967295 bytes") == true)
    }

    /// Random bytes: refused or read, never a trap, never more records than the body could hold.
    @Test func randomBodiesNeverTrap() {
        var rng = SplitMix64(seed: 2026)
        var read = 0
        for _ in 0..<3000 {
            let n = Int(rng.next() % 40)
            // Small lengths now and then, so that some bodies are frames.
            let body = (0..<n).map { _ in rng.next() % 3 == 0 ? UInt8(rng.next() % 4) : UInt8(truncatingIfNeeded: rng.next()) }
            if let p = try? PackedRecords(frames: body) {
                read += 1
                #expect(p.count * 8 <= body.count)
                #expect(p.frames == body)
            }
        }
        #expect(read > 0)
    }
}
