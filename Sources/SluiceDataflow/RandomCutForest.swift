import Foundation
public import SluiceCore

/// One random cut tree over the points its sampler keeps (Guha et al., 2016: collusive
/// displacement as the score). Nodes live in parallel buffers that double as the tree grows, up
/// to 2n - 1 nodes for a sample of n distinct points (a forest per partition of a key with few
/// rows stays small), so scoring and updating allocate nothing once it is full; a leaf (left
/// child -1) has its point as its box, and equal points share a leaf whose mass counts them. A
/// cut picks a dimension with probability proportional to the span of the box (grown by the new
/// point) and a value uniform in that span; values at or below the cut go left.
final class RandomCutTree {
    let dim: Int
    var rng: SplitMix64
    private(set) var root: Int32 = -1
    /// Nodes handed out so far (freed ones are reused first), and the room for them.
    private(set) var count = 0
    private var capacity: Int
    /// Children side by side, left at 2n and right at 2n + 1: a walk down picks one by index, with
    /// no branch to mispredict (the side is as good as random).
    private var child: UnsafeMutablePointer<Int32>, parent: UnsafeMutablePointer<Int32>
    private var cutDim: UnsafeMutablePointer<Int32>, mass: UnsafeMutablePointer<Int32>
    private var cutValue: UnsafeMutablePointer<Double>
    /// Internal nodes: their bounding box; leaves: their point (min == max).
    private var boxMin: UnsafeMutablePointer<Double>, boxMax: UnsafeMutablePointer<Double>
    private var free: [Int32] = []
    /// Scratch for scoring: the path from the root.
    private var path: UnsafeMutablePointer<Int32>

    /// A tree with room for `points` distinct points to start with; it grows as it needs.
    init(dimensions: Int, seed: UInt64, points: Int = 8) {
        dim = dimensions
        rng = SplitMix64(seed: seed)
        capacity = max(4, 2 * points)
        child = .allocate(capacity: 2 * capacity); parent = .allocate(capacity: capacity)
        cutDim = .allocate(capacity: capacity); mass = .allocate(capacity: capacity); cutValue = .allocate(capacity: capacity)
        boxMin = .allocate(capacity: capacity * dimensions); boxMax = .allocate(capacity: capacity * dimensions)
        path = .allocate(capacity: capacity + 1)
    }

    deinit {
        for p in [child, parent, cutDim, mass, path] { p.deallocate() }
        for p in [cutValue, boxMin, boxMax] { p.deallocate() }
    }

    private static func moved<T>(_ p: UnsafeMutablePointer<T>, _ count: Int, to newCapacity: Int) -> UnsafeMutablePointer<T> {
        let q = UnsafeMutablePointer<T>.allocate(capacity: newCapacity)
        q.update(from: p, count: count)
        p.deallocate()
        return q
    }

    private func grow(to n: Int) {
        guard n > capacity else { return }
        let c = max(n, 2 * capacity)
        child = Self.moved(child, 2 * count, to: 2 * c); parent = Self.moved(parent, count, to: c)
        cutDim = Self.moved(cutDim, count, to: c); mass = Self.moved(mass, count, to: c); cutValue = Self.moved(cutValue, count, to: c)
        boxMin = Self.moved(boxMin, count * dim, to: c * dim); boxMax = Self.moved(boxMax, count * dim, to: c * dim)
        path.deallocate()
        path = .allocate(capacity: c + 1)
        capacity = c
    }

    /// Points in the tree, duplicates counted.
    var treeMass: Int { root < 0 ? 0 : Int(mass[Int(root)]) }

    /// The child of internal node `n` on p's side of its cut, picked by index (no branch).
    @inline(__always) private func below(_ n: Int32, _ p: UnsafePointer<Double>) -> Int32 {
        let i = Int(n)
        return child[2 * i + (p[Int(cutDim[i])] > cutValue[i] ? 1 : 0)]
    }

    @inline(__always) private func isLeaf(_ n: Int32) -> Bool { child[2 * Int(n)] < 0 }

    private func newNode() -> Int32 {
        if let n = free.popLast() { return n }
        grow(to: count + 1)
        count += 1
        return Int32(count - 1)
    }

    private func newLeaf(_ p: UnsafePointer<Double>) -> Int32 {
        let n = newNode()
        let b = Int(n) * dim
        for i in 0..<dim { boxMin[b + i] = p[i]; boxMax[b + i] = p[i] }
        mass[Int(n)] = 1
        child[2 * Int(n)] = -1; child[2 * Int(n) + 1] = -1
        cutDim[Int(n)] = -1; cutValue[Int(n)] = 0  // unused; set so checkpoints hold no stale bytes
        return n
    }

    @inline(__always) private func equalsLeaf(_ n: Int32, _ p: UnsafePointer<Double>) -> Bool {
        let b = Int(n) * dim
        for i in 0..<dim where boxMin[b + i] != p[i] { return false }
        return true
    }

    func insert(_ p: [Double]) { p.withUnsafeBufferPointer { insert($0.baseAddress!) } }

    func insert(_ p: UnsafePointer<Double>) {
        guard root >= 0 else {
            root = newLeaf(p)
            parent[Int(root)] = -1
            return
        }
        var node = root
        while true {
            let b = Int(node) * dim
            if isLeaf(node) && equalsLeaf(node, p) {
                mass[Int(node)] += 1  // its ancestors were counted on the way down
                return
            }
            // A random cut of the box grown by p. At a leaf (a box of one point) the cut must fall
            // between the two points; floating-point edges can miss, so draw again.
            var total = 0.0
            for i in 0..<dim { total += max(boxMax[b + i], p[i]) - min(boxMin[b + i], p[i]) }
            var d = 0, cut = 0.0
            var separatesBelow = false, separatesAbove = false
            repeat {
                var r = rng.unit() * total
                d = -1
                for i in 0..<dim {
                    let lo = min(boxMin[b + i], p[i]), span = max(boxMax[b + i], p[i]) - lo
                    guard span > 0 else { continue }
                    d = i
                    cut = lo + r
                    if r < span { break }
                    r -= span
                }
                separatesBelow = p[d] <= cut && cut < boxMin[b + d]
                separatesAbove = boxMax[b + d] <= cut && cut < p[d]
            } while isLeaf(node) && !separatesBelow && !separatesAbove
            if separatesBelow || separatesAbove {
                // A new node above `node`, with p's leaf on its side of the cut.
                let leaf = newLeaf(p)
                let x = newNode()
                let up = parent[Int(node)]
                cutDim[Int(x)] = Int32(d)
                cutValue[Int(x)] = cut
                if p[d] <= cut { child[2 * Int(x)] = leaf; child[2 * Int(x) + 1] = node } else { child[2 * Int(x)] = node; child[2 * Int(x) + 1] = leaf }
                parent[Int(leaf)] = x
                parent[Int(node)] = x
                parent[Int(x)] = up
                mass[Int(x)] = mass[Int(node)] + 1
                let xb = Int(x) * dim
                for i in 0..<dim { boxMin[xb + i] = min(boxMin[b + i], p[i]); boxMax[xb + i] = max(boxMax[b + i], p[i]) }
                if up < 0 { root = x } else if child[2 * Int(up)] == node { child[2 * Int(up)] = x } else { child[2 * Int(up) + 1] = x }
                return
            }
            // The cut falls inside the box: p goes down the side of the node's own cut.
            mass[Int(node)] += 1
            for i in 0..<dim { boxMin[b + i] = min(boxMin[b + i], p[i]); boxMax[b + i] = max(boxMax[b + i], p[i]) }
            node = below(node, p)
        }
    }

    /// Removes one copy of p; false if the tree does not hold it.
    @discardableResult
    func delete(_ p: [Double]) -> Bool { p.withUnsafeBufferPointer { delete($0.baseAddress!) } }

    func delete(_ p: UnsafePointer<Double>) -> Bool {
        guard root >= 0 else { return false }
        var node = root
        while !isLeaf(node) { node = below(node, p) }
        guard equalsLeaf(node, p) else { return false }
        if mass[Int(node)] > 1 {
            var a = node
            while a >= 0 { mass[Int(a)] -= 1; a = parent[Int(a)] }
            return true
        }
        let up = parent[Int(node)]
        free.append(node)
        guard up >= 0 else {
            root = -1
            return true
        }
        let sibling = child[2 * Int(up)] == node ? child[2 * Int(up) + 1] : child[2 * Int(up)]
        let grand = parent[Int(up)]
        parent[Int(sibling)] = grand
        free.append(up)
        if grand < 0 {
            root = sibling
            return true
        }
        if child[2 * Int(grand)] == up { child[2 * Int(grand)] = sibling } else { child[2 * Int(grand) + 1] = sibling }
        // The ancestors lose the point: one less in mass, boxes shrunk to their children's.
        var a = grand
        while a >= 0 {
            mass[Int(a)] -= 1
            let ab = Int(a) * dim, lb = Int(child[2 * Int(a)]) * dim, rb = Int(child[2 * Int(a) + 1]) * dim
            for i in 0..<dim {
                boxMin[ab + i] = min(boxMin[lb + i], boxMin[rb + i])
                boxMax[ab + i] = max(boxMax[lb + i], boxMax[rb + i])
            }
            a = parent[Int(a)]
        }
        return true
    }

    // MARK: - Scoring

    func score(_ q: [Double], _ kind: RandomCutForest.Score = .displacement, attribution: inout [Double]?) -> Double {
        guard attribution != nil else { return q.withUnsafeBufferPointer { score($0.baseAddress!, kind, addingAttributionTo: nil) } }
        var a = [Double](repeating: 0, count: 2 * dim)
        let s = q.withUnsafeBufferPointer { qb in a.withUnsafeMutableBufferPointer { score(qb.baseAddress!, kind, addingAttributionTo: $0.baseAddress!) } }
        attribution = a
        return s
    }

    /// q's score of `kind` in this tree (q itself is not inserted): walks q down to its leaf, then
    /// scores the path (`displacement` or `depthScore`). With `sum`, adds to it each dimension's
    /// share of the score, split into above the sample (high) and below it (low), interleaved
    /// `[high0, low0, high1, ...]`; the shares add up to the score.
    func score(_ q: UnsafePointer<Double>, _ kind: RandomCutForest.Score, addingAttributionTo sum: UnsafeMutablePointer<Double>?) -> Double {
        guard root >= 0 else { return 0 }
        let child = self.child, cutDim = self.cutDim, cutValue = self.cutValue, path = self.path
        var depth = 0
        var node = root
        path[0] = node
        while child[2 * Int(node)] >= 0 {
            let n = Int(node)
            node = child[2 * n + (q[Int(cutDim[n])] > cutValue[n] ? 1 : 0)]
            depth += 1
            path[depth] = node
        }
        return score(q, pathDepth: depth, kind, addingAttributionTo: sum)
    }

    /// Walks q down four (non-empty) trees at once, filling their paths: four independent chains
    /// of loads, so a wait on memory in one tree overlaps the others'. Their depths.
    static func descend(_ t0: RandomCutTree, _ t1: RandomCutTree, _ t2: RandomCutTree, _ t3: RandomCutTree,
                        _ q: UnsafePointer<Double>) -> (Int, Int, Int, Int) {
        let c0 = t0.child, d0 = t0.cutDim, v0 = t0.cutValue, p0 = t0.path
        let c1 = t1.child, d1 = t1.cutDim, v1 = t1.cutValue, p1 = t1.path
        let c2 = t2.child, d2 = t2.cutDim, v2 = t2.cutValue, p2 = t2.path
        let c3 = t3.child, d3 = t3.cutDim, v3 = t3.cutValue, p3 = t3.path
        var n0 = Int(t0.root), n1 = Int(t1.root), n2 = Int(t2.root), n3 = Int(t3.root)
        var k0 = 0, k1 = 0, k2 = 0, k3 = 0
        p0[0] = Int32(n0); p1[0] = Int32(n1); p2[0] = Int32(n2); p3[0] = Int32(n3)
        while true {
            var moved = false
            if c0[2 * n0] >= 0 { n0 = Int(c0[2 * n0 + (q[Int(d0[n0])] > v0[n0] ? 1 : 0)]); k0 += 1; p0[k0] = Int32(n0); moved = true }
            if c1[2 * n1] >= 0 { n1 = Int(c1[2 * n1 + (q[Int(d1[n1])] > v1[n1] ? 1 : 0)]); k1 += 1; p1[k1] = Int32(n1); moved = true }
            if c2[2 * n2] >= 0 { n2 = Int(c2[2 * n2 + (q[Int(d2[n2])] > v2[n2] ? 1 : 0)]); k2 += 1; p2[k2] = Int32(n2); moved = true }
            if c3[2 * n3] >= 0 { n3 = Int(c3[2 * n3 + (q[Int(d3[n3])] > v3[n3] ? 1 : 0)]); k3 += 1; p3[k3] = Int32(n3); moved = true }
            if !moved { return (k0, k1, k2, k3) }
        }
    }

    /// The score of q from its path down this tree (`path[0...depth]`, root to leaf).
    @inline(__always)
    func score(_ q: UnsafePointer<Double>, pathDepth depth: Int, _ kind: RandomCutForest.Score, addingAttributionTo sum: UnsafeMutablePointer<Double>?) -> Double {
        switch kind {
        case .displacement: return displacement(q, pathDepth: depth, addingAttributionTo: sum)
        case .depth: return depthScore(q, pathDepth: depth, addingAttributionTo: sum)
        }
    }

    /// The anomaly score of randomcutforest-by-aws (the score of Kinesis Data Analytics'
    /// RANDOM_CUT_FOREST), from q's path down this tree: the inverse of the depth at which the
    /// random cut that would insert q separates it, in expectation, scaled by log2(1 + points) so
    /// that a point in the thick of the sample scores about 1. Walking up from the leaf: at the
    /// leaf the score is 1 / (depth + 1) (q would hang one level below it), or, when q equals the
    /// leaf's point, 1 / (depth + log2(1 + its mass)) damped by 1 - mass / (2 · points) and final;
    /// at each ancestor at depth k a cut of its box grown by q separates q with probability p (the
    /// growth over the grown box's size), so the score becomes (1 - p) · score + p / (k + 1); at
    /// the first box that holds q (p = 0) nothing above changes it. With `sum`, each dimension's
    /// share goes to it in the same interleaved layout as `displacement`: a separation's part to
    /// the dimensions in proportion to how far q lies outside the box in them.
    func depthScore(_ q: UnsafePointer<Double>, pathDepth depth: Int, addingAttributionTo sum: UnsafeMutablePointer<Double>?) -> Double {
        let boxMin = self.boxMin, boxMax = self.boxMax, path = self.path, dim = self.dim, mass = self.mass
        let leaf = path[depth]
        let points = Double(treeMass)
        let scale = log2(1 + points)
        if equalsLeaf(leaf, q) {
            let m = Double(mass[Int(leaf)])
            let s = (1 - m / (2 * points)) / (Double(depth) + log2(1 + m)) * scale
            if let sum { for i in 0..<(2 * dim) { sum[i] += s / Double(2 * dim) } }
            return s
        }
        var score = 1 / Double(depth + 1)
        // Shares of the score per dimension, high and low interleaved, while q's box is not reached.
        var share: UnsafeMutablePointer<Double>? = nil
        if sum != nil {
            let a = UnsafeMutablePointer<Double>.allocate(capacity: 2 * dim)
            a.initialize(repeating: 0, count: 2 * dim)
            let lb = Int(leaf) * dim
            var spread = 0.0
            for i in 0..<dim { spread += abs(q[i] - boxMin[lb + i]) }
            for i in 0..<dim where spread > 0 {
                let part = score * abs(q[i] - boxMin[lb + i]) / spread
                if q[i] > boxMin[lb + i] { a[2 * i] = part } else { a[2 * i + 1] = part }
            }
            share = a
        }
        var k = depth - 1
        while k >= 0 {
            let b = Int(path[k]) * dim
            var grown = 0.0, old = 0.0
            for i in 0..<dim {
                let lo = boxMin[b + i], hi = boxMax[b + i], x = q[i]
                old += hi - lo
                grown += max(hi, x) - min(lo, x)
            }
            guard grown > old else { break }  // the box holds q: so do all above it
            let p = (grown - old) / grown, unseen = 1 / Double(k + 1)
            score = (1 - p) * score + p * unseen
            if let a = share {
                for i in 0..<(2 * dim) { a[i] *= 1 - p }
                for i in 0..<dim {
                    if q[i] > boxMax[b + i] { a[2 * i] += unseen * (q[i] - boxMax[b + i]) / grown }
                    if q[i] < boxMin[b + i] { a[2 * i + 1] += unseen * (boxMin[b + i] - q[i]) / grown }
                }
            }
            k -= 1
        }
        if let a = share, let sum {
            for i in 0..<(2 * dim) { sum[i] += a[i] * scale }
            a.deallocate()
        }
        return score * scale
    }

    /// The collusive displacement of q (Guha et al., 2016) from its path down this tree, in
    /// expectation over the random cut that would insert it. Inserted at node v (a cut of v's box grown
    /// by q separates q from it, which happens first at v with the probability that v's cut does
    /// and none above it did), q's leaf has v's subtree as its sibling: removing q displaces
    /// mass(v) points, and each ancestor u on the way up displaces (mass(u) - mass(c)) / (mass(c)
    /// + 1) per point of its child c holding q. The score is the largest of these: about 1 for
    /// points in the thick of the sample, up to the sample size for a point far from all of it.
    /// With `sum`, each node's part goes to the dimensions in proportion to how far q lies outside
    /// its box in them.
    func displacement(_ q: UnsafePointer<Double>, pathDepth depth: Int, addingAttributionTo sum: UnsafeMutablePointer<Double>?) -> Double {
        let boxMin = self.boxMin, boxMax = self.boxMax, path = self.path, dim = self.dim, mass = self.mass
        let node = path[depth]
        // No cut can separate q at a node whose box holds it: find the highest box that does not,
        // walking up from the leaf (boxes grow upwards).
        var top = depth
        while top > 0 {
            let b = Int(path[top - 1]) * dim
            var inside = true
            for i in 0..<dim where q[i] < boxMin[b + i] || q[i] > boxMax[b + i] { inside = false; break }
            if inside { break }
            top -= 1
        }
        var above = 0.0  // the largest displacement of the ancestors above the insertion point
        for j in 0..<top {
            let m = Double(mass[Int(path[j])]), c = Double(mass[Int(path[j + 1])])
            above = max(above, (m - c) / (c + 1))
        }
        var rest = 1.0, expected = 0.0
        for k in top...depth {
            let n = Int(path[k]), m = Double(mass[n])
            if k == depth && equalsLeaf(node, q) {
                // q joins its twin's leaf: only the ancestors' displacements count.
                expected += rest * above
                if let sum { for i in 0..<(2 * dim) { sum[i] += rest * above / Double(2 * dim) } }
                break
            }
            let b = n * dim
            var grown = 0.0, old = 0.0
            for i in 0..<dim {
                let lo = boxMin[b + i], hi = boxMax[b + i], x = q[i]
                old += hi - lo
                grown += max(hi, x) - min(lo, x)
            }
            // At the leaf (q differs from its point) the cut always separates.
            let pCut = k == depth ? 1 : (grown > 0 ? (grown - old) / grown : 0)
            let part = rest * max(m, above)
            expected += part * pCut
            if let sum, grown > 0 {
                for i in 0..<dim {
                    if q[i] > boxMax[b + i] { sum[2 * i] += part * (q[i] - boxMax[b + i]) / grown }
                    if q[i] < boxMin[b + i] { sum[2 * i + 1] += part * (boxMin[b + i] - q[i]) / grown }
                }
            }
            rest *= 1 - pCut
            if k < depth {
                let c = Double(mass[Int(path[k + 1])])
                above = max(above, (m - c) / (c + 1))
            }
        }
        return expected
    }

    /// The collusive displacement of a point the tree holds: the largest, over the subtrees on
    /// its way to the root, of the sibling's mass over the subtree's (tests check `score` against
    /// it: inserting q and taking this is what `score` expects over the random cut).
    func displacement(ofHeld p: [Double]) -> Double? {
        guard root >= 0 else { return nil }
        var node = root
        while !isLeaf(node) { node = below(node, p) }
        guard p.withUnsafeBufferPointer({ equalsLeaf(node, $0.baseAddress!) }) else { return nil }
        var result = 0.0
        while parent[Int(node)] >= 0 {
            let up = parent[Int(node)], sibling = child[2 * Int(up)] == node ? child[2 * Int(up) + 1] : child[2 * Int(up)]
            result = max(result, Double(mass[Int(sibling)]) / Double(mass[Int(node)]))
            node = up
        }
        return result
    }

    /// The depth (edges from the root) of the leaf of a point the tree holds (tests check
    /// `depthScore` against it: inserting q and taking 1 / this is what it expects, before scaling).
    func depth(ofHeld p: [Double]) -> Int? {
        guard root >= 0 else { return nil }
        var node = root, depth = 0
        while !isLeaf(node) { node = below(node, p); depth += 1 }
        guard p.withUnsafeBufferPointer({ equalsLeaf(node, $0.baseAddress!) }) else { return nil }
        return depth
    }

    /// Checks the tree's invariants (tests): masses add up, boxes hold their children, cuts
    /// separate the children's boxes, parents point back.
    func check() -> String? {
        guard root >= 0 else { return nil }
        var stack = [root]
        var visited = 0
        while let n = stack.popLast() {
            let i = Int(n)
            visited += 1
            if visited > count { return "the nodes form a cycle" }
            if isLeaf(n) { continue }
            let l = Int(child[2 * i]), r = Int(child[2 * i + 1])
            guard l < count, r >= 0, r < count else { return "node \(n): a child is out of range" }
            if parent[l] != n || parent[r] != n { return "node \(n): a child does not point back" }
            if mass[i] != mass[l] + mass[r] { return "node \(n): mass \(mass[i]) != \(mass[l]) + \(mass[r])" }
            for d in 0..<dim {
                if boxMin[i * dim + d] != min(boxMin[l * dim + d], boxMin[r * dim + d]) || boxMax[i * dim + d] != max(boxMax[l * dim + d], boxMax[r * dim + d]) {
                    return "node \(n): box is not the union of its children's"
                }
            }
            let c = Int(cutDim[i])
            guard c >= 0, c < dim else { return "node \(n): the cut's dimension is out of range" }
            if boxMax[l * dim + c] > cutValue[i] || boxMin[r * dim + c] <= cutValue[i] { return "node \(n): the cut does not separate its children" }
            stack.append(child[2 * i])
            stack.append(child[2 * i + 1])
        }
        return nil
    }
}

/// A tree's sample: time-decayed reservoir sampling as in randomcutforest-by-aws. The point with
/// sequence number s gets the weight -s·λ + ln(-ln u) (u uniform); the sample keeps the lowest
/// weights (a max-heap evicts the highest), so recent points are likelier to stay. While it fills,
/// a point is taken outright with a probability that falls from 1 (below `initialFraction` of the
/// capacity) to 0 (at capacity).
struct ReservoirSampler {
    let capacity: Int
    let timeDecay: Double
    let initialFraction: Double
    /// The max-heap of weights, and for each entry the slot of its point in `points`: sifting
    /// moves numbers only.
    private var weights: [Double] = []
    private var slots: [Int32] = []
    private var points: [[Double]] = []

    init(capacity: Int, timeDecay: Double, initialFraction: Double) {
        self.capacity = capacity
        self.timeDecay = timeDecay
        self.initialFraction = initialFraction
    }

    /// The sample in heap order, heaviest first.
    var heap: [(weight: Double, point: [Double])] { weights.indices.map { (weights[$0], points[Int(slots[$0])]) } }

    mutating func setHeap(_ h: [(weight: Double, point: [Double])]) {
        weights = h.map(\.weight)
        points = h.map(\.point)
        slots = h.indices.map { Int32($0) }
    }

    private func acceptFraction(_ size: Int) -> Double {
        let start = initialFraction * Double(capacity)
        if Double(size) < start { return 1 }
        return max(0, 1 - (Double(size) - start) / (Double(capacity) - start))
    }

    /// Whether point number `sequence` enters the sample, and the point it pushes out.
    mutating func offer(_ point: [Double], sequence: Int64, rng: inout SplitMix64) -> (accepted: Bool, evicted: [Double]?) {
        var u = rng.unit()
        if u == 0 { u = 0x1p-53 }
        let weight = -Double(sequence) * timeDecay + log(-log(u))
        let initial = weights.count < capacity && rng.unit() < acceptFraction(weights.count)
        guard initial || (!weights.isEmpty && weight < weights[0]) else { return (false, nil) }
        if initial {
            weights.append(weight)
            slots.append(Int32(points.count))
            points.append(point)
            siftUp(weights.count - 1)
            return (true, nil)
        }
        // Past the initial phase a point enters only in place of the heaviest.
        let slot = Int(slots[0])
        let evicted = points[slot]
        points[slot] = point
        weights[0] = weight
        siftDown(0)
        return (true, evicted)
    }

    private mutating func siftUp(_ i: Int) {
        var c = i
        while c > 0 {
            let p = (c - 1) / 2
            guard weights[c] > weights[p] else { break }
            weights.swapAt(c, p)
            slots.swapAt(c, p)
            c = p
        }
    }

    private mutating func siftDown(_ i: Int) {
        var p = i
        let n = weights.count
        while true {
            let l = 2 * p + 1, r = l + 1
            var m = p
            if l < n && weights[l] > weights[m] { m = l }
            if r < n && weights[r] > weights[m] { m = r }
            if m == p { return }
            weights.swapAt(p, m)
            slots.swapAt(p, m)
            p = m
        }
    }
}

/// A random cut forest over a stream of points: each point is scored against the trees' samples
/// (before it joins them), then offered to every tree's sampler. Consecutive points can be
/// shingled (the last `shingle` points side by side form one point). Deterministic under a seed.
public final class RandomCutForest {
    /// How a point is scored against the trees (`RandomCutTree.depthScore`, `.displacement`).
    public enum Score: String, Sendable, Equatable, CaseIterable {
        /// randomcutforest-by-aws's anomaly score (Kinesis Data Analytics'): about 1 for ordinary points.
        case depth
        /// Collusive displacement: about 1-10 for ordinary points, up to the sample size.
        case displacement
    }

    public struct Configuration: Sendable, Equatable {
        public var dimensions: Int
        public var trees = 100
        public var sampleSize = 256
        public var shingle = 1
        /// λ of the samplers; by default 1 / (10 · sampleSize), as randomcutforest-by-aws.
        public var timeDecay: Double? = nil
        /// Scores are 0 until this many points were seen (by default 1 + sampleSize / 4).
        public var outputAfter: Int? = nil
        public var initialAcceptFraction = 0.125
        public var seed: UInt64 = 42
        public var score: Score = .displacement

        public init(dimensions: Int) { self.dimensions = dimensions }
    }

    public let configuration: Configuration
    var trees: [RandomCutTree] = []
    var samplers: [ReservoirSampler] = []
    var recent: [[Double]] = []
    public internal(set) var seen: Int64 = 0
    /// The snapshot, until the next update.
    var encoded: JSONValue? = nil

    public init(_ c: Configuration) {
        configuration = c
        let lambda = c.timeDecay ?? 1 / (10 * Double(c.sampleSize))
        var seeds = SplitMix64(seed: c.seed)
        for _ in 0..<c.trees {
            trees.append(RandomCutTree(dimensions: c.dimensions * c.shingle, seed: seeds.next()))
            samplers.append(ReservoirSampler(capacity: c.sampleSize, timeDecay: lambda, initialFraction: c.initialAcceptFraction))
        }
    }

    /// The shingled point for a new input, or nil while the shingle is not full yet.
    private func shingled(_ x: [Double]) -> [Double]? {
        recent.append(x)
        if recent.count > configuration.shingle { recent.removeFirst() }
        guard recent.count == configuration.shingle else { return nil }
        return recent.flatMap { $0 }
    }

    /// Scores a point against the forest, then adds it. With `attribution`, per input dimension
    /// (of the shingled point) the high and low parts of the score, interleaved.
    public func update(_ x: [Double], attribution: inout [Double]?) -> Double {
        precondition(x.count == configuration.dimensions)
        encoded = nil
        guard let p = shingled(x) else { return 0 }
        let ready = seen >= Int64(configuration.outputAfter ?? 1 + configuration.sampleSize / 4)
        var score = 0.0
        let kind = configuration.score
        if ready {
            p.withUnsafeBufferPointer { q in
                if attribution == nil {
                    score = scoreAll(q.baseAddress!, kind)
                } else {
                    var sum = [Double](repeating: 0, count: 2 * p.count)
                    sum.withUnsafeMutableBufferPointer { s in
                        for t in trees { score += t.score(q.baseAddress!, kind, addingAttributionTo: s.baseAddress!) }
                    }
                    attribution = sum.map { $0 / Double(trees.count) }
                }
            }
            score /= Double(trees.count)
        } else if attribution != nil {
            attribution = [Double](repeating: 0, count: 2 * p.count)
        }
        for i in trees.indices {
            let (accepted, evicted) = samplers[i].offer(p, sequence: seen, rng: &trees[i].rng)
            guard accepted else { continue }
            if let e = evicted { trees[i].delete(e) }
            trees[i].insert(p)
        }
        seen += 1
        return score
    }

    /// The sum of the trees' scores of q, four trees walked down at a time.
    private func scoreAll(_ q: UnsafePointer<Double>, _ kind: Score) -> Double {
        var total = 0.0
        var i = 0
        let n = trees.count
        while i + 4 <= n {
            let t0 = trees[i], t1 = trees[i + 1], t2 = trees[i + 2], t3 = trees[i + 3]
            if t0.root >= 0 && t1.root >= 0 && t2.root >= 0 && t3.root >= 0 {
                let (k0, k1, k2, k3) = RandomCutTree.descend(t0, t1, t2, t3, q)
                total += t0.score(q, pathDepth: k0, kind, addingAttributionTo: nil)
                total += t1.score(q, pathDepth: k1, kind, addingAttributionTo: nil)
                total += t2.score(q, pathDepth: k2, kind, addingAttributionTo: nil)
                total += t3.score(q, pathDepth: k3, kind, addingAttributionTo: nil)
            } else {
                for t in [t0, t1, t2, t3] { total += t.score(q, kind, addingAttributionTo: nil) }
            }
            i += 4
        }
        while i < n {
            total += trees[i].score(q, kind, addingAttributionTo: nil)
            i += 1
        }
        return total
    }

    public func update(_ x: [Double]) -> Double {
        var none: [Double]? = nil
        return update(x, attribution: &none)
    }
}

// MARK: - Checkpoints

/// A forest's state as one little-endian byte string (base64 in the checkpoint): whole arrays
/// copied at once, and one string per forest rather than a dozen per tree, so a query with
/// thousands of partitions checkpoints in little time and memory.
struct ForestBytes {
    var bytes: [UInt8] = []

    mutating func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }

    /// `count` values from `p`, as they are in memory (little-endian machines; others swap).
    mutating func put<T: FixedWidthInteger>(_ p: UnsafePointer<T>, _ count: Int) {
        #if _endian(little)
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: p, count: count * MemoryLayout<T>.size))
        #else
        for k in 0..<count { put(p[k]) }
        #endif
    }

    mutating func put(_ p: UnsafePointer<Double>, _ count: Int) {
        p.withMemoryRebound(to: UInt64.self, capacity: count) { put($0, count) }
    }

    mutating func put(_ a: [Double]) { a.withUnsafeBufferPointer { if let b = $0.baseAddress { put(b, a.count) } } }
}

/// Reads what `ForestBytes` wrote; every read checks that the bytes are there.
struct ForestBytesReader {
    let bytes: [UInt8]
    var at = 0

    mutating func take(_ n: Int) throws(SnapshotError) -> Range<Int> {
        guard n >= 0, at + n <= bytes.count else { throw SnapshotError("a forest's state is cut short") }
        defer { at += n }
        return at..<(at + n)
    }

    mutating func get<T: FixedWidthInteger>(_: T.Type = T.self) throws(SnapshotError) -> T {
        let r = try take(MemoryLayout<T>.size)
        return bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: r.lowerBound, as: T.self)) }
    }

    /// A count, at most `limit`.
    mutating func count(atMost limit: Int) throws(SnapshotError) -> Int {
        let n = Int(try get(UInt32.self))
        guard n <= limit else { throw SnapshotError("a forest's state holds a count out of range") }
        return n
    }

    mutating func get<T: FixedWidthInteger>(_ count: Int, into p: UnsafeMutablePointer<T>) throws(SnapshotError) {
        let r = try take(count * MemoryLayout<T>.size)
        bytes.withUnsafeBytes { raw in
            for k in 0..<count { p[k] = T(littleEndian: raw.loadUnaligned(fromByteOffset: r.lowerBound + k * MemoryLayout<T>.size, as: T.self)) }
        }
    }

    mutating func get(_ count: Int, into p: UnsafeMutablePointer<Double>) throws(SnapshotError) {
        try p.withMemoryRebound(to: UInt64.self, capacity: count) { (q) throws(SnapshotError) in try get(count, into: q) }
    }

    mutating func doubles(_ count: Int) throws(SnapshotError) -> [Double] {
        var a = [Double](repeating: 0, count: count)
        try a.withUnsafeMutableBufferPointer { (b) throws(SnapshotError) in if let p = b.baseAddress { try get(count, into: p) } }
        return a
    }
}

extension RandomCutTree {
    func write(to w: inout ForestBytes) {
        w.put(rng.state)
        w.put(root)
        w.put(UInt32(count))
        w.put(UInt32(free.count))
        free.withUnsafeBufferPointer { if let b = $0.baseAddress { w.put(b, free.count) } }
        w.put(child, 2 * count)
        w.put(parent, count)
        w.put(cutDim, count)
        w.put(cutValue, count)
        w.put(mass, count)
        w.put(boxMin, count * dim)
        w.put(boxMax, count * dim)
    }

    func read(from r: inout ForestBytesReader, sampleSize: Int) throws(SnapshotError) {
        let state = try r.get(UInt64.self)
        let rt = try r.get(Int32.self)
        // A sample of n distinct points needs at most 2n - 1 nodes; freed ones are kept for reuse.
        let n = try r.count(atMost: 4 * sampleSize + 8)
        let f = try r.count(atMost: n)
        var fr = [Int32](repeating: 0, count: f)
        try fr.withUnsafeMutableBufferPointer { (b) throws(SnapshotError) in if let p = b.baseAddress { try r.get(f, into: p) } }
        grow(to: n)
        try r.get(2 * n, into: child)
        try r.get(n, into: parent)
        try r.get(n, into: cutDim)
        try r.get(n, into: cutValue)
        try r.get(n, into: mass)
        try r.get(n * dim, into: boxMin)
        try r.get(n * dim, into: boxMax)
        guard rt >= -1, rt < Int32(n), fr.allSatisfy({ $0 >= 0 && $0 < Int32(n) }) else { throw SnapshotError("a tree's arrays do not fit together") }
        count = n
        free = fr
        root = rt
        rng = SplitMix64(seed: state)
        if let why = check() { throw SnapshotError("a tree is inconsistent: \(why)") }
    }
}

extension ReservoirSampler {
    func write(to w: inout ForestBytes) {
        let h = heap
        w.put(UInt32(h.count))
        w.put(h.map(\.weight))
        for e in h { w.put(e.point) }
    }

    mutating func read(from r: inout ForestBytesReader, dimensions: Int) throws(SnapshotError) {
        let n = try r.count(atMost: capacity)
        let w = try r.doubles(n), pts = try r.doubles(n * dimensions)
        setHeap(w.indices.map { (w[$0], Array(pts[($0 * dimensions)..<(($0 + 1) * dimensions)])) })
    }
}

extension RandomCutForest {
    static let stateVersion: UInt32 = 1

    /// The whole state (trees, samples, random generators, the shingle, the count): a restored
    /// forest scores exactly as the one that took the snapshot. Kept until the forest changes,
    /// so a checkpoint re-encodes only the forests that saw rows since the last one.
    public var snapshot: JSONValue {
        if let s = encoded { return s }
        var w = ForestBytes()
        w.put(Self.stateVersion)
        w.put(seen)
        w.put(UInt32(recent.count))
        for x in recent { w.put(x) }
        for t in trees { t.write(to: &w) }
        for s in samplers { s.write(to: &w) }
        let s: JSONValue = ["config": .string(configuration.fingerprint), "state": .string(Data(w.bytes).base64EncodedString())]
        encoded = s
        return s
    }

    public func restore(_ j: JSONValue) throws(SnapshotError) {
        guard j["config"]?.stringValue == configuration.fingerprint else { throw SnapshotError("the forest's parameters have changed") }
        guard let text = j["state"]?.stringValue, let data = Data(base64Encoded: text) else {
            throw SnapshotError("a forest's state is missing or not base64 (a checkpoint of an earlier build?)")
        }
        var r = ForestBytesReader(bytes: [UInt8](data))
        guard try r.get(UInt32.self) == Self.stateVersion else { throw SnapshotError("a forest's state is of another version") }
        let n = try r.get(Int64.self)
        let c = configuration
        let k = try r.count(atMost: c.shingle)
        var rec: [[Double]] = []
        for _ in 0..<k { rec.append(try r.doubles(c.dimensions)) }
        for t in trees { try t.read(from: &r, sampleSize: c.sampleSize) }
        for i in samplers.indices { try samplers[i].read(from: &r, dimensions: c.dimensions * c.shingle) }
        guard r.at == r.bytes.count, n >= 0 else { throw SnapshotError("a forest's state has bytes left over") }
        recent = rec
        seen = n
        encoded = j
    }
}

extension RandomCutForest.Configuration {
    var fingerprint: String {
        "d=\(dimensions) trees=\(trees) sample=\(sampleSize) shingle=\(shingle) decay=\(timeDecay.map { String($0.bitPattern) } ?? "-") after=\(outputAfter.map(String.init) ?? "-") f=\(initialAcceptFraction.bitPattern) seed=\(seed)"
            + (score == .displacement ? "" : " score=\(score.rawValue)")  // (displacement forests kept the fingerprint they had)
    }
}
