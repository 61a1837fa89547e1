import Testing
import SluiceCore

@Suite("Batches")
struct BatchTests {
    /// `rows()` builds every row a column at a time; it must give what `row(_:)` gives row by row,
    /// NULLs and every type included.
    @Test func rowsAreTheRowsOneByOne() {
        var rng = SplitMix64(seed: 4)
        let types: [ColumnType] = [.bigint, .timestamp, .interval, .double, .boolean, .varchar]
        var builders = types.map { ColumnBuilder($0) }
        let n = 500
        for i in 0..<n {
            for c in builders.indices {
                if rng.next() % 5 == 0 { builders[c].appendNull(); continue }
                let v: Value = switch types[c] {
                case .bigint: .int(Int64(i) - 250)
                case .timestamp: .timestamp(1_700_000_000_000 + Int64(i))
                case .interval: .interval(Int64(i * 1000))
                case .double: .double(Double(i) / 7)
                case .boolean: .bool(i % 2 == 0)
                default: .string(i % 3 == 0 ? "" : "s\(i)é")
                }
                let ok = builders[c].append(v)
                #expect(ok)
            }
        }
        let batch = Batch(schema: Schema(types.enumerated().map { Field("c\($0.offset)", $0.element) }),
                          columns: builders.indices.map { builders[$0].finish() }, count: n)
        let rows = batch.rows()
        #expect(rows.count == n)
        #expect(rows == (0..<n).map { batch.row($0) })
        #expect(rows.contains { $0.contains(.null) })
        #expect(Batch(schema: Schema([]), columns: [], count: 0).rows().isEmpty)
    }
}
