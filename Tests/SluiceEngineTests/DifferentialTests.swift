import CSQLite
import Foundation
import Testing
import SluiceCore
import SluiceSQL
import SluiceStreams
@testable import SluiceEngine

/// A tiny SQLite wrapper: run a query, get rows as Values.
final class SQLiteDB {
    private var db: OpaquePointer?

    init() { sqlite3_open(":memory:", &db) }
    deinit { sqlite3_close(db) }

    func exec(_ sql: String) {
        var err: UnsafeMutablePointer<CChar>? = nil
        if sqlite3_exec(db, sql, nil, nil, &err) != SQLITE_OK {
            Issue.record("sqlite: \(err.map { String(cString: $0) } ?? "?")")
            sqlite3_free(err)
        }
    }

    func query(_ sql: String) -> [[Value]] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else {
            Issue.record("sqlite prepare: \(String(cString: sqlite3_errmsg(db)))")
            return []
        }
        defer { sqlite3_finalize(stmt) }
        var rows: [[Value]] = []
        while sqlite3_step(stmt) == SQLITE_ROW {
            rows.append((0..<sqlite3_column_count(stmt)).map { c in
                switch sqlite3_column_type(stmt, c) {
                case SQLITE_INTEGER: return .int(sqlite3_column_int64(stmt, c))
                case SQLITE_FLOAT: return .double(sqlite3_column_double(stmt, c))
                case SQLITE_TEXT: return .string(String(cString: sqlite3_column_text(stmt, c)))
                default: return .null
                }
            })
        }
        return rows
    }
}

/// Seeded random data, out of order within the watermark delay, run through TUMBLE and HOP
/// queries; SQLite computes the same aggregates in batch; the results agree row for row.
@Suite("Differential: windows against SQLite")
struct DifferentialTests {
    static let cases: [(size: Int64, advance: Int64, seed: UInt64)] = [
        (10_000, 10_000, 1), (60_000, 60_000, 2), (10_000, 2_000, 3), (30_000, 10_000, 4), (10_000, 4_000, 5), (7_000, 3_000, 6),
    ]

    @Test(arguments: cases.indices)
    func windowsAgreeWithSQLite(_ index: Int) throws {
        let c = Self.cases[index]
        let f = try EngineFixture()
        let delay: Int64 = 5000
        try f.load("""
            CREATE STREAM m (k VARCHAR, v BIGINT, x DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '\(delay)' MILLISECOND)
              WITH (shards = 3, format = 'json');
            """)
        let window = c.size == c.advance ? "TUMBLE(m, ts, INTERVAL '\(c.size)' MILLISECOND)"
            : "HOP(m, ts, SIZE INTERVAL '\(c.size)' MILLISECOND, ADVANCE INTERVAL '\(c.advance)' MILLISECOND)"
        let (s, _) = Parser.parseStatement("""
            SELECT window_start, k, COUNT(*) AS n, SUM(v) AS sv, MIN(v) AS mn, MAX(v) AS mx, AVG(x) AS ax, COUNT(x) AS cx
            FROM \(window) GROUP BY window_start, window_end, k
            """)
        guard case .query(let q)? = s?.kind else { Issue.record("parse"); return }
        final class Rows { var all: [[Value]] = [] }
        let got = Rows()
        try f.engine.start(query: q, label: "q") { got.all += $0 }

        // Records arrive out of order, but never later than the watermark delay allows.
        var rng = SplitMix64(seed: c.seed)
        let db = SQLiteDB()
        db.exec("CREATE TABLE m (k TEXT, v INTEGER, x REAL, ts INTEGER)")
        // Event time moves on about 500 ms a record; each record is up to the delay behind it,
        // so it is out of order but never behind the watermark.
        var base: Int64 = 1_704_067_200_000
        var late = 0
        for batch in 0..<100 {
            var entries: [PutRecordsRequestEntry] = []
            for _ in 0..<(1 + rng.below(40)) {
                base += Int64(rng.below(1000))
                let t = base - Int64(rng.below(Int(delay)))
                let k = "k\(rng.below(4))", v = Int64(rng.below(1000)) - 300
                let x: Double? = rng.below(6) == 0 ? nil : Double(rng.below(10_000)) / 8
                let json = "{\"k\":\"\(k)\",\"v\":\(v),\"x\":\(x.map { String($0) } ?? "null"),\"ts\":\(t)}"
                entries.append(PutRecordsRequestEntry(data: Array(json.utf8), partitionKey: "p\(rng.below(50))"))
                db.exec("INSERT INTO m VALUES ('\(k)', \(v), \(x.map { String($0) } ?? "NULL"), \(t))")
            }
            _ = try f.store.putRecords(stream: "m", records: entries)
            if batch % 5 == 4 { var n = 0; while n < 50, try f.engine.runStep() { n += 1 } }
            late = Int(f.engine.counters[0].late)
        }
        try f.engine.runUntilEnd()
        #expect(late == 0, "the data was meant to stay within the watermark delay")

        // SQLite: every window start that is a multiple of advance and contains ts.
        let offsets = (0..<Int((c.size + c.advance - 1) / c.advance)).map { "SELECT \($0) AS o" }.joined(separator: " UNION ALL ")
        let expected = db.query("""
            SELECT ws, k, COUNT(*), SUM(v), MIN(v), MAX(v), AVG(x), COUNT(x) FROM (
              SELECT (ts / \(c.advance)) * \(c.advance) - o * \(c.advance) AS ws, k, v, x, ts FROM m, (\(offsets))
            ) WHERE ws + \(c.size) > ts GROUP BY ws, k ORDER BY ws, k
            """)
        let ours = got.all.map { row -> [Value] in
            var r = row
            if case .timestamp(let t) = r[0] { r[0] = .int(t) }
            return r
        }.sorted { a, b in
            guard case .int(let x) = a[0], case .int(let y) = b[0] else { return false }
            if x != y { return x < y }
            return a[1].description < b[1].description
        }
        #expect(expected.count > 30, "too little data to compare")
        #expect(ours.count == expected.count, "\(ours.count) rows vs SQLite's \(expected.count)")
        var mismatches = 0
        for (a, b) in zip(ours, expected) {
            let same = zip(a, b).allSatisfy { x, y in
                switch (x, y) {
                case (.double(let p), .double(let q)): return abs(p - q) <= 1e-9 * max(1, abs(q))
                default: return x == y
                }
            }
            if !same {
                mismatches += 1
                if mismatches <= 3 { Issue.record("engine \(a) vs SQLite \(b)") }
            }
        }
        #expect(mismatches == 0)
    }
}
