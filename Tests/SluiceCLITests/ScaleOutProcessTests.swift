import Foundation
import Glibc
import Testing
import SluiceAWS
import SluiceCore
import SluiceKinesis
import SluiceTestSupport

/// `sluice run --worker-id` processes sharing a stream of moto's Kinesis through a lease table in
/// moto's DynamoDB: three workers, one killed with SIGKILL part way, write together exactly the
/// rows one worker alone writes.
@Suite("Scale-out with worker processes (moto's Kinesis and DynamoDB)", .enabled(if: MotoServer.path != nil, "moto is not installed: pip install 'moto[server]'"))
struct ScaleOutProcessTests {
    static let env = ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"]

    /// `s3`: the state and the rows in moto's S3 (bucket `s3` under prefix `app`) instead of `dir`.
    static func sql(_ moto: String, app: String, dir: String, s3: Bool = false) -> String {
        let state = s3 ? "state = 's3://sluice-s3/\(app)/state', state_endpoint = '\(moto)'" : "state = '\(dir)/state'"
        let out = s3 ? "path = 's3://sluice-s3/\(app)/out/{worker}-{shard}/', endpoint = '\(moto)'" : "path = '\(dir)/out/{worker}-{shard}.jsonl'"
        return """
        CREATE STREAM orders (user_id VARCHAR, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
          WITH (connector = 'kinesis', stream = 'orders', endpoint = '\(moto)', partition_key = 'user_id',
                application = '\(app)', \(state), lease_failover = '2s');
        CREATE SINK out WITH (type = 'file', \(out));
        INSERT INTO out SELECT window_end, user_id, COUNT(*) AS n, SUM(amount) AS total
          FROM TUMBLE(orders, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, user_id;
        """
    }

    static func worker(_ file: String, _ id: String, _ dir: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.executable)
        p.arguments = ["run", file, "--worker-id", id, "--until-end", "--checkpoint-interval", "0.3", "--data-dir", dir + "/data-" + id]
        var e = ProcessInfo.processInfo.environment
        e["SLUICE_DATA_DIR"] = nil
        for (k, v) in env { e[k] = v }
        p.environment = e
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        return p
    }

    static func wait(_ p: Process, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); return false }
        return p.terminationStatus == 0
    }

    static func rows(_ dir: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return files.flatMap { f in ((try? String(contentsOfFile: dir + "/" + f, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }.sorted()
    }

    @Test func threeWorkerProcessesWithOneKilledWriteWhatOneWrites() throws {
        let moto = try MotoServer()
        let tmp = TempDir()
        let k = AWSJSONClient.kinesis(endpoint: moto.endpoint, credentials: AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "secret", source: "t"), region: "us-east-1")!
        _ = try k.call("CreateStream", ["StreamName": "orders", "ShardCount": 6])
        for batch in 0..<12 {
            var records: [JSONValue] = []
            for i in (batch * 500)..<((batch + 1) * 500) {
                let user = "u\(i % 40)"
                let json = #"{"user_id":"\#(user)","amount":\#(i % 13).25,"ts":"\#(TimeFormat.iso8601(1_704_067_200_000 + Int64(i) * 50))"}"#
                records.append(["Data": .string(Base64.encode(Array(json.utf8))), "PartitionKey": .string(user)])
            }
            _ = try k.call("PutRecords", ["StreamName": "orders", "Records": .array(records)])
        }

        let solo = tmp.path + "/solo", shared = tmp.path + "/shared"
        try FileManager.default.createDirectory(atPath: solo, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        try Self.sql(moto.endpoint, app: "solo-app", dir: solo).write(toFile: solo + "/q.sql", atomically: true, encoding: .utf8)
        try Self.sql(moto.endpoint, app: "shared-app", dir: shared).write(toFile: shared + "/q.sql", atomically: true, encoding: .utf8)

        #expect(Self.wait(try Self.worker(solo + "/q.sql", "solo", solo), seconds: 120))
        let expected = Self.rows(solo + "/out")
        #expect(expected.count > 300)

        // w2 starts first and dies by SIGKILL once it has written rows of a shard it has not
        // finished; then w1 and w3 start, take its leases over (after the failover time) and finish.
        let w2 = try Self.worker(shared + "/q.sql", "w2", shared)
        let table = LeaseTable(api: AWSJSONClient.dynamoDB(endpoint: moto.endpoint, credentials: AWSCredentials(accessKeyId: "A", secretAccessKey: "B", source: "t"), region: "us-east-1")!, name: "shared-app")
        var killedMidway = false
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && w2.isRunning {
            let written = ((try? FileManager.default.contentsOfDirectory(atPath: shared + "/out")) ?? []).contains { f in
                f.hasPrefix("w2-") && ((try? FileManager.default.attributesOfItem(atPath: shared + "/out/" + f))?[.size] as? Int ?? 0) > 0
            }
            if written, ((try? table.list()) ?? []).contains(where: { $0.owner == "w2" && !$0.isFinished }) {
                killedMidway = true
                break
            }
            usleep(5_000)
        }
        kill(w2.processIdentifier, SIGKILL)
        w2.waitUntilExit()
        #expect(killedMidway)
        let w1 = try Self.worker(shared + "/q.sql", "w1", shared)
        let w3 = try Self.worker(shared + "/q.sql", "w3", shared)
        #expect(Self.wait(w1, seconds: 120) && Self.wait(w3, seconds: 120))
        let got = Self.rows(shared + "/out")
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: shared + "/out")) ?? []).sorted()
        let counts = files.map { f in "\(f): \(((try? String(contentsOfFile: shared + "/out/" + f, encoding: .utf8)) ?? "").split(separator: "\n").count)" }
        let soloFiles = ((try? FileManager.default.contentsOfDirectory(atPath: solo + "/out")) ?? []).sorted()
        let soloCounts = soloFiles.map { f in "\(f): \(((try? String(contentsOfFile: solo + "/out/" + f, encoding: .utf8)) ?? "").split(separator: "\n").count)" }
        #expect(got.count == expected.count, "\(counts) vs \(soloCounts)")
        #expect(got == expected)
    }

    /// The same with nothing on local disks: the lanes' state and the rows in moto's S3, as
    /// workers on different machines would keep them.
    @Test func withStateAndRowsInS3() throws {
        let moto = try MotoServer()
        let tmp = TempDir()
        let credentials = AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "secret", source: "t")
        let k = AWSJSONClient.kinesis(endpoint: moto.endpoint, credentials: credentials, region: "us-east-1")!
        let s3 = S3Client(endpoint: moto.endpoint, region: "us-east-1", credentials: credentials)!
        try s3.createBucket("sluice-s3")
        _ = try k.call("CreateStream", ["StreamName": "orders", "ShardCount": 4])
        var records: [JSONValue] = []
        for i in 0..<6000 {
            let user = "u\(i % 40)"
            let json = #"{"user_id":"\#(user)","amount":\#(i % 13).25,"ts":"\#(TimeFormat.iso8601(1_704_067_200_000 + Int64(i) * 50))"}"#
            records.append(["Data": .string(Base64.encode(Array(json.utf8))), "PartitionKey": .string(user)])
            if records.count == 500 {
                _ = try k.call("PutRecords", ["StreamName": "orders", "Records": .array(records)])
                records = []
            }
        }
        func rows(_ app: String) throws -> [String] {
            var out: [String] = []
            for key in try s3.listKeys(bucket: "sluice-s3", prefix: app + "/out/") {
                out += String(decoding: try s3.getObject(bucket: "sluice-s3", key: key) ?? [], as: UTF8.self).split(separator: "\n").map(String.init)
            }
            return out.sorted()
        }
        try Self.sql(moto.endpoint, app: "solo-app", dir: tmp.path, s3: true).write(toFile: tmp.path + "/solo.sql", atomically: true, encoding: .utf8)
        try Self.sql(moto.endpoint, app: "shared-app", dir: tmp.path, s3: true).write(toFile: tmp.path + "/shared.sql", atomically: true, encoding: .utf8)
        #expect(Self.wait(try Self.worker(tmp.path + "/solo.sql", "solo", tmp.path), seconds: 120))
        let expected = try rows("solo-app")
        #expect(expected.count > 150)
        #expect(try s3.listKeys(bucket: "sluice-s3", prefix: "solo-app/state/").contains { $0.hasSuffix(".json") })

        // w2 starts alone and dies by SIGKILL once one of its lanes has checkpointed part of its
        // shard; w1 then takes every lease over (after the failover time) and finishes.
        let w2 = try Self.worker(tmp.path + "/shared.sql", "w2", tmp.path)
        let table = LeaseTable(api: AWSJSONClient.dynamoDB(endpoint: moto.endpoint, credentials: credentials, region: "us-east-1")!, name: "shared-app")
        var killedMidway = false
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && w2.isRunning {
            let leases = (try? table.list()) ?? []
            if leases.contains(where: { $0.owner == "w2" && $0.checkpoint.first?.isNumber == true }) && leases.contains(where: { !$0.isFinished && $0.owner == "w2" }) {
                killedMidway = true
                break
            }
            usleep(10_000)
        }
        kill(w2.processIdentifier, SIGKILL)
        w2.waitUntilExit()
        #expect(killedMidway)
        let w1 = try Self.worker(tmp.path + "/shared.sql", "w1", tmp.path)
        #expect(Self.wait(w1, seconds: 120))
        #expect(try table.list().allSatisfy { $0.owner == nil && $0.ownerSwitchesSinceCheckpoint >= 0 })
        #expect(try rows("shared-app") == expected)
    }
}
