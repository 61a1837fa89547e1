import Testing
import SluiceCore
@testable import SluiceDataflow

/// OVER windows against a brute-force evaluation of the same frames, on seeded out-of-order data.
@Suite("OVER windows")
struct OverWindowTests {
    /// Prepared rows are (ts, key, value); the passed-through row is [seq] so outputs can be matched.
    let aggs = [AggregateSpec(.countStar), AggregateSpec(.sum, input: 2, type: .double), AggregateSpec(.min, input: 2, type: .double),
                AggregateSpec(.lastValue, input: 2, type: .double, timeInput: 0)]

    struct Row { var ts: Int64; var key: String; var value: Double; var seq: Int }

    func run(_ frame: OverFrame, seed: UInt64, restartEvery: Int? = nil) throws {
        var rng = SplitMix64(seed: seed)
        // 2,000 rows over 4 keys, times moving forward with up to 5 s of disorder; a 5 s watermark delay.
        var rows: [Row] = []
        var clock: Int64 = 0
        for i in 0..<2000 {
            clock += Int64(rng.next() % 700)
            let ts = max(0, clock - Int64(rng.next() % 5000))
            rows.append(Row(ts: ts / 100 * 100, key: "k\(rng.next() % 4)", value: Double(rng.next() % 1000), seq: i))
        }
        var op = OverWindowOperator(frame: frame, timeColumn: 0, keyColumns: [1], aggregates: aggs)
        var out: [[Value]] = []
        var maxSeen = Int64.min
        var emitted = 0
        for start in stride(from: 0, to: rows.count, by: 37) {
            let chunk = Array(rows[start..<min(rows.count, start + 37)])
            let late = op.add(batch(chunk.map { ($0.ts, $0.key, $0.value) }), rows: chunk.map { [.int(Int64($0.seq))] })
            #expect(late.isEmpty)  // the disorder stays within the delay
            maxSeen = max(maxSeen, chunk.map(\.ts).max()!)
            out += op.advance(to: maxSeen - 5000)
            emitted += 1
            if let every = restartEvery, emitted % every == 0 {
                let state = op.snapshot()
                op = OverWindowOperator(frame: frame, timeColumn: 0, keyColumns: [1], aggregates: aggs)
                try op.restore(state)
            }
        }
        out += op.advance(to: WatermarkTracker.infinity)
        #expect(op.heldRows == 0)

        // Expected: rows in (time, arrival) order, each with its frame folded by brute force.
        let ordered = rows.sorted { $0.ts != $1.ts ? $0.ts < $1.ts : $0.seq < $1.seq }
        #expect(out.count == rows.count)
        for (got, r) in zip(out, ordered) {
            #expect(got[0] == .int(Int64(r.seq)))
            let peers = ordered.filter { $0.key == r.key }
            let frameRows: [Row]
            switch frame {
            case .range(let ms): frameRows = peers.filter { $0.ts >= r.ts - ms && $0.ts <= r.ts }
            case .rows(let n):
                let i = peers.firstIndex { $0.seq == r.seq }!
                frameRows = Array(peers[max(0, i - Int(n))...i])
            }
            let last = frameRows.max { $0.ts != $1.ts ? $0.ts < $1.ts : $0.seq < $1.seq }!  // LAST_VALUE: latest time, then latest arrival
            let expected: [Value] = [.int(Int64(r.seq)), .int(Int64(frameRows.count)), .double(frameRows.map(\.value).reduce(0, +)),
                                     .double(frameRows.map(\.value).min()!), .double(last.value)]
            #expect(got == expected, "row \(r.seq) at \(r.ts)")
            if got != expected { break }
        }
    }

    @Test func rangeFramesMatchABruteForceEvaluation() throws { try run(.range(millis: 10_000), seed: 1) }
    @Test func rowsFramesMatchABruteForceEvaluation() throws { try run(.rows(5), seed: 2) }
    @Test func stateSurvivesSnapshots() throws {
        try run(.range(millis: 3_000), seed: 3, restartEvery: 3)
        try run(.rows(2), seed: 4, restartEvery: 2)
    }

    @Test func stateIsBoundedByTheFrame() {
        let op = OverWindowOperator(frame: .range(millis: 1000), timeColumn: 0, keyColumns: [1], aggregates: aggs)
        for i in 0..<100 {
            _ = op.add(batch([(Int64(i) * 100, "a", 1)]), rows: [[.int(Int64(i))]])
            _ = op.advance(to: Int64(i) * 100)
        }
        // Rows within a second of the watermark, and the one waiting for it.
        #expect(op.heldRows <= 12)
        let late = op.add(batch([(5_000, "a", 1), (9_900, "a", 2)]), rows: [[.int(0)], [.int(1)]])
        #expect(late == [0])
    }
}
