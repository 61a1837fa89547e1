/// SplitMix64: a small, fast, seeded generator (the family of Java's SplittableRandom, which
/// Nexmark uses). Everything Sluice generates from a seed (sample data, benchmark data, test cases)
/// uses it, so the same seed gives the same bytes on every machine.
public struct SplitMix64: Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `0..<n` for n < 2^32: `((next >> 32) * n) >> 32`.
    public mutating func below(_ n: Int) -> Int { Int(((next() >> 32) &* UInt64(n)) >> 32) }

    /// Uniform in [0, 1): the top 53 bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}
