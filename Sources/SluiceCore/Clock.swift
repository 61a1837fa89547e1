import Foundation
import Synchronization

/// The one source of "now" in Sluice. Logic never reads the wall clock directly: it asks a clock,
/// so tests can drive time by hand with `ManualClock` and replays are deterministic.
/// Time is Unix epoch milliseconds (UTC).
public protocol SluiceClock: Sendable {
    /// The current time in Unix epoch milliseconds.
    func nowMillis() -> Int64
    /// Whether time moves by itself (false for `ManualClock`). A query's step holds back the
    /// records stamped with the millisecond its read began, since a put of that millisecond may
    /// still be landing in a shard the step has read already; under a clock that moves only when
    /// told, the step would wait for ever, and nothing puts while a test's step reads.
    var movesByItself: Bool { get }
}

extension SluiceClock {
    public var movesByItself: Bool { true }
}

/// The real clock.
public struct SystemClock: SluiceClock {
    public init() {}
    public func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// A clock that moves only when told to. Safe to share between threads.
public final class ManualClock: SluiceClock {
    private let now: Mutex<Int64>

    public init(millis: Int64 = 1_704_067_200_000) {  // 2024-01-01T00:00:00Z
        now = Mutex(millis)
    }

    public func nowMillis() -> Int64 { now.withLock { $0 } }
    public var movesByItself: Bool { false }

    /// Moves the clock forward (or backward, for tests of clock skew) by `millis`.
    public func advance(by millis: Int64) { now.withLock { $0 += millis } }

    /// Sets the clock to an absolute time.
    public func set(_ millis: Int64) { now.withLock { $0 = millis } }
}

/// The clock of a replay whose records carry their arrival times (`sluice run --arrival-field`):
/// "now" is the latest arrival a load has finished putting, so everything that follows time (the
/// store's retention, idle shards, checkpoints and rolls, processing-time alerts) sees the
/// replay's time and a replay is the same however fast it runs. Before the first record it reads
/// `start`. It moves by itself in the sense that matters while a load runs: puts go on while
/// queries read, and a put in flight carries arrivals at or after "now" (a load moves it only
/// once a put is done). Once no load runs, nothing puts beside the queries and nothing moves it:
/// a step need not wait for its own millisecond (it would wait for ever).
public final class ReplayClock: SluiceClock {
    private let now: Mutex<Int64>
    private let loads = Mutex<Int>(0)

    public init(start: Int64) {
        now = Mutex(start)
    }

    public func nowMillis() -> Int64 { now.withLock { $0 } }
    public var movesByItself: Bool { loads.withLock { $0 > 0 } }

    /// A load that moves this clock begins or ends.
    public func loadBegan() { loads.withLock { $0 += 1 } }
    public func loadEnded() { loads.withLock { $0 -= 1 } }

    /// Moves the clock to `millis` unless it is already later: time never goes back.
    public func advance(to millis: Int64) { now.withLock { $0 = max($0, millis) } }
}

/// A monotonic stopwatch for measuring elapsed time in benchmarks and timeouts
/// (never used for event time or for anything that is recorded).
public struct Stopwatch: Sendable {
    private let start: UInt64
    public init() { start = Stopwatch.nanos() }
    public var elapsedSeconds: Double { Double(Stopwatch.nanos() &- start) / 1e9 }
    static func nanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
