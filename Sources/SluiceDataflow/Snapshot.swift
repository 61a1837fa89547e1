import Foundation
public import SluiceCore

/// Operator state as JSON, for query checkpoints. Every number keeps its exact bits: integers as
/// JSON integers, doubles as the decimal of their IEEE-754 bit pattern (NaN and infinities included).
/// `restore` refuses anything it did not write, with a message, rather than guessing.
public struct SnapshotError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

enum Snap {
    static func double(_ d: Double) -> JSONValue { .string(String(d.bitPattern)) }
    static func double(_ j: JSONValue?) throws(SnapshotError) -> Double {
        guard let s = j?.stringValue, let bits = UInt64(s) else { throw SnapshotError("a number is malformed") }
        return Double(bitPattern: bits)
    }
    static func int(_ j: JSONValue?) throws(SnapshotError) -> Int64 {
        guard let v = j?.int64Value else { throw SnapshotError("an integer is malformed") }
        return v
    }
    static func array(_ j: JSONValue?) throws(SnapshotError) -> [JSONValue] {
        guard let a = j?.arrayValue else { throw SnapshotError("a list is malformed") }
        return a
    }
}

extension Value {
    /// `null`, `true`/`false`, or `[tag, payload]`.
    public var snapshot: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .array(["i", .int(i)])
        case .double(let d): return .array(["d", Snap.double(d)])
        case .string(let s): return .array(["s", .string(s)])
        case .timestamp(let t): return .array(["t", .int(t)])
        case .interval(let t): return .array(["v", .int(t)])
        case .decimal(let d): return .array(["n", .int(d.unscaled), .int(Int64(d.scale))])
        }
    }

    public init(snapshot j: JSONValue) throws(SnapshotError) {
        switch j {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .array(let a) where a.count == 3 && a[0].stringValue == "n":
            let scale = try Snap.int(a[2])
            guard (0...Int64(Decimal64.maxPrecision)).contains(scale) else { throw SnapshotError("a decimal value is malformed") }
            self = .decimal(Decimal64(unscaled: try Snap.int(a[1]), scale: Int(scale)))
        case .array(let a) where a.count == 2:
            switch a[0].stringValue {
            case "i"?: self = .int(try Snap.int(a[1]))
            case "d"?: self = .double(try Snap.double(a[1]))
            case "s"?:
                guard let s = a[1].stringValue else { throw SnapshotError("a string value is malformed") }
                self = .string(s)
            case "t"?: self = .timestamp(try Snap.int(a[1]))
            case "v"?: self = .interval(try Snap.int(a[1]))
            default: throw SnapshotError("unknown value tag \(a[0])")
            }
        default: throw SnapshotError("a value is malformed")
        }
    }
}

extension AggregateState {
    public var snapshot: JSONValue {
        func opt(_ v: Int64?) -> JSONValue { v.map { .int($0) } ?? .null }
        func opt(_ v: Double?) -> JSONValue { v.map(Snap.double) ?? .null }
        switch self {
        case .count(let n): return ["count", .int(n)]
        case .sumInt(let s, let seen): return ["sumInt", .int(s), .bool(seen)]
        case .sumDouble(let s, let seen): return ["sumDouble", Snap.double(s), .bool(seen)]
        case .moments(let n, let mean, let m2): return ["moments", .int(n), Snap.double(mean), Snap.double(m2)]
        case .minInt(let v): return ["minInt", opt(v)]
        case .maxInt(let v): return ["maxInt", opt(v)]
        case .minDouble(let v): return ["minDouble", opt(v)]
        case .maxDouble(let v): return ["maxDouble", opt(v)]
        case .minString(let v): return ["minString", v.map { .string($0) } ?? .null]
        case .maxString(let v): return ["maxString", v.map { .string($0) } ?? .null]
        case .sumDecimal(let t, let n, let scale): return ["sumDecimal", .string(String(t)), .int(n), .int(Int64(scale))]
        case .minDecimal(let v, let scale): return ["minDecimal", opt(v), .int(Int64(scale))]
        case .maxDecimal(let v, let scale): return ["maxDecimal", opt(v), .int(Int64(scale))]
        case .distinct(let set): return ["distinct", .array(set.map(\.snapshot))]
        case .first(let v, let t): return ["first", v.snapshot, .int(t)]
        case .last(let v, let t): return ["last", v.snapshot, .int(t)]
        case .sketch(let h):
            let registers: JSONValue = h.registers.isEmpty ? .null : .string(Data(h.registers).base64EncodedString())
            return ["hll", .array(h.exact.sorted().map { .int(Int64(bitPattern: $0)) }), registers]
        case .digest(let t, let p):
            // The digest as it is, buffer included: compressing it here would change what a
            // restored run computes from what the uninterrupted run computes.
            let parts = t.parts
            return ["tdigest", Snap.double(p), .array(parts.means.map(Snap.double)), .array(parts.weights.map(Snap.double)),
                    Snap.double(parts.min), Snap.double(parts.max), .array(parts.buffer.map(Snap.double))]
        }
    }

    public init(snapshot j: JSONValue) throws(SnapshotError) {
        let a = try Snap.array(j)
        guard let tag = a.first?.stringValue else { throw SnapshotError("an aggregate state is malformed") }
        func at(_ i: Int) throws(SnapshotError) -> JSONValue {
            guard i < a.count else { throw SnapshotError("aggregate state \(tag) is short") }
            return a[i]
        }
        func optInt(_ i: Int) throws(SnapshotError) -> Int64? { let v = try at(i); return v == .null ? nil : try Snap.int(v) }
        func optDouble(_ i: Int) throws(SnapshotError) -> Double? { let v = try at(i); return v == .null ? nil : try Snap.double(v) }
        func optString(_ i: Int) throws(SnapshotError) -> String? { let v = try at(i); return v == .null ? nil : v.stringValue }
        func bool(_ i: Int) throws(SnapshotError) -> Bool {
            guard let b = try at(i).boolValue else { throw SnapshotError("aggregate state \(tag) is malformed") }
            return b
        }
        switch tag {
        case "count": self = .count(try Snap.int(at(1)))
        case "sumInt": self = .sumInt(try Snap.int(at(1)), seen: try bool(2))
        case "sumDouble": self = .sumDouble(try Snap.double(at(1)), seen: try bool(2))
        case "moments": self = .moments(n: try Snap.int(at(1)), mean: try Snap.double(at(2)), m2: try Snap.double(at(3)))
        case "minInt": self = .minInt(try optInt(1))
        case "maxInt": self = .maxInt(try optInt(1))
        case "minDouble": self = .minDouble(try optDouble(1))
        case "maxDouble": self = .maxDouble(try optDouble(1))
        case "minString": self = .minString(try optString(1))
        case "maxString": self = .maxString(try optString(1))
        case "sumDecimal":
            guard let text = try at(1).stringValue, let total = Int128(text) else { throw SnapshotError("a DECIMAL sum is malformed") }
            self = .sumDecimal(total, n: try Snap.int(at(2)), scale: Int(try Snap.int(at(3))))
        case "minDecimal": self = .minDecimal(try optInt(1), scale: Int(try Snap.int(at(2))))
        case "maxDecimal": self = .maxDecimal(try optInt(1), scale: Int(try Snap.int(at(2))))
        case "distinct":
            var set = Set<Value>()
            for v in try Snap.array(at(1)) { set.insert(try Value(snapshot: v)) }
            self = .distinct(set)
        case "first": self = .first(try Value(snapshot: at(1)), at: try Snap.int(at(2)))
        case "last": self = .last(try Value(snapshot: at(1)), at: try Snap.int(at(2)))
        case "hll":
            var h = HyperLogLog()
            let registers = try at(2)
            if registers == .null {
                for v in try Snap.array(at(1)) { h.add(hash: UInt64(bitPattern: try Snap.int(v))) }
            } else {
                guard let text = registers.stringValue, let bytes = Data(base64Encoded: text), bytes.count == HyperLogLog.registerCount else {
                    throw SnapshotError("an APPROX_COUNT_DISTINCT sketch is malformed")
                }
                h = HyperLogLog(registers: [UInt8](bytes))
            }
            self = .sketch(h)
        case "tdigest":
            var means: [Double] = [], weights: [Double] = []
            for v in try Snap.array(at(2)) { means.append(try Snap.double(v)) }
            for v in try Snap.array(at(3)) { weights.append(try Snap.double(v)) }
            var buffer: [Double] = []
            if a.count > 6 { for v in try Snap.array(at(6)) { buffer.append(try Snap.double(v)) } }  // older snapshots had none
            guard means.count == weights.count, buffer.count < TDigest.bufferLimit else { throw SnapshotError("a PERCENTILE digest is malformed") }
            self = .digest(TDigest(means: means, weights: weights, buffer: buffer, min: try Snap.double(at(4)), max: try Snap.double(at(5))),
                           p: try Snap.double(at(1)))
        default: throw SnapshotError("unknown aggregate state \(tag)")
        }
    }
}

extension WindowAggregateOperator {
    /// The open panes, their groups and states, and how far windows have been emitted.
    public func snapshot() -> JSONValue {
        var panesOut: [JSONValue] = []
        for start in panes.keys.sorted() {
            let p = panes[start]!
            panesOut.append(["start": .int(start),
                             "keys": .array(p.keys.map { .array($0.values.map(\.snapshot)) }),
                             "states": .array(p.states.map(\.snapshot))])
        }
        return ["emitted_through": .int(emittedThrough), "panes": .array(panesOut)]
    }

    public func restore(_ j: JSONValue) throws(SnapshotError) {
        let n = aggregates.count
        var restored: [Int64: Pane] = [:]
        for pj in try Snap.array(j["panes"]) {
            let p = Pane()
            for kj in try Snap.array(pj["keys"]) {
                var key: [Value] = []
                for v in try Snap.array(kj) { key.append(try Value(snapshot: v)) }
                guard key.count == keyColumns.count else { throw SnapshotError("a window group has \(key.count) keys, the query has \(keyColumns.count)") }
                let g = p.keys.count
                if key.count == 1, case .int(let k) = key[0] { p.intIndex.insert(k, group: g) } else { p.valueIndex[key] = g }
                p.keys.append(.init(key))
            }
            for sj in try Snap.array(pj["states"]) { p.states.append(try AggregateState(snapshot: sj)) }
            guard p.states.count == p.keys.count * n else { throw SnapshotError("a window pane's states do not match its groups") }
            restored[try Snap.int(pj["start"])] = p
        }
        panes = restored
        lastPane = nil
        emittedThrough = try Snap.int(j["emitted_through"])
    }
}

extension WatermarkTracker {
    /// Each shard's largest event time and whether it has ended, and the watermark reached. A
    /// restored shard counts as active from the moment of the restore.
    public func snapshot() -> JSONValue {
        var s = JSONObject()
        for id in shards.keys.sorted() {
            let sh = shards[id]!
            s[id] = ["max_event_time": .int(sh.maxEventTime), "finished": .bool(sh.finished)]
        }
        return ["watermark": .int(current), "ended": .bool(ended), "shards": .object(s)]
    }

    public mutating func restore(_ j: JSONValue, now: Int64) throws(SnapshotError) {
        guard let s = j["shards"]?.objectValue, let e = j["ended"]?.boolValue else { throw SnapshotError("the watermark state is malformed") }
        for (id, v) in s.entries {
            shards[id] = Shard(maxEventTime: try Snap.int(v["max_event_time"]), lastActivity: now, finished: v["finished"]?.boolValue ?? false)
        }
        current = try Snap.int(j["watermark"])
        ended = e
    }
}
