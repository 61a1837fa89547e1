/// Per-shard throughput accounting for provisioned streams when limits are on:
/// writes 1 MiB/s and 1,000 records/s, reads 2 MiB/s and 5 GetRecords calls/s.
/// Token buckets refilled from the store's clock, each holding at most one second's worth.
struct ShardThroughput {
    static let writeBytesPerSecond = 1_048_576.0
    static let writeRecordsPerSecond = 1000.0
    static let readBytesPerSecond = 2_097_152.0
    static let readCallsPerSecond = 5

    var writeBytes = writeBytesPerSecond
    var writeRecords = writeRecordsPerSecond
    var readBytes = readBytesPerSecond
    var lastRefill: Int64
    var readCalls: [Int64] = []

    init(now: Int64) { lastRefill = now }

    mutating func refill(now: Int64) {
        guard now > lastRefill else { return }
        let dt = Double(now - lastRefill) / 1000
        writeBytes = min(Self.writeBytesPerSecond, writeBytes + dt * Self.writeBytesPerSecond)
        writeRecords = min(Self.writeRecordsPerSecond, writeRecords + dt * Self.writeRecordsPerSecond)
        readBytes = min(Self.readBytesPerSecond, readBytes + dt * Self.readBytesPerSecond)
        lastRefill = now
    }

    /// Takes capacity for one record of `bytes`, or returns false when the shard is over its limit.
    mutating func admitWrite(bytes: Int, now: Int64) -> Bool {
        refill(now: now)
        guard writeRecords >= 1, writeBytes >= Double(bytes) else { return false }
        writeRecords -= 1
        writeBytes -= Double(bytes)
        return true
    }

    /// Whether a GetRecords call may go ahead: at most 5 in any second, and the byte budget not
    /// overdrawn (a large response overdraws it, which throttles the following calls).
    mutating func admitRead(now: Int64) -> Bool {
        refill(now: now)
        readCalls.removeAll { $0 <= now - 1000 }
        guard readCalls.count < Self.readCallsPerSecond, readBytes > 0 else { return false }
        readCalls.append(now)
        return true
    }

    mutating func chargeRead(bytes: Int) { readBytes -= Double(bytes) }
}
