import Foundation
import Testing
import SluiceAWS
import SluiceCore
import SluiceSQL
import SluiceStreams
import SluiceTestSupport
@testable import SluiceEngine

/// Queries over a remote Kinesis stream (`connector = 'kinesis'`), with `sluice serve`'s API in
/// this process as the endpoint: the same rows as over the built-in store, rows written into a
/// remote stream (records the endpoint refuses put again alone), and one clear error for each
/// thing that can be wrong.
@Suite("Remote Kinesis streams in queries")
struct RemoteStreamTests {
    /// Credentials from a scratch environment (no profile files).
    static let environment = AWSProfiles(environment: ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret"], home: "/nonexistent")

    /// Puts `{"n": i}` for each i of `numbers` into the fixture's stream `nums`, 500 a request.
    static func putNumbers(_ f: EngineFixture, _ numbers: Range<Int>) throws {
        for base in stride(from: numbers.lowerBound, to: numbers.upperBound, by: 500) {
            var packed = PackedRecords()
            for i in base..<min(base + 500, numbers.upperBound) { Array(#"{"n":\#(i)}"#.utf8).withUnsafeBytes { packed.append(data: $0, partitionKey: "p") } }
            _ = try f.store.putRecords(stream: "nums", packed: packed)
        }
    }

    static let orderColumns = "(user_id VARCHAR, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)"
    static let query = """
        INSERT INTO out SELECT window_end, user_id, COUNT(*) AS n, SUM(amount) AS total
        FROM TUMBLE(orders, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, user_id;
        """

    /// 400 orders of 12 users over two minutes, in event-time order per user.
    static func orders() -> [(key: String, json: String)] {
        (0..<400).map { i in
            let user = "u\(i % 12)"
            return (user, #"{"user_id":"\#(user)","amount":\#(i % 17).5,"ts":"\#(TimeFormat.iso8601(1_704_067_200_000 + Int64(i) * 300))"}"#)
        }
    }

    /// The rows of `out.jsonl`, sorted.
    static func rows(_ f: EngineFixture) -> [String] { f.lines("out.jsonl").sorted() }

    /// Read by GetRecords polling, and by enhanced fan-out (a consumer registered by the query).
    @Test(arguments: ["", ", consumer = 'totals'"]) func aQueryOverARemoteStreamGivesTheRowsItGivesOverTheStore(_ consumer: String) throws {
        let remote = try LocalEndpoint()
        try remote.store.createStream(name: "orders", shardCount: 4)
        for o in RemoteStreamTests.orders() { _ = try remote.store.putRecord(stream: "orders", data: Array(o.json.utf8), partitionKey: o.key) }

        let local = try EngineFixture()
        try local.load("CREATE STREAM orders \(RemoteStreamTests.orderColumns) WITH (format = 'json', shards = 4);"
                       + "CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');" + RemoteStreamTests.query)
        for o in RemoteStreamTests.orders() { _ = try local.store.putRecord(stream: "orders", data: Array(o.json.utf8), partitionKey: o.key) }
        try local.engine.runUntilEnd()

        let f = try EngineFixture()
        f.engine.aws = RemoteStreamTests.environment
        try f.load("""
            CREATE STREAM orders \(RemoteStreamTests.orderColumns)
              WITH (connector = 'kinesis', stream = 'orders', endpoint = '\(remote.endpoint)', region = 'us-east-1', format = 'json'\(consumer));
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            """ + RemoteStreamTests.query)
        try f.engine.runUntilEnd()
        #expect(try remote.store.listConsumers(stream: "orders").map(\.name) == (consumer.isEmpty ? [] : ["totals"]))
        let expected = RemoteStreamTests.rows(local)
        #expect(expected.count > 100)
        #expect(RemoteStreamTests.rows(f) == expected)
        // Nothing was made in the local store for it.
        #expect((try? f.store.describeStreamSummary(name: "orders")) == nil)
    }

    @Test func aQueryResumesFromItsCheckpointAtTheRemotePositions() throws {
        let remote = try LocalEndpoint()
        try remote.store.createStream(name: "orders", shardCount: 2)
        let all = RemoteStreamTests.orders()
        for o in all[..<200] { _ = try remote.store.putRecord(stream: "orders", data: Array(o.json.utf8), partitionKey: o.key) }
        let f = try EngineFixture()
        let ddl = """
            CREATE STREAM orders \(RemoteStreamTests.orderColumns)
              WITH (connector = 'kinesis', stream = 'orders', endpoint = '\(remote.endpoint)', region = 'us-east-1');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            INSERT INTO out SELECT user_id, amount FROM orders;
            """
        f.engine.aws = RemoteStreamTests.environment
        try f.load(ddl)
        while try f.engine.runStep() {}
        try f.engine.stop()
        #expect(f.lines("out.jsonl").count == 200)
        for o in all[200...] { _ = try remote.store.putRecord(stream: "orders", data: Array(o.json.utf8), partitionKey: o.key) }
        // A second engine over the same state: it reads only what came after the checkpoint.
        let again = Engine(store: f.store, clock: f.clock)
        again.aws = RemoteStreamTests.environment
        try again.load(Parser.parse(ddl.replacingOccurrences(of: "$DIR", with: f.dir)).script)
        try again.runUntilEnd()
        #expect(f.lines("out.jsonl").count == 400)
    }

    @Test func rowsInsertedIntoARemoteStreamArriveAndRefusedRecordsArePutAgain() throws {
        // Limits on: a shard takes 1,000 records a second, so a batch of 2,500 is partly refused.
        let remote = try LocalEndpoint(enforceLimits: true)
        try remote.store.createStream(name: "totals", shardCount: 1)
        let f = try EngineFixture()
        f.engine.aws = RemoteStreamTests.environment
        try f.load("""
            CREATE STREAM nums (n INT) WITH (format = 'json');
            CREATE STREAM totals (n INT, key VARCHAR)
              WITH (connector = 'kinesis', stream = 'totals', endpoint = '\(remote.endpoint)', region = 'us-east-1', partition_key = 'key');
            INSERT INTO totals SELECT n, 'k' || CAST(n % 7 AS VARCHAR) AS key FROM nums;
            """)
        try RemoteStreamTests.putNumbers(f, 0..<2500)
        try f.engine.runUntilEnd()
        var got: [Int] = []
        let r = try remote.stored("totals")[0].result
        for i in 0..<r.records.count {
            let j = try JSONValue.parse(bytes: r.records.data(i))
            got.append(Int(j["n"]!.int64Value!))
            #expect(r.records.partitionKey(i) == "k\(j["n"]!.int64Value! % 7)")
        }
        #expect(got.sorted() == Array(0..<2500))
        let refused = try remote.store.writeCounters(name: "totals").throttled
        #expect(refused > 0)
        // Counted where users look: the query's counters and SHOW QUERIES.
        let c = f.engine.counters[0]
        #expect(c.throttled == refused && c.retried >= refused, "\(c.throttled) throttled, \(c.retried) retried, the endpoint refused \(refused)")
        #expect(f.engine.listing(.queries).contains("\(refused) throttled"))
    }

    /// A rate-limited endpoint takes a batch a part at a time: the attempts count only puts that
    /// take nothing, so a batch that needs more puts than that still arrives whole; an endpoint
    /// that takes nothing is given up on after the attempts, with how many rows and why.
    @Test func aPutThatTakesSomeRowsStartsTheAttemptsAgain() throws {
        var taken: [Int] = []
        var puts = 0
        try putAll(Array(0..<20), attempts: 3, place: "stream s", backoff: { _ in }) { (batch: [Int]) throws(StreamError) in
            puts += 1
            // Two rows a put; the rest refused, and every other put refuses all (the limit's
            // second not yet over).
            let take = puts % 2 == 0 ? 0 : min(2, batch.count)
            taken += batch.prefix(take)
            return (take..<batch.count).map { (index: $0, code: "ProvisionedThroughputExceededException") }
        }
        #expect(taken == Array(0..<20))
        #expect(puts == 19)
        var tries = 0
        #expect {
            try putAll(Array(0..<5), attempts: 3, place: "stream s", backoff: { _ in }) { (batch: [Int]) throws(StreamError) in
                tries += 1
                return batch.indices.map { (index: $0, code: "ProvisionedThroughputExceededException") }
            }
        } throws: { error in
            "\(error)".contains("5 rows could not be put into stream s after 3 attempts (ProvisionedThroughputExceededException)")
        }
        #expect(tries == 3)
    }

    /// `CREATE SINK ... (type = 'kinesis')`: a record per row, its partition key an expression
    /// over the output columns (a NULL key: a counter); a key that does not bind, options of
    /// reading and a sink without a stream are refused.
    @Test func aKinesisSinkPutsEachRowUnderThePartitionKeyItsExpressionGives() throws {
        let remote = try LocalEndpoint()
        try remote.store.createStream(name: "alerts", shardCount: 2)
        let f = try EngineFixture()
        f.engine.aws = RemoteStreamTests.environment
        let sink = "CREATE SINK out WITH (type = 'kinesis', stream = 'alerts', endpoint = '\(remote.endpoint)', region = 'us-east-1'"
        try f.load("""
            CREATE STREAM nums (n INT, tag VARCHAR) WITH (format = 'json');
            \(sink), partition_key = 'UPPER(tag) || ''-'' || CAST(n % 3 AS VARCHAR)');
            INSERT INTO out SELECT n, tag FROM nums;
            """)
        for i in 0..<300 {
            let tag = i % 10 == 0 ? "null" : "\"t\(i % 4)\""
            _ = try f.store.putRecord(stream: "nums", data: Array(#"{"n":\#(i),"tag":\#(tag)}"#.utf8), partitionKey: "p")
        }
        try f.engine.runUntilEnd()
        var got: [Int] = []
        for (_, r) in try remote.stored("alerts") {
            for i in 0..<r.records.count {
                let j = try JSONValue.parse(bytes: r.records.data(i))
                let n = Int(j["n"]!.int64Value!)
                got.append(n)
                if n % 10 == 0 {
                    #expect(Int(r.records.partitionKey(i)) != nil, "a NULL key is a counter: \(r.records.partitionKey(i))")
                } else {
                    #expect(r.records.partitionKey(i) == "T\(n % 4)-\(n % 3)")
                }
            }
        }
        #expect(got.sorted() == Array(0..<300))

        func refusal(_ sql: String) -> String {
            let g = try! EngineFixture()
            g.engine.aws = RemoteStreamTests.environment
            do {
                try g.load("CREATE STREAM nums (n INT, tag VARCHAR) WITH (format = 'json');" + sql)
                return ""
            } catch { return "\(error)" }
        }
        #expect(refusal("\(sink), partition_key = 'nosuch || tag'); INSERT INTO out SELECT n, tag FROM nums;").contains("sink out: partition_key"))
        #expect(refusal("\(sink), consumer = 'c');").contains("consumer is an option of reading a remote stream"))
        #expect(refusal("CREATE SINK out WITH (type = 'kinesis', region = 'us-east-1');").contains("sink out: a kinesis sink needs stream = 'NAME'"))
        #expect(refusal("\(sink), partition_key = 'tag');") == "")
    }

    /// Rows go out four requests at once, each partition key's in one lane: every key's records
    /// reach the stream in the order the query emitted them.
    @Test func eachKeysRowsArriveInTheOrderTheyWereEmitted() throws {
        let remote = try LocalEndpoint()
        try remote.store.createStream(name: "ordered", shardCount: 2)
        let f = try EngineFixture()
        f.engine.aws = RemoteStreamTests.environment
        try f.load("""
            CREATE STREAM nums (n INT) WITH (format = 'json');
            CREATE SINK out WITH (type = 'kinesis', stream = 'ordered', endpoint = '\(remote.endpoint)', region = 'us-east-1', partition_key = 'key');
            INSERT INTO out SELECT n, 'k' || CAST(n % 23 AS VARCHAR) AS key FROM nums;
            """)
        try RemoteStreamTests.putNumbers(f, 0..<6000)
        try f.engine.runUntilEnd()
        var byKey: [String: [Int64]] = [:]
        for (_, r) in try remote.stored("ordered") {
            for i in 0..<r.records.count { byKey[r.records.partitionKey(i), default: []].append(try JSONValue.parse(bytes: r.records.data(i))["n"]!.int64Value!) }
        }
        #expect(byKey.count == 23 && byKey.values.reduce(0) { $0 + $1.count } == 6000)
        for (k, ns) in byKey { #expect(ns == ns.sorted(), "key \(k) out of order") }
    }

    @Test func explainSaysWhereAndHowARemoteStreamIsRead() throws {
        let f = try EngineFixture()
        f.engine.aws = RemoteStreamTests.environment
        try f.load("""
            CREATE STREAM a (n INT) WITH (connector = 'kinesis', stream = 'orders', endpoint = 'http://127.0.0.1:1', region = 'us-east-1');
            CREATE STREAM b (n INT) WITH (connector = 'kinesis', stream = 'orders', endpoint = 'http://127.0.0.1:1', region = 'us-east-1', consumer = 'fan');
            EXPLAIN SELECT n FROM a;
            EXPLAIN SELECT n FROM b;
            EXPLAIN PHYSICAL SELECT n FROM b;
            """)
        #expect(f.engine.output[0].contains("Remote: a is Kinesis stream orders at http://127.0.0.1:1, read by GetRecords polling"), "\(f.engine.output[0])")
        #expect(f.engine.output[1].contains("Remote: b is Kinesis stream orders at http://127.0.0.1:1, read by enhanced fan-out (SubscribeToShard) as consumer fan"))
        #expect(f.engine.output[2].contains("StreamSourceExec: b decode=json fields=[n] remote=kinesis:orders read=fan-out(consumer fan)"), "\(f.engine.output[2])")
    }

    @Test func badOptionsAreRefusedWhenDeclared() throws {
        let f = try EngineFixture()
        f.engine.aws = AWSProfiles(environment: [:], home: "/nonexistent")
        func refusal(_ with: String) -> String {
            do {
                try f.load("CREATE STREAM s (a INT) WITH (\(with));")
                return ""
            } catch { return "\(error)" }
        }
        #expect(refusal("connector = 'kafka', stream = 'x', region = 'r'").contains("connector must be 'kinesis'"))
        #expect(refusal("connector = 'kinesis', region = 'r'").contains("needs stream = 'NAME' or stream_arn = 'ARN'"))
        #expect(refusal("connector = 'kinesis', stream = 'x'").contains("no region"))
        #expect(refusal("connector = 'kinesis', stream_arn = 'arn:aws:s3:::bucket'").contains("is not a Kinesis stream ARN"))
        #expect(refusal("connector = 'kinesis', stream = 'x', region = 'r', start = 'YESTERDAY'").contains("start must be 'TRIM_HORIZON', 'LATEST' or 'AT_TIMESTAMP"))
        #expect(refusal("connector = 'kinesis', stream = 'x', region = 'r', endpoint = 'localhost:4567'").contains("must be a URL"))
        #expect(refusal("connector = 'kinesis', stream = 'x', region = 'r', endpoint = 'http://kinesis.example.com:4567'").contains("plain http to another machine"))
        #expect(refusal("connector = 'kinesis', stream = 'x', region = 'r', endpoint = 'https://kinesis.example.com'") == "")
        #expect(refusal("connector = 'kinesis', stream = 'x', region = 'r', shards = 4").contains("shards is an option of the built-in store's streams"))
        #expect(refusal("connector = 'kinesis', stream = 'x', region = 'r', consumer = 'a b'").contains("consumer 'a b' must be 1 to 128 letters"))
        #expect(refusal("connector = 'kinesis', stream = 'x', region = 'r', consumer = 'app-1.v2'") == "")
        // The ARN gives the region.
        #expect(refusal("connector = 'kinesis', stream_arn = 'arn:aws:kinesis:eu-west-1:123456789012:stream/x', endpoint = 'http://127.0.0.1:1'") == "")
    }

    @Test func aMissingStreamBadCredentialsAndNoCredentialsAreNamedWhenTheQueryStarts() throws {
        let remote = try LocalEndpoint(accessKeys: ["AKIDTEST": "secret"])
        try remote.store.createStream(name: "orders", shardCount: 1)
        func start(_ stream: String, _ env: [String: String]) -> String {
            let f = try! EngineFixture()
            f.engine.aws = AWSProfiles(environment: env, home: "/nonexistent")
            do {
                try f.load("""
                    CREATE STREAM orders (user_id VARCHAR) WITH (connector = 'kinesis', stream = '\(stream)', endpoint = '\(remote.endpoint)', region = 'us-east-1');
                    CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
                    INSERT INTO out SELECT user_id FROM orders;
                    """)
                return ""
            } catch { return "\(error)" }
        }
        let good = ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret"]
        #expect(start("orders", good) == "")
        let missing = start("nothing", good)
        #expect(missing.contains("no such stream") && missing.contains("stream nothing at \(remote.endpoint)"))
        let refused = start("orders", ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "wrong-secret"])
        #expect(refused.contains("bad credentials") && refused.contains("environment") && !refused.contains("wrong-secret"))
        #expect(start("orders", [:]).contains("no AWS credentials"))
    }

    @Test(.enabled(if: MotoServer.path != nil, "moto is not installed")) func rowsGoIntoAFirehoseDeliveryStream() throws {
        let moto = try MotoServer()
        let credentials = AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "secret", source: "t")
        let s3 = S3Client(endpoint: moto.endpoint, region: "us-east-1", credentials: credentials)!
        try s3.createBucket("deliveries")
        let firehose = AWSJSONClient.firehose(endpoint: moto.endpoint, credentials: credentials, region: "us-east-1")!
        _ = try firehose.call("CreateDeliveryStream", ["DeliveryStreamName": "totals", "DeliveryStreamType": "DirectPut",
                                                      "ExtendedS3DestinationConfiguration": ["RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::deliveries"]])
        let f = try EngineFixture()
        f.engine.aws = AWSProfiles(environment: ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"], home: "/nonexistent")
        try f.load("""
            CREATE STREAM nums (n INT) WITH (format = 'json');
            CREATE SINK out WITH (type = 'firehose', delivery_stream = 'totals', endpoint = '\(moto.endpoint)');
            INSERT INTO out SELECT n, n * 2 AS twice FROM nums;
            """)
        for base in stride(from: 0, to: 1200, by: 400) {
            var packed = PackedRecords()
            for i in base..<(base + 400) { Array(#"{"n":\#(i)}"#.utf8).withUnsafeBytes { packed.append(data: $0, partitionKey: "p") } }
            _ = try f.store.putRecords(stream: "nums", packed: packed)
        }
        try f.engine.runUntilEnd()
        let keys = try s3.listKeys(bucket: "deliveries")
        #expect(!keys.isEmpty && keys.allSatisfy { $0.contains("totals-") })
        var lines: [String] = []
        for k in keys { lines += String(decoding: try s3.getObject(bucket: "deliveries", key: k) ?? [], as: UTF8.self).split(separator: "\n").map(String.init) }
        #expect(lines.sorted() == (0..<1200).map { #"{"n":\#($0),"twice":\#($0 * 2)}"# }.sorted())
        // A missing delivery stream is named when the query starts.
        let g = try EngineFixture()
        g.engine.aws = f.engine.aws
        do {
            try g.load("""
                CREATE STREAM nums (n INT) WITH (format = 'json');
                CREATE SINK out WITH (type = 'firehose', delivery_stream = 'nothing', endpoint = '\(moto.endpoint)');
                INSERT INTO out SELECT n FROM nums;
                """)
            Issue.record("a missing delivery stream was taken")
        } catch {
            #expect("\(error)".contains("no such stream") && "\(error)".contains("nothing"), "\(error)")
        }
    }

    @Test(.enabled(if: MotoServer.path != nil, "moto is not installed")) func anS3SinkPutsAnObjectPerCheckpointAndEachRowOnceAcrossACrash() throws {
        let moto = try MotoServer()
        let credentials = AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "secret", source: "t")
        let s3 = S3Client(endpoint: moto.endpoint, region: "us-east-1", credentials: credentials)!
        try s3.createBucket("results")
        let f = try EngineFixture()
        let env = AWSProfiles(environment: ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"], home: "/nonexistent")
        let sql = """
            CREATE STREAM nums (n INT) WITH (format = 'json');
            CREATE SINK out WITH (type = 'file', path = 's3://results/doubled/', endpoint = '\(moto.endpoint)');
            INSERT INTO out SELECT n, n * 2 AS twice FROM nums;
            """
        func put(_ r: Range<Int>) throws {
            var packed = PackedRecords()
            for i in r { Array(#"{"n":\#(i)}"#.utf8).withUnsafeBytes { packed.append(data: $0, partitionKey: "p") } }
            _ = try f.store.putRecords(stream: "nums", packed: packed)
        }
        f.engine.aws = env
        f.engine.checkpointIntervalMillis = nil
        try f.load(sql)
        try put(0..<300)
        while try f.engine.runStep() {}
        let job = try #require(f.engine.jobs.first)
        try job.checkpoint()
        #expect(try s3.listKeys(bucket: "results").count == 1)
        try put(300..<500)
        while try f.engine.runStep() {}
        // The interval's object is put, and the process dies before its checkpoint is written.
        _ = try job.sink.checkpoint()
        #expect(try s3.listKeys(bucket: "results").count == 2)

        // A new run resumes the checkpoint: the interval again, under the same name.
        let again = Engine(store: f.store, clock: f.clock)
        again.aws = env
        try again.load(Parser.parse(sql).script)
        try put(500..<600)
        try again.runUntilEnd()
        let keys = try s3.listKeys(bucket: "results")
        // (The resumed run put the interval, 300 to 600, once: under the crashed run's name for it.)
        #expect(keys.count == 2 && keys.allSatisfy { $0.hasPrefix("doubled/2024/01/01/00/out-1-2024-01-01-00-00-00-") }, "\(keys)")
        var lines: [String] = []
        for k in keys { lines += String(decoding: try s3.getObject(bucket: "results", key: k) ?? [], as: UTF8.self).split(separator: "\n").map(String.init) }
        #expect(lines.sorted() == (0..<600).map { #"{"n":\#($0),"twice":\#($0 * 2)}"# }.sorted())
    }

    /// The same query over moto's Kinesis (records put through its API, some of them as KPL
    /// aggregates of several user records) gives the rows it gives over the built-in store.
    @Test(.enabled(if: MotoServer.path != nil, "moto is not installed")) func overMotosKinesisWithKPLAggregatesTheRowsAreTheStores() throws {
        let moto = try MotoServer()
        let k = AWSJSONClient.kinesis(endpoint: moto.endpoint, credentials: AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "secret", source: "t"), region: "us-east-1")!
        _ = try k.call("CreateStream", ["StreamName": "orders", "ShardCount": 3])
        let orders = RemoteStreamTests.orders()
        // Batches of 40: every other one a single aggregated record of 40 user records, as the KPL puts them.
        for (b, start) in stride(from: 0, to: orders.count, by: 40).enumerated() {
            let batch = orders[start..<min(orders.count, start + 40)]
            var records: [JSONValue] = []
            if b % 2 == 0 {
                let agg = KPLAggregate.aggregate(batch.map { KPLAggregate.UserRecord(partitionKey: $0.key, data: Array($0.json.utf8)) })
                records.append(["Data": .string(Base64.encode(agg)), "PartitionKey": .string(batch.first!.key)])
            } else {
                records = batch.map { ["Data": .string(Base64.encode(Array($0.json.utf8))), "PartitionKey": .string($0.key)] }
            }
            _ = try k.call("PutRecords", ["StreamName": "orders", "Records": .array(records)])
        }
        let local = try EngineFixture()
        try local.load("CREATE STREAM orders \(RemoteStreamTests.orderColumns) WITH (format = 'json', shards = 3);"
                       + "CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');" + RemoteStreamTests.query)
        for o in orders { _ = try local.store.putRecord(stream: "orders", data: Array(o.json.utf8), partitionKey: o.key) }
        try local.engine.runUntilEnd()

        let f = try EngineFixture()
        f.engine.aws = RemoteStreamTests.environment
        try f.load("""
            CREATE STREAM orders \(RemoteStreamTests.orderColumns)
              WITH (connector = 'kinesis', stream = 'orders', endpoint = '\(moto.endpoint)', region = 'us-east-1', format = 'json');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            """ + RemoteStreamTests.query)
        try f.engine.runUntilEnd()
        // Kinesis records read: each aggregate is one (its 40 user records are rows).
        #expect(f.engine.counters[0].recordsIn == 5 + 5 * 40)
        #expect(RemoteStreamTests.rows(f) == RemoteStreamTests.rows(local))
        #expect(RemoteStreamTests.rows(f).count > 100)

        // moto registers consumers but has no SubscribeToShard: a query reading through one
        // fails at once, saying so and how to read instead.
        let g = try EngineFixture()
        g.engine.aws = RemoteStreamTests.environment
        try g.load("""
            CREATE STREAM orders \(RemoteStreamTests.orderColumns)
              WITH (connector = 'kinesis', stream = 'orders', endpoint = '\(moto.endpoint)', region = 'us-east-1', consumer = 'fan');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            """ + RemoteStreamTests.query)
        do {
            try g.engine.runUntilEnd()
            Issue.record("read through SubscribeToShard at moto")
        } catch {
            #expect("\(error)".contains("does not offer SubscribeToShard (enhanced fan-out)"), "\(error)")
            #expect("\(error)".contains("leave consumer out"))
        }
    }

    /// A firehose of Sluice's own delivering to S3: the rows an INSERT INTO it puts land in the bucket.
    @Test(.enabled(if: MotoServer.path != nil, "moto is not installed")) func aFirehoseDeliversToS3() throws {
        let moto = try MotoServer()
        let s3 = S3Client(endpoint: moto.endpoint, region: "us-east-1", credentials: AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "secret", source: "t"))!
        try s3.createBucket("lake")
        let f = try EngineFixture()
        f.engine.aws = AWSProfiles(environment: ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"], home: "/nonexistent")
        try f.load("""
            CREATE STREAM nums (n INT) WITH (format = 'json');
            CREATE FIREHOSE lake_out (n INT, twice INT) WITH (destination = 's3://lake', s3_endpoint = '\(moto.endpoint)', prefix = 'nums/', newline_delimiter = true);
            INSERT INTO lake_out SELECT n, n * 2 AS twice FROM nums;
            """)
        var packed = PackedRecords()
        for i in 0..<250 { Array(#"{"n":\#(i)}"#.utf8).withUnsafeBytes { packed.append(data: $0, partitionKey: "p") } }
        _ = try f.store.putRecords(stream: "nums", packed: packed)
        try f.engine.runUntilEnd()
        let keys = try s3.listKeys(bucket: "lake")
        #expect(!keys.isEmpty && keys.allSatisfy { $0.hasPrefix("nums/") && $0.contains("lake_out-1-") }, "\(keys)")
        var lines: [String] = []
        for k in keys { lines += String(decoding: try s3.getObject(bucket: "lake", key: k) ?? [], as: UTF8.self).split(separator: "\n").map(String.init) }
        #expect(lines.sorted() == (0..<250).map { #"{"n":\#($0),"twice":\#($0 * 2)}"# }.sorted())
    }
}
