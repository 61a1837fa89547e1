import Foundation

/// The records of one put as the write path reads them: each one's partition key and data as
/// bytes, and its explicit hash key if it has one. PutRecords requests (`[PutRecordsRequestEntry]`)
/// and packed local loads (`PackedRecords`) both go through the same routing, limits and log.
protocol PutSource {
    var count: Int { get }
    func keyCount(_ i: Int) -> Int
    func dataCount(_ i: Int) -> Int
    func explicitHashKey(_ i: Int) -> String?
    /// The partition key's UTF-8 bytes and the data of record `i`.
    func withRecord<R>(_ i: Int, _ body: (_ key: UnsafeRawBufferPointer, _ data: UnsafeRawBufferPointer) -> R) -> R
    /// The arrival time record `i` asks for (a replay's recorded time, a pump's ROWTIME), or nil
    /// for the store's clock. The log never lets arrivals go back: a shard's records keep the
    /// largest arrival so far.
    func arrival(_ i: Int) -> Int64?
}

extension PutSource {
    func arrival(_ i: Int) -> Int64? { nil }
}

extension Array: PutSource where Element == PutRecordsRequestEntry {
    func keyCount(_ i: Int) -> Int { self[i].partitionKey.utf8.count }
    func dataCount(_ i: Int) -> Int { self[i].data.count }
    func explicitHashKey(_ i: Int) -> String? { self[i].explicitHashKey }
    func withRecord<R>(_ i: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> R) -> R {
        var key = self[i].partitionKey
        return key.withUTF8 { k in self[i].data.withUnsafeBytes { d in body(UnsafeRawBufferPointer(k), d) } }
    }
}

/// Records for one put packed side by side: each record's partition key then its data in one
/// buffer, with no array or string per record. A local bulk load (`sluice run --input`, the
/// REPL's `.load`) builds one line by line and hands it to `putRecords(stream:packed:)`, which
/// applies the PutRecords rules (500 records, the size limits) as a request of entries would.
public struct PackedRecords: Sendable {
    private var bytes: [UInt8] = []
    /// Record i: key at starts[i] of keyLengths[i] bytes, then its data up to starts[i + 1].
    private var starts: [Int] = [0]
    private var keyLengths: [Int] = []
    /// Each record's own arrival time, when the records carry them (all or none).
    private var arrivals: [Int64] = []

    public init() {}

    public var count: Int { keyLengths.count }
    /// Key and data bytes of every record together (the request's size).
    public var byteCount: Int { bytes.count }

    public mutating func append(data: UnsafeRawBufferPointer, partitionKey: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: partitionKey)
        bytes.append(contentsOf: data)
        keyLengths.append(partitionKey.count)
        starts.append(bytes.count)
    }

    public mutating func append(data: UnsafeRawBufferPointer, partitionKey: String) {
        var key = partitionKey
        key.withUTF8 { append(data: data, partitionKey: UnsafeRawBufferPointer($0)) }
    }

    /// A record with the arrival time it is to have (epoch ms) instead of the store's clock: a
    /// replay's recorded arrival, or the ROWTIME a query gives the rows it writes. The records of
    /// one put either all have one or none has.
    public mutating func append(data: UnsafeRawBufferPointer, partitionKey: String, arrival: Int64) {
        precondition(arrivals.count == keyLengths.count, "a put's records all have an arrival time or none has")
        append(data: data, partitionKey: partitionKey)
        arrivals.append(arrival)
    }

    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        starts.append(0)
        keyLengths.removeAll(keepingCapacity: true)
        arrivals.removeAll(keepingCapacity: true)
    }

    /// Record i's partition key and data.
    public func record(_ i: Int) -> (partitionKey: String, data: [UInt8]) {
        withRecord(i) { k, d in (String(decoding: k, as: UTF8.self), Array(d)) }
    }

    /// Record i's partition key.
    public func partitionKey(_ i: Int) -> String {
        bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[starts[i]..<(starts[i] + keyLengths[i])]), as: UTF8.self) }
    }
}

extension PackedRecords: PutSource {
    func keyCount(_ i: Int) -> Int { keyLengths[i] }
    func dataCount(_ i: Int) -> Int { starts[i + 1] - starts[i] - keyLengths[i] }
    func explicitHashKey(_ i: Int) -> String? { nil }
    func arrival(_ i: Int) -> Int64? { arrivals.isEmpty ? nil : arrivals[i] }
    func withRecord<R>(_ i: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> R) -> R {
        bytes.withUnsafeBytes { all in
            let s = starts[i], k = keyLengths[i]
            return body(UnsafeRawBufferPointer(rebasing: all[s..<(s + k)]), UnsafeRawBufferPointer(rebasing: all[(s + k)..<starts[i + 1]]))
        }
    }
}
