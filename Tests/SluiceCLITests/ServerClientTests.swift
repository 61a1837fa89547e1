import Foundation
import Glibc
import Testing
import SluiceCore

/// `sluice stream ...` while `sluice serve` holds the data directory: the commands find the server
/// (DIR/server.json) and go through its Kinesis API, so several processes work on one stream at
/// once, where each used to fail with DataDirectoryInUse.
@Suite("Commands as clients of a server")
struct ServerClientTests {
    /// Lines a process writes to its standard output, as they come.
    final class Follower {
        let process = Process()
        let lines = LockedLines()

        init(_ args: [String]) throws {
            process.executableURL = URL(fileURLWithPath: CLI.executable)
            process.arguments = args
            var env = ProcessInfo.processInfo.environment
            env["SLUICE_DATA_DIR"] = nil
            process.environment = env
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let lines = lines
            Thread {
                var pending = Data()
                while true {
                    let d = out.fileHandleForReading.availableData
                    if d.isEmpty { break }
                    pending.append(d)
                    while let nl = pending.firstIndex(of: 10) {
                        lines.append(String(decoding: pending[pending.startIndex..<nl], as: UTF8.self))
                        pending = Data(pending[(nl + 1)...])
                    }
                }
                lines.close()
            }.start()
        }

        /// Waits (at most 30 s) for `n` lines.
        func wait(for n: Int) -> [String] {
            let deadline = Date().addingTimeInterval(30)
            while lines.all.count < n && Date() < deadline && process.isRunning { usleep(20_000) }
            return lines.all
        }

        deinit {
            if process.isRunning { process.terminate(); process.waitUntilExit() }
        }
    }

    @Test func aFollowerSeesWhatAnotherProcessPuts() throws {
        let dir = TempDir()
        let data = dir.path + "/data"
        let server = try ServeProcess(dataDir: data)
        let record = try JSONValue.parse(bytes: Array(try String(contentsOfFile: data + "/server.json", encoding: .utf8).utf8))
        #expect(record["url"]?.stringValue == "http://127.0.0.1:\(server.port)")
        #expect(record["pid"]?.int64Value == Int64(server.process.processIdentifier))

        let created = try CLI.run(["stream", "create", "clicks", "--shards", "2", "--data-dir", data])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try JSONValue.parse(bytes: Array(created.stdout.utf8))["StreamDescriptionSummary"]?["OpenShardCount"]?.int64Value == 2)
        // Followers of both shards, then puts from other processes: one record, then a bulk put.
        let followers = try ["shardId-000000000000", "shardId-000000000001"].map {
            try Follower(["stream", "get", "clicks", "--shard-id", $0, "--follow", "--data-dir", data])
        }
        let one = try CLI.run(["stream", "put", "clicks", "--partition-key", "k0", "--data", #"{"n":0}"#, "--data-dir", data])
        #expect(one.status == 0, "\(one.stderr)")
        let bulk = try CLI.run(["stream", "put", "clicks", "--key-field", "n", "--data-dir", data],
                               stdin: (1...40).map { #"{"n":\#($0)}"# }.joined(separator: "\n") + "\n")
        #expect(bulk.status == 0, "\(bulk.stderr)")
        #expect(bulk.lines.count == 40)
        var seen: [Int64] = []
        let deadline = Date().addingTimeInterval(30)
        while seen.count < 41 && Date() < deadline {
            seen = followers.flatMap { $0.lines.all }.compactMap { line in
                guard let j = try? JSONValue.parse(bytes: Array(line.utf8)), let b64 = j["Data"]?.stringValue, let d = Data(base64Encoded: b64),
                      let rec = try? JSONValue.parse(bytes: Array(d)) else { return nil }
                return rec["n"]?.int64Value
            }
            usleep(50_000)
        }
        #expect(seen.sorted() == Array(0...40))
        // The stream as `describe` and `list` show it, through the server, while it runs.
        let described = try CLI.run(["stream", "describe", "clicks", "--data-dir", data])
        #expect(described.status == 0)
        #expect(try JSONValue.parse(bytes: Array(described.stdout.utf8))["StreamDescription"]?["Shards"]?.arrayValue?.count == 2)
        let missing = try CLI.run(["stream", "describe", "nope", "--data-dir", data])
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("error: ResourceNotFoundException: Stream nope"))
        #expect(server.terminate() == 0)
        // The server is gone and its address with it: the commands open the store again.
        #expect(!FileManager.default.fileExists(atPath: data + "/server.json"))
        let after = try CLI.run(["stream", "get", "clicks", "--shard-id", "shardId-000000000000", "--data-dir", data])
        #expect(after.status == 0)
        #expect(after.lines.count == followers[0].lines.all.count)
    }

    @Test func theShardCommandsGoThroughTheServer() throws {
        let dir = TempDir()
        let data = dir.path + "/data"
        let server = try ServeProcess(dataDir: data)
        #expect(try CLI.run(["stream", "create", "s", "--shards", "1", "--data-dir", data]).status == 0)
        let split = try CLI.run(["stream", "split", "s", "--shard-id", "shardId-000000000000",
                                 "--new-starting-hash-key", "170141183460469231731687303715884105728", "--data-dir", data])
        #expect(split.status == 0, "\(split.stderr)")
        #expect(try JSONValue.parse(bytes: Array(split.stdout.utf8))["StreamDescription"]?["Shards"]?.arrayValue?.count == 3)
        let retention = try CLI.run(["stream", "retention", "s", "--hours", "48", "--data-dir", data])
        #expect(retention.status == 0, "\(retention.stderr)")
        #expect(try JSONValue.parse(bytes: Array(retention.stdout.utf8))["StreamDescriptionSummary"]?["RetentionPeriodHours"]?.int64Value == 48)
        #expect(try CLI.run(["stream", "delete", "s", "--data-dir", data]).status == 0)
        let list = try CLI.run(["stream", "list", "--data-dir", data])
        #expect(try JSONValue.parse(bytes: Array(list.stdout.utf8))["StreamNames"]?.arrayValue == [])
        _ = server.terminate()
    }

    /// A server.json left by a server that died (kill -9) names no live process: it is ignored.
    /// A --server that is not an http URL is a usage error; one that nothing answers says so.
    @Test func aStaleAddressIsIgnoredAndABadServerIsNamed() throws {
        let dir = TempDir()
        let data = dir.path + "/data"
        #expect(try CLI.run(["stream", "create", "s", "--shards", "1", "--data-dir", data]).status == 0)
        // A pid that cannot be alive (above the kernel's limit).
        try #"{"url":"http://127.0.0.1:1","pid":2147483000}"#.write(toFile: data + "/server.json", atomically: true, encoding: .utf8)
        let r = try CLI.run(["stream", "list", "--data-dir", data])
        #expect(r.status == 0, "\(r.stderr)")
        let bad = try CLI.run(["stream", "list", "--server", "ftp://x", "--data-dir", data])
        #expect(bad.status == 2 && bad.stderr.contains("--server takes http://HOST:PORT"))
        let nobody = try CLI.run(["stream", "list", "--server", "http://127.0.0.1:1", "--data-dir", data])
        #expect(nobody.status == 1 && nobody.stderr.hasPrefix("error: cannot reach the server at http://127.0.0.1:1"))
    }
}
