import Foundation
import Testing
import SluiceCore
import SluiceCodecs
import SluiceStreams
@testable import SluiceDelivery

/// A store on a manual clock in a scratch directory, and a destination directory.
final class Fixture {
    let root: String
    let clock = ManualClock()
    var store: StreamStore!
    var config: StoreConfiguration

    init() throws {
        root = NSTemporaryDirectory() + "sluice-delivery-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        config = StoreConfiguration(dataDirectory: root + "/data", clock: clock)
        config.fsync = .never
        store = try StreamStore(configuration: config)
    }
    deinit {
        store?.close()
        try? FileManager.default.removeItem(atPath: root)
    }

    func firehose(_ options: [String: String], name: String = "archive") throws -> FirehoseConfig {
        var o = options
        if o["destination"] == nil { o["destination"] = "file:" + root + "/out" }
        let c = try FirehoseConfig.parse(name: name, options: o)
        try DeliveryStream.create(c, store: store)
        return c
    }

    func put(_ c: FirehoseConfig, _ records: [String]) throws {
        for chunk in stride(from: 0, to: records.count, by: 500) {
            let r = try DeliveryStream.putBatch(c, store: store, records: records[chunk..<min(records.count, chunk + 500)].map { Array($0.utf8) })
            #expect(r.allSatisfy { if case .success = $0 { return true }; return false })
        }
    }

    /// Every delivered object under the destination (staging excluded): key -> bytes (gunzipped).
    func objects(_ c: FirehoseConfig) -> [String: String] {
        var out: [String: String] = [:]
        let base = c.directory
        let e = FileManager.default.enumerator(atPath: base)
        while let p = e?.nextObject() as? String {
            if p.hasPrefix(".sluice-staging") { continue }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: base + "/" + p, isDirectory: &isDir), !isDir.boolValue else { continue }
            var bytes = [UInt8](FileManager.default.contents(atPath: base + "/" + p) ?? Data())
            if p.hasSuffix(".gz") { bytes = Gzip.decompress(bytes) ?? Array("<not gzip>".utf8) }
            out[p] = String(decoding: bytes, as: UTF8.self)
        }
        return out
    }
}

@Suite("Firehose delivery")
struct DeliveryTests {
    @Test func objectsAreLaidOutAsS3KeysAndHoldEveryRecordOnce() throws {
        let f = try Fixture()
        let c = try f.firehose(["prefix": "logs/", "newline_delimiter": "true"])
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        try f.put(c, (0..<10).map { #"{"n":\#($0)}"# })
        #expect(try d.poll())
        #expect(f.objects(c).isEmpty, "nothing is delivered before a hint is met")
        try d.flushAll()
        let objects = f.objects(c)
        #expect(objects.count == 1)
        let (key, body) = objects.first!
        // 2024-01-01T00:00:00Z is the manual clock's start.
        let pattern = #"^logs/2024/01/01/00/archive-1-2024-01-01-00-00-00-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"#
        #expect(key.range(of: pattern, options: .regularExpression) != nil, "\(key)")
        #expect(body == (0..<10).map { #"{"n":\#($0)}"# + "\n" }.joined())
        #expect(d.counters.recordsDelivered == 10 && d.counters.objects == 1)
    }

    @Test func withoutADelimiterRecordsAreConcatenated() throws {
        let f = try Fixture()
        let c = try f.firehose([:])
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        try f.put(c, ["a", "b", "c"])
        try d.deliverAll()
        #expect(Array(f.objects(c).values) == ["abc"])
    }

    @Test func theSizeHintWritesAnObjectOnceTheBufferIsFull() throws {
        let f = try Fixture()
        let c = try f.firehose(["buffer_size": "1MB", "newline_delimiter": "true"])
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        let record = String(repeating: "x", count: 999)  // 1,000 bytes with the newline
        try f.put(c, Array(repeating: record, count: 1_100))
        try d.poll()
        let objects = f.objects(c)
        #expect(objects.count == 1)
        #expect(objects.values.first?.utf8.count == 1_049_000, "the record that crosses 1 MiB closes the object")
        #expect(d.bufferedRecords == 51)
        try d.flushAll()
        #expect(f.objects(c).values.map(\.utf8.count).sorted() == [51_000, 1_049_000])
    }

    @Test func theIntervalHintIsMeasuredFromTheOldestRecord() throws {
        let f = try Fixture()
        let c = try f.firehose(["buffer_interval": "60s"])
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        try f.put(c, ["first"])
        f.clock.advance(by: 30_000)
        try f.put(c, ["second"])
        try d.poll()
        f.clock.advance(by: 29_999)
        try d.poll()
        #expect(f.objects(c).isEmpty, "59.999 s after the oldest record")
        f.clock.advance(by: 1)
        try d.poll()
        #expect(Array(f.objects(c).values) == ["firstsecond"])
        // A zero interval delivers at every poll.
        let z = try f.firehose(["buffer_interval": "0s", "destination": "file:" + f.root + "/zero"], name: "zero")
        let dz = try DeliveryStream(config: z, store: f.store, clock: f.clock)
        try f.put(z, ["now"])
        try dz.poll()
        #expect(Array(f.objects(z).values) == ["now"])
    }

    @Test func gzipObjectsDecompressToTheRecords() throws {
        let f = try Fixture()
        let c = try f.firehose(["compression": "gzip", "newline_delimiter": "true"])
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        let records = (0..<2_000).map { #"{"i":\#($0),"pad":"\#(String(repeating: "p", count: $0 % 50))"}"# }
        try f.put(c, records)
        try d.deliverAll()
        let objects = f.objects(c)
        #expect(objects.count == 1)
        #expect(objects.keys.first!.hasSuffix(".gz"))
        #expect(objects.values.first == records.map { $0 + "\n" }.joined())
        #expect(d.counters.bytesWritten < d.counters.bytesIn / 3)
    }

    @Test func prefixesWithExpressionsAndPartitionKeys() throws {
        let f = try Fixture()
        f.clock.set(1_718_454_645_123)  // 2024-06-15T12:30:45.123Z
        let c = try f.firehose(["prefix": "data/region=!{partitionKeyFromQuery:region}/dt=!{timestamp:yyyy-MM-dd'T'HH}/",
                                "error_prefix": "failed/!{firehose:error-output-type}/!{timestamp:yyyy/MM}/", "partition_keys": "region",
                                "newline_delimiter": "true"])
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        d.processor = { batch in
            batch.map { r in
                let text = String(decoding: r, as: UTF8.self)
                if text.hasPrefix("bad") { return .failed("cannot read '\(text)'") }
                if text.hasPrefix("skip") { return .dropped }
                return .ok(Array(text.uppercased().utf8), keys: ["region": String(text.prefix(2))])
            }
        }
        try f.put(c, ["eu-1", "us-1", "eu-2", "bad-1", "skip", "../x"])
        try d.deliverAll()
        let objects = f.objects(c)
        func body(_ prefix: String) -> String? { objects.first { $0.key.hasPrefix(prefix) }?.value }
        #expect(body("data/region=eu/dt=2024-06-15T12/archive-1-2024-06-15-12-30-45-") == "EU-1\nEU-2\n")
        #expect(body("data/region=us/dt=2024-06-15T12/") == "US-1\n")
        #expect(body("data/region=%2E%2E/dt=2024-06-15T12/") == "../X\n", "a key cannot climb out of the destination")
        let failed = try #require(body("failed/processing-failed/2024/06/archive-1-"))
        let doc = try JSONValue.parse(bytes: Array(failed.dropLast().utf8))
        #expect(doc["errorCode"]?.stringValue == "processing-failed")
        #expect(doc["errorMessage"]?.stringValue == "cannot read 'bad-1'")
        #expect(doc["rawData"]?.stringValue == Data("bad-1".utf8).base64EncodedString())
        #expect(doc["arrivalTimestamp"]?.int64Value == 1_718_454_645_123)
        #expect(objects.count == 4)
        #expect(d.counters.recordsDropped == 1 && d.counters.recordsFailed == 1 && d.counters.recordsDelivered == 4)
    }

    /// A prefix may use one partition key twice (it trapped while the prefix was checked, and a
    /// CreateDeliveryStream or CREATE FIREHOSE with such a prefix took the process down).
    @Test func aPrefixMayUseAPartitionKeyTwice() throws {
        let f = try Fixture()
        f.clock.set(1_718_454_645_123)
        let c = try f.firehose(["prefix": "!{partitionKeyFromQuery:k}/again=!{partitionKeyFromQuery:k}/", "error_prefix": "err/",
                                "partition_keys": "k", "newline_delimiter": "true"])
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        d.processor = { batch in batch.map { r in .ok(r, keys: ["k": String(decoding: r.prefix(2), as: UTF8.self)]) } }
        try f.put(c, ["eu-1", "us-1"])
        try d.deliverAll()
        let keys = f.objects(c).keys.sorted()
        #expect(keys.count == 2 && keys[0].hasPrefix("eu/again=eu/") && keys[1].hasPrefix("us/again=us/"), "\(keys)")
    }

    /// A delivery stream dropped with records buffered (a crash) and opened again delivers each
    /// record exactly once, however many times it is interrupted.
    @Test func interruptedDeliveryResumesWithoutLossOrDuplicates() throws {
        let f = try Fixture()
        var c = try f.firehose(["newline_delimiter": "true", "partition_keys": "k",
                                "prefix": "p=!{partitionKeyFromQuery:k}/", "error_prefix": "err/"])
        c.bufferSizeBytes = 64 << 10  // below what a definition may ask, so that buffers fill often
        let processor: RecordProcessor = { $0.map { .ok($0, keys: ["k": String($0.count % 3)]) } }
        var rng = SplitMix64(seed: 5)
        var sent: [String] = []
        for round in 0..<12 {
            let n = rng.below(300) + 1
            let batch = (0..<n).map { i in "r\(round)-\(i)-" + String(repeating: "z", count: rng.below(800)) }
            try f.put(c, batch)
            sent += batch
            let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
            d.processor = processor
            try d.poll()  // some buffers fill and are delivered; the rest are lost with the object
            f.clock.advance(by: 1_000)
        }
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        d.processor = processor
        try d.deliverAll()
        let got = f.objects(c).values.flatMap { $0.split(separator: "\n").map(String.init) }
        #expect(got.count == sent.count)
        #expect(Set(got) == Set(sent))
        #expect(f.objects(c).count > 3, "buffers filled and were delivered between the interruptions, not only at the end")
    }

    /// A crash after the state lists an object but before it is renamed into place: opening the
    /// stream again finishes the rename and delivers the rest, each record once.
    @Test func aCrashBetweenTheStateAndTheRenameIsFinishedOnOpening() throws {
        let f = try Fixture()
        let c = try f.firehose(["buffer_size": "1MB", "newline_delimiter": "true"])
        let records = (0..<3_000).map { "rec-\($0)-" + String(repeating: "y", count: 990) }
        try f.put(c, records)
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        var deliveries = 0
        d.afterStateSaved = { () throws(DeliveryError) in
            deliveries += 1
            if deliveries == 2 { throw DeliveryError(.storage, "simulated crash") }
        }
        #expect(throws: DeliveryError.self) { try d.poll() }
        #expect(f.objects(c).count == 1, "the second object is staged, listed, and not yet in place")
        let again = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        #expect(f.objects(c).count == 2, "opening finishes the rename")
        try again.deliverAll()
        let got = f.objects(c).values.flatMap { $0.split(separator: "\n").map(String.init) }
        #expect(got.sorted() == records.sorted())
    }

    /// A disk that fills part way through writing an object: the failed step is undone (its
    /// staged file dropped, its records read again from the stream), so retries write every
    /// record exactly once, in every object, whatever byte the disk filled at.
    @Test(arguments: [0, 1, 700, 40_000, 300_000, 600_000])
    func aFullDiskDuringDeliveryLosesAndDuplicatesNothing(_ room: Int) throws {
        let f = try Fixture()
        var c = try f.firehose(["newline_delimiter": "true", "partition_keys": "k",
                                "prefix": "p=!{partitionKeyFromQuery:k}/", "error_prefix": "err/"])
        c.bufferSizeBytes = 200 << 10
        let processor: RecordProcessor = { $0.map { .ok($0, keys: ["k": String($0.count % 3)]) } }
        let records = (0..<3_000).map { "rec-\($0)-" + String(repeating: "q", count: $0 % 500) }
        try f.put(c, records)
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        d.processor = processor
        d.spaceLeft = room
        var failures = 0
        for _ in 0..<3 {
            do { try d.deliverAll() } catch { failures += 1 }
        }
        #expect(failures == 3, "the disk stays full: every attempt fails")
        // Space comes back: the next attempts deliver everything once.
        d.spaceLeft = nil
        try d.deliverAll()
        let objects = f.objects(c)
        let got = objects.values.flatMap { $0.split(separator: "\n").map(String.init) }
        #expect(got.count == records.count, "\(got.count) records delivered for \(records.count)")
        #expect(Set(records).subtracting(got).count == 0, "records missing")
        // Nothing left staged, and a restart finds nothing more to deliver.
        let staged = (try? FileManager.default.contentsOfDirectory(atPath: c.directory + "/.sluice-staging/" + c.name)) ?? []
        #expect(staged.isEmpty, "\(staged)")
        let again = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        again.processor = processor
        try again.deliverAll()
        #expect(f.objects(c).count == objects.count)
    }

    /// A stop after failed writes keeps every acknowledged record: a new delivery stream (the next
    /// start) delivers each once.
    @Test func recordsThatFailedToBeWrittenAreDeliveredAfterARestart() throws {
        let f = try Fixture()
        let c = try f.firehose(["buffer_size": "1MB", "newline_delimiter": "true"])
        let records = (0..<2_500).map { "r\($0)-" + String(repeating: "w", count: 900) }
        try f.put(c, records)
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        d.spaceLeft = 1_500_000  // the first object fits, the second does not
        #expect(throws: DeliveryError.self) { try d.deliverAll() }
        #expect(f.objects(c).count == 1)
        let restarted = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        try restarted.deliverAll()
        let got = f.objects(c).values.flatMap { $0.split(separator: "\n").map(String.init) }
        #expect(got.count == records.count && Set(got).count == records.count && Set(records).subtracting(got).isEmpty)
    }

    /// Partition key values that a file system could not take (too long, or the staging
    /// directory's name) still make one object each, inside the destination and outside staging.
    @Test func hostilePartitionKeyValuesStayDeliverable() throws {
        let f = try Fixture()
        var c = try f.firehose(["newline_delimiter": "true", "partition_keys": "k",
                                "prefix": "!{partitionKeyFromQuery:k}/", "error_prefix": "err/"])
        c.bufferSizeBytes = 1 << 20
        let long = String(repeating: "L", count: 300)
        let processor: RecordProcessor = { $0.map { r in .ok(r, keys: ["k": String(decoding: r, as: UTF8.self).hasPrefix("a") ? long : ".sluice-staging"]) } }
        try f.put(c, ["a1", "b1", "a2", "b2"])
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        d.processor = processor
        try d.deliverAll()
        let objects = f.objects(c)
        #expect(objects.count == 2, "\(objects.keys)")
        #expect(objects.keys.allSatisfy { !$0.hasPrefix(".sluice-staging") })
        #expect(objects.keys.contains { $0.hasPrefix("%2Esluice-staging/") })
        #expect(objects.keys.contains { $0.hasPrefix(String(repeating: "L", count: 180) + "~") })
        #expect(Set(objects.values.flatMap { $0.split(separator: "\n").map(String.init) }) == ["a1", "a2", "b1", "b2"])
    }

    /// Two firehoses writing to one bucket: opening (or rolling back) one never touches the
    /// other's staged objects, so both deliver every record.
    @Test func firehosesSharingABucketDoNotTouchEachOthersStagedObjects() throws {
        let f = try Fixture()
        let a = try f.firehose(["newline_delimiter": "true", "buffer_size": "1MB"], name: "first")
        let b = try f.firehose(["newline_delimiter": "true", "buffer_size": "1MB"], name: "second")
        #expect(a.directory == b.directory)
        try f.put(a, (0..<50).map { "a\($0)" })
        try f.put(b, (0..<50).map { "b\($0)" })
        let da = try DeliveryStream(config: a, store: f.store, clock: f.clock)
        try da.poll()  // buffered in a staged file
        _ = try DeliveryStream(config: b, store: f.store, clock: f.clock)  // opening b recovers b only
        let db = try DeliveryStream(config: b, store: f.store, clock: f.clock)
        db.spaceLeft = 10
        #expect(throws: DeliveryError.self) { try db.deliverAll() }  // b rolls back
        db.spaceLeft = nil
        try db.deliverAll()
        try da.deliverAll()
        let lines = f.objects(a).values.flatMap { $0.split(separator: "\n").map(String.init) }
        #expect(lines.sorted() == ((0..<50).map { "a\($0)" } + (0..<50).map { "b\($0)" }).sorted())
    }

    @Test func putsAreCheckedAsPutRecordBatchChecksThem() throws {
        let f = try Fixture()
        let c = try f.firehose([:])
        func code(_ records: [[UInt8]]) -> String? {
            do { _ = try DeliveryStream.putBatch(c, store: f.store, records: records); return nil } catch { return error.message }
        }
        #expect(code([])?.contains("between 1 and 500") == true)
        #expect(code(Array(repeating: [1], count: 501))?.contains("between 1 and 500") == true)
        #expect(code([Array(repeating: 1, count: 1_024_001)])?.contains("1024000") == true)
        #expect(code(Array(repeating: Array(repeating: 1, count: 900_000), count: 5))?.contains("4 MiB") == true)
        #expect(code([Array(repeating: 1, count: 1_024_000)]) == nil)
        try f.store.createStream(name: "src", shardCount: 2)
        let fromStream = try f.firehose(["source": "stream:src"], name: "fromsrc")
        #expect(throws: DeliveryError.self) { try DeliveryStream.putBatch(fromStream, store: f.store, records: [[1]]) }
    }

    @Test func aSourceStreamIsReadOverAllItsShards() throws {
        let f = try Fixture()
        try f.store.createStream(name: "events", shardCount: 3)
        for i in 0..<300 { _ = try f.store.putRecord(stream: "events", data: Array("e\(i)".utf8), partitionKey: "k\(i)") }
        let c = try f.firehose(["source": "stream:events", "newline_delimiter": "true"])
        let d = try DeliveryStream(config: c, store: f.store, clock: f.clock)
        try d.deliverAll()
        let objects = f.objects(c)
        #expect(objects.count == 3, "one object per shard")
        #expect(Set(objects.values.flatMap { $0.split(separator: "\n").map(String.init) }) == Set((0..<300).map { "e\($0)" }))
    }

    @Test(arguments: [
        (["destination": "ftp://bucket"], "file:DIR"), (["destination": "s3://Not_A_Bucket"], "s3://BUCKET"), (["buffer_size": "512KB"], "between 1MB and 128MB"),
        (["buffer_size": "129MB"], "between 1MB and 128MB"), (["buffer_interval": "901s"], "between 0s and 900s"),
        (["compresion": "gzip"], "did you mean 'compression'"), (["compression": "zip"], "'gzip' or 'none'"),
        (["prefix": "x/!{timestamp:yyyy}/"], "needs an error_prefix"), (["prefix": "!{timestamp:yyyy-ww}", "error_prefix": "e/"], "pattern letter 'w'"),
        (["prefix": "!{partitionKeyFromQuery:k}/", "error_prefix": "e/"], "no partition_keys"), (["prefix": "!{nope:x}", "error_prefix": "e/"], "unknown namespace"),
        (["error_prefix": "e/!{partitionKeyFromQuery:k}"], "error_prefix cannot use"), (["source": "kinesis"], "stream:NAME"),
        // S3 keeps `..` as text; here it would climb out of the bucket's directory.
        (["prefix": "../../escape/"], "'.' or '..' segment"), (["prefix": "a/./b/"], "'.' or '..' segment"),
        (["prefix": "x/!{timestamp:'..'}/", "error_prefix": "e/"], "'.' or '..' segment"),
        (["prefix": "x/!{timestamp:yyyy}/", "error_prefix": "../e/"], "'.' or '..' segment"),
    ])
    func badDefinitionsAreRefusedWithAReason(_ options: [String: String], _ reason: String) throws {
        var o = options
        if o["destination"] == nil { o["destination"] = "file:/tmp/x" }
        do {
            _ = try FirehoseConfig.parse(name: "f", options: o)
            Issue.record("accepted \(options)")
        } catch {
            #expect(error.message.contains(reason), "\(error.message)")
        }
    }

    @Test func timestampPatterns() throws {
        let t: Int64 = 1_709_262_896_789  // 2024-03-01T03:14:56.789Z
        let p = try PrefixTemplate("!{timestamp:yy/M/d/H-mm-ss.SSS 'at' ''}")
        #expect(p.evaluate(time: t, keys: [:], random: "r") == "24/3/1/3-14-56.789 at '")
        #expect(try PrefixTemplate("!{timestamp:yyyy-MM-dd HH:mm}").evaluate(time: t, keys: [:], random: "r") == "2024-03-01 03:14")
        #expect(try PrefixTemplate("plain/").evaluate(time: t, keys: [:], random: "r") == "plain/2024/03/01/03/")
        #expect(try PrefixTemplate("").evaluate(time: t, keys: [:], random: "r") == "2024/03/01/03/")
    }
}

extension SplitMix64 {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
