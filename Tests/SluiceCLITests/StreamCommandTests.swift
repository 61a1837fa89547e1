import Foundation
import Testing
import SluiceCore

@Suite("sluice stream")
struct StreamCommandTests {
    let dir = TempDir()
    var data: [String] { ["--data-dir", dir.path + "/data"] }

    func sluice(_ args: String..., stdin: String? = nil) throws -> CLI.Result {
        try CLI.run(Array(args) + data, stdin: stdin)
    }

    func json(_ s: String) throws -> JSONValue { try JSONValue.parse(s) }

    @Test func createDescribeList() throws {
        let c = try sluice("stream", "create", "clicks", "--shards", "3", "--retention-hours", "48")
        #expect(c.status == 0, "\(c.stderr)")
        #expect(try json(c.stdout)["StreamDescriptionSummary"]?["OpenShardCount"] == 3)
        let d = try sluice("stream", "describe", "clicks")
        #expect(d.status == 0)
        let desc = try #require(try json(d.stdout)["StreamDescription"])
        #expect(desc["StreamStatus"] == "ACTIVE")
        #expect(desc["RetentionPeriodHours"] == 48)
        #expect(desc["StreamModeDetails"]?["StreamMode"] == "PROVISIONED")
        let shards = try #require(desc["Shards"]?.arrayValue)
        #expect(shards.count == 3)
        #expect(shards[1]["ShardId"] == "shardId-000000000001")
        #expect(shards[1]["HashKeyRange"]?["StartingHashKey"] == "113427455640312821154458202477256070485")
        #expect(shards[1]["SequenceNumberRange"]?["StartingSequenceNumber"]?.stringValue?.count == 56)
        let l = try sluice("stream", "list")
        #expect(try json(l.stdout)["StreamNames"] == ["clicks"])
        // Environment variable instead of --data-dir.
        let env = try CLI.run(["stream", "list"], environment: ["SLUICE_DATA_DIR": dir.path + "/data"])
        #expect(try json(env.stdout)["StreamNames"] == ["clicks"])
    }

    @Test func putAndGet() throws {
        _ = try sluice("stream", "create", "s", "--shards", "3")
        let p = try sluice("stream", "put", "s", "--partition-key", "a", "--data", "hello")
        #expect(p.status == 0)
        let put = try json(p.stdout)
        #expect(put["ShardId"] == "shardId-000000000000")
        let seq = try #require(put["SequenceNumber"]?.stringValue)
        _ = try sluice("stream", "put", "s", "--partition-key", "a", "--data", "world")
        let g = try sluice("stream", "get", "s", "--shard-id", "shardId-000000000000", "--iterator-type", "TRIM_HORIZON")
        #expect(g.status == 0)
        let records = try g.lines.map(json)
        #expect(records.count == 2)
        #expect(records[0]["SequenceNumber"] == .string(seq))
        #expect(records[0]["PartitionKey"] == "a")
        #expect(records[0]["Data"] == "aGVsbG8=")
        #expect(records[0]["ApproximateArrivalTimestamp"]?.doubleValue != nil)
        let after = try sluice("stream", "get", "s", "--shard-id", "0", "--iterator-type", "AFTER_SEQUENCE_NUMBER", "--sequence-number", seq)
        #expect(try after.lines.map(json).map { $0["Data"] } == ["d29ybGQ="])
        let limited = try sluice("stream", "get", "s", "--shard-id", "0", "--limit", "1")
        #expect(limited.lines.count == 1)
        let ehk = try sluice("stream", "put", "s", "--partition-key", "a", "--explicit-hash-key", "340282366920938463463374607431768211455", "--data", "x")
        #expect(try json(ehk.stdout)["ShardId"] == "shardId-000000000002")
    }

    @Test func errorsAreOneLineWithTheKinesisName() throws {
        let d = try sluice("stream", "describe", "nope")
        #expect(d.status == 1)
        #expect(d.stdout.isEmpty)
        #expect(d.stderr == "error: ResourceNotFoundException: Stream nope under account 000000000000 not found.\n")
        _ = try sluice("stream", "create", "s", "--shards", "1")
        let long = try sluice("stream", "put", "s", "--partition-key", String(repeating: "k", count: 257), "--data", "x")
        #expect(long.status == 1 && long.stderr.hasPrefix("error: ValidationException: "))
        let split = try sluice("stream", "split", "s", "--shard-id", "0", "--new-starting-hash-key", "1")
        #expect(split.status == 1 && split.stderr.hasPrefix("error: InvalidArgumentException: NewStartingHashKey 1 used in SplitShard()"))
        let shard = try sluice("stream", "get", "s", "--shard-id", "shardId-000000000009")
        #expect(shard.stderr == "error: ResourceNotFoundException: Shard shardId-000000000009 in stream s under account 000000000000 does not exist\n")
        let name = try sluice("stream", "create", "bad name", "--shards", "1")
        #expect(name.status == 1 && name.stderr.hasPrefix("error: ValidationException: 1 validation error detected: Value 'bad name' at 'streamName'"))
        let dup = try sluice("stream", "create", "s", "--shards", "1")
        #expect(dup.stderr == "error: ResourceInUseException: Stream s under account 000000000000 already exists.\n")
    }

    @Test func usageErrorsExitWithTwo() throws {
        for args in [["stream"], ["stream", "crate", "x"], ["stream", "create", "x", "--shard", "1"], ["bogus"], ["stream", "create", "x", "--shards", "one"]] {
            let r = try CLI.run(args + data)
            #expect(r.status == 2, "\(args)")
            #expect(r.stderr.hasPrefix("error: "), "\(args)")
        }
        let typo = try CLI.run(["stream", "crate", "x"] + data)
        #expect(typo.stderr.contains("did you mean 'create'?"))
    }

    @Test func bulkPutKeepsInputOrderAndReportsBadLines() throws {
        _ = try sluice("stream", "create", "s", "--shards", "4")
        var input = ""
        for i in 0..<1200 { input += #"{"user":{"id":"u\#(i % 17)"},"n":\#(i)}"# + "\n" }
        input += "not json\n\n" + #"{"n":1}"# + "\n" + #"{"user":{"id":"last"}}"#  // no final newline
        let r = try sluice("stream", "put", "s", "--key-field", "user.id", stdin: input)
        #expect(r.status == 1)
        #expect(r.stderr.contains("2 of 1203 records were not put"))
        let lines = try r.lines.map(json)
        #expect(lines.count == 1203)
        #expect(lines[1200]["ErrorCode"] == "InvalidArgumentException")
        #expect(lines[1200]["ErrorMessage"]?.stringValue?.hasPrefix("line 1201: not JSON") == true)
        #expect(lines[1201]["ErrorMessage"]?.stringValue?.hasPrefix("line 1203: no field 'user.id'") == true)
        #expect(lines[1202]["ShardId"] != nil)
        // Every acknowledged record reads back, in acknowledgement order within its shard.
        var byShard: [String: [String]] = [:]
        for l in lines where l["SequenceNumber"] != nil { byShard[l["ShardId"]!.stringValue!, default: []].append(l["SequenceNumber"]!.stringValue!) }
        for (shard, seqs) in byShard {
            let g = try sluice("stream", "get", "s", "--shard-id", shard)
            #expect(try g.lines.map(json).map { $0["SequenceNumber"]!.stringValue! } == seqs)
        }
    }

    @Test func bulkPutWithCSVColumnsAndRoundRobin() throws {
        _ = try sluice("stream", "create", "s", "--shards", "2")
        let csv = "device,temp\n\"dev,1\",20.5\ndev2,21\n"
        let r = try sluice("stream", "put", "s", "--key-column", "device", stdin: csv)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.lines.count == 2)
        let keys = try ["0", "1"].flatMap { try sluice("stream", "get", "s", "--shard-id", $0).lines.map(json).map { $0["PartitionKey"]!.stringValue! } }
        #expect(keys.sorted() == ["dev,1", "dev2"])
        let missing = try sluice("stream", "put", "s", "--key-column", "nope", stdin: csv)
        #expect(missing.status == 1 && missing.stderr.contains("column 'nope' is not in the CSV header"))
        // Without a key option, records go round-robin over the open shards.
        _ = try sluice("stream", "create", "rr", "--shards", "3")
        let rr = try sluice("stream", "put", "rr", stdin: (0..<9).map { "line \($0)" }.joined(separator: "\n"))
        let shards = try rr.lines.map(json).map { $0["ShardId"]!.stringValue! }
        #expect(shards == (0..<9).map { "shardId-00000000000\($0 % 3)" })
    }

    @Test func reshardAndRetentionCommands() throws {
        _ = try sluice("stream", "create", "s", "--shards", "2")
        let split = try sluice("stream", "split", "s", "--shard-id", "shardId-000000000000", "--new-starting-hash-key", "1000")
        #expect(split.status == 0)
        let shards = try #require(try json(split.stdout)["StreamDescription"]?["Shards"]?.arrayValue)
        #expect(shards.count == 4)
        #expect(shards[0]["SequenceNumberRange"]?["EndingSequenceNumber"] != nil)
        #expect(shards[2]["ParentShardId"] == "shardId-000000000000")
        let merge = try sluice("stream", "merge", "s", "--shard-id", "shardId-000000000002", "--adjacent-shard-id", "shardId-000000000003")
        #expect(merge.status == 0)
        let child = try #require(try json(merge.stdout)["StreamDescription"]?["Shards"]?.arrayValue?.last)
        #expect(child["AdjacentParentShardId"] == "shardId-000000000003")
        let bad = try sluice("stream", "merge", "s", "--shard-id", "shardId-000000000004", "--adjacent-shard-id", "shardId-000000000004")
        #expect(bad.status == 1 && bad.stderr.contains("are not an adjacent pair"))
        let scale = try sluice("stream", "scale", "s", "--target-shard-count", "4")
        #expect(try json(scale.stdout)["TargetShardCount"] == 4)
        let ret = try sluice("stream", "retention", "s", "--hours", "100")
        #expect(try json(ret.stdout)["StreamDescriptionSummary"]?["RetentionPeriodHours"] == 100)
        let low = try sluice("stream", "retention", "s", "--hours", "2")
        #expect(low.stderr.hasPrefix("error: InvalidArgumentException: Minimum allowed retention period is 24 hours."))
        #expect(try sluice("stream", "delete", "s").status == 0)
        #expect(try sluice("stream", "describe", "s").status == 1)
    }

    @Test func onDemandStreams() throws {
        let c = try sluice("stream", "create", "od", "--on-demand")
        #expect(try json(c.stdout)["StreamDescriptionSummary"]?["StreamModeDetails"]?["StreamMode"] == "ON_DEMAND")
        #expect(try json(c.stdout)["StreamDescriptionSummary"]?["OpenShardCount"] == 4)
    }
}
