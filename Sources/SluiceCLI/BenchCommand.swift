import Foundation
import SluiceCore
import SluiceStreams

/// `sluice bench ...`: throughput measurements. Build with `swift build -c release` first:
/// figures from a debug build say nothing.
struct BenchCommand {
    let out: OutputStream
    let err: OutputStream

    static let usage = """
        usage: sluice bench stream [--records N] [--record-bytes B] [--shards 1,4] [--keys K]
                                   [--fsync never|always|interval[:MS]] [--dir DIR]
          Puts N records of B bytes through the PutRecords batch path (500 per call), then reads them
          all back with GetRecords (10,000 per call), once per shard count; one thread throughout.
        """

    func run(_ argv: ArraySlice<String>) throws -> Int32 {
        guard let what = argv.first else { throw UsageError("missing benchmark name\n" + BenchCommand.usage) }
        switch what {
        case "stream":
            let a = try Arguments(argv.dropFirst(), valued: ["records", "record-bytes", "shards", "keys", "fsync", "dir"])
            return try stream(a)
        case "--help", "-h", "help":
            out.line(BenchCommand.usage)
            return 0
        default:
            throw UsageError("unknown benchmark '\(what)' (known: stream)")
        }
    }

    private func stream(_ a: Arguments) throws -> Int32 {
        let records = try a.int("records") ?? 2_000_000
        let size = try a.int("record-bytes") ?? 100
        let keys = try a.int("keys") ?? 1000
        let shardCounts = try (a.value("shards") ?? "1,4").split(separator: ",").map { s -> Int in
            guard let n = Int(s), n >= 1 else { throw UsageError("--shards takes a list of shard counts, like 1,4") }
            return n
        }
        guard records >= 500, size >= 1, size <= 1 << 20, keys >= 1 else {
            throw UsageError("--records must be at least 500, --record-bytes 1 to 1048576, --keys at least 1")
        }
        let fsync = try a.value("fsync").map { f throws -> FsyncPolicy in
            guard let p = FsyncPolicy(f) else { throw UsageError("bad --fsync '\(f)'") }
            return p
        } ?? .interval(millis: 1000)
        let base = a.value("dir") ?? NSTemporaryDirectory() + "sluice-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: base) }

        #if DEBUG
        err.line("warning: this is a debug build; build with 'swift build -c release' for meaningful figures")
        #endif
        out.line("stream store: \(records) records of \(size) bytes, \(keys) partition keys, PutRecords of 500, "
                 + "GetRecords of 10,000, fsync \(describe(fsync)), one thread")
        out.line(pad("shards", 7) + pad("put rec/s", 13) + pad("put MB/s", 10) + pad("get rec/s", 13) + pad("get MB/s", 10) + "peak RSS MB")
        out.flush()

        // Prebuilt batches, reused round-robin: the producer's cost stays out of the figure.
        var rng = SplitMix64(seed: 42)
        let keyNames = (0..<keys).map { "user-\($0)" }
        let batchCount = 16
        let batches: [[PutRecordsRequestEntry]] = (0..<batchCount).map { b in
            (0..<500).map { i in
                let data = (0..<size).map { _ in UInt8(truncatingIfNeeded: 32 + rng.next() % 95) }
                return PutRecordsRequestEntry(data: data, partitionKey: keyNames[(b * 500 + i) % keys])
            }
        }
        for shards in shardCounts {
            let dir = base + "/s\(shards)"
            var config = StoreConfiguration(dataDirectory: dir)
            config.fsync = fsync
            config.shardLimit = max(500, shards)
            let store = try StreamStore(configuration: config)
            try store.createStream(name: "bench", shardCount: shards)
            let calls = records / 500
            let putWatch = Stopwatch()
            var failed = 0
            for c in 0..<calls {
                failed += try store.putRecords(stream: "bench", records: batches[c % batchCount]).failedRecordCount
            }
            let putSeconds = putWatch.elapsedSeconds
            let written = calls * 500
            if failed > 0 { err.line("warning: \(failed) records failed") }

            let getWatch = Stopwatch()
            var read = 0
            var checksum: UInt64 = 0
            for shard in try store.listShards(streamName: "bench").shards {
                var it: String? = try store.getShardIterator(stream: "bench", shardId: shard.shardId, type: .trimHorizon)
                while let i = it {
                    let r = try store.getRecords(shardIterator: i, limit: 10000)
                    for k in 0..<r.records.count {
                        checksum &+= r.records.withData(k) { UInt64($0[0]) &+ UInt64($0.count) }
                    }
                    read += r.records.count
                    it = r.records.count == 0 && r.millisBehindLatest == 0 ? nil : r.nextShardIterator
                }
            }
            let getSeconds = getWatch.elapsedSeconds
            store.close()
            guard read == written else {
                err.line("error: wrote \(written) records but read back \(read)")
                return 1
            }
            let mb = Double(written * size) / 1e6
            out.line(pad(String(shards), 7) + pad(fmt(Double(written) / putSeconds), 13) + pad(fmt2(mb / putSeconds), 10)
                     + pad(fmt(Double(read) / getSeconds), 13) + pad(fmt2(mb / getSeconds), 10) + fmt2(peakRSSMegabytes()))
            out.flush()
            _ = checksum
            try? FileManager.default.removeItem(atPath: dir)
        }
        return 0
    }

    private func describe(_ p: FsyncPolicy) -> String {
        switch p {
        case .never: return "never"
        case .always: return "always"
        case .interval(let ms): return "every \(ms) ms"
        }
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
func fmt(_ v: Double) -> String { String(Int(v.rounded())) }
func fmt2(_ v: Double) -> String { String(format: "%.1f", v) }

/// Peak resident memory of this process (VmHWM), in MB.
func peakRSSMegabytes() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    return 0
}

/// A small seeded generator (SplitMix64), so generated data is the same on every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
