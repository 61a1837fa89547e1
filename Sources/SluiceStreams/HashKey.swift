/// 128-bit hash keys: the space `[0, 2^128-1]` that shards divide among themselves.
public enum HashKey {
    public static let max = UInt128.max

    /// Parses a hash key written as Kinesis writes it: a decimal without leading zeros
    /// (pattern `0|([1-9]\d{0,38})`). Returns `.badPattern` or `.outOfRange` otherwise.
    public static func parse(_ text: String) -> Result<UInt128, ParseFailure> {
        let u = Array(text.utf8)
        guard !u.isEmpty, u.count <= 39, u.allSatisfy({ $0 >= 48 && $0 <= 57 }), u.count == 1 || u[0] != 48 else {
            return .failure(.badPattern)
        }
        var v: UInt128 = 0
        for c in u {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt128(c - 48))
            if o1 || o2 { return .failure(.outOfRange) }
            v = s
        }
        return .success(v)
    }

    public enum ParseFailure: Error, Sendable { case badPattern, outOfRange }

    /// The hash key of a partition key: MD5 of its UTF-8 bytes, big-endian.
    public static func of(partitionKey: String) -> UInt128 { MD5.hashKey(partitionKey) }

    /// The even split at stream creation: shard i of n covers `[i*step, (i+1)*step-1]` with
    /// step = floor(2^128 / n), and the last shard ends at 2^128-1.
    public static func evenRanges(count n: Int) -> [ClosedRange<UInt128>] {
        precondition(n >= 1)
        if n == 1 { return [0...UInt128.max] }
        // floor(2^128 / n) without 2^128 itself: (2^128-1)/n, plus one when n divides 2^128.
        var step = UInt128.max / UInt128(n)
        if UInt128.max % UInt128(n) == UInt128(n) - 1 { step += 1 }
        return (0..<n).map { i in
            let start = UInt128(i) * step
            let end = i == n - 1 ? UInt128.max : UInt128(i + 1) * step - 1
            return start...end
        }
    }
}
