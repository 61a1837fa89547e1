import Foundation
import Testing
import SluiceCore
import SluiceStreams
import SluiceCodecs

extension CLI {
    /// Starts `sluice args...` and writes `line(0..<lines)` to its standard input from a thread
    /// (until it exits); returns the process and its standard output, to be killed part way.
    static func feed(_ args: [String], lines total: Int, _ line: @escaping @Sendable (Int) -> String) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        let inp = Pipe(), out = Pipe()
        p.standardInput = inp
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let writer = Thread {
            let fd = inp.fileHandleForWriting.fileDescriptor
            var i = 0
            while i < total {
                var chunk = ""
                for j in i..<min(total, i + 200) { chunk += line(j) + "\n" }
                i += 200
                let bytes = Array(chunk.utf8)
                var done = 0
                while done < bytes.count {
                    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
                    if n <= 0 { return }  // the reader is gone
                    done += n
                }
            }
            try? inp.fileHandleForWriting.close()
        }
        writer.start()
        return (p, out)
    }
}

@Suite("Crashes and the data directory lock")
struct CrashTests {
    /// A producer is killed with SIGKILL while a bulk put is running. Every record it acknowledged
    /// reads back intact; nothing read back is anything but a record that was sent.
    @Test func killedWriterLosesNoAcknowledgedRecord() throws {
        signal(SIGPIPE, SIG_IGN)
        let dir = TempDir()
        let dataDir = dir.path + "/data"
        #expect(try CLI.run(["stream", "create", "s", "--shards", "4", "--data-dir", dataDir]).status == 0)

        @Sendable func line(_ i: Int) -> String {
            #"{"k":"key-\#(i % 50)","i":\#(i),"pad":"\#(String(repeating: Character(UnicodeScalar(97 + i % 26)!), count: 60 + i % 40))"}"#
        }
        let total = 400_000
        let (p, out) = try CLI.feed(["stream", "put", "s", "--key-field", "k", "--data-dir", dataDir], lines: total, line)

        // Read acknowledgements until well into the run, then kill the writer mid-stream.
        var acks: [(shard: String, seq: String)] = []
        var pending = Data()
        let reader = out.fileHandleForReading
        while acks.count < 30_000 {
            let d = reader.availableData
            if d.isEmpty { break }
            pending.append(d)
            while let nl = pending.firstIndex(of: 10) {
                let lineData = pending[pending.startIndex..<nl]
                pending = Data(pending[(nl + 1)...])
                let v = try JSONValue.parse(bytes: [UInt8](lineData))
                acks.append((v["ShardId"]!.stringValue!, v["SequenceNumber"]!.stringValue!))
            }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL)
        #expect(acks.count >= 30_000)
        #expect(acks.count < total, "the writer finished before it was killed; the test proves nothing")

        // Reopen the data directory and read everything back.
        let store = try StreamStore(configuration: StoreConfiguration(dataDirectory: dataDir))
        defer { store.close() }
        var stored: [String: (key: String, data: String)] = [:]
        for shard in try store.listShards(streamName: "s").shards {
            var it: String? = try store.getShardIterator(stream: "s", shardId: shard.shardId, type: .trimHorizon)
            while let i = it {
                let r = try store.getRecords(shardIterator: i)
                for k in 0..<r.records.count {
                    stored[r.sequenceNumber(k).description] = (r.records.partitionKey(k), String(decoding: r.records.data(k), as: UTF8.self))
                }
                it = r.records.count == 0 ? nil : r.nextShardIterator
            }
        }
        #expect(stored.count >= acks.count)
        var missing = 0
        for (i, ack) in acks.enumerated() {
            guard let rec = stored[ack.seq] else { missing += 1; continue }
            #expect(rec.key == "key-\(i % 50)" && rec.data == line(i), "record \(i)")
        }
        #expect(missing == 0)
        // Whatever was stored beyond the acknowledged records is still a record that was sent.
        for (_, rec) in stored {
            let v = try JSONValue.parse(rec.data)
            let i = Int(v["i"]!.int64Value!)
            #expect(rec.data == line(i))
        }
    }

    @Test func aSecondProcessIsToldTheDirectoryIsInUse() throws {
        let dir = TempDir()
        let dataDir = dir.path + "/data"
        #expect(try CLI.run(["stream", "create", "s", "--shards", "1", "--data-dir", dataDir]).status == 0)
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: CLI.executable)
        follower.arguments = ["stream", "get", "s", "--shard-id", "0", "--follow", "--data-dir", dataDir]
        follower.standardOutput = FileHandle.nullDevice
        follower.standardError = FileHandle.nullDevice
        try follower.run()
        defer {
            follower.terminate()
            follower.waitUntilExit()
        }
        // Wait until the follower holds the lock (it writes its pid into the lock file).
        for _ in 0..<100 {
            let owner = (try? String(contentsOfFile: dataDir + "/LOCK", encoding: .utf8)) ?? ""
            if owner.trimmingCharacters(in: .whitespacesAndNewlines) == String(follower.processIdentifier) { break }
            usleep(50_000)
        }
        let r = try CLI.run(["stream", "list", "--data-dir", dataDir])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("error: DataDirectoryInUse: data directory \(dataDir) is in use by another sluice process (pid \(follower.processIdentifier))"))
    }
}

@Suite("Firehose crashes")
struct FirehoseCrashTests {
    /// `sluice firehose put` is killed with SIGKILL while it puts and delivers. The next command
    /// on the firehose delivers the rest: every acknowledged record is in the delivered objects
    /// exactly once, and nothing delivered is anything but a record that was sent.
    @Test func killedPutDeliversEveryAcknowledgedRecordExactlyOnce() throws {
        signal(SIGPIPE, SIG_IGN)
        let dir = TempDir()
        let dataDir = dir.path + "/data", dest = dir.path + "/out"
        #expect(try CLI.run(["firehose", "create", "f", "--destination", "file:" + dest, "--buffer-size", "1MB",
                             "--compression", "gzip", "--newline-delimiter", "--data-dir", dataDir]).status == 0)
        @Sendable func line(_ i: Int) -> String {
            #"{"i":\#(i),"pad":"\#(String(repeating: Character(UnicodeScalar(97 + i % 26)!), count: 60 + i % 90))"}"#
        }
        let total = 300_000
        let (p, out) = try CLI.feed(["firehose", "put", "f", "--data-dir", dataDir], lines: total, line)
        var acks = 0
        var pending = Data()
        let reader = out.fileHandleForReading
        while acks < 60_000 {
            let d = reader.availableData
            if d.isEmpty { break }
            pending.append(d)
            while let nl = pending.firstIndex(of: 10) {
                let v = try JSONValue.parse(bytes: [UInt8](pending[pending.startIndex..<nl]))
                pending = Data(pending[(nl + 1)...])
                #expect(v["RecordId"]?.stringValue != nil)
                acks += 1
            }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)
        #expect(acks >= 60_000 && acks < total, "the put must be killed part way")

        let flush = try CLI.run(["firehose", "flush", "f", "--data-dir", dataDir])
        #expect(flush.status == 0, "\(flush.stderr)")
        var seen: [Int: Int] = [:]
        var objects = 0
        let e = FileManager.default.enumerator(atPath: dest)
        while let path = e?.nextObject() as? String {
            guard path.hasSuffix(".gz"), !path.hasPrefix(".sluice-staging") else { continue }
            objects += 1
            let bytes = try #require(Gzip.decompress([UInt8](FileManager.default.contents(atPath: dest + "/" + path)!)))
            for l in bytes.split(separator: 10) {
                let v = try JSONValue.parse(bytes: Array(l))
                let i = Int(v["i"]!.int64Value!)
                #expect(String(decoding: l, as: UTF8.self) == line(i), "a delivered record is one that was sent")
                seen[i, default: 0] += 1
            }
        }
        #expect(objects > 2, "objects were delivered while putting, before the kill")
        #expect(seen.values.allSatisfy { $0 == 1 }, "no record is delivered twice")
        #expect((0..<acks).allSatisfy { seen[$0] != nil }, "every acknowledged record is delivered")
    }
}
