import Foundation
import Testing
import SluiceCore
@testable import SluiceStreams

/// A put holds the stream's lock only to take its time and routes: while it checksums and writes
/// its records, readers go on, and what may have been seen of it in part is announced
/// (`arrivalsInFlight`). Reshards and deletion wait for it. Each test holds a put at the point
/// where it starts writing (`beforeWritingShares`) and looks at the store meanwhile; anything
/// that would wait for the put is run on a thread of its own with a deadline, and the put is
/// let go whatever happens.
@Suite("Writes beside reads")
struct WriteConcurrencyTests {
    /// A put on a thread of its own, held before it writes until `release`.
    final class HeldPut: @unchecked Sendable {
        let parked = DispatchSemaphore(value: 0)
        let resume = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var armed = true
        var result: PutRecordsResult? = nil

        init(_ store: StreamStore, stream: String, _ records: [PutRecordsRequestEntry]) {
            store.beforeWritingShares = { [self] in
                let hold = lock.withLock { () -> Bool in
                    defer { armed = false }
                    return armed
                }
                if hold {
                    parked.signal()
                    resume.wait()
                }
            }
            let thread = Thread { [self] in
                result = try? store.putRecords(stream: stream, records: records)
                done.signal()
            }
            thread.start()
        }

        func release() { resume.signal() }
    }

    /// Runs `body` on a thread of its own; true when it finished within `seconds`.
    func finishes(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
        let finished = DispatchSemaphore(value: 0)
        Thread {
            body()
            finished.signal()
        }.start()
        return finished.wait(timeout: .now() + seconds) == .success
    }

    func entries(_ values: [Int]) -> [PutRecordsRequestEntry] {
        let ranges = HashKey.evenRanges(count: 2)
        return values.map { PutRecordsRequestEntry(data: Array("r\($0)".utf8), partitionKey: "k", explicitHashKey: String(ranges[$0 % 2].lowerBound)) }
    }

    @Test func aReadDoesNotWaitForAPutBeingWritten() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 2)
        _ = try f.store.putRecords(stream: "s", records: entries([0, 1]))
        #expect(f.store.arrivalsInFlight == nil)
        f.clock.advance(by: 5)
        let put = HeldPut(f.store, stream: "s", entries([2, 3]))
        #expect(put.parked.wait(timeout: .now() + 10) == .success)
        // Its time is in flight from the moment it took it.
        #expect(f.store.arrivalsInFlight == f.clock.nowMillis())
        nonisolated(unsafe) let store = f.store!
        nonisolated(unsafe) var seen: [String] = []
        let read = finishes(within: 10) {
            let it = try? store.getShardIterator(stream: "s", shardId: "shardId-000000000000", type: .trimHorizon)
            if let it, let r = try? store.getRecords(shardIterator: it) {
                seen = (0..<r.records.count).map { String(decoding: r.records.data($0), as: UTF8.self) }
            }
        }
        put.release()
        #expect(read, "a read waited for a put being written")
        #expect(seen == ["r0"])
        #expect(put.done.wait(timeout: .now() + 10) == .success)
        #expect(put.result?.failedRecordCount == 0)
        #expect(f.store.arrivalsInFlight == nil)
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == ["r0", "r2"])
        #expect(try f.readAll("s", "shardId-000000000001").map(\.text) == ["r1", "r3"])
    }

    /// A put's records arrive at or after the earliest time it announces, its own recorded
    /// arrivals included (a replay's).
    @Test func recordedArrivalsAnnounceTheirEarliest() throws {
        let f = try StoreFixture()
        try f.store.createStream(name: "s", shardCount: 1)
        var packed = PackedRecords()
        let now = f.clock.nowMillis()
        for (i, t) in [now - 40, now - 70, now - 10].enumerated() {
            Array("r\(i)".utf8).withUnsafeBytes { packed.append(data: $0, partitionKey: "k", arrival: t) }
        }
        nonisolated(unsafe) let store = f.store!
        nonisolated(unsafe) var announced: Int64? = nil
        store.beforeWritingShares = { announced = store.arrivalsInFlight }
        _ = try store.putRecords(stream: "s", packed: packed)
        #expect(announced == now - 70)
        #expect(store.arrivalsInFlight == nil)
    }

    @Test func aReshardWaitsForAPutBeingWritten() throws {
        let f = try StoreFixture { $0.updateDelayMillis = 0 }
        try f.store.createStream(name: "s", shardCount: 2)
        let put = HeldPut(f.store, stream: "s", entries([0, 1, 2, 3]))
        #expect(put.parked.wait(timeout: .now() + 10) == .success)
        nonisolated(unsafe) let store = f.store!
        let split = DispatchSemaphore(value: 0)
        Thread {
            try? store.updateShardCount(stream: "s", targetShardCount: 4)
            split.signal()
        }.start()
        // The reshard cannot close the shards the put is about to write.
        #expect(split.wait(timeout: .now() + 0.3) == .timedOut)
        put.release()
        #expect(put.done.wait(timeout: .now() + 10) == .success)
        #expect(split.wait(timeout: .now() + 10) == .success)
        #expect(put.result?.failedRecordCount == 0)
        // Every record of the put is in the closed parents, below their ending sequence numbers.
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == ["r0", "r2"])
        #expect(try f.readAll("s", "shardId-000000000001").map(\.text) == ["r1", "r3"])
        #expect(try f.shardIds("s", openOnly: true).count == 4)
    }

    /// Closing the store lets a write under way finish before it syncs and lets the directory
    /// go: the put is acknowledged, and its records are there when the store opens again.
    @Test func closingWaitsForAPutBeingWritten() throws {
        let f = try StoreFixture { $0.fsync = .interval(millis: 60_000) }
        try f.store.createStream(name: "s", shardCount: 2)
        let put = HeldPut(f.store, stream: "s", entries([0, 1]))
        #expect(put.parked.wait(timeout: .now() + 10) == .success)
        nonisolated(unsafe) let store = f.store!
        let closed = DispatchSemaphore(value: 0)
        Thread {
            store.close()
            closed.signal()
        }.start()
        #expect(closed.wait(timeout: .now() + 0.3) == .timedOut, "the store closed under a put being written")
        put.release()
        #expect(put.done.wait(timeout: .now() + 10) == .success)
        #expect(closed.wait(timeout: .now() + 10) == .success)
        #expect(put.result?.failedRecordCount == 0)
        f.store = try StreamStore(configuration: f.config)
        #expect(try f.readAll("s", "shardId-000000000000").map(\.text) == ["r0"])
        #expect(try f.readAll("s", "shardId-000000000001").map(\.text) == ["r1"])
    }

    /// One writer and two readers at once over a shard whose segments roll every few hundred
    /// records: each reader gets every record once, in order, whole (a frame seen before its
    /// write was over would fail its checksum or be cut short).
    @Test func readersFollowAWriterAcrossSegmentRolls() throws {
        let f = try StoreFixture { $0.segmentBytes = 16 << 10 }
        try f.store.createStream(name: "s", shardCount: 1)
        nonisolated(unsafe) let store = f.store!
        let total = 20_000
        let writer = Thread {
            var n = 0
            while n < total {
                let batch = (n..<min(total, n + 97)).map { PutRecordsRequestEntry(data: Array("record \($0) \(String(repeating: "x", count: $0 % 50))".utf8), partitionKey: "k") }
                _ = try? store.putRecords(stream: "s", records: batch)
                n += batch.count
            }
        }
        final class Seen: @unchecked Sendable { var texts: [[String]] = [[], []]; var errors: [String] = [] }
        let seen = Seen()
        let readers = DispatchGroup()
        for r in 0..<2 {
            readers.enter()
            Thread {
                defer { readers.leave() }
                var texts: [String] = []
                do {
                    var it = try store.getShardIterator(stream: "s", shardId: "shardId-000000000000", type: .trimHorizon)
                    while texts.count < total {
                        let got = try store.getRecords(shardIterator: it, limit: 1 + 37 * (r + 1))
                        texts += (0..<got.records.count).map { String(decoding: got.records.data($0), as: UTF8.self) }
                        it = got.nextShardIterator!
                    }
                } catch {
                    seen.errors.append("\(error)")
                }
                seen.texts[r] = texts
            }.start()
        }
        writer.start()
        #expect(readers.wait(timeout: .now() + 120) == .success)
        #expect(seen.errors.isEmpty)
        let expected = (0..<total).map { "record \($0) \(String(repeating: "x", count: $0 % 50))" }
        #expect(seen.texts[0] == expected)
        #expect(seen.texts[1] == expected)
    }

    /// Writers, readers, reshards and trims at once on one stream for a while: nothing waits for
    /// ever, no read fails, each reader sees every shard's records in order, and in the end every
    /// record a put acknowledged is in the stream once, each partition key's in the order put.
    @Test func writersReadersAndReshardsAtOnce() throws {
        let f = try StoreFixture { $0.segmentBytes = 8 << 10 }
        try f.store.createStream(name: "s", shardCount: 2)
        nonisolated(unsafe) let store = f.store!
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var acknowledged: [String: [Int]] = [:]
            var errors: [String] = []
            var writing = 2
            func note(_ e: String) { lock.withLock { errors.append(e) } }
        }
        let shared = Shared()
        let group = DispatchGroup()
        for w in 0..<2 {
            group.enter()
            Thread {
                defer {
                    shared.lock.withLock { shared.writing -= 1 }
                    group.leave()
                }
                for batch in 0..<200 {
                    let entries = (0..<50).map { k in
                        PutRecordsRequestEntry(data: Array("w\(w)-\(batch * 50 + k)".utf8), partitionKey: "w\(w)-k\(k % 5)")
                    }
                    do {
                        let r = try store.putRecords(stream: "s", records: entries)
                        shared.lock.withLock {
                            for (k, e) in r.records.enumerated() { if case .success = e { shared.acknowledged["w\(w)-k\(k % 5)", default: []].append(batch * 50 + k) } }
                        }
                    } catch {
                        shared.note("put: \(error)")
                    }
                }
            }.start()
        }
        // Readers: every shard there is, again and again, checking order within each shard.
        for _ in 0..<2 {
            group.enter()
            Thread {
                defer { group.leave() }
                var last: [String: UInt64] = [:]
                var iterators: [String: String] = [:]
                var finished: Set<String> = []  // closed shards read to their end
                while shared.lock.withLock({ shared.writing }) > 0 {
                    do {
                        for shard in try store.listShards(streamName: "s", maxResults: 10000).shards where !finished.contains(shard.shardId) {
                            let id = shard.shardId
                            if iterators[id] == nil { iterators[id] = try store.getShardIterator(stream: "s", shardId: id, type: .trimHorizon) }
                            guard let it = iterators[id] else { continue }
                            let r = try store.getRecords(shardIterator: it, limit: 1 + Int.random(in: 0..<300))
                            for k in 0..<r.records.count {
                                let index = r.records.sequenceIndex(k)
                                if let l = last[id], index <= l { shared.note("\(id): \(index) after \(l)") }
                                last[id] = index
                            }
                            iterators[id] = r.nextShardIterator
                            if r.nextShardIterator == nil { finished.insert(id) }
                        }
                    } catch {
                        shared.note("read: \(error)")
                    }
                }
            }.start()
        }
        // Reshards and trims meanwhile.
        group.enter()
        Thread {
            defer { group.leave() }
            for target in [4, 2, 3, 2] {
                do { try store.updateShardCount(stream: "s", targetShardCount: target) } catch { shared.note("reshard: \(error)") }
                _ = try? store.trimExpired()
                usleep(2_000)
            }
        }.start()
        #expect(group.wait(timeout: .now() + 120) == .success, "writers, readers or reshards waited for ever")
        #expect(shared.errors.isEmpty, "\(shared.errors.prefix(5))")
        // Everything acknowledged is there once, each key's records in the order put.
        var stored: [String: [Int]] = [:]
        for shard in try f.allShards("s") {
            for r in try f.readAll("s", shard.shardId) {
                let parts = r.text.split(separator: "-")
                stored[r.key, default: []].append(Int(parts[1])!)
            }
        }
        // A key's records may lie in a parent and its children: in sequence order, parent first.
        #expect(stored.mapValues { $0.sorted() } == shared.acknowledged.mapValues { $0.sorted() })
        #expect(shared.acknowledged.values.reduce(0) { $0 + $1.count } == 2 * 200 * 50)
    }
}
