import Foundation
import Testing
import SluiceCore
@testable import SluiceStreams

@Suite("Durability: segments, recovery, reopening")
struct DurabilityTests {
    func segments(_ f: StoreFixture, shard: String = "shardId-000000000000") -> [String] {
        let dir = f.config.dataDirectory + "/streams/s/shards/\(shard)"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".seg") }.sorted().map { dir + "/" + $0 }
    }

    func fileSize(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1 }

    @Test func recordsSurviveReopeningAcrossManySegments() throws {
        let f = try StoreFixture { $0.segmentBytes = 2048 }
        try f.store.createStream(name: "s", shardCount: 1)
        var seqs: [String] = []
        for i in 0..<300 { seqs.append(try f.put("s", "record-\(i)-" + String(repeating: "z", count: i % 40), key: "k\(i)").sequenceNumber.description) }
        #expect(segments(f).count > 5)
        try f.reopen()
        let got = try f.readAll("s", "shardId-000000000000")
        #expect(got.map(\.seq) == seqs)
        #expect(got.map(\.key) == (0..<300).map { "k\($0)" })
        // AT_SEQUENCE_NUMBER into the middle of a middle segment.
        let it = try f.store.getShardIterator(stream: "s", shardId: "0", type: .atSequenceNumber, startingSequenceNumber: seqs[157])
        let r = try f.store.getRecords(shardIterator: it, limit: 3)
        #expect((0..<3).map { r.sequenceNumber($0).description } == Array(seqs[157..<160]))
    }

    @Test func aTornTailIsCutOffOnOpen() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        for i in 0..<10 { _ = try f.put("s", "r\(i)", key: "k") }
        f.store.close()
        let seg = segments(f).last!
        let good = fileSize(seg)
        // Half a frame, as a write cut short by a crash leaves it.
        let h = FileHandle(forWritingAtPath: seg)!
        h.seekToEndOfFile()
        h.write(Data([40, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]))
        h.closeFile()
        try f.reopen()
        #expect(fileSize(seg) == good)
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == (0..<10).map { "r\($0)" })
        let next = try f.put("s", "r10", key: "k")
        #expect(next.sequenceNumber.index == 10)
    }

    @Test func aLastFrameWithABadChecksumIsCutOff() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        for i in 0..<5 { _ = try f.put("s", "r\(i)", key: "k") }
        f.store.close()
        let seg = segments(f).last!
        var bytes = [UInt8](FileManager.default.contents(atPath: seg)!)
        bytes[bytes.count - 1] ^= 0xff  // the last byte of the last record's data
        try Data(bytes).write(to: URL(fileURLWithPath: seg))
        try f.reopen()
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == (0..<4).map { "r\($0)" })
    }

    @Test func damageInASealedSegmentIsReportedAndNeverServed() throws {
        let f = try StoreFixture { $0.segmentBytes = 1024 }
        try f.store.createStream(name: "s", shardCount: 1)
        for i in 0..<60 { _ = try f.put("s", "r\(i)-" + String(repeating: "y", count: 30), key: "k") }
        f.store.close()
        let segs = segments(f)
        #expect(segs.count >= 3)
        var bytes = [UInt8](FileManager.default.contents(atPath: segs[1])!)
        bytes[bytes.count / 2] ^= 0x55
        try Data(bytes).write(to: URL(fileURLWithPath: segs[1]))
        try f.reopen()
        #expect(f.store.recoveryReport.count == 1)
        #expect(f.store.recoveryReport[0].contains(segs[1]) && f.store.recoveryReport[0].contains("1 record from sequence index"))
        let got = try f.readAll("s", "shardId-000000000000")
        // Everything served is intact; only the damaged record is missing, the ones after it in
        // its segment are kept.
        #expect(got.allSatisfy { $0.text.hasSuffix(String(repeating: "y", count: 30)) && $0.text.hasPrefix("r") })
        #expect(got.count == 59)
        #expect(got.last?.text.hasPrefix("r59-") == true)
        #expect(Set(got.map(\.seq)).count == 59)
    }

    /// One flipped byte in the middle of the newest segment is corruption, not a torn tail: the
    /// record it hit cannot be read, every record after it stays readable (then and after more
    /// opens), the damage is reported on every open, and appends go on after the last record.
    @Test func damageInTheMiddleOfTheNewestSegmentKeepsTheRecordsAfterIt() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        for i in 0..<40 { _ = try f.put("s", "rec-\(i)-" + String(repeating: "v", count: 20), key: "k") }
        f.store.close()
        let seg = segments(f).last!
        var bytes = [UInt8](FileManager.default.contents(atPath: seg)!)
        let text = Array("rec-17-".utf8)
        let at = (0..<(bytes.count - text.count)).first { Array(bytes[$0..<($0 + text.count)]) == text }!
        bytes[at + 3] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: seg))
        for round in 0..<3 {
            try f.reopen()
            #expect(f.store.recoveryReport.count == 1, "round \(round): \(f.store.recoveryReport)")
            #expect(f.store.recoveryReport.first?.contains("1 record from sequence index 17 cannot be read") == true, "\(f.store.recoveryReport)")
            #expect(f.store.damage.first?.lostRecords == 1 && f.store.damage.first?.keptFrom == 18)
            let got = try f.readAll("s", "shardId-000000000000").map(\.text)
            let expected = (0..<(40 + round)).filter { $0 != 17 }.map { "rec-\($0)-" + String(repeating: "v", count: 20) }
            #expect(got == expected, "round \(round)")
            // The store goes on after the last record, with the next index.
            let next = try f.put("s", "rec-\(40 + round)-" + String(repeating: "v", count: 20), key: "k")
            #expect(next.sequenceNumber.index == UInt64(40 + round))
        }
        // The damaged file is kept as it was, beside the segment that holds what followed.
        #expect(segments(f).count == 2)
        #expect([UInt8](FileManager.default.contents(atPath: seg)!) == bytes)
    }

    /// Damage, one valid record, then a torn write: the valid record is kept (it was
    /// acknowledged), the damaged one reported, the torn tail cut from the salvaged copy.
    @Test func oneValidRecordBetweenDamageAndATornTailIsKept() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        for i in 0..<10 { _ = try f.put("s", "rec-\(i)-" + String(repeating: "w", count: 20), key: "k") }
        f.store.close()
        let seg = segments(f).last!
        var bytes = [UInt8](FileManager.default.contents(atPath: seg)!)
        let text = Array("rec-8-".utf8)
        let at = (0..<(bytes.count - text.count)).first { Array(bytes[$0..<($0 + text.count)]) == text }!
        bytes[at] ^= 0x02
        bytes += [60, 0, 0, 0, 9, 9, 9]  // half a frame
        try Data(bytes).write(to: URL(fileURLWithPath: seg))
        try f.reopen()
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == (0..<10).filter { $0 != 8 }.map { "rec-\($0)-" + String(repeating: "w", count: 20) })
        #expect(f.store.damage.first?.lostRecords == 1)
    }

    /// Damage at the very end (a torn write) is still cut, silently: nothing after it was written.
    @Test func damageFollowedByGarbageOnlyIsATornTail() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        for i in 0..<8 { _ = try f.put("s", "r\(i)", key: "k") }
        f.store.close()
        let seg = segments(f).last!
        let h = FileHandle(forWritingAtPath: seg)!
        h.seekToEndOfFile()
        h.write(Data((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37) }))
        h.closeFile()
        try f.reopen()
        #expect(f.store.recoveryReport.isEmpty)
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == (0..<8).map { "r\($0)" })
    }

    @Test func corruptionAfterOpeningIsAnErrorNotAWrongRecord() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        for i in 0..<5 { _ = try f.put("s", "record-\(i)", key: "k") }
        // Flip a byte of the third record's data while the store is open (bit rot under a reader).
        let seg = segments(f).last!
        var bytes = [UInt8](FileManager.default.contents(atPath: seg)!)
        let text = Array("record-2".utf8)
        let at = (0..<(bytes.count - text.count)).first { Array(bytes[$0..<($0 + text.count)]) == text }!
        bytes[at] ^= 0x20
        let h = FileHandle(forWritingAtPath: seg)!
        h.seek(toFileOffset: UInt64(at))
        h.write(Data([bytes[at]]))
        h.closeFile()
        let it = try f.store.getShardIterator(stream: "s", shardId: "0", type: .trimHorizon)
        let r = try f.store.getRecords(shardIterator: it)
        #expect((0..<r.records.count).map { String(decoding: r.records.data($0), as: UTF8.self) } == ["record-0", "record-1"])
        #expect(performing: { try f.store.getRecords(shardIterator: r.nextShardIterator!) }, throws: StreamError.code(.internalFailure))
    }

    @Test func concurrentWritersAndReadersLoseNothing() async throws {
        let f = try StoreFixture { $0.segmentBytes = 64 << 10 }
        try f.store.createStream(name: "s", shardCount: 3)
        let store = f.store!
        await withTaskGroup(of: Void.self) { group in
            for w in 0..<4 {
                group.addTask {
                    for b in 0..<20 {
                        let batch = (0..<50).map { PutRecordsRequestEntry(data: Array("w\(w)-b\(b)-\($0)".utf8), partitionKey: "w\(w)-\($0)") }
                        _ = try? store.putRecords(stream: "s", records: batch)
                    }
                }
            }
            group.addTask {
                for _ in 0..<50 {
                    for shard in 0..<3 {
                        if let it = try? store.getShardIterator(stream: "s", shardId: String(shard), type: .trimHorizon) {
                            _ = try? store.getRecords(shardIterator: it)
                        }
                    }
                }
            }
        }
        var all = Set<String>()
        for shard in try f.shardIds("s") { for r in try f.readAll("s", shard) { all.insert(r.text) } }
        #expect(all.count == 4 * 20 * 50)
    }
}
