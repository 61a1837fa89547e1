import Foundation
import Testing
import SluiceAWS
import SluiceCore
import SluiceKinesis
import SluiceStreams
import SluiceTestSupport

/// Shard leases in DynamoDB (moto's server), laid out as the Kinesis Client Library lays them out,
/// shared by workers: balanced, taken over when a worker stops renewing, handed over on request
/// and on a clean stop, children after their parents; never held by two workers at once.
@Suite("Shard leases in DynamoDB (moto's server)", .enabled(if: MotoServer.path != nil, "moto is not installed: pip install 'moto[server]'"))
struct LeaseTests {
    static func table(_ moto: MotoServer, _ name: String = "app") throws -> LeaseTable {
        let credentials = AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "secret", source: "the test")
        let t = LeaseTable(api: AWSJSONClient.dynamoDB(endpoint: moto.endpoint, credentials: credentials, region: "us-east-1")!, name: name)
        try t.ensure()
        return t
    }

    static func shards(_ n: Int) -> [KinesisClient.Shard] {
        (0..<n).map { KinesisClient.Shard(id: String(format: "shardId-%012d", $0), parent: nil, adjacentParent: nil, closed: false) }
    }

    /// No shard held by two workers; returns each worker's count.
    static func check(_ workers: [LeaseCoordinator]) -> [Int] {
        var seen: Set<String> = []
        for w in workers {
            for k in w.held.keys { #expect(seen.insert(k).inserted, "\(k) held twice") }
        }
        return workers.map(\.held.count)
    }

    @Test func twoWorkersSplitSixShardsThroughHandoffsAndTheTableReadsAsKCLs() throws {
        let moto = try MotoServer()
        let t = try LeaseTests.table(moto)
        let a = LeaseCoordinator(table: t, worker: "A"), b = LeaseCoordinator(table: t, worker: "B")
        try a.sync(shards: LeaseTests.shards(6))
        try b.sync(shards: LeaseTests.shards(6))  // a second sync adds nothing
        #expect(try t.list().count == 6)
        #expect(try a.round(now: 0).gained.count == 6)
        var handedOver = 0
        for step in 1...12 {
            let now = Int64(step) * 100
            let cb = try b.round(now: now)
            let ca = try a.round(now: now)
            #expect(ca.lost.isEmpty && cb.lost.isEmpty)
            for k in ca.handoffs {
                #expect(try a.checkpoint(shard: k, "49000000000000000000000000000000000000000000000000000001"))
                try a.release(shard: k)
                handedOver += 1
            }
            _ = LeaseTests.check([a, b])
        }
        #expect(LeaseTests.check([a, b]) == [3, 3])
        #expect(handedOver == 3)
        // KCL's attributes, by KCL's names.
        let raw = try AWSJSONClient.dynamoDB(endpoint: moto.endpoint, credentials: AWSCredentials(accessKeyId: "A", secretAccessKey: "B", source: "t"), region: "us-east-1")!
            .call("Scan", ["TableName": "app"])["Items"]?.arrayValue ?? []
        #expect(raw.count == 6)
        for item in raw {
            for name in ["leaseKey", "leaseOwner", "leaseCounter", "checkpoint", "checkpointSubSequenceNumber", "ownerSwitchesSinceCheckpoint"] {
                #expect(item[name] != nil, "\(name)")
            }
        }
    }

    @Test func aWorkerThatStopsRenewingLosesItsLeasesAfterTheFailoverTime() throws {
        let moto = try MotoServer()
        let t = try LeaseTests.table(moto)
        let a = LeaseCoordinator(table: t, worker: "A", failoverMillis: 1000), b = LeaseCoordinator(table: t, worker: "B", failoverMillis: 1000)
        try a.sync(shards: LeaseTests.shards(4))
        #expect(try a.round(now: 0).gained.count == 4)
        // A goes silent; B sees the counters stand still, and takes nothing before the failover time.
        #expect(try b.round(now: 0).gained.isEmpty)
        #expect(try b.round(now: 900).gained.isEmpty)
        #expect(try b.round(now: 1100).gained.count == 4)
        // A comes back: every lease it thought it held is lost.
        #expect(try a.round(now: 1200).lost.count == 4)
        #expect(a.held.isEmpty && b.held.count == 4)
        // Taken over, each lease counts an owner switch.
        #expect(try t.list().allSatisfy { $0.owner == "B" && $0.ownerSwitchesSinceCheckpoint == 2 })
    }

    @Test func aCleanStopLetsTheLeasesGoAtOnce() throws {
        let moto = try MotoServer()
        let t = try LeaseTests.table(moto)
        let a = LeaseCoordinator(table: t, worker: "A"), b = LeaseCoordinator(table: t, worker: "B")
        try a.sync(shards: LeaseTests.shards(3))
        _ = try a.round(now: 0)
        for k in a.held.keys { #expect(try a.checkpoint(shard: k, "SHARD_END") || true) }
        try a.releaseAll()
        _ = try b.round(now: 1)
        // Finished leases are not worked; reopen two to see them taken.
        #expect(b.held.isEmpty)
        let c = LeaseCoordinator(table: try LeaseTests.table(moto, "app2"), worker: "C")
        let d = LeaseCoordinator(table: c.table, worker: "D")
        try c.sync(shards: LeaseTests.shards(3))
        _ = try c.round(now: 0)
        try c.releaseAll()
        #expect(try d.round(now: 1).gained.count == 3)
    }

    @Test func childShardsAreWorkedOnceTheirParentsAreFinished() throws {
        let moto = try MotoServer()
        let t = try LeaseTests.table(moto)
        let a = LeaseCoordinator(table: t, worker: "A")
        var shards = LeaseTests.shards(1)
        shards[0].closed = true
        shards += [KinesisClient.Shard(id: "shardId-000000000001", parent: "shardId-000000000000", adjacentParent: nil, closed: false),
                   KinesisClient.Shard(id: "shardId-000000000002", parent: "shardId-000000000000", adjacentParent: nil, closed: false)]
        try a.sync(shards: shards)
        #expect(try t.list().first { $0.key == "shardId-000000000001" }?.parents == ["shardId-000000000000"])
        #expect(try a.round(now: 0).gained.map(\.key) == ["shardId-000000000000"])
        #expect(try a.round(now: 1).gained.isEmpty)
        #expect(try a.checkpoint(shard: "shardId-000000000000", "SHARD_END"))
        let next = try a.round(now: 2).gained
        #expect(next.map(\.key) == ["shardId-000000000001", "shardId-000000000002"])
        #expect(next.allSatisfy { $0.checkpoint == "TRIM_HORIZON" })
    }
}
