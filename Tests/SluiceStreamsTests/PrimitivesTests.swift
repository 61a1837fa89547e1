import Testing
@testable import SluiceStreams

@Suite("MD5, CRC-32C, hash keys, sequence numbers")
struct PrimitivesTests {
    static func hex(_ b: [UInt8]) -> String { b.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

    /// The test suite of RFC 1321, appendix A.5.
    @Test(arguments: [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
        ("12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a"),
    ])
    func md5MatchesRFC1321(_ input: String, _ digest: String) {
        #expect(Self.hex(MD5.digest(input)) == digest)
        #expect(String(MD5.hashKey(input), radix: 16).leftPadded(32) == digest)
    }

    @Test func md5IncrementalEqualsOneShot() {
        var rng = SystemRandomNumberGenerator()
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var h = MD5()
            var i = 0
            while i < bytes.count {
                let n = min(Int.random(in: 1...70), bytes.count - i)
                bytes[i..<(i + n)].withUnsafeBytes { h.update($0) }
                i += n
            }
            #expect(h.finalize() == MD5.digest(bytes), "length \(length)")
            let oneShotKey = bytes.withUnsafeBytes { MD5.hashKey($0) }
            #expect(String(oneShotKey, radix: 16).leftPadded(32) == Self.hex(MD5.digest(bytes)))
        }
    }

    /// Golden ranges of the floor(2^128/N) rule (kinesis-and-firehose.md §2.2).
    @Test func evenRangesMatchTheGoldenValues() {
        let r2 = HashKey.evenRanges(count: 2)
        #expect(r2.map { String($0.upperBound) } == ["170141183460469231731687303715884105727", "340282366920938463463374607431768211455"])
        let r3 = HashKey.evenRanges(count: 3)
        #expect(r3.map { "\($0.lowerBound)-\($0.upperBound)" } == [
            "0-113427455640312821154458202477256070484",
            "113427455640312821154458202477256070485-226854911280625642308916404954512140969",
            "226854911280625642308916404954512140970-340282366920938463463374607431768211455",
        ])
        let r4 = HashKey.evenRanges(count: 4)
        #expect(r4.map { String($0.upperBound) } == [
            "85070591730234615865843651857942052863", "170141183460469231731687303715884105727",
            "255211775190703847597530955573826158591", "340282366920938463463374607431768211455",
        ])
        #expect(HashKey.evenRanges(count: 1) == [0...UInt128.max])
        for n in [5, 7, 8, 64, 500] {
            let r = HashKey.evenRanges(count: n)
            #expect(r.first?.lowerBound == 0 && r.last?.upperBound == UInt128.max)
            #expect(zip(r, r.dropFirst()).allSatisfy { $0.upperBound + 1 == $1.lowerBound })
        }
    }

    @Test(arguments: [
        ("a", "16955237001963240173058271559858726497"),
        ("b", "195289424170611159128911017612795795343"),
        ("hello", "123957004363873451094272536567338222994"),
        ("pk-0", "318996840767547934070577442296912359277"),
    ])
    func partitionKeysHashToTheGoldenValues(_ key: String, _ hash: String) {
        #expect(String(HashKey.of(partitionKey: key)) == hash)
    }

    @Test func hashKeyParsing() throws {
        #expect(try HashKey.parse("0").get() == 0)
        #expect(try HashKey.parse("340282366920938463463374607431768211455").get() == UInt128.max)
        for bad in ["", "-1", "01", "1.5", " 1", "abc", String(repeating: "9", count: 40)] {
            guard case .failure(.badPattern) = HashKey.parse(bad) else { Issue.record("\(bad) accepted"); continue }
        }
        guard case .failure(.outOfRange) = HashKey.parse("340282366920938463463374607431768211456") else {
            Issue.record("2^128 accepted")
            return
        }
    }

    /// The first StartingSequenceNumber of the AWS CLI's DescribeStream example decodes to shard 0,
    /// created 2019-10-28 21:12:45 UTC, sequence index 0.
    @Test func sequenceNumberLayoutMatchesAWS() throws {
        let aws = "49600871682957036442365024926191073437251060580128653314"
        let s = try #require(SequenceNumber(aws))
        #expect(s.shardCreationSeconds == 1_572_297_165)
        #expect(s.shardIndex == 0)
        #expect(s.index == 0)
        #expect(s.recordSeconds == 1_572_297_165)
        #expect(s.description == aws)
        // Consecutive shards' starting numbers differ by exactly this (kinesalite asserts it too).
        let s1 = SequenceNumber(shardCreationSeconds: 1_572_297_165, shardIndex: 1, index: 0, recordSeconds: 1_572_297_165)
        #expect(s1.description == "49600871682979337187563555549332609155523708941634633746")
    }

    @Test func sequenceNumbersAre56DigitsAndOrderByIndex() {
        var prev: SequenceNumber? = nil
        for i in [UInt64(0), 1, 2, 255, 65_536, 1 << 40, SequenceNumber.endingIndex] {
            let s = SequenceNumber(shardCreationSeconds: 1_704_067_200, shardIndex: 17, index: i, recordSeconds: 1_704_067_200 + i % 1000)
            #expect(s.description.count == 56)
            #expect(s.description.hasPrefix("49"))
            #expect(SequenceNumber(s.description) == s)
            if let p = prev { #expect(p < s) }
            prev = s
        }
    }

    @Test(arguments: ["", "0", "1", "12345", "-4960087168295703644236502492619107343725106058012865331",
                      "59600871682957036442365024926191073437251060580128653314",
                      "49600871682957036442365024926191073437251060580128653315",
                      "149600871682957036442365024926191073437251060580128653314", "4960087168295703644236502492619107343725106058012865331x"])
    func malformedSequenceNumbersAreRejected(_ text: String) {
        #expect(SequenceNumber(text) == nil)
    }

    @Test func shardIdsAreLenient() {
        #expect(ShardID.format(5) == "shardId-000000000005")
        for s in ["5", "shardId-5", "shard-5", "a-00005", "shardId-000000000005"] { #expect(ShardID.parse(s) == 5) }
        for s in ["", "shardId-", "shardId-x", "2.14E4", "shardId-2147483648", "-"] { #expect(ShardID.parse(s) == nil) }
        #expect(ShardID.parse("shardId-2147483647") == 2_147_483_647)
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
