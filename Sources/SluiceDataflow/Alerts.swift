public import SluiceCore

/// The per-key state machine of a threshold alert (DIALECT.md §3, "Alerts"): each key is OK or
/// FIRING. OK to FIRING when the fire condition is true yields `firing`; FIRING to OK when the
/// resolve condition is true yields `resolved`; anything else yields nothing. A FIRING within the
/// cooldown of the key's last FIRING is suppressed (and counted). Times are event times, so a
/// replay decides exactly as the original run did.
///
/// A silence alert (`FIRE WHEN SILENT FOR d`) instead fires for a key that has sent no row for
/// `d`: each row of a key is heard (`heard`), and as time moves on (`silence(at:)`: the watermark,
/// or processing time for rows without an event time) a key whose last row is `d` or more behind
/// goes FIRING, at its last row's time plus `d`; its next row resolves it. Only keys that have
/// sent a row can fall silent.
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
        /// The time of the key's last row (silence alerts).
        var lastSeen: Int64? = nil
    }

    public let cooldownMillis: Int64?
    public let silentForMillis: Int64?
    /// Keys by the time of their last row (to the millisecond), so the silent ones are found without a scan.
    var quiet: IdleKeys<[Value]>
    var keys: [[Value]: KeyState] = [:]
    /// FIRING transitions suppressed by the cooldown.
    public private(set) var suppressed: Int64 = 0

    public init(cooldownMillis: Int64?, silentForMillis: Int64? = nil) {
        self.cooldownMillis = cooldownMillis
        self.silentForMillis = silentForMillis
        quiet = IdleKeys(ttl: silentForMillis ?? 0, unit: 1)
    }

    /// A silence alert's row for `key` at `at`: the key is heard, and a silent key resolves. A
    /// row that comes `d` or more after the key's last one ends a silence that time had not shown
    /// yet (both rows reached the query in one step, or the watermark lagged): its FIRING, at the
    /// last row's time plus `d`, comes first. So every gap of `d` or more between a key's rows
    /// gives one FIRING and one RESOLVED at the same times however the rows were batched.
    public func heard(key: [Value], at: Int64) -> [(transition: Transition, at: Int64)] {
        var s = keys[key] ?? KeyState(firing: false, since: at, lastFiring: nil)
        defer { keys[key] = s }
        var out: [(transition: Transition, at: Int64)] = []
        if !s.firing, let d = silentForMillis, let last = s.lastSeen, at - last >= d {
            let start = last + d
            if let c = cooldownMillis, let lf = s.lastFiring, start - lf < c {
                suppressed += 1
            } else {
                s.firing = true
                s.lastFiring = start
                out.append((.firing, start))
            }
        }
        s.lastSeen = max(s.lastSeen ?? at, at)
        quiet.touch(key, at: s.lastSeen!)
        if s.firing {
            s.firing = false
            s.since = at
            out.append((.resolved, at))
        }
        return out
    }

    /// Time has reached `time`: the keys silent for the alert's duration go FIRING (those within
    /// the cooldown of their last FIRING are suppressed), in the order of their FIRING time, then
    /// key. Each comes with the time it went FIRING and the time of its last row.
    public func silence(at time: Int64) -> [(key: [Value], at: Int64, lastSeen: Int64)] {
        guard let d = silentForMillis else { return [] }
        var out: [(key: [Value], at: Int64, lastSeen: Int64)] = []
        // Keys whose last row is at least d behind: expire takes those strictly more than d behind.
        for k in quiet.expire(at: time == .max ? time : time + 1) {
            guard var s = keys[k], !s.firing, let last = s.lastSeen else { continue }
            guard time - last >= d else { quiet.touch(k, at: last); continue }
            let at = last + d
            if let c = cooldownMillis, let lf = s.lastFiring, at - lf < c {
                suppressed += 1
                continue
            }
            s.firing = true
            s.since = at
            s.lastFiring = at
            keys[k] = s
            out.append((k, at, last))
        }
        return out.sorted { $0.at != $1.at ? $0.at < $1.at : GroupKeyOrder.less($0.key, $1.key) }
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
                    "last_firing": s.lastFiring.map { .int($0) } ?? .null, "last_seen": s.lastSeen.map { .int($0) } ?? .null]
        }
        return ["keys": .array(entries), "suppressed": .int(suppressed)]
    }

    public func restore(_ j: JSONValue) throws(SnapshotError) {
        var restored: [[Value]: KeyState] = [:]
        for e in try Snap.array(j["keys"]) {
            var key: [Value] = []
            for v in try Snap.array(e["key"]) { key.append(try Value(snapshot: v)) }
            guard let firing = e["firing"]?.boolValue else { throw SnapshotError("an alert key has no state") }
            restored[key] = KeyState(firing: firing, since: try Snap.int(e["since"]), lastFiring: e["last_firing"]?.int64Value,
                                     lastSeen: e["last_seen"]?.int64Value)
        }
        keys = restored
        // The keys that can still fall silent: heard, and not silent already.
        quiet = IdleKeys(ttl: silentForMillis ?? 0, unit: 1)
        if silentForMillis != nil {
            for (k, s) in keys where !s.firing { if let t = s.lastSeen { quiet.touch(k, at: t) } }
        }
        suppressed = j["suppressed"]?.int64Value ?? 0
    }
}
