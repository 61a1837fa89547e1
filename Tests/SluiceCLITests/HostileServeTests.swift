import Foundation
import Testing
import SluiceCore
import SluiceStreams

/// Issue 19: single requests that wiped, escaped or crashed a real `sluice serve`, each sent to
/// a server process that must refuse it and answer afterwards.
@Suite("Hostile requests against sluice serve", .serialized)
struct HostileServeTests {
    func code(_ r: (status: Int, body: JSONValue?)) -> String { r.body?["__type"]?.stringValue ?? "" }

    @Test func namesThatWouldLeaveTheDataDirectoryAreRefused() throws {
        let dir = TempDir()
        let data = dir.path + "/data"
        // The CLI refuses them too, before any server holds the directory.
        for n in ["..", "."] {
            let r = try CLI.run(["stream", "create", n, "--shards", "1", "--data-dir", data])
            #expect(r.status != 0 && r.stderr.contains("'.' or '..'"), "\(r.stderr)")
        }
        let s = try ServeProcess(dataDir: data)
        #expect(s.call("CreateStream", #"{"StreamName": "keep", "ShardCount": 1}"#).status == 200)
        #expect(s.call("PutRecord", #"{"StreamName": "keep", "Data": "aGVsbG8=", "PartitionKey": "k"}"#).status == 200)
        for n in ["..", "."] {
            let r = s.call("CreateStream", #"{"StreamName": "\#(n)", "ShardCount": 1}"#)
            #expect(r.status == 400 && code(r) == "ValidationException", "\(String(describing: r.body))")
            let f = s.call("CreateDeliveryStream", #"{"DeliveryStreamName": "\#(n)", "ExtendedS3DestinationConfiguration": {"RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::b"}}"#,
                           service: "Firehose_20150804")
            #expect(f.status == 400 && code(f) == "ValidationException", "\(String(describing: f.body))")
            let d = s.call("DeleteStream", #"{"StreamName": "\#(n)"}"#)
            #expect(d.status == 400)
        }
        #expect(FileManager.default.fileExists(atPath: data + "/LOCK"))
        #expect(FileManager.default.fileExists(atPath: data + "/streams/keep/meta.json"))
        let listed = s.call("ListStreams", "{}")
        #expect(listed.body?["StreamNames"]?.arrayValue?.compactMap(\.stringValue) == ["keep"])
        #expect(s.healthy)
        #expect(s.terminate() == 0)
    }

    @Test func firehosePrefixesCannotWriteOutsideTheBucket() throws {
        let dir = TempDir()
        let s = try ServeProcess(dataDir: dir.path + "/data", extra: ["--s3-dir", dir.path + "/s3"])
        func create(_ name: String, _ extra: String) -> (status: Int, body: JSONValue?) {
            s.call("CreateDeliveryStream", #"{"DeliveryStreamName": "\#(name)", "ExtendedS3DestinationConfiguration": {"RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::bucket", \#(extra)}}"#,
                   service: "Firehose_20150804")
        }
        for (i, extra) in [#""Prefix": "../../escaped/""#, #""Prefix": "a/../../../x/""#,
                           #""Prefix": "!{timestamp:'..'}/x/", "ErrorOutputPrefix": "e/""#,
                           #""Prefix": "p/!{timestamp:yyyy}/", "ErrorOutputPrefix": "../err/""#].enumerated() {
            let r = create("f\(i)", extra)
            #expect(r.status == 400 && code(r) == "InvalidArgumentException" && r.body?["message"]?.stringValue?.contains("'..'") == true,
                    "\(extra): \(String(describing: r.body))")
        }
        // A prefix that stays inside is delivered inside.
        #expect(create("ok", #""Prefix": "in/", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}"#).status == 200)
        #expect(s.call("PutRecord", #"{"DeliveryStreamName": "ok", "Record": {"Data": "aGVsbG8K"}}"#, service: "Firehose_20150804").status == 200)
        #expect(s.terminate() == 0)
        let outside = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        #expect(Set(outside) == ["data", "s3"], "\(outside)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/s3") == ["bucket"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/s3/bucket").contains("in"))
    }

    @Test func aFirehoseSourceStreamCannotBeDeleted() throws {
        let dir = TempDir()
        let s = try ServeProcess(dataDir: dir.path + "/data", extra: ["--s3-dir", dir.path + "/s3"])
        #expect(s.call("CreateStream", #"{"StreamName": "src", "ShardCount": 2}"#).status == 200)
        let f = s.call("CreateDeliveryStream", #"{"DeliveryStreamName": "arch", "DeliveryStreamType": "KinesisStreamAsSource", "KinesisStreamSourceConfiguration": {"KinesisStreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/src", "RoleARN": "arn:aws:iam::000000000000:role/r"}, "ExtendedS3DestinationConfiguration": {"RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::b", "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900}}}"#,
                       service: "Firehose_20150804")
        #expect(f.status == 200, "\(String(describing: f.body))")
        for i in 0..<20 { #expect(s.call("PutRecord", #"{"StreamName": "src", "Data": "cmVjMDAK", "PartitionKey": "k\#(i)"}"#).status == 200) }
        let d = s.call("DeleteStream", #"{"StreamName": "src"}"#)
        #expect(d.status == 400 && code(d) == "ResourceInUseException" && d.body?["message"]?.stringValue?.contains("arch") == true, "\(String(describing: d.body))")
        // The firehose's own (direct-put) stream is refused too, and the CLI says the same.
        #expect(s.call("CreateDeliveryStream", #"{"DeliveryStreamName": "direct", "ExtendedS3DestinationConfiguration": {"RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::b"}}"#, service: "Firehose_20150804").status == 200)
        #expect(code(s.call("DeleteStream", #"{"StreamName": "direct"}"#)) == "ResourceInUseException")
        #expect(s.terminate() == 0, "\(s.stderr)")
        let cli = try CLI.run(["stream", "delete", "src", "--data-dir", dir.path + "/data"])
        #expect(cli.status != 0 && cli.stderr.contains("arch"), "\(cli.stderr)")
        // Every acknowledged record was delivered at the stop.
        var delivered = 0
        let e = FileManager.default.enumerator(atPath: dir.path + "/s3/b")
        while let p = e?.nextObject() as? String {
            if p.hasPrefix(".sluice-staging") { continue }
            if let d = FileManager.default.contents(atPath: dir.path + "/s3/b/" + p), !p.hasSuffix("/") { delivered += d.count / 6 }
        }
        #expect(delivered == 20)
    }

    /// A directory whose firehose lost its source stream (as an older version allowed) starts,
    /// logs the firehose as failing, and stops on SIGTERM.
    @Test func aDirectoryInAnyStateStarts() throws {
        let dir = TempDir()
        let data = dir.path + "/data"
        do {
            let s = try ServeProcess(dataDir: data, extra: ["--s3-dir", dir.path + "/s3"])
            #expect(s.call("CreateStream", #"{"StreamName": "src", "ShardCount": 1}"#).status == 200)
            #expect(s.call("CreateDeliveryStream", #"{"DeliveryStreamName": "arch", "DeliveryStreamType": "KinesisStreamAsSource", "KinesisStreamSourceConfiguration": {"KinesisStreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/src", "RoleARN": "arn:aws:iam::000000000000:role/r"}, "ExtendedS3DestinationConfiguration": {"RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::b"}}"#,
                          service: "Firehose_20150804").status == 200)
            #expect(s.terminate() == 0)
        }
        // The stream goes behind the firehose's back.
        do {
            let store = try StreamStore(configuration: StoreConfiguration(dataDirectory: data))
            try store.deleteStream(name: "src")
            store.close()
        }
        let s = try ServeProcess(dataDir: data, extra: ["--s3-dir", dir.path + "/s3"])
        #expect(s.healthy)
        #expect(s.call("ListStreams", "{}").status == 200)
        #expect(s.terminate() == 0, "\(s.stderr)")
        #expect(s.stderr.contains { $0.contains("firehose arch") && $0.contains("src") }, "\(s.stderr)")
    }

    /// SIGTERM when the final flush cannot write (a file stands where the object's directory
    /// goes): the server says which firehose failed and exits, and the next start delivers every
    /// record once.
    @Test func aFailedFinalFlushDoesNotHangTheStop() throws {
        let dir = TempDir()
        let data = dir.path + "/data", s3 = dir.path + "/s3"
        let s = try ServeProcess(dataDir: data, extra: ["--s3-dir", s3])
        #expect(s.call("CreateDeliveryStream", #"{"DeliveryStreamName": "arch", "ExtendedS3DestinationConfiguration": {"RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::b", "Prefix": "blocked/", "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900}}}"#,
                      service: "Firehose_20150804").status == 200)
        for i in 0..<30 { #expect(s.call("PutRecord", #"{"DeliveryStreamName": "arch", "Record": {"Data": "cmVjMDAK"}}"#, service: "Firehose_20150804").status == 200, "\(i)") }
        FileManager.default.createFile(atPath: s3 + "/b/blocked", contents: Data("not a directory".utf8))
        let status = s.terminate(within: 30)
        #expect(status == 1, "the stop hung or did not report the failure: \(s.stderr)")
        #expect(s.stderr.contains { $0.contains("firehose arch") && $0.contains("final delivery failed") }, "\(s.stderr)")
        try FileManager.default.removeItem(atPath: s3 + "/b/blocked")
        let again = try ServeProcess(dataDir: data, extra: ["--s3-dir", s3])
        #expect(again.terminate() == 0)
        var bytes = 0
        let e = FileManager.default.enumerator(atPath: s3 + "/b/blocked")
        while let p = e?.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: s3 + "/b/blocked/" + p, isDirectory: &isDir), !isDir.boolValue {
                bytes += FileManager.default.contents(atPath: s3 + "/b/blocked/" + p)?.count ?? 0
            }
        }
        #expect(bytes == 30 * 6, "each record once")
    }

    @Test func craftedRequestsGetAnErrorAndTheServerAnswersOn() throws {
        let dir = TempDir()
        let s = try ServeProcess(dataDir: dir.path + "/data")
        #expect(s.call("CreateStream", #"{"StreamName": "s", "ShardCount": 1}"#).status == 200)
        // A 1-byte chunk, then a chunk size past any limit (an overflow in the chunk parser).
        let chunked = "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n7fffffffffffffff\r\n"
        #expect(s.raw(Array(chunked.utf8)).hasPrefix("HTTP/1.1 413"))
        #expect(s.healthy)
        // Timestamps out of any range: GetShardIterator, ListShards' filter, SubscribeToShard.
        let consumer = s.call("RegisterStreamConsumer", #"{"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s", "ConsumerName": "c"}"#)
        let arn = consumer.body?["Consumer"]?["ConsumerARN"]?.stringValue ?? ""
        for t in ["1e300", "-1e300", "9.3e15", "1.7976931348623157e308"] {
            let g = s.call("GetShardIterator", #"{"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": \#(t)}"#)
            #expect(g.status == 400, "\(t): \(String(describing: g.body))")
            let l = s.call("ListShards", #"{"StreamName": "s", "ShardFilter": {"Type": "AT_TIMESTAMP", "Timestamp": \#(t)}}"#)
            #expect(l.status == 400, "\(t): \(String(describing: l.body))")
            let sub = s.call("SubscribeToShard", #"{"ConsumerARN": "\#(arn)", "ShardId": "shardId-000000000000", "StartingPosition": {"Type": "AT_TIMESTAMP", "Timestamp": \#(t)}}"#)
            #expect(sub.status == 400, "\(t): \(String(describing: sub.body))")
            #expect(s.healthy, "after \(t)")
        }
        // Smuggling shapes are refused.
        for head in ["Content-Length: +5", "Content-Length: 5\r\nContent-Length: 7", "Content-Length: 5\r\nTransfer-Encoding: chunked"] {
            #expect(s.raw(Array("POST / HTTP/1.1\r\nHost: x\r\n\(head)\r\n\r\nhello".utf8)).hasPrefix("HTTP/1.1 400"), "\(head)")
        }
        #expect(s.healthy)
        #expect(s.terminate() == 0)
    }

    /// A flipped byte in the middle of the newest segment: the next start says so on standard
    /// error and in /metrics, and serves every record but the damaged one.
    @Test func damageIsReportedLoudlyAndTheRecordsAfterItAreServed() throws {
        let dir = TempDir()
        let data = dir.path + "/data"
        do {
            let s = try ServeProcess(dataDir: data)
            #expect(s.call("CreateStream", #"{"StreamName": "s", "ShardCount": 1}"#).status == 200)
            for i in 0..<30 {
                let b64 = Data("payload-\(i)-xxxxxxxxxxxx".utf8).base64EncodedString()
                #expect(s.call("PutRecord", #"{"StreamName": "s", "Data": "\#(b64)", "PartitionKey": "k"}"#).status == 200)
            }
            #expect(s.terminate() == 0)
        }
        let shardDir = data + "/streams/s/shards/shardId-000000000000"
        let seg = shardDir + "/" + (try FileManager.default.contentsOfDirectory(atPath: shardDir).filter { $0.hasSuffix(".seg") }.sorted().last!)
        var bytes = [UInt8](FileManager.default.contents(atPath: seg)!)
        let text = Array("payload-12-".utf8)
        let at = (0..<(bytes.count - text.count)).first { Array(bytes[$0..<($0 + text.count)]) == text }!
        bytes[at] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: seg))
        let s = try ServeProcess(dataDir: data)
        #expect(s.stderr.contains { $0.contains("DATA DAMAGED") && $0.contains("1 record from sequence index 12") }, "\(s.stderr)")
        let metrics = s.raw(Array("GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n".utf8))
        #expect(metrics.contains("sluice_store_damaged_segments{stream=\"s\"} 1") && metrics.contains("sluice_store_unreadable_records{stream=\"s\"} 1"))
        let it = s.call("GetShardIterator", #"{"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}"#)
        var iterator = it.body?["ShardIterator"]?.stringValue
        var got: [String] = []
        for _ in 0..<5 {
            guard let i = iterator else { break }
            let r = s.call("GetRecords", #"{"ShardIterator": "\#(i)"}"#)
            for rec in r.body?["Records"]?.arrayValue ?? [] {
                if let d = rec["Data"]?.stringValue.flatMap({ Data(base64Encoded: $0) }) { got.append(String(decoding: d, as: UTF8.self)) }
            }
            iterator = r.body?["NextShardIterator"]?.stringValue
        }
        #expect(got == (0..<30).filter { $0 != 12 }.map { "payload-\($0)-xxxxxxxxxxxx" })
        #expect(s.terminate() == 0)
    }

    /// A real full disk under the bucket directory (a small tmpfs; needs root to mount, as CI
    /// runs): delivery fails part way, the stop reports it, and once there is room again the next
    /// start delivers every acknowledged record exactly once.
    @Test func aFullDiskDuringDeliveryLosesAndDuplicatesNothing() throws {
        let dir = TempDir()
        let s3 = dir.path + "/s3"
        try FileManager.default.createDirectory(atPath: s3, withIntermediateDirectories: true)
        func sh(_ command: String) -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", command]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try? p.run()
            p.waitUntilExit()
            return p.terminationStatus
        }
        guard getuid() == 0, sh("mount -t tmpfs -o size=256k tmpfs '\(s3)'") == 0 else {
            print("note: aFullDiskDuringDeliveryLosesAndDuplicatesNothing needs root to mount a tmpfs; not run here")
            return
        }
        defer { _ = sh("umount '\(s3)'") }
        let data = dir.path + "/data"
        let s = try ServeProcess(dataDir: data, extra: ["--s3-dir", s3])
        #expect(s.call("CreateDeliveryStream", #"{"DeliveryStreamName": "arch", "ExtendedS3DestinationConfiguration": {"RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::b", "Prefix": "p/", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}}"#,
                      service: "Firehose_20150804").status == 200)
        let total = 120
        for batch in 0..<(total / 10) {
            let records = (0..<10).map { i -> String in
                let text = String(format: "rec-%04d-", batch * 10 + i) + String(repeating: "z", count: 10_000) + "\n"
                return #"{"Data": "\#(Data(text.utf8).base64EncodedString())"}"#
            }
            let r = s.call("PutRecordBatch", #"{"DeliveryStreamName": "arch", "Records": [\#(records.joined(separator: ","))]}"#, service: "Firehose_20150804")
            #expect(r.status == 200 && r.body?["FailedPutCount"] == 0)
        }
        usleep(1_500_000)  // delivery runs into the full disk and retries
        #expect(s.terminate(within: 30) == 1, "\(s.stderr)")
        #expect(s.stderr.contains { $0.contains("No space left on device") }, "\(s.stderr)")
        #expect(sh("mount -o remount,size=16m '\(s3)'") == 0)
        let again = try ServeProcess(dataDir: data, extra: ["--s3-dir", s3])
        #expect(again.terminate() == 0, "\(again.stderr)")
        var lines: [String] = []
        let e = FileManager.default.enumerator(atPath: s3 + "/b/p")
        while let p = e?.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: s3 + "/b/p/" + p, isDirectory: &isDir), !isDir.boolValue {
                lines += String(decoding: FileManager.default.contents(atPath: s3 + "/b/p/" + p) ?? Data(), as: UTF8.self).split(separator: "\n").map { String($0.prefix(8)) }
            }
        }
        #expect(lines.count == total, "\(lines.count) records delivered")
        #expect(Set(lines) == Set((0..<total).map { String(format: "rec-%04d", $0) }))
        #expect((try? FileManager.default.contentsOfDirectory(atPath: s3 + "/b/.sluice-staging/arch"))?.isEmpty ?? true)
    }

    @Test func theCommandLineChecksItsNumbers() throws {
        let dir = TempDir()
        let data = dir.path + "/data"
        #expect(try CLI.run(["stream", "create", "s", "--shards", "1", "--data-dir", data]).status == 0)
        for t in ["1e300", "-1e300", "9.3e15"] {
            let r = try CLI.run(["stream", "get", "s", "--shard-id", "shardId-000000000000", "--timestamp", t, "--data-dir", data])
            #expect(r.status == 2 && r.stderr.contains("out of range"), "\(t): \(r.stderr)")
        }
        let ttl = try CLI.run(["serve", "--iterator-ttl", "1e300", "--data-dir", data])
        #expect(ttl.status == 2, "\(ttl.stderr)")
    }
}

/// Query files under `sluice serve` log as `sluice run` does and show on /metrics.
@Suite("sluice serve: query files")
struct ServeQueryFileTests {
    @Test func queryFilesLogAndExportTheirCounters() throws {
        let dir = TempDir()
        let sql = """
            CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');
            CREATE SINK out WITH (type = 'file', path = '\(dir.path)/out.jsonl');
            INSERT INTO out SELECT window_end, COUNT(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end;
            """
        try sql.write(toFile: dir.path + "/q.sql", atomically: true, encoding: .utf8)
        let s = try ServeProcess(dataDir: dir.path + "/data", extra: [dir.path + "/q.sql"])
        for (i, t) in [1_000, 5_000, 12_000, 25_000].enumerated() {
            let b64 = Data(#"{"url":"/\#(i)","ts":\#(t)}"#.utf8).base64EncodedString()
            #expect(s.call("PutRecord", #"{"StreamName": "clicks", "Data": "\#(b64)", "PartitionKey": "k\#(i)"}"#).status == 200)
        }
        var metrics = ""
        for _ in 0..<100 {
            metrics = s.raw(Array("GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n".utf8))
            if metrics.contains(#"sluice_query_records_in_total{query="query 1 (INSERT INTO out)"} 4"#) { break }
            usleep(50_000)
        }
        #expect(metrics.contains(#"sluice_query_records_in_total{query="query 1 (INSERT INTO out)"} 4"#), "\(metrics)")
        #expect(metrics.contains(#"sluice_query_rows_out_total{query="query 1 (INSERT INTO out)"} 2"#))
        #expect(metrics.contains(#"sluice_query_watermark_lag_milliseconds{query="query 1 (INSERT INTO out)"} 0"#))
        #expect(s.terminate() == 0)
        #expect(s.stderr.contains { $0.contains("query 1 (INSERT INTO out): started") }, "\(s.stderr)")
        #expect(s.stderr.contains { $0.contains("query 1 (INSERT INTO out): 4 records in, 2 rows out, 0 bad, 0 late") }, "\(s.stderr)")
    }
}
