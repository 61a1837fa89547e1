import Foundation
public import SluiceAWS
public import SluiceCore
public import SluiceStreams

/// A shard's lease as the Kinesis Client Library keeps it in DynamoDB: one item per shard, keyed
/// by the shard id, with the worker that holds it, a counter its holder raises to say it is alive,
/// the checkpoint (a sequence number, `TRIM_HORIZON`, `LATEST`, `AT_TIMESTAMP` or `SHARD_END`) and
/// the shard's parents, so that a table reads the same to anyone who has run the KCL.
public struct Lease: Sendable, Equatable {
    public var key: String
    public var owner: String?
    public var counter: Int64
    public var checkpoint: String
    public var ownerSwitchesSinceCheckpoint: Int64
    public var parents: [String]
    /// A worker that asked the holder to hand the lease over (balancing): the holder checkpoints
    /// the shard and lets the lease go.
    public var handoffTo: String?

    public init(key: String, owner: String? = nil, counter: Int64 = 0, checkpoint: String, ownerSwitchesSinceCheckpoint: Int64 = 0,
                parents: [String] = [], handoffTo: String? = nil) {
        self.handoffTo = handoffTo
        self.key = key
        self.owner = owner
        self.counter = counter
        self.checkpoint = checkpoint
        self.ownerSwitchesSinceCheckpoint = ownerSwitchesSinceCheckpoint
        self.parents = parents
    }

    public var isFinished: Bool { checkpoint == "SHARD_END" }

    /// Where reading the shard goes on by the checkpoint of an unfinished lease; nil for `LATEST`
    /// (the reader's own start).
    public var readFrom: KinesisClient.IteratorStart? {
        switch checkpoint {
        case "TRIM_HORIZON": return .trimHorizon
        case "LATEST": return nil
        case let c where c.hasPrefix("AT_TIMESTAMP "):
            return TimeFormat.parseISO8601(c.dropFirst("AT_TIMESTAMP ".count)).map { .atTimestamp($0) } ?? .trimHorizon
        default: return .afterSequenceNumber(checkpoint)
        }
    }

    var item: JSONObject {
        var o: JSONObject = ["leaseKey": ["S": .string(key)], "leaseCounter": ["N": .string(String(counter))],
                             "checkpoint": ["S": .string(checkpoint)], "checkpointSubSequenceNumber": ["N": "0"],
                             "ownerSwitchesSinceCheckpoint": ["N": .string(String(ownerSwitchesSinceCheckpoint))]]
        if let w = owner { o["leaseOwner"] = ["S": .string(w)] }
        if !parents.isEmpty { o["parentShardId"] = ["SS": .array(parents.map { .string($0) })] }
        if let h = handoffTo { o["handoffTo"] = ["S": .string(h)] }
        return o
    }

    init?(item: JSONValue) {
        guard let key = item["leaseKey"]?["S"]?.stringValue else { return nil }
        self.key = key
        owner = item["leaseOwner"]?["S"]?.stringValue
        counter = item["leaseCounter"]?["N"]?.stringValue.flatMap { Int64($0) } ?? 0
        checkpoint = item["checkpoint"]?["S"]?.stringValue ?? "TRIM_HORIZON"
        ownerSwitchesSinceCheckpoint = item["ownerSwitchesSinceCheckpoint"]?["N"]?.stringValue.flatMap { Int64($0) } ?? 0
        parents = item["parentShardId"]?["SS"]?.arrayValue?.compactMap(\.stringValue) ?? []
        handoffTo = item["handoffTo"]?["S"]?.stringValue
    }
}

/// The lease table of one application in DynamoDB (`sluice serve` has none; moto's server or AWS):
/// every change a conditional write on the counter the writer last saw, so two workers never both
/// believe they hold a shard.
public final class LeaseTable: Sendable {
    public let api: AWSJSONClient
    public let name: String

    public init(api: AWSJSONClient, name: String) {
        self.api = api
        self.name = name
    }

    private func call(_ operation: String, _ input: JSONObject) throws(StreamError) -> JSONValue {
        var attempt = 0
        while true {
            attempt += 1
            do throws(AWSJSONClient.Failure) {
                return try api.call(operation, .object(input))
            } catch {
                let transient = KinesisClient.throttling.contains(error.name) || error.name == "ProvisionedThroughputExceededException"
                    || error.unreachable != nil || error.status >= 500
                if transient && attempt < 6 {
                    usleep(UInt32(Int.random(in: 1...min(2000, 50 << attempt))) * 1000)
                    continue
                }
                if error.name == "ConditionalCheckFailedException" { throw StreamError(.resourceInUse, "lease changed: \(error.message)") }
                if let why = error.unreachable { throw StreamError(.internalFailure, "cannot reach DynamoDB at \(api.endpoint) (lease table \(name)): \(why)") }
                if KinesisClient.credentialErrors.contains(error.name) {
                    throw StreamError(.accessDenied, "\(api.endpoint) refused the credentials (\(api.credentialsSource), access key \(api.accessKeyId)) for the lease table \(name): \(error.name): \(error.message)")
                }
                throw StreamError(StreamError.Code(rawValue: error.name) ?? .internalFailure, "\(error.name): \(error.message) (\(operation) on lease table \(name) at \(api.endpoint))")
            }
        }
    }

    /// Creates the table (on-demand capacity, key `leaseKey`) unless it exists, and waits until it is ACTIVE.
    public func ensure() throws(StreamError) {
        do {
            _ = try call("CreateTable", ["TableName": .string(name), "BillingMode": "PAY_PER_REQUEST",
                                         "AttributeDefinitions": [["AttributeName": "leaseKey", "AttributeType": "S"]],
                                         "KeySchema": [["AttributeName": "leaseKey", "KeyType": "HASH"]]])
        } catch where error.code == .resourceInUse && !error.message.hasPrefix("lease changed") {
            // There already.
        }
        for _ in 0..<300 {
            let status = try call("DescribeTable", ["TableName": .string(name)])["Table"]?["TableStatus"]?.stringValue
            if status == "ACTIVE" { return }
            usleep(100_000)
        }
        throw StreamError(.internalFailure, "lease table \(name) at \(api.endpoint) did not become ACTIVE")
    }

    /// Every lease (a consistent scan, page by page).
    public func list() throws(StreamError) -> [Lease] {
        var out: [Lease] = []
        var start: JSONValue? = nil
        repeat {
            var input: JSONObject = ["TableName": .string(name), "ConsistentRead": true]
            if let s = start { input["ExclusiveStartKey"] = s }
            let page = try call("Scan", input)
            out += (page["Items"]?.arrayValue ?? []).compactMap(Lease.init(item:))
            start = page["LastEvaluatedKey"]
        } while start != nil && start != .null
        return out.sorted { $0.key < $1.key }
    }

    /// Adds a lease unless one for the shard exists; whether it was added.
    @discardableResult
    public func create(_ lease: Lease) throws(StreamError) -> Bool {
        do {
            _ = try call("PutItem", ["TableName": .string(name), "Item": .object(lease.item), "ConditionExpression": "attribute_not_exists(leaseKey)"])
            return true
        } catch where error.code == .resourceInUse && error.message.hasPrefix("lease changed") {
            return false
        }
    }

    /// A conditional update of the lease as `seen` (its counter, and its owner when it has one):
    /// the lease after it, or nil when someone changed it first.
    private func update(_ seen: Lease, set: [String], remove: [String] = [], values: JSONObject) throws(StreamError) -> Lease? {
        var vals = values
        vals[":seen"] = ["N": .string(String(seen.counter))]
        var condition = "leaseCounter = :seen"
        if let o = seen.owner {
            vals[":seenOwner"] = ["S": .string(o)]
            condition += " AND leaseOwner = :seenOwner"
        } else {
            condition += " AND attribute_not_exists(leaseOwner)"
        }
        var expression = "SET " + set.joined(separator: ", ")
        if !remove.isEmpty { expression += " REMOVE " + remove.joined(separator: ", ") }
        do {
            let answer = try call("UpdateItem", ["TableName": .string(name), "Key": ["leaseKey": ["S": .string(seen.key)]],
                                                 "UpdateExpression": .string(expression), "ConditionExpression": .string(condition),
                                                 "ExpressionAttributeValues": .object(vals), "ReturnValues": "ALL_NEW"])
            return answer["Attributes"].flatMap(Lease.init(item:))
        } catch where error.code == .resourceInUse && error.message.hasPrefix("lease changed") {
            return nil
        }
    }

    /// The holder says it is alive: the counter goes up.
    public func renew(_ seen: Lease) throws(StreamError) -> Lease? {
        try update(seen, set: ["leaseCounter = leaseCounter + :one"], values: [":one": ["N": "1"]])
    }

    /// `worker` takes the lease (expired, free, or another's to balance).
    public func take(_ seen: Lease, by worker: String) throws(StreamError) -> Lease? {
        try update(seen, set: ["leaseCounter = leaseCounter + :one", "leaseOwner = :me", "ownerSwitchesSinceCheckpoint = ownerSwitchesSinceCheckpoint + :one"],
                   remove: ["handoffTo"], values: [":one": ["N": "1"], ":me": ["S": .string(worker)]])
    }

    /// `worker` asks the holder for the lease. The counter stays (the holder still holds it);
    /// false when the lease changed or someone asked first.
    public func requestHandoff(_ seen: Lease, to worker: String) throws(StreamError) -> Bool {
        guard let owner = seen.owner else { return false }
        do {
            _ = try call("UpdateItem", ["TableName": .string(name), "Key": ["leaseKey": ["S": .string(seen.key)]],
                                        "UpdateExpression": "SET handoffTo = :me",
                                        "ConditionExpression": "leaseCounter = :seen AND leaseOwner = :owner AND attribute_not_exists(handoffTo)",
                                        "ExpressionAttributeValues": [":me": ["S": .string(worker)], ":seen": ["N": .string(String(seen.counter))],
                                                                      ":owner": ["S": .string(owner)]]])
            return true
        } catch where error.code == .resourceInUse && error.message.hasPrefix("lease changed") {
            return false
        }
    }

    /// The holder records how far the shard is processed.
    public func checkpoint(_ seen: Lease, _ checkpoint: String) throws(StreamError) -> Lease? {
        try update(seen, set: ["leaseCounter = leaseCounter + :one", "checkpoint = :c", "ownerSwitchesSinceCheckpoint = :zero"],
                   values: [":one": ["N": "1"], ":c": ["S": .string(checkpoint)], ":zero": ["N": "0"]])
    }

    /// The holder lets the lease go (a clean stop): free for the next worker at once.
    public func release(_ seen: Lease) throws(StreamError) -> Lease? {
        try update(seen, set: ["leaseCounter = leaseCounter + :one"], remove: ["leaseOwner", "handoffTo"], values: [":one": ["N": "1"]])
    }

    /// Removes the table (tests; an application taken down).
    public func delete() throws(StreamError) {
        _ = try call("DeleteTable", ["TableName": .string(name)])
    }
}
