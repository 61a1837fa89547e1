import SluiceCodecs
import SluiceCore
import SluiceDataflow
import SluicePlanner
import SluiceSQL
import SluiceStreams

/// The built-in `sluice_metrics` stream: every `metricsIntervalMillis` of processing time, a row
/// per stream (records and bytes put, writes throttled, and the iterator age of the queries
/// reading it) and a row per query (records in, rows out, late and bad records, and how far its
/// watermark trails the clock), counted over the interval. Queries and alerts read it like any
/// stream, as CloudWatch metrics are read and alarmed on for Kinesis.
extension Engine {
    static let metricsStreamName = "sluice_metrics"

    static let metricsDefinition = StreamDefinition(name: metricsStreamName, columns: [
        ColumnDefinition(name: "time", type: .timestamp), ColumnDefinition(name: "kind", type: .varchar),
        ColumnDefinition(name: "name", type: .varchar), ColumnDefinition(name: "incoming_records", type: .bigint),
        ColumnDefinition(name: "incoming_bytes", type: .bigint), ColumnDefinition(name: "throttled_writes", type: .bigint),
        ColumnDefinition(name: "iterator_age_ms", type: .bigint), ColumnDefinition(name: "records_in", type: .bigint),
        ColumnDefinition(name: "rows_out", type: .bigint), ColumnDefinition(name: "late", type: .bigint),
        ColumnDefinition(name: "bad", type: .bigint), ColumnDefinition(name: "watermark_lag_ms", type: .bigint),
    ], watermark: ("time", 0), options: ["format": .string("json")])

    /// Writes a row per stream and per query when an interval has passed; returns whether it wrote.
    func emitMetricsIfDue() throws(EngineError) -> Bool {
        guard let every = metricsIntervalMillis else { return false }
        let now = clock.nowMillis()
        guard let last = lastMetricsAt else {
            lastMetricsAt = now  // the first interval ends `every` from the first step
            return false
        }
        guard now - last >= every else { return false }
        lastMetricsAt = now
        let rows = metricsRows(now)
        guard !rows.isEmpty else { return false }
        try ensureStream(Engine.metricsDefinition)
        let encoder = RecordEncoder(format: .json, columns: Engine.metricsDefinition.columns.map(\.name))
        var entries: [PutRecordsRequestEntry] = []
        for r in rows {
            var bytes: [UInt8] = []
            encoder.append(r, to: &bytes)
            bytes.removeLast()
            entries.append(PutRecordsRequestEntry(data: bytes, partitionKey: "metrics"))
        }
        for chunk in stride(from: 0, to: entries.count, by: 500) {
            do { _ = try store.putRecords(stream: Engine.metricsStreamName, records: Array(entries[chunk..<min(entries.count, chunk + 500)])) }
            catch { throw EngineError.io("writing \(Engine.metricsStreamName): \(error)") }
        }
        return true
    }

    /// The rows of the interval ending now (and the new baseline).
    private func metricsRows(_ now: Int64) -> [[Value]] {
        var rows: [[Value]] = []
        var names: [String] = []
        var more = true
        while more, let page = try? store.listStreams(limit: 100, exclusiveStartStreamName: names.last) {
            names += page.names
            more = page.hasMore
        }
        for name in names where name != Engine.metricsStreamName {
            guard let c = try? store.writeCounters(name: name) else { continue }
            let before = metricsStreamBaseline[name] ?? (0, 0, 0)
            metricsStreamBaseline[name] = c
            let age = jobs.filter { $0.source.stream.name.lowercased() == name.lowercased() }.compactMap { $0.observed { $0.done ? nil : $0.iteratorAgeMillis } }.max()
            rows.append([.timestamp(now), .string("stream"), .string(name), .int(c.records - before.0), .int(c.bytes - before.1),
                         .int(c.throttled - before.2), age.map { .int($0) } ?? .null, .null, .null, .null, .null, .null])
        }
        for (i, j) in jobs.enumerated() {
            guard let (c, w, age) = j.observed({ $0.done ? nil : ($0.counters, $0.lastWatermark, $0.iteratorAgeMillis) }) else { continue }
            let before = metricsQueryBaseline[i] ?? QueryCounters(name: c.name)
            metricsQueryBaseline[i] = c
            let lag: Value = w > Int64.min / 2 && w < WatermarkTracker.infinity / 2 ? .int(now - w) : .null
            rows.append([.timestamp(now), .string("query"), .string(c.name), .null, .null, .null, .int(age),
                         .int(c.recordsIn - before.recordsIn), .int(c.rowsOut - before.rowsOut), .int(c.late - before.late),
                         .int(c.bad - before.bad), lag])
        }
        return rows
    }
}
