public import SluiceCore

/// The per-key state machine of a threshold alert (DIALECT.md §3, "Alerts"): each key is OK or
/// FIRING. OK to FIRING when the fire condition is true yields `firing`; FIRING to OK when the
/// resolve condition is true yields `resolved`; anything else yields nothing. A FIRING within the
/// cooldown of the key's last FIRING is suppressed (and counted). Times are event times, so a
/// replay decides exactly as the original run did.
///
/// Owned by one query's driver (not thread-safe).
public final class AlertStateMachine {
    public enum Transition: String, Sendable, Equatable {
        case firing = "FIRING"
        case resolved = "RESOLVED"
    }

    struct KeyState: Equatable {
        var firing: Bool
        /// When the key last changed state.
        var since: Int64
        /// When the key last went FIRING (for the cooldown).
        var lastFiring: Int64?
    }

    public let cooldownMillis: Int64?
    var keys: [[Value]: KeyState] = [:]
    /// FIRING transitions suppressed by the cooldown.
    public private(set) var suppressed: Int64 = 0

    public init(cooldownMillis: Int64?) {
        self.cooldownMillis = cooldownMillis
    }

    /// One row for `key` at event time `at`: whether the fire and resolve conditions are TRUE
    /// (NULL counts as not true). Returns the transition to notify, if any.
    public func observe(key: [Value], fire: Bool, resolve: Bool, at: Int64) -> Transition? {
        var s = keys[key] ?? KeyState(firing: false, since: at, lastFiring: nil)
        defer { keys[key] = s }
        if s.firing {
            guard resolve else { return nil }
            s.firing = false
            s.since = at
            return .resolved
        }
        guard fire else { return nil }
        if let c = cooldownMillis, let last = s.lastFiring, at - last < c {
            suppressed += 1
            return nil
        }
        s.firing = true
        s.since = at
        s.lastFiring = at
        return .firing
    }

    /// The keys now FIRING and since when, in key order.
    public var firing: [(key: [Value], since: Int64)] {
        keys.filter { $0.value.firing }.map { ($0.key, $0.value.since) }.sorted { GroupKeyOrder.less($0.key, $1.key) }
    }

    public func snapshot() -> JSONValue {
        let entries: [JSONValue] = keys.keys.sorted(by: GroupKeyOrder.less).map { k in
            let s = keys[k]!
            return ["key": .array(k.map(\.snapshot)), "firing": .bool(s.firing), "since": .int(s.since),
                    "last_firing": s.lastFiring.map { .int($0) } ?? .null]
        }
        return ["keys": .array(entries), "suppressed": .int(suppressed)]
    }

    public func restore(_ j: JSONValue) throws(SnapshotError) {
        var restored: [[Value]: KeyState] = [:]
        for e in try Snap.array(j["keys"]) {
            var key: [Value] = []
            for v in try Snap.array(e["key"]) { key.append(try Value(snapshot: v)) }
            guard let firing = e["firing"]?.boolValue else { throw SnapshotError("an alert key has no state") }
            restored[key] = KeyState(firing: firing, since: try Snap.int(e["since"]), lastFiring: e["last_firing"]?.int64Value)
        }
        keys = restored
        suppressed = j["suppressed"]?.int64Value ?? 0
    }
}
