import Testing
import SluiceCore
@testable import SluiceDataflow

/// Interval joins against a brute-force join of the same rows, on seeded out-of-order data.
@Suite("Interval joins")
struct IntervalJoinTests {
    struct Row { var ts: Int64; var key: Int64; var id: Int; var left: Bool }

    func run(left: Bool, lower: Int64, upper: Int64, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var rows: [Row] = []
        var clock: Int64 = 0
        for i in 0..<3000 {
            clock += Int64(rng.next() % 400)
            rows.append(Row(ts: max(0, clock - Int64(rng.next() % 3000)), key: Int64(rng.next() % 20), id: i, left: rng.next() % 2 == 0))
        }
        let op = IntervalJoinOperator(lower: lower, upper: upper, left: left, rightWidth: 2)
        var out: [[Value]] = []
        var maxLeft = Int64.min, maxRight = Int64.min
        var peak = 0
        for (i, r) in rows.enumerated() {
            let row: [Value] = [.int(Int64(r.id)), .timestamp(r.ts)]
            let joined = r.left ? op.addLeft(key: [.int(r.key)], time: r.ts, row: row) : op.addRight(key: [.int(r.key)], time: r.ts, row: row)
            #expect(joined != nil)  // the disorder stays within the 3 s delay
            out += joined ?? []
            if r.left { maxLeft = max(maxLeft, r.ts) } else { maxRight = max(maxRight, r.ts) }
            if i % 10 == 9 { out += op.advance(left: maxLeft &- 3000, right: maxRight &- 3000) }
            peak = max(peak, op.heldRows)
        }
        out += op.advance(left: WatermarkTracker.infinity, right: WatermarkTracker.infinity)
        #expect(op.heldRows == 0)
        // State stays near what the bounds and the delay require, far below the input.
        #expect(peak < 400, "peak \(peak)")

        var expected: [String] = []
        let lefts = rows.filter(\.left), rights = rows.filter { !$0.left }
        for l in lefts {
            let matches = rights.filter { $0.key == l.key && $0.ts >= l.ts + lower && $0.ts <= l.ts + upper }
            for m in matches { expected.append("\(l.id)-\(m.id)") }
            if matches.isEmpty && left { expected.append("\(l.id)-NULL") }
        }
        let got = out.map { r -> String in
            if case .int(let a) = r[0] { return "\(a)-" + (r[2] == .null ? "NULL" : { if case .int(let b) = r[2] { return "\(b)" }; return "?" }()) }
            return "?"
        }
        #expect(got.sorted() == expected.sorted())
    }

    @Test func innerJoinsMatchABruteForceJoin() { run(left: false, lower: 0, upper: 2000, seed: 1) }
    /// Keys of every kind: one integer, two integers, a string, and some NULL (meeting nothing),
    /// over many keys, so the side tables grow, and shrink as keys expire.
    @Test(arguments: [(1, 5000), (2, 300), (3, 40), (4, 7)])
    func keysOfEveryKindMatchABruteForceJoin(kind: Int, keys: Int) { keysOfEveryKind(kind: kind, keys: keys, lower: -300, upper: 700) }

    /// Bounds 4 s wide or more keep rows in parts of several seconds (half the width), so a probe
    /// looks into a few parts: rows go (and LEFT rows with NULLs come out) at the same advances,
    /// and a restored copy, whose parts are built afresh, stays in step.
    @Test(arguments: [(1, 5000, -6000, 4000), (2, 300, -9000, -1000), (4, 7, 0, 12000)])
    func wideBoundsMatchABruteForceJoin(kind: Int, keys: Int, lower: Int64, upper: Int64) {
        keysOfEveryKind(kind: kind, keys: keys, lower: lower, upper: upper)
    }

    func keysOfEveryKind(kind: Int, keys: Int, lower: Int64, upper: Int64) {
        var rng = SplitMix64(seed: UInt64(kind * 100 + keys))
        struct R { var ts: Int64; var key: [Value]; var id: Int; var left: Bool }
        var rows: [R] = []
        var clock: Int64 = 0
        func key(_ n: Int64) -> [Value] {
            switch kind {
            case 1: return [.int(n)]
            case 2: return [.int(n % 17), .int(n)]
            case 3: return [.string("k\(n)")]
            default: return n == 0 ? [.int(1), .null] : [.int(1), .string("\(n)")]
            }
        }
        for i in 0..<4000 {
            clock += Int64(rng.next() % 50)
            rows.append(R(ts: max(0, clock - Int64(rng.next() % 1000)), key: key(Int64(rng.next() % UInt64(keys))), id: i, left: rng.next() % 2 == 0))
        }
        let op = IntervalJoinOperator(lower: lower, upper: upper, left: true, rightWidth: 1)
        var copy: IntervalJoinOperator? = nil  // restored from a snapshot half way, then fed alike
        var out: [String] = []
        var maxLeft = Int64.min, maxRight = Int64.min
        func text(_ r: [Value]) -> String { "\(r[0])-\(r[1])" }
        for (i, r) in rows.enumerated() {
            func add(_ o: IntervalJoinOperator) -> [[Value]]? {
                r.left ? o.addLeft(key: r.key, time: r.ts, row: [.int(Int64(r.id))]) : o.addRight(key: r.key, time: r.ts, row: [.int(Int64(r.id))])
            }
            let joined = add(op)
            #expect(joined != nil)
            if let copy { #expect(add(copy) == joined) }
            out += (joined ?? []).map(text)
            if r.left { maxLeft = max(maxLeft, r.ts) } else { maxRight = max(maxRight, r.ts) }
            if i % 7 == 6 {
                let rows = op.advance(left: maxLeft &- 1000, right: maxRight &- 1000)
                if let copy { #expect(copy.advance(left: maxLeft &- 1000, right: maxRight &- 1000) == rows) }
                out += rows.map(text)
            }
            if i == 2000 {
                let c = IntervalJoinOperator(lower: lower, upper: upper, left: true, rightWidth: 1)
                #expect(throws: Never.self) { try c.restore(op.snapshot()) }
                #expect(c.snapshot() == op.snapshot())
                copy = c
            }
        }
        // A watermark past every row's expiry drops every row, the LEFT ones that met nothing coming
        // out now; nothing is left for the end of input.
        let last = max(maxLeft, maxRight) + 3000 + max(abs(lower), abs(upper))
        let rest = op.advance(left: last, right: last)
        #expect(copy?.advance(left: last, right: last) == rest)
        out += rest.map(text)
        #expect(op.heldRows == 0 && copy?.heldRows == 0)
        #expect(op.advance(left: WatermarkTracker.infinity, right: WatermarkTracker.infinity).isEmpty)
        var expected: [String] = []
        let lefts = rows.filter(\.left), rights = rows.filter { !$0.left }
        for l in lefts {
            let matches = l.key.contains(.null) ? [] : rights.filter { $0.key == l.key && $0.ts >= l.ts + lower && $0.ts <= l.ts + upper }
            for m in matches { expected.append("\(l.id)-\(m.id)") }
            if matches.isEmpty { expected.append("\(l.id)-NULL") }
        }
        #expect(out.sorted() == expected.sorted())
    }

    /// The key table against a dictionary: random inserts, value changes and removals of keys of
    /// every kind, thousands at once, so probe runs form, wrap around the table's end and are
    /// shifted back by removals; then a sweep that removes some keys and changes the others.
    @Test func keyTableMatchesADictionary() {
        var rng = SplitMix64(seed: 9)
        let table = KeyTable<Int>(seed: 12345, empty: 0)
        var model: [RowKey: Int] = [:]
        func check() {
            #expect(table.count == model.count)
            for (k, c) in model { #expect(table.find(k).map { table.value($0).pointee } == c) }
            #expect(table.all.count == model.count)
            #expect(Set(table.occupied.map { table.key($0) }) == Set(model.keys))
        }
        for step in 0..<60_000 {
            let n = Int64(rng.next() % 3000)
            let k: RowKey = switch n % 3 {
            case 0: .one(n << 20)
            case 1: .two(n, -n)
            default: .values([.string("s\(n)")])
            }
            if rng.next() % 3 == 0 {
                if let at = table.find(k) { table.remove(at: at) }
                model[k] = nil
            } else {
                table.value(table.slot(for: k)).pointee += 1
                model[k, default: 0] += 1
            }
            if step % 5000 == 0 { check() }
        }
        check()
        table.removeAll { _, v in v += 100; return v % 2 == 0 }
        model = model.mapValues { $0 + 100 }.filter { $0.value % 2 != 0 }
        check()
        table.removeAll()
        #expect(table.count == 0 && table.all.isEmpty && table.find(.one(0)) == nil)
    }

    /// A cleared table keeps its size and takes keys again as a new one (a join reuses the table
    /// of a part that went), keys with values to release (strings) or not.
    @Test func aClearedKeyTableTakesKeysAgain() {
        for boxed in [false, true] {
            let table = KeyTable<Int32>(seed: 7, empty: -1)
            func key(_ n: Int) -> RowKey { boxed && n % 2 == 0 ? .values([.string("k\(n)")]) : .two(Int64(n), Int64(-n)) }
            for round in 0..<3 {
                for n in 0..<5000 {
                    let (at, made) = table.slot(for: key(n), hash: table.hash(key(n)))
                    #expect(made)
                    table.value(at).pointee = Int32(n + round)
                }
                let size = table.capacity
                #expect(table.count == 5000)
                for n in stride(from: 0, to: 5000, by: 7) { #expect(table.find(key(n)).map { table.value($0).pointee } == Int32(n + round)) }
                #expect(table.find(key(5001)) == nil)
                table.clear()
                #expect(table.count == 0 && table.capacity == size && table.find(key(3)) == nil)
            }
        }
    }

    @Test func leftJoinsEmitEveryUnmatchedRowOnce() { run(left: true, lower: -500, upper: 1500, seed: 2) }
    @Test func boundsEntirelyInThePast() { run(left: true, lower: -2500, upper: -1000, seed: 3) }

    @Test func lateRowsAreRefusedAndStateSurvivesASnapshot() throws {
        let op = IntervalJoinOperator(lower: 0, upper: 100, left: true, rightWidth: 1)
        _ = op.addLeft(key: [.string("a")], time: 1000, row: [.int(1)])
        _ = op.advance(left: 900, right: 900)
        let copy = IntervalJoinOperator(lower: 0, upper: 100, left: true, rightWidth: 1)
        try copy.restore(op.snapshot())
        #expect(copy.addLeft(key: [.string("a")], time: 899, row: [.int(2)]) == nil)
        #expect(copy.addRight(key: [.string("a")], time: 1050, row: [.int(9)]) == [[.int(1), .int(9)]])
        #expect(copy.advance(left: 2000, right: 2000).isEmpty)  // it met something: no NULL row
        #expect(copy.heldRows == 0)
    }
}
