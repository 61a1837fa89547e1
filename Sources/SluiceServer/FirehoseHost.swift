import Foundation
public import SluiceDelivery
public import SluiceStreams

/// The delivery streams a server delivers: every firehose defined on disk (by the API, by
/// `sluice firehose create`, or by query files of earlier runs) except those the server's own
/// jobs deliver. A thread polls them every `interval`: new records are buffered and buffers whose
/// size or interval hint is reached are written. Definitions change under the same lock, so a
/// firehose is never polled half-defined; stopping flushes every buffer, as Firehose does.
public final class FirehoseHost: @unchecked Sendable {
    public typealias Opener = @Sendable (FirehoseConfig) throws -> DeliveryStream

    let store: StreamStore
    /// Where `arn:aws:s3:::BUCKET` is written: `bucketsDirectory/BUCKET/KEY`.
    public let bucketsDirectory: String
    /// Firehoses delivered by the server's jobs (query files, CREATE FIREHOSE through the SQL
    /// API): defined, not delivered, here.
    private var deliveredByJobs: Set<String>
    private let open: Opener
    private let log: @Sendable (String) -> Void
    private let interval: useconds_t
    private let lock = NSLock()
    private var deliveries: [String: DeliveryStream] = [:]
    private var configs: [String: FirehoseConfig] = [:]
    /// The last delivery error of each firehose, logged once until it changes.
    private var failing: [String: String] = [:]
    /// Firehoses that failed: when to try again, and how many times in a row they failed.
    private var retryAt: [String: (at: UInt64, failures: Int)] = [:]
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)
    private var running = false

    public init(store: StreamStore, bucketsDirectory: String, deliveredByJobs: Set<String> = [], pollMillis: Int = 100,
                open: @escaping Opener, log: @escaping @Sendable (String) -> Void) throws {
        self.store = store
        self.bucketsDirectory = bucketsDirectory
        self.deliveredByJobs = deliveredByJobs
        self.open = open
        self.log = log
        interval = useconds_t(pollMillis * 1000)
        // A data directory in any state starts: a firehose that cannot be delivered now (its
        // source stream is gone, its state unreadable) is logged and tried again as it polls.
        for name in DeliveryStream.list(store: store) {
            do {
                configs[name] = try DeliveryStream.load(name: name, store: store)
            } catch {
                log("firehose \(name): its definition cannot be read: \(error.message)")
                continue
            }
            if !deliveredByJobs.contains(name) { openDelivery(name) }
        }
    }

    /// The firehoses the server's jobs deliver now (CREATE FIREHOSE and DROP FIREHOSE through the
    /// SQL API change them): the API sees their definitions (describe, list, put) and leaves their
    /// delivery to the jobs; one that was delivered here first delivers what it holds. A jobs'
    /// firehose that is gone from the disk is gone from here too.
    public func jobsDeliver(_ jobs: [FirehoseConfig]) {
        lock.withLock {
            let names = Set(jobs.map(\.name))
            let onDisk = Set(DeliveryStream.list(store: store))
            for gone in deliveredByJobs.subtracting(names) where !onDisk.contains(gone) {
                configs[gone] = nil
                failing[gone] = nil
                retryAt[gone] = nil
            }
            for c in jobs {
                configs[c.name] = c
                if let d = deliveries[c.name] {
                    try? d.deliverAll()
                    deliveries[c.name] = nil
                }
            }
            deliveredByJobs = names
        }
    }

    /// Opens the delivery of a defined firehose (the lock held or not yet shared); a failure is
    /// logged once and retried later.
    private func openDelivery(_ name: String) {
        guard let config = configs[name] else { return }
        do {
            deliveries[name] = try open(config)
            if failing[name] != nil { log("firehose \(name): delivering again") }
            failing[name] = nil
        } catch {
            let why = "cannot be delivered: \(error)"
            if failing[name] != why { log("firehose \(name): \(why) (retrying)") }
            failing[name] = why
        }
    }

    public func start() {
        lock.withLock { running = true }
        let t = Thread { [self] in
            while !lock.withLock({ stopping }) {
                pollAll()
                usleep(interval)
            }
            finished.signal()
        }
        t.name = "sluice-firehoses"
        t.start()
    }

    /// Stops polling, reads what is new and delivers everything buffered. Each firehose is
    /// flushed on its own; those that fail are returned with their errors (their records stay in
    /// their streams, past the saved delivery state, and are delivered when the server starts
    /// again). Calling it again flushes again; it never waits twice for the poller.
    public func stop() -> [(firehose: String, error: String)] {
        let waitForPoller = lock.withLock { () -> Bool in
            defer { running = false }
            stopping = true
            return running
        }
        if waitForPoller { finished.wait() }
        return lock.withLock {
            var failed: [(String, String)] = []
            for name in deliveries.keys.sorted() {
                do throws(DeliveryError) { try deliveries[name]!.deliverAll() } catch { failed.append((name, error.description)) }
            }
            return failed
        }
    }

    /// One poll of every firehose; a failing one is logged and tried again after a pause that
    /// doubles with each failure (up to 5 s), so a full disk is not hammered.
    func pollAll() {
        lock.withLock {
            let now = DispatchTime.now().uptimeNanoseconds
            for name in configs.keys.sorted() where deliveries[name] == nil && !deliveredByJobs.contains(name) {
                if let r = retryAt[name], r.at > now { continue }
                openDelivery(name)
                if deliveries[name] == nil { backOff(name, now) }
            }
            for name in deliveries.keys.sorted() {
                if let r = retryAt[name], r.at > now { continue }
                do throws(DeliveryError) {
                    try deliveries[name]!.poll()
                    retryAt[name] = nil
                    if failing[name] != nil {
                        failing[name] = nil
                        log("firehose \(name): delivering again")
                    }
                } catch {
                    if failing[name] != error.description { log("firehose \(name): \(error.description) (retrying)") }
                    failing[name] = error.description
                    backOff(name, now)
                }
            }
        }
    }

    private func backOff(_ name: String, _ now: UInt64) {
        let failures = (retryAt[name]?.failures ?? 0) + 1
        let pause = min(UInt64(5_000_000_000), UInt64(interval) * 1000 << UInt64(min(failures, 16)))
        retryAt[name] = (now + pause, failures)
    }

    /// The definition of a firehose, or ResourceNotFound.
    func config(_ name: String) throws(DeliveryError) -> FirehoseConfig {
        guard let c = lock.withLock({ configs[name] }) else {
            throw DeliveryError(.resourceNotFound, "Firehose \(name) under account \(store.configuration.accountId) not found.")
        }
        return c
    }

    var names: [String] { lock.withLock { configs.keys.sorted() } }

    /// Why a stream that firehose `reader` reads cannot be deleted.
    public func readerDescription(_ reader: String, stream: String) -> String {
        let direct = lock.withLock { configs[reader]?.isDirectPut ?? false }
        return direct
            ? "Stream \(stream) holds the records of firehose \(reader); delete the firehose (DeleteDeliveryStream) instead."
            : "Stream \(stream) is the source of firehose \(reader), which would lose the records it holds; delete the firehose first."
    }

    /// The firehoses that read `stream`: those whose source it is, and the direct-put firehose
    /// that keeps its records in it.
    public func readers(of stream: String) -> [String] {
        lock.withLock { configs.values.filter { $0.stream == stream }.map(\.name).sorted() }
    }

    /// Counters of the firehoses delivered here.
    var counters: [(String, DeliveryCounters)] {
        lock.withLock { deliveries.keys.sorted().map { ($0, deliveries[$0]!.counters) } }
    }

    /// Defines a new firehose and starts delivering it.
    func define(_ config: FirehoseConfig) throws(DeliveryError) -> FirehoseConfig {
        try locked { () throws(DeliveryError) -> FirehoseConfig in
            if configs[config.name] != nil {
                throw DeliveryError(.resourceInUse, "Firehose \(config.name) under accountId \(store.configuration.accountId) already exists")
            }
            if config.isDirectPut, (try? store.describeStreamSummary(name: config.name)) != nil {
                throw DeliveryError(.resourceInUse, "A stream named \(config.name) exists; firehoses and streams share names, as a direct-put firehose keeps its records in a stream of its own name.")
            }
            let saved = try DeliveryStream.create(config, store: store)
            configs[saved.name] = saved
            deliveries[saved.name] = try opened(saved)
            return saved
        }
    }

    /// Changes a firehose's destination: what is buffered is delivered under the old version,
    /// then the new definition (the next version) takes over from the same positions.
    func update(_ name: String, version: String, next: FirehoseConfig) throws(DeliveryError) {
        try locked { () throws(DeliveryError) in
            guard let current = configs[name] else {
                throw DeliveryError(.resourceNotFound, "Firehose \(name) under account \(store.configuration.accountId) not found.")
            }
            try refuseJobs(name)
            guard version == String(current.version) else {
                throw DeliveryError(.concurrentModification, "Cannot update firehose: \(name) since the current version id: \(current.version) and the specified version id: \(version) do not match")
            }
            try deliveries[name]?.deliverAll()
            deliveries[name] = nil
            let saved = try DeliveryStream.create(next, store: store, replace: true, newVersion: true)
            configs[name] = saved
            deliveries[name] = try opened(saved)
        }
    }

    /// Changes what is not the destination (tags, encryption): saved as it is, same version,
    /// delivery untouched.
    func changeSettings(_ name: String, _ change: (inout FirehoseConfig) throws(DeliveryError) -> Void) throws(DeliveryError) {
        try locked { () throws(DeliveryError) in
            guard var c = configs[name] else {
                throw DeliveryError(.resourceNotFound, "Firehose \(name) under account \(store.configuration.accountId) not found.")
            }
            try change(&c)
            try DeliveryStream.saveSettings(c, store: store)
            configs[name] = c
        }
    }

    /// Deletes a firehose after delivering what it holds.
    func delete(_ name: String) throws(DeliveryError) {
        try locked { () throws(DeliveryError) in
            guard configs[name] != nil else {
                throw DeliveryError(.resourceNotFound, "Firehose \(name) under account \(store.configuration.accountId) not found.")
            }
            try refuseJobs(name)
            try deliveries[name]?.deliverAll()
            deliveries[name] = nil
            configs[name] = nil
            failing[name] = nil
            retryAt[name] = nil
            try DeliveryStream.delete(name: name, store: store)
        }
    }

    private func locked<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func refuseJobs(_ name: String) throws(DeliveryError) {
        if deliveredByJobs.contains(name) {
            throw DeliveryError(.resourceInUse, "Firehose \(name) is defined by a query file this server runs; change it there.")
        }
    }

    private func opened(_ config: FirehoseConfig) throws(DeliveryError) -> DeliveryStream {
        do { return try open(config) } catch let e as DeliveryError { throw e } catch {
            throw DeliveryError(.invalidArgument, "firehose \(config.name): \(error)")
        }
    }
}
