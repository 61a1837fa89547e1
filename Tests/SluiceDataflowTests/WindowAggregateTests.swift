import Testing
import SluiceCore
@testable import SluiceDataflow

/// A batch of (ts, key, value) rows; with `intKeys` the keys are BIGINTs written as decimal strings.
func batch(_ rows: [(Int64, String, Double?)], intKeys: Bool = false) -> Batch {
    var t = ColumnBuilder(.timestamp), k = ColumnBuilder(intKeys ? .bigint : .varchar), v = ColumnBuilder(.double)
    for (ts, key, value) in rows {
        t.append(int: ts)
        if intKeys { k.append(int: Int64(key)!) } else { k.append(string: key) }
        if let x = value { v.append(double: x) } else { v.appendNull() }
    }
    return Batch(schema: Schema([Field("ts", .timestamp), Field("k", intKeys ? .bigint : .varchar), Field("v", .double)]),
                 columns: [t.finish(), k.finish(), v.finish()], count: rows.count)
}

@Suite("Window aggregation")
struct WindowAggregateTests {
    let aggs = [AggregateSpec(.countStar), AggregateSpec(.sum, input: 2, type: .double), AggregateSpec(.max, input: 2, type: .double)]

    @Test func tumblingWindowsEmitWhenTheWatermarkPassesTheirEnd() {
        let op = WindowAggregateOperator(window: .tumble(60_000), timeColumn: 0, keyColumns: [1], aggregates: aggs)
        op.add(batch([(5_000, "b", 1), (30_000, "a", 2), (59_999, "a", 3), (61_000, "a", 10), (10_000, "a", nil)]))
        #expect(op.advance(to: 59_999).isEmpty)
        let rows = op.advance(to: 60_000)
        #expect(rows == [
            [.timestamp(0), .timestamp(60_000), .string("a"), .int(3), .double(5), .double(3)],
            [.timestamp(0), .timestamp(60_000), .string("b"), .int(1), .double(1), .double(1)],
        ])
        // The next window closes at end of input.
        #expect(op.advance(to: WatermarkTracker.infinity) == [[.timestamp(60_000), .timestamp(120_000), .string("a"), .int(1), .double(10), .double(10)]])
        #expect(op.stateSize.panes == 0)
    }

    /// With output picks the closed windows' rows are those columns of the full rows, in that
    /// order (a projection built into the rows), on the integer path and the general one.
    @Test(arguments: [false, true])
    func outputPicksChooseAndOrderTheColumns(_ intKeys: Bool) {
        let rows: [(Int64, String, Double?)] = [(1, "7", 1), (3, "12", 2), (5, "7", 4), (9, "3", nil), (11, "12", 8)]
        let full = WindowAggregateOperator(window: .hop(size: 6, advance: 2), timeColumn: 0, keyColumns: [1], aggregates: aggs)
        let picked = WindowAggregateOperator(window: .hop(size: 6, advance: 2), timeColumn: 0, keyColumns: [1], aggregates: aggs)
        picked.outputPicks = [2, 0, 5, 3]
        full.add(batch(rows, intKeys: intKeys))
        picked.add(batch(rows, intKeys: intKeys))
        let want = full.advance(to: WatermarkTracker.infinity).map { r in [r[2], r[0], r[5], r[3]] }
        #expect(want.count > 5)
        #expect(picked.advance(to: WatermarkTracker.infinity) == want)
    }

    /// Records far apart in event time (one dated in the year 10000) close their windows without
    /// walking every empty window between them (which took hours: a run seemed to hang), on
    /// the integer path and the general one, tumbling and hopping, by steps of the watermark and
    /// at the end of input; the windows between stay empty and the rows are those of the windows
    /// that hold records.
    @Test(arguments: [false, true])
    func windowsFarApartCloseWithoutWalkingTheGap(_ intKeys: Bool) {
        let far: Int64 = 253_402_300_800_000  // 10000-01-01
        let rows: [(Int64, String, Double?)] = [(1, "7", 1), (5, "7", 2), (far + 3, "7", 4), (far + 3, "12", 8), (far + 9, "12", 1)]
        for window in [WindowSpec.tumble(10), .hop(size: 10, advance: 2)] {
            let op = WindowAggregateOperator(window: window, timeColumn: 0, keyColumns: [1], aggregates: aggs)
            op.add(batch(rows, intKeys: intKeys))
            var got = op.advance(to: far / 2)
            got += op.advance(to: far + 10)
            got += op.advance(to: WatermarkTracker.infinity)
            let starts = Set(got.map { r -> Int64 in if case .timestamp(let t) = r[0] { return t }; return -1 })
            #expect(starts.allSatisfy { $0 <= 5 || $0 > far - 10 }, "\(window)")
            let counts = got.reduce(0) { n, r in if case .int(let c) = r[3] { return n + Int(c) }; return n }
            // Each record once per window that holds it: 1 (tumble) or 5 (hop: size / advance).
            let per = Int(window.size / window.advance)
            #expect(counts == rows.count * per, "\(window)")
            #expect(op.stateSize.panes == 0)
        }
    }

    /// A hop whose size and advance have a small greatest common divisor has windows of many
    /// pane slots (1,000 days by 42 days: 86 million slots of a second): a window is merged from
    /// the panes it holds, not by looking up every slot (which took hours for 300 records).
    @Test(arguments: [false, true])
    func windowsOfManySlotsMergeOnlyThePanesTheyHold(_ intKeys: Bool) {
        let size: Int64 = 86_399_999_000, advance: Int64 = 3_650_000_000
        let spec = WindowSpec.hop(size: size, advance: advance)
        #expect(spec.pane == 1000)
        let t0: Int64 = 1_704_067_200_000
        let rows: [(Int64, String, Double?)] = [(t0, "7", 1), (t0 + 1500, "7", 2), (t0 + 9_000_000, "12", 4)]
        let op = WindowAggregateOperator(window: spec, timeColumn: 0, keyColumns: [1], aggregates: aggs)
        op.add(batch(rows, intKeys: intKeys))
        var got = op.advance(to: t0 + size)
        got += op.advance(to: WatermarkTracker.infinity)
        // Each record in every window that holds it: 23 or 24 (size / advance is 23.67).
        var want = 0
        for (t, _, _) in rows {
            var start = (t - size).quotientAndRemainder(dividingBy: advance).quotient * advance
            while start <= t { if start + size > t { want += 1 }; start += advance }
        }
        let counts = got.reduce(0) { n, r in if case .int(let c) = r[3] { return n + Int(c) }; return n }
        #expect(counts == want && want >= 3 * 23)
        #expect(op.stateSize.panes == 0)
    }

    @Test func lateRecordsAreNotCountedAndAreReported() {
        let op = WindowAggregateOperator(window: .tumble(10), timeColumn: 0, keyColumns: [1], aggregates: aggs)
        op.add(batch([(1, "a", 1), (12, "a", 1)]))
        #expect(op.advance(to: 10).count == 1)
        let late = op.add(batch([(9, "a", 100), (10, "a", 5), (-3, "z", 1)]))
        #expect(late == [0, 2])
        #expect(op.advance(to: 20) == [[.timestamp(10), .timestamp(20), .string("a"), .int(2), .double(6), .double(5)]])
        // An empty window closed by the watermark still makes its records late.
        #expect(op.advance(to: 45).isEmpty)
        #expect(op.add(batch([(33, "a", 1)])) == [0])
    }

    /// Hopping windows over panes give exactly what computing every window from scratch gives.
    /// (Integer keys take the operator's integer path; "9" < "10" as numbers, not as text.)
    @Test(arguments: [(10, 2), (10, 4), (6, 6), (9, 3), (7, 5), (30, 1), (97, 89), (61, 7)], [false, true])
    func hoppingWindowsMatchBruteForce(_ shape: (Int, Int), _ intKeys: Bool) {
        let (size, advance) = shape
        let keys = intKeys ? ["10", "9", "100"] : ["a", "b", "c"]
        var rng = SplitMix64(seed: UInt64(size * 100 + advance))
        let spec = WindowSpec.hop(size: Int64(size), advance: Int64(advance))
        let op = WindowAggregateOperator(window: spec, timeColumn: 0, keyColumns: [1], aggregates: aggs)
        var all: [(Int64, String, Double?)] = []
        var got: [[Value]] = []
        var maxT: Int64 = 0
        let delay: Int64 = 15
        for _ in 0..<40 {
            var rows: [(Int64, String, Double?)] = []
            for _ in 0..<rng.below(20) {
                // Out of order, but never behind the watermark's delay.
                let t = max(0, maxT - Int64(rng.below(Int(delay)))) + Int64(rng.below(4))
                rows.append((t, keys[rng.below(3)], rng.below(10) == 0 ? nil : Double(rng.below(100))))
            }
            maxT = rows.map(\.0).reduce(maxT, max)
            all += rows
            #expect(op.add(batch(rows, intKeys: intKeys)).isEmpty)
            got += op.advance(to: maxT - delay)
        }
        got += op.advance(to: WatermarkTracker.infinity)
        // Brute force: every window start that is a multiple of advance, every key.
        var expected: [[Value]] = []
        let maxStart = all.map(\.0).max() ?? 0
        var start = -Int64((size + advance - 1) / advance * advance)  // a multiple of advance before any data
        while start <= maxStart {
            let end = start + Int64(size)
            let inWindow = all.filter { $0.0 >= start && $0.0 < end }
            for key in Set(inWindow.map(\.1)).sorted(by: { intKeys ? Int($0)! < Int($1)! : $0 < $1 }) {
                let rows = inWindow.filter { $0.1 == key }
                let values = rows.compactMap(\.2)
                expected.append([.timestamp(start), .timestamp(end), intKeys ? .int(Int64(key)!) : .string(key), .int(Int64(rows.count)),
                                 values.isEmpty ? .null : .double(values.reduce(0, +)), values.max().map { .double($0) } ?? .null])
            }
            start += Int64(advance)
        }
        #expect(got == expected)
        #expect(op.stateSize.panes == 0)
    }

    @Test func stateIsBoundedByOpenWindowsNotByRecords() {
        let op = WindowAggregateOperator(window: .hop(size: 10_000, advance: 2_000), timeColumn: 0, keyColumns: [1], aggregates: aggs)
        var maxPanes = 0
        for second in 0..<600 {
            let t = Int64(second) * 1000
            op.add(batch((0..<50).map { (t + Int64($0), "k\($0 % 5)", 1.0) }))
            _ = op.advance(to: t - 4000)
            maxPanes = max(maxPanes, op.stateSize.panes)
        }
        #expect(maxPanes <= 10)
    }
}

@Suite("Aggregates")
struct AggregateTests {
    @Test func standardDeviationIsTheDeviation() {
        let xs: [Double] = [2, 4, 4, 4, 5, 5, 7, 9]
        var s = AggregateState.initial(.stddevPop, input: .double)
        for x in xs { s.add(double: x) }
        #expect(s.result(.stddevPop) == .double(2))
        #expect(s.result(.varPop) == .double(4))
        #expect(s.result(.avg) == .double(5))
        if case .double(let d) = s.result(.stddevSamp) { #expect(abs(d - (32.0 / 7).squareRoot()) < 1e-12) } else { Issue.record("no value") }
        var one = AggregateState.initial(.stddevSamp, input: .double)
        one.add(double: 1)
        #expect(one.result(.stddevSamp) == .null)
    }

    @Test func mergingPartialsEqualsOneRun() {
        var rng = SplitMix64(seed: 3)
        for f in AggregateFunction.allCases where f != .countStar {
            let values = (0..<200).map { _ in rng.below(8) == 0 ? Value.null : Value.int(Int64(rng.below(1000)) - 500) }
            var whole = AggregateState.initial(f, input: .bigint)
            for v in values { whole.add(v) }
            let cut = rng.below(values.count)
            var a = AggregateState.initial(f, input: .bigint), b = a
            for v in values[..<cut] { a.add(v) }
            for v in values[cut...] { b.add(v) }
            let merged = a.merged(with: b)
            switch (merged.result(f), whole.result(f)) {
            case (.double(let x), .double(let y)): #expect(abs(x - y) <= 1e-9 * max(1, abs(y)), "\(f)")
            case (let x, let y): #expect(x == y, "\(f)")
            }
        }
    }

    @Test func nullsAndEmptyGroups() {
        #expect(AggregateState.initial(.sum, input: .bigint).result(.sum) == .null)
        #expect(AggregateState.initial(.count, input: .bigint).result(.count) == .int(0))
        #expect(AggregateState.initial(.min, input: .varchar).result(.min) == .null)
        var m = AggregateState.initial(.min, input: .timestamp)
        m.add(.timestamp(5))
        m.add(.timestamp(3))
        #expect(m.result(.min, as: .timestamp) == .timestamp(3))
        var d = AggregateState.initial(.countDistinct, input: .varchar)
        for s in ["a", "b", "a", "c"] { d.add(.string(s)) }
        d.add(.null)
        #expect(d.result(.countDistinct) == .int(3))
    }
}

@Suite("Watermarks")
struct WatermarkTests {
    @Test func minimumOverShardsWithIdleTimeout() {
        var w = WatermarkTracker(delayMillis: 10_000, idleTimeoutMillis: 20_000)
        w.addShard("0", now: 0)
        w.addShard("1", now: 0)
        w.observe(shard: "0", maxEventTime: 90_000, now: 15_000)
        // Shard 1 has produced nothing: it holds the watermark back.
        #expect(w.watermark(now: 15_000) == .min)
        // At 20 s shard 1 has been silent for its idle timeout: the watermark follows shard 0.
        #expect(w.watermark(now: 20_000) == 80_000)
        w.observe(shard: "1", maxEventTime: 30_000, now: 21_000)
        // It never moves backwards.
        #expect(w.watermark(now: 21_000) == 80_000)
        w.observe(shard: "1", maxEventTime: 100_000, now: 22_000)
        w.observe(shard: "0", maxEventTime: 120_000, now: 22_000)
        #expect(w.watermark(now: 22_000) == 90_000)
        w.endOfInput()
        #expect(w.watermark(now: 23_000) == WatermarkTracker.infinity)
    }

    @Test func finishedShardsDoNotHoldItBack() {
        var w = WatermarkTracker(delayMillis: 0, idleTimeoutMillis: nil)
        w.observe(shard: "parent", maxEventTime: 10, now: 0)
        w.observe(shard: "child", maxEventTime: 50, now: 0)
        #expect(w.watermark(now: 0) == 10)
        w.finishShard("parent")
        #expect(w.watermark(now: 0) == 50)
    }
}

@Suite("Integer group map")
struct IntGroupMapTests {
    /// Against a Dictionary: keys that collide in the low and high bits, negatives, zero, and
    /// growth from the smallest table.
    /// COUNT, SUM, MIN and MAX of integers are kept as numbers per pane; batches with a NULL
    /// key (read the general way, into the same panes), a snapshot restored into a new operator,
    /// NULL values and negative ones give exactly the brute-force rows.
    @Test(arguments: [(10, 10), (10, 2), (9, 3), (7, 5)])
    func integerAggregatesKeptAsNumbersMatchBruteForce(_ shape: (Int, Int)) throws {
        let (size, advance) = shape
        let spec = WindowSpec.hop(size: Int64(size), advance: Int64(advance))
        let aggs = [AggregateSpec(.countStar), AggregateSpec(.count, input: 2, type: .bigint), AggregateSpec(.sum, input: 2, type: .bigint),
                    AggregateSpec(.min, input: 2, type: .bigint), AggregateSpec(.max, input: 2, type: .bigint)]
        func rowsBatch(_ rows: [(Int64, Int64?, Int64?)]) -> Batch {
            var t = ColumnBuilder(.timestamp), k = ColumnBuilder(.bigint), v = ColumnBuilder(.bigint)
            for (ts, key, value) in rows {
                t.append(int: ts)
                if let x = key { k.append(int: x) } else { k.appendNull() }
                if let x = value { v.append(int: x) } else { v.appendNull() }
            }
            return Batch(schema: Schema([Field("ts", .timestamp), Field("k", .bigint), Field("v", .bigint)]),
                         columns: [t.finish(), k.finish(), v.finish()], count: rows.count)
        }
        var op = WindowAggregateOperator(window: spec, timeColumn: 0, keyColumns: [1], aggregates: aggs)
        var rng = SplitMix64(seed: UInt64(size * 31 + advance))
        var all: [(Int64, Int64?, Int64?)] = []
        var got: [[Value]] = []
        var maxT: Int64 = 0
        let delay: Int64 = 12
        for step in 0..<60 {
            var rows: [(Int64, Int64?, Int64?)] = []
            for _ in 0..<rng.below(25) {
                let t = max(0, maxT - Int64(rng.below(Int(delay)))) + Int64(rng.below(4))
                let key: Int64? = step % 7 == 3 && rng.below(3) == 0 ? nil : [5, -2, 40, 7][rng.below(4)]
                let value: Int64? = rng.below(6) == 0 ? nil : Int64(rng.below(200)) - 100
                rows.append((t, key, value))
            }
            maxT = rows.map(\.0).reduce(maxT, max)
            all += rows
            #expect(op.add(rowsBatch(rows)).isEmpty)
            if step == 0 && !rows.isEmpty { #expect(op.panes.values.contains { $0.numeric != nil }, "a plain batch keeps its panes as numbers") }
            got += op.advance(to: maxT - delay)
            if step == 30 {
                let copy = WindowAggregateOperator(window: spec, timeColumn: 0, keyColumns: [1], aggregates: aggs)
                try copy.restore(op.snapshot())
                op = copy
            }
        }
        got += op.advance(to: WatermarkTracker.infinity)
        var expected: [[Value]] = []
        let maxStart = all.map(\.0).max() ?? 0
        var start = -Int64((size + advance - 1) / advance * advance)
        while start <= maxStart {
            let end = start + Int64(size)
            let inWindow = all.filter { $0.0 >= start && $0.0 < end }
            // NULL keys first, then by key.
            let keys = Set(inWindow.map { $0.1 ?? .min }).sorted()
            for key in keys {
                let rows = inWindow.filter { ($0.1 ?? .min) == key }
                let values = rows.compactMap(\.2)
                expected.append([.timestamp(start), .timestamp(end), key == .min ? .null : .int(key), .int(Int64(rows.count)), .int(Int64(values.count)),
                                 values.isEmpty ? .null : .int(values.reduce(0, +)), values.min().map { .int($0) } ?? .null, values.max().map { .int($0) } ?? .null])
            }
            start += Int64(advance)
        }
        #expect(got == expected)
        #expect(op.stateSize.panes == 0)
    }

    @Test func agreesWithADictionary() {
        var rng = SplitMix64(seed: 3)
        var map = IntGroupMap()
        var reference: [Int64: Int] = [:]
        let pool: [Int64] = (0..<300).map { Int64($0) << 40 } + (0..<300).map { -Int64($0) } + [Int64.min, Int64.max]
        for step in 0..<20_000 {
            let k = step % 3 == 0 ? Int64(bitPattern: rng.next()) % 5_000 : pool[rng.below(pool.count)]
            let (g, inserted) = map.findOrInsert(k, next: reference.count)
            if let expected = reference[k] {
                #expect(!inserted && g == expected)
            } else {
                #expect(inserted && g == reference.count)
                reference[k] = g
            }
        }
        #expect(map.count == reference.count)
        for (k, g) in reference { #expect(map.find(k) == g) }
        #expect(map.find(123_456_789) == nil)
        var seen: [Int64: Int] = [:]
        map.forEach { seen[$0] = $1 }
        #expect(seen == reference)
    }
}

@Suite("Session windows")
struct SessionWindowTests {
    /// Records in random order (so sessions keep bridging and merging) give exactly the sessions
    /// of the sorted records split where two neighbours are a gap or more apart; a snapshot taken
    /// half way and restored into a new operator continues identically.
    @Test(arguments: [UInt64(1), 2, 3, 4], [false, true])
    func randomOrderMergesIntoTheSortedSessions(_ seed: UInt64, _ intKeys: Bool) throws {
        var rng = SplitMix64(seed: seed)
        let gap: Int64 = 10
        var records: [(Int64, String, Double?)] = []
        for _ in 0..<300 {
            records.append((Int64(rng.below(2_000)), (intKeys ? ["10", "9", "100"] : ["a", "b", "c"])[rng.below(3)],
                            rng.below(8) == 0 ? nil : Double(rng.below(100))))
        }
        let aggs = [AggregateSpec(.countStar), AggregateSpec(.sum, input: 2, type: .double), AggregateSpec(.max, input: 2, type: .double)]
        func op() -> SessionWindowOperator { SessionWindowOperator(gap: gap, timeColumn: 0, keyColumns: [1], aggregates: aggs) }
        let whole = op()
        #expect(whole.add(batch(records, intKeys: intKeys)).isEmpty)
        let got = whole.advance(to: WatermarkTracker.infinity)
        #expect(whole.openSessions == 0)

        var expected: [[Value]] = []
        for key in intKeys ? ["10", "9", "100"] : ["a", "b", "c"] {
            let rows = records.filter { $0.1 == key }.sorted { $0.0 < $1.0 }
            var i = 0
            while i < rows.count {
                var j = i
                while j + 1 < rows.count && rows[j + 1].0 - rows[j].0 < gap { j += 1 }
                let part = rows[i...j]
                let values = part.compactMap(\.2)
                expected.append([.timestamp(part.first!.0), .timestamp(part.last!.0 + gap), intKeys ? .int(Int64(key)!) : .string(key), .int(Int64(part.count)),
                                 values.isEmpty ? .null : .double(values.reduce(0, +)), values.max().map { .double($0) } ?? .null])
                i = j + 1
            }
        }
        expected.sort { a, b in
            if case .timestamp(let x) = a[1], case .timestamp(let y) = b[1], x != y { return x < y }
            return GroupKeyOrder.less([a[2]], [b[2]])
        }
        #expect(got.count == expected.count)
        #expect(got == expected)

        let first = op()
        _ = first.add(batch(Array(records[0..<150]), intKeys: intKeys))
        let restored = op()
        try restored.restore(JSONValue.parse(first.snapshot().serialized()))
        _ = restored.add(batch(Array(records[150...]), intKeys: intKeys))
        #expect(restored.advance(to: WatermarkTracker.infinity) == got)
    }

    /// Thousands of keys, records out of order within the watermark's delay, the watermark
    /// advanced every few records: every session comes out once, when the watermark passes its
    /// end, equal to the sessions of the sorted records; a record that would reopen an emitted
    /// session is late; the per-key state the watermark has passed is dropped.
    @Test(arguments: [false, true])
    func manyKeysWithAWatermarkEmitEverySessionOnce(_ intKeys: Bool) {
        var rng = SplitMix64(seed: intKeys ? 21 : 22)
        let gap: Int64 = 50, delay: Int64 = 400
        var records: [(Int64, String, Double?)] = []
        var clock: Int64 = 1_000
        for _ in 0..<20_000 {
            clock += Int64(rng.below(3))
            records.append((clock - Int64(rng.below(Int(delay))), String(rng.below(3_000)), Double(rng.below(10))))
        }
        let op = SessionWindowOperator(gap: gap, timeColumn: 0, keyColumns: [1], aggregates: [AggregateSpec(.countStar)])
        var got: [[Value]] = []
        var maxSeen = Int64.min
        for start in stride(from: 0, to: records.count, by: 25) {
            let part = Array(records[start..<min(start + 25, records.count)])
            #expect(op.add(batch(part, intKeys: intKeys)).isEmpty)  // disorder stays within the delay
            maxSeen = max(maxSeen, part.map(\.0).max()!)
            let rows = op.advance(to: maxSeen - delay)
            for r in rows { if case .timestamp(let end) = r[1] { #expect(end <= maxSeen - delay) } }
            got += rows
        }
        // Only keys whose emitted session a record could still reach keep its end.
        let wm = maxSeen - delay
        #expect(op.closedThrough.all.allSatisfy { $0.1 &+ gap > wm })
        #expect(op.closedThrough.count < 300, "\(op.closedThrough.count)")
        got += op.advance(to: WatermarkTracker.infinity)
        #expect(op.openSessions == 0 && op.sessions.count == 0 && op.closedThrough.count == 0)

        var expected: [String] = []
        for (key, rows) in Dictionary(grouping: records, by: \.1) {
            let times = rows.map(\.0).sorted()
            var i = 0
            while i < times.count {
                var j = i
                while j + 1 < times.count && times[j + 1] - times[j] < gap { j += 1 }
                expected.append("\(times[i]) \(times[j] + gap) \(key) \(j - i + 1)")
                i = j + 1
            }
        }
        let text = got.map { r -> String in
            guard case .timestamp(let s) = r[0], case .timestamp(let e) = r[1], case .int(let n) = r[3] else { return "?" }
            return "\(s) \(e) \(r[2]) \(n)"
        }
        #expect(text.count == expected.count)
        #expect(text.sorted() == expected.sorted())

        // Once a key's session is out, a record inside it is late, and one after it starts anew.
        let after = SessionWindowOperator(gap: gap, timeColumn: 0, keyColumns: [1], aggregates: [AggregateSpec(.countStar)])
        _ = after.add(batch([(100, "7", 1), (120, "7", 1)], intKeys: intKeys))
        #expect(after.advance(to: 200).count == 1)
        #expect(after.add(batch([(130, "7", 1)], intKeys: intKeys)) == [0])
        #expect(after.add(batch([(230, "7", 1)], intKeys: intKeys)).isEmpty)
        #expect(after.advance(to: WatermarkTracker.infinity).count == 1)
    }

    /// STAGGER (a session of fixed length): per key, a record in no open window opens [t, t + size),
    /// which takes the key's records until it ends and never grows; a record after it opens the
    /// next; the windows are checkpointed like sessions.
    @Test func staggerWindowsOpenAtEachKeysFirstRecord() throws {
        let size: Int64 = 60
        func op() -> SessionWindowOperator { SessionWindowOperator(gap: size, timeColumn: 0, keyColumns: [1], aggregates: [AggregateSpec(.countStar)], fixed: true) }
        let a = op()
        #expect(a.add(batch([(20, "a", 1), (30, "a", 1), (45, "b", 1), (79, "a", 1)])).isEmpty)
        #expect(a.add(batch([(80, "a", 1), (100, "b", 1), (106, "b", 1)])).isEmpty)
        // Restored from a checkpoint, it goes on the same way.
        let b = op()
        try b.restore(a.snapshot())
        func text(_ rows: [[Value]]) -> [String] {
            rows.map { r in
                guard case .timestamp(let s) = r[0], case .timestamp(let e) = r[1], case .int(let n) = r[3] else { return "?" }
                return "\(s) \(e) \(r[2]) \(n)"
            }
        }
        #expect(text(b.advance(to: 80)) == ["20 80 a 3"])          // [20, 80): 20, 30, 79; 80 opened the next
        #expect(text(b.advance(to: 105)) == ["45 105 b 2"])         // [45, 105): 45, 100
        #expect(b.add(batch([(50, "b", 1)])) == [0])                // inside a window already emitted: late
        #expect(text(b.advance(to: WatermarkTracker.infinity)) == ["80 140 a 1", "106 166 b 1"])
        #expect(b.explain.hasPrefix("StaggerWindowExec: size=60ms"))
    }
}
