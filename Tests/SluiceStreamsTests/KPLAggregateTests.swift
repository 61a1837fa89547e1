import Testing
@testable import SluiceStreams

@Suite("KPL aggregated records")
struct KPLAggregateTests {
    /// Made by aws_kinesis_agg 1.x (the KPL's Python port): RecordAggregator with user records
    /// ('pk0', '{"n":0}'), ('pk1', '{"n":1}'), ('pk2', '{"n":2}').
    static let golden = "f3899ac20a03706b300a03706b310a03706b321a0b08001a077b226e223a307d1a0b08011a077b226e223a317d1a0b08021a077b226e223a327d596558cacb30031ae42e18f302a3d62a"

    static func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    static let users = (0..<3).map { KPLAggregate.UserRecord(partitionKey: "pk\($0)", data: Array(#"{"n":\#($0)}"#.utf8)) }

    @Test func readsAndWritesWhatTheReferenceAggregatorWrites() {
        let bytes = Self.hex(Self.golden)
        #expect(KPLAggregate.deaggregate(bytes) == Self.users)
        #expect(KPLAggregate.aggregate(Self.users) == bytes)
    }

    @Test func explicitHashKeysAndSharedPartitionKeysRoundTrip() {
        let users = [KPLAggregate.UserRecord(partitionKey: "a", explicitHashKey: "42", data: [1, 2]),
                     KPLAggregate.UserRecord(partitionKey: "a", data: []),
                     KPLAggregate.UserRecord(partitionKey: "b", explicitHashKey: "42", data: Array(repeating: 7, count: 300))]
        #expect(KPLAggregate.deaggregate(KPLAggregate.aggregate(users)) == users)
    }

    @Test func anythingElseIsAnOrdinaryRecord() {
        var bytes = Self.hex(Self.golden)
        bytes[bytes.count - 1] ^= 1  // a wrong digest
        #expect(KPLAggregate.deaggregate(bytes) == nil)
        #expect(KPLAggregate.deaggregate(Array(#"{"plain":"json record of some length"}"#.utf8)) == nil)
        // Magic and a good digest around a protobuf that refers past its key table.
        let body: [UInt8] = [0x1a, 0x05, 0x08, 0x03, 0x1a, 0x01, 0x41]
        #expect(KPLAggregate.deaggregate(KPLAggregate.magic + body + MD5.digest(body)) == nil)
        // ...and around truncated protobuf.
        let cut: [UInt8] = [0x0a, 0x09, 0x61]
        #expect(KPLAggregate.deaggregate(KPLAggregate.magic + cut + MD5.digest(cut)) == nil)
    }
}
