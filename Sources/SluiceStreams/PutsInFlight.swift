import Foundation

/// The puts being written now, each with the earliest arrival its records can have. A put takes
/// its arrival time and joins here in one step, then writes its shards one by one without the
/// stream's lock, so a reader that went over the shards one after another may have seen some of
/// a put's records and not the rest. A reader that asks for `floor` after taking its own time
/// knows that every put it could have seen in part is either here (its records arrive at or after
/// the floor) or took its arrival after the reader's time.
final class PutsInFlight: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var earliest: [Int: Int64] = [:]

    /// Reads the clock (`now`) and registers a put whose records arrive at or after `min(now,
    /// earliest)`, as one step; returns its token and the time read.
    func begin(earliest own: Int64?, now: () -> Int64) -> (token: Int, now: Int64) {
        lock.locked {
            let t = now()
            next += 1
            earliest[next] = min(t, own ?? t)
            return (next, t)
        }
    }

    /// The put of `token` is written (or failed): all of it is visible, or none.
    func end(_ token: Int) {
        lock.locked { earliest[token] = nil }
    }

    /// The earliest arrival of the records of any put being written, or nil when none is.
    var floor: Int64? {
        lock.locked { earliest.values.min() }
    }
}
