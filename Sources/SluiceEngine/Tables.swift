import Foundation
import SluiceCodecs
import SluiceCore
import SluicePlanner

/// A reference table (`CREATE TABLE ... WITH (file, format, header, refresh)`): the rows of a
/// JSON-lines or CSV file, re-read every `refresh` of processing time. A load is all or nothing:
/// a file that cannot be read, a record that cannot be decoded, or two rows with one PRIMARY KEY
/// leave the current version in place, and the error is reported. Joins look rows up by key in
/// the current version (an index per set of key columns, rebuilt with each version).
///
/// Queries on threads of their own (a server's) look rows up while the engine's thread refreshes
/// the table: a lock keeps a lookup and a new version apart.
final class ReferenceTable: @unchecked Sendable {
    private let lock = NSLock()
    let definition: TableDefinition
    private(set) var rows: [[Value]] = []
    /// Versions loaded so far (0: none yet).
    private(set) var version = 0
    /// Processing time of the last load attempt and of the current version.
    private(set) var attemptedAt: Int64? = nil
    private(set) var loadedAt: Int64? = nil
    /// Why the last attempt failed, while the version before it stays in use.
    private(set) var lastError: String? = nil
    private(set) var failedLoads = 0
    private var indexes: [[Int]: [[Value]: [Int]]] = [:]
    /// Size, modification time and inode of the file the current version came from: an unchanged
    /// file is not parsed again (a file replaced by a rename has a new inode even within one clock tick).
    private var stamp: (size: Int64, modified: Double, inode: UInt64)? = nil

    init(_ definition: TableDefinition) { self.definition = definition }

    /// Loads the file when no version is loaded or `refresh` has passed since the last attempt.
    /// Returns the error of a failed attempt (the previous version stays).
    func refreshIfDue(now: Int64) -> String? {
        lock.lock()
        defer { lock.unlock() }
        if let at = attemptedAt {
            guard let every = definition.refreshMillis, now - at >= every else { return nil }
        }
        return loadLocked(now: now)
    }

    /// Reads the file into a new version; on failure keeps the current one and returns why.
    @discardableResult
    func load(now: Int64) -> String? {
        lock.withLock { loadLocked(now: now) }
    }

    private func loadLocked(now: Int64) -> String? {
        attemptedAt = now
        let path = definition.file
        let attrs = try? FileManager.default.attributesOfItem(atPath: path)
        let size = (attrs?[.size] as? NSNumber)?.int64Value ?? -1
        let modified = (attrs?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
        let inode = (attrs?[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
        if version > 0, let s = stamp, s.size == size, s.modified == modified, s.inode == inode {
            lastError = nil
            return nil
        }
        switch read(path) {
        case .success(let newRows):
            rows = newRows
            indexes = [:]
            version += 1
            loadedAt = now
            lastError = nil
            stamp = (size, modified, inode)
            return nil
        case .failure(let e):
            failedLoads += 1
            lastError = e.description
            return lastError
        }
    }

    private func read(_ path: String) -> Result<[[Value]], EngineError> {
        let fields = definition.columns.map { FieldSpec(name: $0.name, path: $0.path, type: $0.type) }
        var builders = fields.map { ColumnBuilder($0.type) }
        var json = definition.format == "json" ? JSONRecordDecoder(fields: fields) : nil
        var csv: CSVRecordDecoder? = nil
        if definition.format == "csv" && !definition.header {
            csv = CSVRecordDecoder(fields: fields, columns: Array(fields.indices), delimiter: definition.delimiter, width: fields.count)
        }
        var line = 0, count = 0
        func records(_ body: (UnsafeRawBufferPointer, Int) throws(EngineError) -> Void) throws(EngineError) {
            if definition.format == "csv" { try forEachCSVRecord(path, delimiter: definition.delimiter, body) } else { try forEachNumberedLine(path, body) }
        }
        do throws(EngineError) {
            try records { bytes, number throws(EngineError) in
                line = number
                if definition.format == "csv" && csv == nil {
                    switch CSVRecordDecoder.bind(fields: fields, header: bytes, delimiter: definition.delimiter) {
                    case .success(let d): csv = d
                    case .failure(let e): throw EngineError(message: "table \(definition.name): \(path) line 1 (the header): \(e.message)")
                    }
                    return
                }
                let failure = json != nil ? json!.decode(bytes, into: &builders) : csv!.decode(bytes, into: &builders)
                if let f = failure {
                    throw EngineError(message: "table \(definition.name): \(path) line \(line): \(f.description)")
                }
                count += 1
            }
        } catch {
            return .failure(error)
        }
        var columns = builders.indices.map { builders[$0].finish() }
        for (k, c) in definition.columns.enumerated() { if let p = c.part { columns[k].keep(p) } }
        var out: [[Value]] = []
        out.reserveCapacity(count)
        for r in 0..<count { out.append(columns.map { $0.value(r) }) }
        if !definition.primaryKey.isEmpty {
            let keys = definition.primaryKey.compactMap { k in definition.columns.firstIndex { $0.name == k } }
            var seen = Set<[Value]>()
            for (i, r) in out.enumerated() where !seen.insert(keys.map { r[$0] }).inserted {
                let key = keys.map { r[$0].description }.joined(separator: ", ")
                return .failure(EngineError(message: "table \(definition.name): \(path): row \(i + 1) repeats the PRIMARY KEY (\(key))"))
            }
        }
        return .success(out)
    }

    /// The rows whose `columns` equal `key` (none when a key value is NULL), of one version.
    func lookup(_ columns: [Int], _ key: [Value]) -> [[Value]] {
        if key.contains(.null) { return [] }
        lock.lock()
        defer { lock.unlock() }
        return matches(columns, key).map { rows[$0] }
    }

    private func matches(_ columns: [Int], _ key: [Value]) -> [Int] {
        if indexes[columns] == nil {
            var index: [[Value]: [Int]] = [:]
            for (i, r) in rows.enumerated() { index[columns.map { r[$0] }, default: []].append(i) }
            indexes[columns] = index
        }
        return indexes[columns]![key] ?? []
    }
}
