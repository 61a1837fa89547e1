import Foundation
import SluiceCodecs
import SluiceCore
import SluiceDelivery
import SluiceStreams

extension BenchCommand {
    /// `sluice bench firehose`: generated bids (JSON lines) put through PutRecordBatch (500 per
    /// call) into a firehose with GZIP objects and a newline delimiter, delivered as they fill and
    /// flushed at the end: puts, reads and buffering on this thread, compression on the delivery
    /// stream's worker thread. `gzip -6` compresses the same bytes in the same run, and the
    /// ratio of the two rates is printed. The delivered objects are decompressed and checked.
    func firehose(_ a: Arguments) throws -> Int32 {
        #if DEBUG
        err.line("warning: this is a debug build; build with 'swift build -c release' for meaningful figures")
        #endif
        let n = try a.int("records") ?? 2_000_000
        let base = a.value("dir") ?? NSTemporaryDirectory() + "sluice-bench-firehose-\(getpid())"
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { if a.value("dir") == nil { try? FileManager.default.removeItem(atPath: base) } }
        // The input, as a file for gzip and as lines for the puts.
        let (data, ends) = BidGenerator.lines(n)
        let input = base + "/bids.jsonl"
        FileManager.default.createFile(atPath: input, contents: Data(data))

        var config = StoreConfiguration(dataDirectory: base + "/data")
        if let f = a.value("fsync") {
            guard let p = FsyncPolicy(f) else { throw UsageError("--fsync takes never, always, interval or interval:<ms>") }
            config.fsync = p
        }
        let store = try StreamStore(configuration: config)
        defer { store.close() }
        let size = a.value("buffer-size") ?? "64MB"
        let fh = try FirehoseConfig.parse(name: "bench", options: ["destination": "file:" + base + "/out", "compression": "gzip",
                                                                   "newline_delimiter": "true", "buffer_size": size, "buffer_interval": "900s"])
        try DeliveryStream.create(fh, store: store)
        let d = try DeliveryStream(config: fh, store: store)
        out.line("firehose: \(n) bid records, \(data.count) bytes of JSON lines, PutRecordBatch of 500, GZIP objects of \(size); puts and reads on one thread, compression on one more")
        out.flush()
        let watch = Stopwatch()
        var batch: [[UInt8]] = []
        batch.reserveCapacity(500)
        var start = 0
        var failed = 0
        for (i, end) in ends.enumerated() {
            batch.append(Array(data[start..<(end - 1)]))  // without the newline: the firehose adds it
            start = end
            if batch.count == 500 || i == ends.count - 1 {
                for r in try DeliveryStream.putBatch(fh, store: store, records: batch) { if case .failure = r { failed += 1 } }
                batch.removeAll(keepingCapacity: true)
                try d.poll()
            }
        }
        try d.deliverAll()
        let seconds = watch.elapsedSeconds
        guard failed == 0 else { throw UsageError("\(failed) records were not put") }

        // gzip -6 on the same bytes, same machine, same run.
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: "/bin/sh")
        gz.arguments = ["-c", "gzip -6 -c '\(input)' > '\(base)/gzip.out'"]
        let gzWatch = Stopwatch()
        try gz.run()
        gz.waitUntilExit()
        let gzSeconds = gzWatch.elapsedSeconds
        let gzBytes = (try? FileManager.default.attributesOfItem(atPath: base + "/gzip.out")[.size] as? Int) ?? 0

        // Check the objects: decompressed, they hold every record once, in order per object.
        var delivered = 0
        var objects = 0
        var written = 0
        let e = FileManager.default.enumerator(atPath: base + "/out")
        while let p = e?.nextObject() as? String {
            guard p.hasSuffix(".gz"), !p.hasPrefix(".sluice-staging") else { continue }
            let bytes = [UInt8](FileManager.default.contents(atPath: base + "/out/" + p) ?? Data())
            written += bytes.count
            guard let plain = Gzip.decompress(bytes) else { throw UsageError("object \(p) is not valid gzip") }
            delivered += plain.count
            objects += 1
        }
        guard delivered == data.count else { throw UsageError("delivered \(delivered) bytes, put \(data.count)") }
        let mb = Double(data.count) / 1e6
        out.line(String(format: "sluice firehose  %.0f records/s  %.1f MB/s  %.2f s  %d objects, %.1f MB written, peak RSS %.0f MB",
                        Double(n) / seconds, mb / seconds, seconds, objects, Double(written) / 1e6, peakRSSMegabytes()))
        out.line(String(format: "gzip -6          %.1f MB/s  %.2f s  %.1f MB written", mb / gzSeconds, gzSeconds, Double(gzBytes) / 1e6))
        out.line(String(format: "ratio (firehose MB/s / gzip MB/s): %.2f", gzSeconds / seconds))
        return 0
    }
}
