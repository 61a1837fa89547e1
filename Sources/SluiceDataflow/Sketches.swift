public import SluiceCore

/// The finalizer of MurmurHash3: every input bit reaches every output bit (sketch hashes, join
/// table hashes).
@inline(__always) func murmurFinalize(_ x: UInt64) -> UInt64 {
    var k = x
    k ^= k >> 33
    k &*= 0xff51_afd7_ed55_8ccd
    k ^= k >> 33
    k &*= 0xc4ce_b9fe_1a85_ec53
    k ^= k >> 33
    return k
}

/// APPROX_COUNT_DISTINCT: exact up to `exactLimit` distinct values (their 64-bit hashes are
/// kept), then a HyperLogLog of 2^14 one-byte registers (16 KiB). Its relative standard error
/// is 1.04 / sqrt(16384) = 0.81%; the tests hold it to 2.5% (about three standard errors) on
/// seeded data of 1,000 to 2,000,000 distinct values. Sketches of panes and windows merge exactly
/// (register maxima), so hopping windows stay cheap.
public struct HyperLogLog: Sendable, Equatable {
    public static let precision = 14
    public static let registerCount = 1 << precision
    public static let exactLimit = 1024
    public private(set) var exact: Set<UInt64> = []
    /// Empty until the exact set overflows.
    public private(set) var registers: [UInt8] = []

    public init() {}

    /// A sketch past its exact phase, from its registers (a snapshot).
    init(registers: [UInt8]) {
        self.registers = registers
    }

    public mutating func add(_ v: Value) { add(hash: HyperLogLog.hash(v)) }

    public mutating func add(hash h: UInt64) {
        if registers.isEmpty {
            exact.insert(h)
            if exact.count > HyperLogLog.exactLimit { toRegisters() }
            return
        }
        set(h)
    }

    @inline(__always)
    private mutating func set(_ h: UInt64) {
        let index = Int(h >> UInt64(64 - HyperLogLog.precision))
        let w = (h << UInt64(HyperLogLog.precision)) | (1 << UInt64(HyperLogLog.precision - 1))
        let rank = UInt8(w.leadingZeroBitCount + 1)
        if rank > registers[index] { registers[index] = rank }
    }

    private mutating func toRegisters() {
        registers = Array(repeating: 0, count: HyperLogLog.registerCount)
        for h in exact { set(h) }
        exact = []
    }

    public func merged(with o: HyperLogLog) -> HyperLogLog {
        var r = self
        if o.registers.isEmpty {
            for h in o.exact { r.add(hash: h) }
        } else {
            if r.registers.isEmpty { r.toRegisters() }
            for i in 0..<HyperLogLog.registerCount where o.registers[i] > r.registers[i] { r.registers[i] = o.registers[i] }
        }
        return r
    }

    public var estimate: Int64 {
        if registers.isEmpty { return Int64(exact.count) }
        let m = Double(HyperLogLog.registerCount)
        var sum = 0.0, zeros = 0
        for r in registers {
            sum += Double(sign: .plus, exponent: -Int(r), significand: 1)
            if r == 0 { zeros += 1 }
        }
        let alpha = 0.7213 / (1 + 1.079 / m)
        let e = alpha * m * m / sum
        if e <= 2.5 * m && zeros > 0 { return Int64((m * cLog(m / Double(zeros))).rounded()) }  // linear counting
        return Int64(e.rounded())
    }

    /// A 64-bit hash of a value (murmur3's finalizer over the value's bits; FNV-1a for text).
    /// Equal values hash equally; an integer and a double are different values, as in COUNT(DISTINCT).
    public static func hash(_ v: Value) -> UInt64 {
        let mix = murmurFinalize
        switch v {
        case .null: return mix(0x6e75_6c6c)
        case .bool(let b): return mix(b ? 0x7472_7565 : 0x6661_6c73)
        case .int(let i): return mix(UInt64(bitPattern: i) ^ 0x1111_1111_1111_1111)
        case .timestamp(let t): return mix(UInt64(bitPattern: t) ^ 0x2222_2222_2222_2222)
        case .interval(let t): return mix(UInt64(bitPattern: t) ^ 0x3333_3333_3333_3333)
        case .double(let d): return mix((d == 0 ? 0.0 : d).bitPattern ^ 0x4444_4444_4444_4444)
        case .decimal(let d):
            // Equal values hash equally whatever their scale (1.50 and 1.5).
            let n = d.normalized
            return mix(UInt64(bitPattern: n.unscaled) ^ (UInt64(n.scale) << 56) ^ 0x5555_5555_5555_5555)
        case .string(let s):
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for c in s.utf8 { h = (h ^ UInt64(c)) &* 0x0000_0100_0000_01b3 }
            return mix(h)
        }
    }
}

/// PERCENTILE: a merging t-digest (Dunning) with compression δ = 100 and the arcsine scale
/// function: a centroid spans at most one unit of k(q) = δ/(2π)·asin(2q − 1), so there are at most
/// δ = 100 centroids (about 60 in practice; 1.6 KB) plus a buffer of 512 values, whatever the
/// number of values, and quantiles near the tails are the most precise. The value returned for p has a rank within
/// 1% of p (|rank/N − p| ≤ 0.01); the tests hold it to that on seeded uniform, normal and skewed
/// data of 100,000 values, whole and merged from ten parts.
public struct TDigest: Sendable, Equatable {
    public static let compression = 100.0
    static let bufferLimit = 512
    var means: [Double] = []
    var weights: [Double] = []
    var buffer: [Double] = []
    public private(set) var count: Double = 0
    var minimum = Double.infinity
    var maximum = -Double.infinity

    public init() {}

    public mutating func add(_ x: Double) {
        guard !x.isNaN else { return }
        buffer.append(x)
        count += 1
        minimum = Swift.min(minimum, x)
        maximum = Swift.max(maximum, x)
        if buffer.count >= TDigest.bufferLimit { compress() }
    }

    /// Folds the buffer into the centroids.
    mutating func compress() {
        guard !buffer.isEmpty || means.count > 1 else { return }
        var points: [(Double, Double)] = []
        points.reserveCapacity(means.count + buffer.count)
        for i in means.indices { points.append((means[i], weights[i])) }
        for x in buffer { points.append((x, 1)) }
        buffer.removeAll(keepingCapacity: true)
        points.sort { $0.0 < $1.0 }
        let total = points.reduce(0) { $0 + $1.1 }
        var outMeans: [Double] = [], outWeights: [Double] = []
        var mean = points[0].0, weight = points[0].1, before = 0.0
        // A centroid spans at most one unit of k(q) = δ/(2π)·asin(2q − 1): narrow at the tails,
        // wide in the middle.
        var qLimit = TDigest.kInverse(TDigest.k(0) + 1)
        for (m, w) in points.dropFirst() {
            if (before + weight + w) / total <= qLimit {
                weight += w
                mean += (m - mean) * w / weight
            } else {
                outMeans.append(mean)
                outWeights.append(weight)
                before += weight
                qLimit = TDigest.kInverse(TDigest.k(before / total) + 1)
                mean = m
                weight = w
            }
        }
        outMeans.append(mean)
        outWeights.append(weight)
        means = outMeans
        weights = outWeights
    }

    static func k(_ q: Double) -> Double { compression / (2 * Double.pi) * cAsin(Swift.min(Swift.max(2 * q - 1, -1), 1)) }
    static func kInverse(_ k: Double) -> Double {
        let bound = compression / 4
        return (cSin(Swift.min(Swift.max(k, -bound), bound) * 2 * Double.pi / compression) + 1) / 2
    }

    public func merged(with o: TDigest) -> TDigest {
        var r = self
        r.means += o.means
        r.weights += o.weights
        r.buffer += o.buffer
        r.count += o.count
        r.minimum = Swift.min(r.minimum, o.minimum)
        r.maximum = Swift.max(r.maximum, o.maximum)
        r.compress()
        return r
    }

    /// The value at quantile p (0...1), interpolated between centroid centres; nil when empty.
    public func quantile(_ p: Double) -> Double? {
        guard count > 0 else { return nil }
        var d = self
        d.compress()
        let n = d.means.count
        if n == 1 { return d.means[0] }
        let target = Swift.min(Swift.max(p, 0), 1) * d.count
        // Centroid i's centre sits at cumulative weight `before + w/2`.
        var before = 0.0
        var prevCentre = 0.0, prevMean = d.minimum
        for i in 0..<n {
            let centre = before + d.weights[i] / 2
            if target <= centre {
                let span = centre - prevCentre
                let t = span > 0 ? (target - prevCentre) / span : 0
                return prevMean + (d.means[i] - prevMean) * t
            }
            prevCentre = centre
            prevMean = d.means[i]
            before += d.weights[i]
        }
        let span = d.count - prevCentre
        let t = span > 0 ? (target - prevCentre) / span : 1
        return prevMean + (d.maximum - prevMean) * t
    }

    /// Centroids, the values not yet folded in, and extremes, as they are: for snapshots.
    var parts: (means: [Double], weights: [Double], buffer: [Double], min: Double, max: Double) {
        (means, weights, buffer, minimum, maximum)
    }

    init(means: [Double], weights: [Double], buffer: [Double] = [], min: Double, max: Double) {
        self.means = means
        self.weights = weights
        self.buffer = buffer
        count = weights.reduce(0, +) + Double(buffer.count)
        minimum = min
        maximum = max
    }
}
