public import SluiceCore

/// `HOTSPOTS` (Kinesis Data Analytics' hotspot detector): the dense regions among a partition's
/// last `windowSize` points, given with each row as JSON: `{"hotspots": [{"density": d,
/// "minValues": [...], "maxValues": [...]}, ...]}`, densest first.
///
/// KDA documented the parameters and the output but not the algorithm; Sluice's is a grid form of
/// DBSCAN, linear in the window per row. Space is cut into cells of side `scanRadius` (KDA's
/// "typical distance between a point of a hotspot and its neighbours"); a cell is dense when it
/// and the cells around it (the 3^d cells touching it; only itself past 4 dimensions) hold at
/// least `minimumPoints` of the window's points; touching dense cells make one hotspot, whose box
/// is its points' smallest and largest value per column and whose density is its points over its
/// box's size counted in cells (each side's extent over the radius, plus one). State per
/// partition: the window's points.
public final class Hotspots: PartitionModel {
    public struct Configuration: Sendable, Equatable {
        public var windowSize: Int
        public var scanRadius: Double
        public var minimumPoints: Int
        public init(windowSize: Int, scanRadius: Double, minimumPoints: Int) {
            self.windowSize = windowSize
            self.scanRadius = scanRadius
            self.minimumPoints = minimumPoints
        }
    }

    let configuration: Configuration
    let dimensions: Int
    private(set) var seen: Int64 = 0
    /// The window's points, oldest first.
    private var points: [[Double]] = []
    private var first = 0
    /// Points per cell.
    private var counts: [[Int64]: Int] = [:]

    public init(_ c: Configuration, dimensions: Int) {
        configuration = c
        self.dimensions = dimensions
    }

    func cell(_ p: [Double]) -> [Int64] {
        p.map { Int64(clamping: Int64(exactly: ($0 / configuration.scanRadius).rounded(.down)) ?? ($0 < 0 ? Int64.min / 4 : Int64.max / 4)) }
    }

    /// The window's points in order.
    var window: [[Double]] { Array(points[first...] + points[..<first]) }

    func score(_ point: [Double], into row: inout [Value]) {
        row.append(.string(Hotspots.json(update(point))))
    }

    public struct Hotspot: Equatable, Sendable {
        public var density: Double
        public var minValues: [Double]
        public var maxValues: [Double]
    }

    /// Adds a point to the window (the oldest leaves a full one) and gives the window's hotspots.
    public func update(_ point: [Double]) -> [Hotspot] {
        precondition(point.count == dimensions)
        if points.count < configuration.windowSize {
            points.append(point)
        } else {
            let old = cell(points[first])
            counts[old, default: 0] -= 1
            if counts[old] == 0 { counts[old] = nil }
            points[first] = point
            first = (first + 1) % points.count
        }
        counts[cell(point), default: 0] += 1
        seen += 1
        return hotspots()
    }

    /// The offsets of the cells touching a cell (itself included).
    private lazy var around: [[Int64]] = {
        guard dimensions <= 4 else { return [[Int64](repeating: 0, count: dimensions)] }
        var out: [[Int64]] = [[]]
        for _ in 0..<dimensions { out = out.flatMap { o in [-1, 0, 1].map { o + [Int64($0)] } } }
        return out
    }()

    private func neighbours(_ c: [Int64]) -> [[Int64]] { around.map { zip(c, $0).map { $0 &+ $1 } } }

    func hotspots() -> [Hotspot] {
        // Dense cells, then the groups they make by touching.
        var dense = Set<[Int64]>()
        for c in counts.keys where neighbours(c).reduce(0, { $0 + (counts[$1] ?? 0) }) >= configuration.minimumPoints { dense.insert(c) }
        var group: [[Int64]: Int] = [:]
        var groups = 0
        for c in dense.sorted(by: { $0.lexicographicallyPrecedes($1) }) where group[c] == nil {
            var stack = [c]
            group[c] = groups
            while let x = stack.popLast() {
                for n in neighbours(x) where dense.contains(n) && group[n] == nil {
                    group[n] = groups
                    stack.append(n)
                }
            }
            groups += 1
        }
        guard groups > 0 else { return [] }
        var low = [[Double]](repeating: [Double](repeating: .infinity, count: dimensions), count: groups)
        var high = [[Double]](repeating: [Double](repeating: -.infinity, count: dimensions), count: groups)
        var members = [Int](repeating: 0, count: groups)
        for p in points {
            guard let g = group[cell(p)] else { continue }
            members[g] += 1
            for i in 0..<dimensions {
                low[g][i] = min(low[g][i], p[i])
                high[g][i] = max(high[g][i], p[i])
            }
        }
        var out: [Hotspot] = []
        for g in 0..<groups where members[g] > 0 {
            var size = 1.0
            for i in 0..<dimensions { size *= (high[g][i] - low[g][i]) / configuration.scanRadius + 1 }
            out.append(Hotspot(density: Double(members[g]) / size, minValues: low[g], maxValues: high[g]))
        }
        return out.sorted { $0.density != $1.density ? $0.density > $1.density : $0.minValues.lexicographicallyPrecedes($1.minValues) }
    }

    static func json(_ spots: [Hotspot]) -> String {
        JSONValue.object(["hotspots": .array(spots.map {
            .object(["density": .double($0.density), "minValues": .array($0.minValues.map { .double($0) }), "maxValues": .array($0.maxValues.map { .double($0) })])
        })]).serialized()
    }

    var snapshot: JSONValue {
        ["seen": .int(seen), "points": .array(window.map { .array($0.map { .double($0) }) })]
    }

    func restore(_ j: JSONValue) throws(SnapshotError) {
        var restored: [[Double]] = []
        for p in try Snap.array(j["points"]) {
            var point: [Double] = []
            for x in try Snap.array(p) {
                guard let d = x.doubleValue else { throw SnapshotError("a hotspot window's point holds a value that is not a number") }
                point.append(d)
            }
            guard point.count == dimensions else { throw SnapshotError("a hotspot window's point has another number of columns") }
            restored.append(point)
        }
        guard restored.count <= configuration.windowSize else { throw SnapshotError("a hotspot window holds more points than its size") }
        let s = try Snap.int(j["seen"])
        points = restored
        first = 0
        counts = [:]
        for p in points { counts[cell(p), default: 0] += 1 }
        seen = s
    }
}
