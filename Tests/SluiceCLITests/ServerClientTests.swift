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
        let process: Process
        let lines = LockedLines()

        init(_ args: [String]) throws { process = try CLI.spawn(args, stdoutInto: lines) }

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

    /// `sluice firehose` and `sluice check` go through the server that holds the directory: a
    /// firehose made by the command is delivered by the server (and kept in its catalog), puts go
    /// through the Firehose API, and a file is checked against the server's catalog.
    @Test func firehoseAndCheckGoThroughTheServer() throws {
        let dir = TempDir()
        let data = dir.path + "/data"
        let server = try ServeProcess(dataDir: data)
        let created = try CLI.run(["firehose", "create", "web", "--destination", "file:web-out", "--buffer-interval", "1s", "--data-dir", data], cwd: dir.path)
        #expect(created.status == 0, "\(created.stderr)")
        #expect((try? JSONValue.parse(created.stdout))?["DeliveryStreamName"]?.stringValue == "web", "\(created.stdout)")
        let listed = try CLI.run(["firehose", "list", "--data-dir", data])
        #expect((try? JSONValue.parse(listed.stdout))?["DeliveryStreamNames"]?.arrayValue == [.string("web")], "\(listed.stdout)")
        let described = try CLI.run(["firehose", "describe", "web", "--data-dir", data])
        #expect((try? JSONValue.parse(described.stdout))?["DeliveryStreamDescription"]?["DeliveryStreamStatus"]?.stringValue == "ACTIVE", "\(described.stdout)")
        let put = try CLI.run(["firehose", "put", "web", "--data-dir", data], stdin: "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
        #expect(put.status == 0 && put.lines.filter { $0.hasPrefix("{\"RecordId\":") }.count == 3, "\(put.stdout) \(put.stderr)")
        // The server's engine delivers it (relative to where the command ran).
        var delivered = ""
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let files = (FileManager.default.enumerator(atPath: dir.path + "/web-out")?.allObjects as? [String] ?? []).filter { !$0.contains("/.") && !$0.hasPrefix(".") }
            delivered = files.compactMap { try? String(contentsOfFile: dir.path + "/web-out/" + $0, encoding: .utf8) }.joined()
            if delivered.contains("{\"n\":3}") { break }
            usleep(100_000)
        }
        #expect(delivered.contains("{\"n\":1}") && delivered.contains("{\"n\":3}"), "\(delivered)")
        let flush = try CLI.run(["firehose", "flush", "web", "--data-dir", data])
        #expect(flush.status == 2 && flush.stderr.contains("flush is for a directory no server holds"), "\(flush.stderr)")
        #expect(server.sql("SHOW FIREHOSES").body?["results"]?.arrayValue?.first?["output"]?.stringValue?.hasPrefix("web: to file:\(dir.path)/web-out") == true)

        // check: against the server's catalog, with carets where the file has them.
        #expect(server.sql("CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP) WITH (format = 'json')").status == 200)
        try "SELECT url FROM clicks;\n".write(toFile: dir.path + "/good.sql", atomically: true, encoding: .utf8)
        try "-- a typo\nSELECT urll FROM clicks;\n".write(toFile: dir.path + "/bad.sql", atomically: true, encoding: .utf8)
        let good = try CLI.run(["check", dir.path + "/good.sql", "--data-dir", data])
        #expect(good.status == 0 && good.stdout == "ok: 1 statement in 1 file\n", "\(good.stdout) \(good.stderr)")
        let bad = try CLI.run(["check", dir.path + "/bad.sql", "--data-dir", data])
        #expect(bad.status == 1 && bad.stderr.hasPrefix("\(dir.path)/bad.sql:2:8: error[bind.unknown-column]: unknown column 'urll'"), "\(bad.stderr)")
        let alone = try CLI.run(["check", dir.path + "/good.sql", "--data-dir", dir.path + "/elsewhere"])
        #expect(alone.status == 1 && alone.stderr.contains("clicks"), "without the server, clicks is unknown: \(alone.stderr)")
        #expect(server.sql("SHOW STREAMS").body?["results"]?.arrayValue?.first?["output"]?.stringValue?.contains("good") != true, "a check runs nothing")

        let deleted = try CLI.run(["firehose", "delete", "web", "--data-dir", data])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect((try? JSONValue.parse(try CLI.run(["firehose", "list", "--data-dir", data]).stdout))?["DeliveryStreamNames"]?.arrayValue == [])
        #expect(server.terminate() == 0)
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

/// The SQL API (`POST /v1/sql`) and the catalog the server keeps in its data directory.
@Suite("The server's SQL API and catalog")
struct ServerSQLTests {
    static let ddl = """
        CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (shards = 1, format = 'json');
        CREATE SINK out WITH (type = 'file', path = '$OUT');
        INSERT INTO out SELECT url, ts FROM clicks WHERE url <> '/skip'
        """

    func put(_ data: String, _ urls: [String], at times: [Int]) throws {
        let lines = zip(urls, times).map { #"{"url":"\#($0)","ts":\#($1)}"# }.joined(separator: "\n") + "\n"
        let r = try CLI.run(["stream", "put", "clicks", "--key-field", "url", "--data-dir", data], stdin: lines)
        #expect(r.status == 0, "\(r.stderr)")
    }

    func waitForLines(_ path: String, _ n: Int) -> [String] {
        let deadline = Date().addingTimeInterval(30)
        var lines: [String] = []
        while Date() < deadline {
            lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            if lines.count >= n { break }
            usleep(50_000)
        }
        return lines
    }

    /// What a client defines comes back when the server starts again, even after kill -9 (the
    /// catalog is on disk before the answer), and its INSERT INTO resumes: the sink has every
    /// row once.
    @Test(arguments: [SIGTERM, SIGKILL])
    func definitionsAndQueriesSurviveARestart(signal: Int32) throws {
        let dir = TempDir()
        let data = dir.path + "/data", out = dir.path + "/out.jsonl"
        var server: ServeProcess? = try ServeProcess(dataDir: data)
        let created = server!.sql(Self.ddl.replacingOccurrences(of: "$OUT", with: out))
        #expect(created.status == 200)
        #expect(created.body?["results"]?.arrayValue?.map { $0["kept"] } == [.bool(true), .bool(true), .bool(true)])
        try put(data, ["/a", "/skip", "/b"], at: [1000, 2000, 3000])
        #expect(waitForLines(out, 2).count == 2)
        if signal == SIGTERM {
            #expect(server!.terminate() == 0)
        } else {
            kill(server!.process.processIdentifier, SIGKILL)
            server!.process.waitUntilExit()
        }
        server = nil
        let again = try ServeProcess(dataDir: data)
        let shown = again.sql("SHOW STREAMS; SHOW QUERIES")
        #expect(shown.status == 200)
        let outputs = shown.body?["results"]?.arrayValue?.compactMap { $0["output"]?.stringValue } ?? []
        #expect(outputs.first?.hasPrefix("clicks: 2 columns, 1 shards") == true)
        #expect(outputs.last?.hasPrefix("query 1 (INSERT INTO out)") == true)
        try put(data, ["/c"], at: [4000])
        let lines = waitForLines(out, 3)
        #expect(lines.map { (try? JSONValue.parse(bytes: Array($0.utf8)))?["url"]?.stringValue } == ["/a", "/b", "/c"])
        #expect(again.terminate() == 0)
    }

    /// `.load` through a server loads as the server would: keys from the stream's partition_key,
    /// a CSV header bound by name, and PACED at the records' recorded pace.
    @Test func aReplLoadThroughTheServerKeysBindsAndPaces() throws {
        let dir = TempDir()
        let data = dir.path + "/data"
        let server = try ServeProcess(dataDir: data)
        #expect(server.sql("""
            CREATE STREAM readings (sensor VARCHAR, temp DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
              WITH (format = 'csv', header = true, partition_key = 'sensor');
            CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json', partition_key = 'url')
            """).status == 200)
        // The header's order is not the declared one.
        try "ts,temp,sensor\n1000,20.5,s1\n2000,21.5,s2\n".write(toFile: dir.path + "/r.csv", atomically: true, encoding: .utf8)
        try (0..<4).map { #"{"url":"/p\#($0)","ts":\#($0 * 1000)}"# }.joined(separator: "\n").write(toFile: dir.path + "/c.jsonl", atomically: true, encoding: .utf8)
        let session = try CLI.run(["repl", "--data-dir", data], stdin: """
            .load \(dir.path)/r.csv INTO readings
            .load \(dir.path)/c.jsonl INTO clicks PACED 10
            SELECT sensor, temp FROM readings LIMIT 2;

            """)
        #expect(session.status == 0, "\(session.stderr)")
        #expect(session.lines.contains("loaded 2 records from \(dir.path)/r.csv into readings") && session.lines.contains("loaded 4 records from \(dir.path)/c.jsonl into clicks"), "\(session.stdout)")
        #expect(session.lines.contains { $0.hasPrefix("s1") && $0.hasSuffix("20.5") } && session.lines.contains { $0.hasPrefix("s2") && $0.hasSuffix("21.5") }, "\(session.stdout)")
        // Keys from the url field; three seconds of event time at ten times the speed: at least 0.3 s apart.
        let it = server.call("GetShardIterator", #"{"StreamName":"clicks","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}"#).body?["ShardIterator"]?.stringValue ?? ""
        let records = server.call("GetRecords", #"{"ShardIterator":"\#(it)"}"#).body?["Records"]?.arrayValue ?? []
        #expect(records.compactMap { $0["PartitionKey"]?.stringValue } == ["/p0", "/p1", "/p2", "/p3"])
        let arrivals = records.compactMap { $0["ApproximateArrivalTimestamp"]?.doubleValue }
        #expect(arrivals.count == 4 && arrivals[3] - arrivals[0] >= 0.29, "\(arrivals)")
        #expect(server.terminate() == 0)
    }

    /// kill -9 while a producer puts and the query (on its own thread) writes its file: every
    /// record whose PutRecords was acknowledged is in the stream after the restart, and the file
    /// holds each record of the stream once, in the stream's order, as an uninterrupted run's does.
    @Test func aKillDuringPutsAndQueriesLosesNothingAcknowledged() throws {
        let dir = TempDir()
        let data = dir.path + "/data", out = dir.path + "/out.jsonl"
        var server: ServeProcess? = try ServeProcess(dataDir: data, extra: ["--checkpoint-interval", "0.05"])
        #expect(server!.sql(Self.ddl.replacingOccurrences(of: "$OUT", with: out).replacingOccurrences(of: " WHERE url <> '/skip'", with: "")).status == 200)
        @Sendable func batch(_ b: Int) -> String {
            let records = (0..<100).map { i -> String in
                let n = b * 100 + i
                return #"{"Data":"\#(Data(#"{"url":"/r\#(n)","ts":\#(n)}"#.utf8).base64EncodedString())","PartitionKey":"k\#(n)"}"#
            }
            return #"{"StreamName":"clicks","Records":[\#(records.joined(separator: ","))]}"#
        }
        // Put until some rows are out and the query has taken a checkpoint, then kill in the middle of the puts.
        var acknowledged: [Int] = []
        var b = 0
        while b < 400 {
            if server!.call("PutRecords", batch(b)).body?["FailedRecordCount"]?.int64Value == 0 { acknowledged.append(b) }
            b += 1
            if b == 40 { _ = waitForLines(out, 1000) }
            if b > 40, FileManager.default.fileExists(atPath: data + "/queries/query-1.json") { break }
        }
        // A producer still putting when the server dies (its calls fail once it is gone).
        nonisolated(unsafe) let target = server!
        let producer = Thread { for k in 0..<50 { _ = target.call("PutRecords", batch(1000 + k)) } }
        producer.start()
        usleep(20_000)
        kill(server!.process.processIdentifier, SIGKILL)
        server!.process.waitUntilExit()
        server = nil
        let again = try ServeProcess(dataDir: data)
        // The stream after the restart: every acknowledged record is there.
        var stored: [String] = []
        var it = again.call("GetShardIterator", #"{"StreamName":"clicks","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}"#).body?["ShardIterator"]?.stringValue
        while let i = it {
            let r = again.call("GetRecords", #"{"ShardIterator":"\#(i)","Limit":10000}"#).body
            let records = r?["Records"]?.arrayValue ?? []
            for rec in records {
                let bytes = Data(base64Encoded: rec["Data"]?.stringValue ?? "") ?? Data()
                stored.append((try? JSONValue.parse(bytes: [UInt8](bytes)))?["url"]?.stringValue ?? "?")
            }
            it = records.isEmpty ? nil : r?["NextShardIterator"]?.stringValue
        }
        let wanted = acknowledged.flatMap { b in (0..<100).map { "/r\(b * 100 + $0)" } }
        #expect(Set(wanted).isSubset(of: Set(stored)), "acknowledged records are missing")
        // The query resumes from its checkpoint: each stored record's row once, in order.
        let lines = waitForLines(out, stored.count)
        #expect(lines.map { (try? JSONValue.parse(bytes: Array($0.utf8)))?["url"]?.stringValue ?? "?" } == stored)
        #expect(again.terminate() == 0)
    }

    /// A refused statement answers 400 with the diagnostic's id, position and help; the
    /// statements before it ran, and the catalog keeps only what ran.
    @Test func errorsCarryPositionsAndNothingAfterThemRuns() throws {
        let dir = TempDir()
        let data = dir.path + "/data"
        let server = try ServeProcess(dataDir: data)
        let r = server.sql("CREATE STREAM s (a BIGINT) WITH (format = 'json');\nINSERT INTO nowhere SELECT aa FROM s;\nCREATE STREAM t (b BIGINT)")
        #expect(r.status == 400)
        #expect(r.body?["results"]?.arrayValue?.count == 1)
        let e = r.body?["errors"]?.arrayValue?.first
        #expect(e?["id"]?.stringValue == "bind.unknown-column")
        #expect(e?["line"]?.int64Value == 2 && e?["column"]?.int64Value == 28)
        #expect(e?["help"]?.stringValue == "did you mean 'a'?")
        let syntax = server.sql("SELEC 1")
        #expect(syntax.status == 400 && syntax.body?["errors"]?.arrayValue?.first?["line"]?.int64Value == 1)
        let catalog = try JSONValue.parse(bytes: Array(try String(contentsOfFile: data + "/catalog.json", encoding: .utf8).utf8))
        #expect(catalog["statements"]?.arrayValue?.map { $0["sql"]?.stringValue } == ["CREATE STREAM s (a BIGINT) WITH (format = 'json')"])
        let json = server.raw(Array("POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 25\r\n\r\n{\"sql\": \"DESCRIBE s\"}    ".utf8))
        #expect(ServeProcess.parse(json).body?["results"]?.arrayValue?.first?["output"]?.stringValue?.hasPrefix("stream s") == true)
        // SET is a session's, and the API has none: the refusal says what a request sends instead.
        let set = server.sql("SET start = 'latest'").body?["errors"]?.arrayValue?.first
        #expect(set?["id"]?.stringValue == "api.session-setting" && set?["help"]?.stringValue?.contains("\"start\": \"latest\"") == true, "\(String(describing: set))")
        #expect(server.terminate() == 0)
    }

    /// Under --require-auth the SQL API wants the Kinesis API's signature: none is 403. The
    /// stream commands sign with the environment's credentials and get through.
    @Test func underRequireAuthTheSQLAPINeedsASignature() throws {
        let dir = TempDir()
        let data = dir.path + "/data"
        let server = try ServeProcess(dataDir: data, extra: ["--require-auth", "--access-key", "AKID:s3cret"])
        let r = server.sql("SHOW STREAMS")
        #expect(r.status == 403 && r.body?["__type"]?.stringValue == "MissingAuthenticationTokenException")
        let denied = try CLI.run(["stream", "list", "--data-dir", data])
        #expect(denied.status == 1 && denied.stderr.hasPrefix("error: UnrecognizedClientException"))
        let signed = try CLI.run(["stream", "list", "--data-dir", data], environment: ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cret"])
        #expect(signed.status == 0, "\(signed.stderr)")
        // The console: at the address the server printed, with its token; its requests carry the token.
        let printed = server.stderr.first { $0.hasPrefix("console: http://127.0.0.1:\(server.port)/?token=") } ?? ""
        let token = String(printed.split(separator: "=").last ?? "")
        #expect(token.count == 32, "\(server.stderr)")
        func get(_ target: String, _ headers: String = "") -> String {
            server.raw(Array("GET \(target) HTTP/1.1\r\nHost: localhost\r\n\(headers)Connection: close\r\n\r\n".utf8))
        }
        #expect(get("/").hasPrefix("HTTP/1.1 403") && get("/?token=wrong").hasPrefix("HTTP/1.1 403"))
        #expect(get("/?token=\(token)").hasPrefix("HTTP/1.1 200") && get("/?token=\(token)").contains("Bearer"))
        #expect(get("/metrics").hasPrefix("HTTP/1.1 403") && get("/metrics", "Authorization: Bearer \(token)\r\n").hasPrefix("HTTP/1.1 200"))
        func sql(_ authorization: String) -> String {
            server.raw(Array("POST /v1/sql HTTP/1.1\r\nHost: localhost\r\nAuthorization: \(authorization)\r\nConnection: close\r\nContent-Length: 12\r\n\r\nSHOW STREAMS".utf8))
        }
        #expect(sql("Bearer \(token)").hasPrefix("HTTP/1.1 200"))
        #expect(sql("Bearer \(token.dropLast())x").hasPrefix("HTTP/1.1 403") && sql("Bearer ").hasPrefix("HTTP/1.1 403"))
        #expect(server.terminate() == 0)
        // A token of one's own; and none without --require-auth.
        let chosen = try ServeProcess(dataDir: dir.path + "/d2", extra: ["--require-auth", "--access-key", "AKID:s3cret", "--console-token", "my-console-token-123"])
        #expect(chosen.stderr.contains { $0.hasSuffix("/?token=my-console-token-123") })
        #expect(chosen.terminate() == 0)
        let open = try CLI.run(["serve", "--data-dir", dir.path + "/d3", "--console-token", "my-console-token-123"])
        #expect(open.status == 2 && open.stderr.contains("--console-token are used with --require-auth"), "\(open.stderr)")
    }

    /// A SELECT on its own streams its rows as JSON lines: the columns, the rows (those put after
    /// it started too), and with a LIMIT a closing line. Closing the connection cancels it.
    @Test func pushQueriesStreamRowsAndEndWhenTheClientGoes() throws {
        let dir = TempDir()
        let data = dir.path + "/data"
        let server = try ServeProcess(dataDir: data)
        #expect(server.sql("CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP) WITH (shards = 1, format = 'json')").status == 200)
        try put(data, ["/a", "/b"], at: [1000, 2000])
        func request(_ sql: String) -> [UInt8] {
            Array("POST /v1/sql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: \(sql.utf8.count)\r\n\r\n\(sql)".utf8)
        }
        let limited = server.raw(request("SELECT url FROM clicks LIMIT 2"), until: #"{"end":"done"}"#)
        #expect(limited.contains("Transfer-Encoding: chunked"))
        #expect(limited.contains(#""columns":["url"],"changes":false"#))
        #expect(limited.contains(#"{"row":["/a"]}"#) && limited.contains(#"{"row":["/b"]}"#) && limited.contains(#"{"end":"done"}"#))
        // A query without a LIMIT runs on: a record put after it started reaches it.
        let putter = Thread { usleep(700_000); try? self.put(data, ["/c"], at: [3000]) }
        putter.start()
        let open = server.raw(request("SELECT url, ts FROM clicks"), until: #""/c""#, timeout: 30)
        #expect(open.contains(#"{"row":["/a","1970-01-01T00:00:01.000Z"]}"#) && open.contains(#"{"row":["/c","1970-01-01T00:00:03.000Z"]}"#))
        // PRINT: the stream's records, FROM BEGINNING here, as a push query.
        let printed = server.raw(request("PRINT clicks FROM BEGINNING LIMIT 2"), until: #"{"end":"done"}"#)
        #expect(printed.contains(#""columns":["url","ts"]"#) && printed.contains(#"{"row":["/a","1970-01-01T00:00:01.000Z"]}"#), "\(printed)")
        let unknown = server.sql("PRINT nope")
        #expect(unknown.status == 400 && unknown.body?["errors"]?.arrayValue?.first?["column"]?.int64Value == 7)
        // "start": "latest": only what arrives after the query started.
        let body = #"{"sql": "SELECT url FROM clicks LIMIT 1", "start": "latest"}"#
        let later = Thread { usleep(700_000); try? self.put(data, ["/z"], at: [9000]) }
        later.start()
        let latest = server.raw(Array("POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8),
                                until: #"{"end":"done"}"#, timeout: 30)
        #expect(latest.contains(#"{"row":["/z"]}"#) && !latest.contains(#"{"row":["/a"]}"#), "\(latest)")
        // "start": "last N": each shard's last N records first (the REPL's .sample; of /a, /b, /c
        // and /z, the last two); a start it
        // does not know is refused, not read as the default.
        let lastBody = #"{"sql": "SELECT url FROM clicks", "start": "last 2", "until_end": true}"#
        let last = server.raw(Array("POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: \(lastBody.utf8.count)\r\n\r\n\(lastBody)".utf8),
                              until: #"{"end":"#, timeout: 30)
        #expect(!last.contains(#"{"row":["/b"]}"#) && last.contains(#"{"row":["/c"]}"#) && last.contains(#"{"row":["/z"]}"#), "\(last)")
        let typo = #"{"sql": "SELECT url FROM clicks", "start": "lastest"}"#
        let refused = server.raw(Array("POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: \(typo.utf8.count)\r\n\r\n\(typo)".utf8))
        #expect(refused.hasPrefix("HTTP/1.1 400") && refused.contains("api.bad-request") && refused.contains(#"not \"lastest\""#), "\(refused)")
        // That connection is closed now: the server notices (its idle heartbeat fails) and stops the query.
        var queries = ""
        let deadline = Date().addingTimeInterval(20)
        repeat {
            usleep(200_000)
            queries = server.sql("SHOW QUERIES").body?["results"]?.arrayValue?.first?["output"]?.stringValue ?? ""
        } while queries != "no queries" && Date() < deadline
        #expect(queries == "no queries")
        // A push query's errors answer at once; it is sent alone.
        let bad = server.sql("SELECT nope FROM clicks")
        #expect(bad.status == 400 && bad.body?["errors"]?.arrayValue?.first?["id"]?.stringValue == "bind.unknown-column")
        let mixed = server.sql("SHOW STREAMS; SELECT url FROM clicks")
        #expect(mixed.status == 400 && mixed.body?["errors"]?.arrayValue?.first?["id"]?.stringValue == "api.push-query")
        #expect(server.terminate() == 0)
    }

    /// `sluice run FILE.sql` with a server holding the directory: the file goes to the server
    /// (definitions kept, queries running there), a SELECT prints its rows (with --until-end,
    /// until it has read what its streams hold), and a refusal is drawn against the file.
    @Test func runSendsTheFileToTheServer() throws {
        let dir = TempDir()
        let data = dir.path + "/data", out = dir.path + "/out.jsonl"
        let server = try ServeProcess(dataDir: data)
        let setup = dir.path + "/setup.sql", count = dir.path + "/count.sql", bad = dir.path + "/bad.sql"
        try """
            -- definitions and a persistent query
            CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (shards = 1, format = 'json');
            CREATE SINK out WITH (type = 'file', path = '\(out)');
            INSERT INTO out SELECT url, ts FROM clicks;
            """.write(toFile: setup, atomically: true, encoding: .utf8)
        let first = try CLI.run(["run", setup, "--data-dir", data])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("3 statements kept in its catalog"))
        try put(data, ["/a", "/a", "/b"], at: [1000, 3000, 4000])
        #expect(waitForLines(out, 3).count == 3)
        try "SELECT url, COUNT(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, url;\n"
            .write(toFile: count, atomically: true, encoding: .utf8)
        let counted = try CLI.run(["run", count, "--data-dir", data, "--until-end"])
        #expect(counted.status == 0, "\(counted.stderr)")
        #expect(counted.lines == [#"{"url":"/a","n":2}"#, #"{"url":"/b","n":1}"#])
        let printFile = dir.path + "/print.sql"
        try "SHOW SINKS;\nPRINT clicks FROM BEGINNING LIMIT 1;\n".write(toFile: printFile, atomically: true, encoding: .utf8)
        let printed = try CLI.run(["run", printFile, "--data-dir", data])
        #expect(printed.status == 0 && printed.lines.last == #"{"url":"/a","ts":"1970-01-01T00:00:01.000Z"}"#, "\(printed.stdout) \(printed.stderr)")
        try "SHOW STREAMS;\n\nINSERT INTO out\n  SELECT nope FROM clicks;\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try CLI.run(["run", bad, "--data-dir", data])
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("\(bad):4:10: error[bind.unknown-column]: unknown column 'nope'"))
        #expect(refused.stdout.hasPrefix("clicks: 2 columns"))
        let input = try CLI.run(["run", setup, "--data-dir", data, "--input", "clicks=x.jsonl"])
        #expect(input.status == 2 && input.stderr.contains("--input is for a run of its own"))
        #expect(server.terminate() == 0)
    }

    /// DROP QUERY n stops query n and takes it out of the catalog; the others keep their
    /// numbers (and checkpoints) across a restart.
    @Test func dropQueryStopsOneAndTheRestKeepTheirNumbers() throws {
        let dir = TempDir()
        let data = dir.path + "/data", one = dir.path + "/one.jsonl", two = dir.path + "/two.jsonl"
        var server: ServeProcess? = try ServeProcess(dataDir: data)
        let created = server!.sql("""
            CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP) WITH (shards = 1, format = 'json');
            CREATE SINK one WITH (type = 'file', path = '\(one)');
            CREATE SINK two WITH (type = 'file', path = '\(two)');
            INSERT INTO one SELECT url FROM clicks;
            INSERT INTO two SELECT url, ts FROM clicks
            """)
        #expect(created.body?["results"]?.arrayValue?.map { $0["query"]?.int64Value } == [nil, nil, nil, 1, 2])
        try put(data, ["/a"], at: [1000])
        #expect(waitForLines(one, 1).count == 1 && waitForLines(two, 1).count == 1)
        let dropped = server!.sql("DROP QUERY 1")
        #expect(dropped.status == 200, "\(String(describing: dropped.body))")
        func queries(_ s: ServeProcess) -> String { s.sql("SHOW QUERIES").body?["results"]?.arrayValue?.first?["output"]?.stringValue ?? "" }
        #expect(queries(server!).hasPrefix("query 2 (INSERT INTO two)") && !queries(server!).contains("query 1"))
        let unknown = server!.sql("DROP QUERY 7")
        #expect(unknown.status == 400 && unknown.body?["errors"]?.arrayValue?.first?["help"]?.stringValue == "running: 2")
        #expect(server!.sql("DROP QUERY IF EXISTS 7").status == 200)
        #expect(server!.terminate() == 0)
        server = nil
        let again = try ServeProcess(dataDir: data)
        #expect(queries(again).hasPrefix("query 2 (INSERT INTO two)") && !queries(again).contains("query 1"))
        try put(data, ["/b"], at: [2000])
        #expect(waitForLines(two, 2).count == 2)
        #expect(((try? String(contentsOfFile: one, encoding: .utf8)) ?? "").split(separator: "\n").count == 1)
        // A new query takes a new number, not a dropped one.
        let next = again.sql("INSERT INTO one SELECT url FROM clicks")
        #expect(next.body?["results"]?.arrayValue?.first?["query"]?.int64Value == 3)
        #expect(again.terminate() == 0)
    }

    /// A query that fails (bad_records = 'fail' meets a record it cannot read) is marked FAILED
    /// with the reason; the server and the other query go on.
    @Test func aFailingQueryIsMarkedFailedAndTheOthersGoOn() throws {
        let dir = TempDir()
        let data = dir.path + "/data", good = dir.path + "/good.jsonl", strictOut = dir.path + "/strict.jsonl"
        let server = try ServeProcess(dataDir: data)
        let created = server.sql("""
            CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP) WITH (shards = 1, format = 'json');
            CREATE STREAM strict (n BIGINT) WITH (shards = 1, format = 'json', bad_records = 'fail');
            CREATE SINK good WITH (type = 'file', path = '\(good)');
            CREATE SINK strict_out WITH (type = 'file', path = '\(strictOut)');
            INSERT INTO good SELECT url FROM clicks;
            INSERT INTO strict_out SELECT n FROM strict
            """)
        #expect(created.status == 200, "\(String(describing: created.body))")
        let bad = try CLI.run(["stream", "put", "strict", "--partition-key", "k", "--data", #"{"n":"not a number"}"#, "--data-dir", data])
        #expect(bad.status == 0)
        var queries = ""
        let deadline = Date().addingTimeInterval(20)
        repeat {
            usleep(100_000)
            queries = server.sql("SHOW QUERIES").body?["results"]?.arrayValue?.first?["output"]?.stringValue ?? ""
        } while !queries.contains("FAILED") && Date() < deadline
        let lines = queries.split(separator: "\n").map(String.init)
        // Each persistent query runs on a thread of its own (named after it, once it runs); the
        // failed one's ends, just after it is marked FAILED (a busy machine may look in between).
        let tasks = "/proc/\(server.process.processIdentifier)/task"
        var threads: [String] = []
        let ended = Date().addingTimeInterval(10)
        repeat {
            threads = ((try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []).compactMap {
                (try? String(contentsOfFile: "\(tasks)/\($0)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if threads.filter({ $0 == "query 1" }).count == 1 && !threads.contains("query 2") { break }
            usleep(50_000)
        } while Date() < ended
        #expect(threads.filter { $0 == "query 1" }.count == 1 && !threads.contains("query 2"), "\(threads)")
        #expect(lines.first?.hasPrefix("query 1 (INSERT INTO good): RUNNING") == true, "\(queries)")
        #expect(lines.last?.hasPrefix("query 2 (INSERT INTO strict_out): FAILED (") == true, "\(queries)")
        #expect(lines.last?.contains("bad_records = 'fail' stops the query") == true, "\(queries)")
        try put(data, ["/a"], at: [1000])
        #expect(waitForLines(good, 1).count == 1)
        #expect(server.healthy)
        #expect(server.terminate() == 0)
    }

    /// The REPL is a client of the server that holds the directory: what a session defines and
    /// starts outlives it and the server's restart; errors are drawn against what was typed.
    @Test func aReplSessionsDefinitionsAndQueriesSurviveARestart() throws {
        let dir = TempDir()
        let data = dir.path + "/data", out = dir.path + "/out.jsonl", input = dir.path + "/in.jsonl"
        try #"{"url":"/a","ts":1000}\#n{"url":"/a","ts":3000}\#n{"url":"/b","ts":4000}\#n"#.write(toFile: input, atomically: true, encoding: .utf8)
        var server: ServeProcess? = try ServeProcess(dataDir: data)
        let first = try CLI.run(["repl", "--data-dir", data], stdin: """
            CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (shards = 1, format = 'json');
            CREATE SINK out WITH (type = 'file', path = '\(out)');
            INSERT INTO out SELECT url, ts FROM clicks;
            .load \(input) INTO clicks
            SELECT url, COUNT(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, url;
            SELECT urll FROM clicks;

            """)
        #expect(first.status == 1)  // the last statement is refused
        #expect(first.lines.contains("loaded 3 records from \(input) into clicks"))
        #expect(first.lines.contains { $0.hasPrefix("/a") && $0.hasSuffix("| 2") } && first.lines.contains { $0.hasPrefix("/b") && $0.hasSuffix("| 1") }, "\(first.stdout)")
        #expect(first.stderr.hasPrefix("<input>:1:8: error[bind.unknown-column]: unknown column 'urll'"), "\(first.stderr)")
        #expect(waitForLines(out, 3).count == 3)
        #expect(server!.terminate() == 0)
        server = nil
        let again = try ServeProcess(dataDir: data)
        try put(data, ["/c"], at: [5000])
        let second = try CLI.run(["repl", "--data-dir", data], stdin: "SHOW QUERIES;\nSELECT url FROM clicks;\n")
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.lines.first?.hasPrefix("query 1 (INSERT INTO out): RUNNING") == true, "\(second.stdout)")
        #expect(second.lines.filter { ["/a", "/b", "/c"].contains($0.trimmingCharacters(in: .whitespaces)) }.count == 4)
        #expect(waitForLines(out, 4).count == 4)
        #expect(again.terminate() == 0)
    }

    /// Off loopback the server requires credentials: it does not start without --require-auth.
    @Test func listeningOffLoopbackRequiresAuth() throws {
        let dir = TempDir()
        let r = try CLI.run(["serve", "--listen", "0.0.0.0:0", "--data-dir", dir.path + "/data"])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("error: listening on 0.0.0.0 needs --require-auth --access-key ID:SECRET"), "\(r.stderr)")
    }

    /// DROP STREAM | SINK | ALERT refuse while a running query uses the object, naming what to
    /// drop first; once free they go, with their statements in the catalog, so a restart does not
    /// bring them back. A CREATE STREAM ... AS stream takes its query with it.
    @Test func dropRefusesWhatIsInUseAndForgetsWhatGoes() throws {
        let dir = TempDir()
        let data = dir.path + "/data", out = dir.path + "/out.jsonl"
        var server: ServeProcess? = try ServeProcess(dataDir: data)
        try "url,owner\n/a,web\n".write(toFile: dir.path + "/pages.csv", atomically: true, encoding: .utf8)
        #expect(server!.sql("""
            CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP) WITH (shards = 1, format = 'json');
            CREATE SINK out WITH (type = 'file', path = '\(out)');
            CREATE STREAM urls AS SELECT url FROM clicks;
            INSERT INTO out SELECT url FROM urls;
            CREATE TABLE pages (url VARCHAR, owner VARCHAR) WITH (file = '\(dir.path)/pages.csv');
            CREATE VIEW owned AS SELECT c.url, p.owner FROM clicks c JOIN pages p ON c.url = p.url;
            CREATE VIEW web AS SELECT url FROM owned WHERE owner = 'web';
            CREATE SINK owners WITH (type = 'file', path = '\(dir.path)/owners.jsonl');
            INSERT INTO owners SELECT url FROM web;
            CREATE FIREHOSE raw (url VARCHAR) WITH (destination = 'file:\(dir.path)/raw', buffer_interval = '900s', format = 'json');
            INSERT INTO raw SELECT url FROM clicks
            """).status == 200)
        func error(_ sql: String) -> (id: String?, message: String?, help: String?) {
            let e = server!.sql(sql).body?["errors"]?.arrayValue?.first
            return (e?["id"]?.stringValue, e?["message"]?.stringValue, e?["help"]?.stringValue)
        }
        let clicks = error("DROP STREAM clicks")
        #expect(clicks.id == "plan.in-use" && clicks.message?.hasPrefix("stream clicks is used by query 1 (CREATE STREAM urls), query 3 (INSERT INTO owners)") == true
                && clicks.help?.hasPrefix("DROP STREAM urls; DROP QUERY 3") == true, "\(clicks)")
        let sink = error("DROP SINK out")
        #expect(sink.id == "plan.in-use" && sink.help == "DROP QUERY 2 first")
        #expect(error("DROP QUERY 1").id == "plan.query-defines-stream")
        #expect(error("DROP STREAM error_stream").id == "plan.built-in")
        // A table, a view and a firehose are refused while a query (or a view) needs them, with what to drop first.
        let table = error("DROP TABLE pages"), view = error("DROP VIEW owned"), web = error("DROP VIEW web"), raw = error("DROP FIREHOSE raw")
        #expect(table.id == "plan.in-use" && table.message == "table pages is used by query 3 (INSERT INTO owners)" && table.help == "DROP QUERY 3 first", "\(table)")
        #expect(view.id == "plan.in-use" && view.help == "DROP QUERY 3 first", "\(view)")
        #expect(web.id == "plan.in-use" && web.help == "DROP QUERY 3 first", "\(web)")
        #expect(raw.id == "plan.in-use" && raw.help == "DROP QUERY 4 first", "\(raw)")
        #expect(error("DROP VIEW nothing").id == "bind.unknown-view" && error("DROP FIREHOSE nothing").id == "bind.unknown-firehose")
        #expect(server!.sql("DROP QUERY 3").status == 200)
        let stillViewed = error("DROP TABLE pages")
        #expect(stillViewed.id == "plan.in-use" && stillViewed.help == "DROP VIEW owned first", "\(stillViewed)")
        // A firehose delivers what it holds before it goes.
        try put(data, ["/a"], at: [1000])
        usleep(300_000)
        for statement in ["DROP VIEW web", "DROP VIEW owned", "DROP TABLE pages", "DROP QUERY 4", "DROP FIREHOSE raw", "DROP FIREHOSE IF EXISTS raw", "DROP VIEW IF EXISTS web",
                          "DROP QUERY 2", "DROP SINK out", "DROP SINK owners", "DROP STREAM urls", "DROP STREAM clicks", "DROP STREAM IF EXISTS clicks"] {
            let r = server!.sql(statement)
            #expect(r.status == 200, "\(statement): \(String(describing: r.body))")
        }
        func output(_ s: ServeProcess, _ sql: String) -> String { s.sql(sql).body?["results"]?.arrayValue?.first?["output"]?.stringValue ?? "" }
        #expect(output(server!, "SHOW QUERIES") == "no queries")
        let delivered = (FileManager.default.enumerator(atPath: dir.path + "/raw")?.allObjects as? [String] ?? []).filter { !$0.hasPrefix(".") && $0.contains("raw") }
        #expect(!delivered.isEmpty, "the firehose delivered what it held before it went")
        #expect(server!.terminate() == 0)
        server = nil
        let again = try ServeProcess(dataDir: data)
        let streams = output(again, "SHOW STREAMS")
        #expect(!streams.contains("clicks") && !streams.contains("urls"), "\(streams)")
        #expect(output(again, "SHOW SINKS") == "no sinks")
        #expect(output(again, "SHOW TABLES") == "no tables" && output(again, "SHOW FIREHOSES") == "no firehoses")
        #expect(again.sql("SELECT * FROM owned").status == 400, "the view is gone")
        #expect(again.terminate() == 0)
    }

    /// Hostile SQL requests get an answer (400 with a diagnostic, or 405/404), never a crash.
    @Test func hostileSQLRequestsAreAnsweredAndTheServerStays() throws {
        let dir = TempDir()
        let server = try ServeProcess(dataDir: dir.path + "/data")
        func post(_ body: [UInt8], type: String = "text/plain") -> (Int, JSONValue?) {
            let head = Array("POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Type: \(type)\r\nConnection: close\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
            return ServeProcess.parse(server.raw(head + body))
        }
        var rng = SplitMix64(seed: 7)
        let cases: [([UInt8], String)] = [
            ([], "text/plain"),
            ([0xff, 0xfe, 0x00, 0x80], "text/plain"),
            (Array("{\"sql\": 5}".utf8), "application/json"),
            (Array("{not json".utf8), "application/json"),
            (Array(String(repeating: "(", count: 100_000).utf8), "text/plain"),
            (Array(("SELECT " + String(repeating: "a + ", count: 50_000) + "1 FROM x").utf8), "text/plain"),
            ((0..<20_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, "text/plain"),
            (Array("CREATE STREAM s (a BIGINT) WITH (format = 'json'); DROP STREAM s; DROP STREAM s".utf8), "text/plain"),
        ]
        for (body, type) in cases {
            let (status, answer) = post(body, type: type)
            #expect(status == 400 || status == 200, "status \(status) for \(body.prefix(40))")
            if status == 400 { #expect(answer?["errors"]?.arrayValue?.isEmpty == false) }
        }
        let get = server.raw(Array("GET /v1/sql HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        #expect(get.hasPrefix("HTTP/1.1 405"))
        #expect(server.healthy)
        #expect(server.terminate() == 0)
    }

    /// GET / is the console: one page with its own script and no external assets; under
    /// --require-auth it is not served (its requests are not signed). The browser test is
    /// Tests/console (run by .ci/run with Chromium).
    @Test func theConsoleIsOnePageWithoutExternalAssets() throws {
        let dir = TempDir()
        let server = try ServeProcess(dataDir: dir.path + "/data")
        let page = server.raw(Array("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        #expect(page.hasPrefix("HTTP/1.1 200") && page.contains("Content-Type: text/html"))
        for id in ["streams", "queries", "alerts", "chart", "points", "errors"] { #expect(page.contains("id=\"\(id)\""), "\(id)") }
        #expect(!page.contains("http://") && !page.contains("https://") && !page.contains("src="), "no external assets")
        #expect(server.terminate() == 0)
        let secured = try ServeProcess(dataDir: dir.path + "/data2", extra: ["--require-auth", "--access-key", "AK:s"])
        #expect(secured.raw(Array("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)).hasPrefix("HTTP/1.1 403"))
        #expect(secured.terminate() == 0)
    }
}
