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
    /// Firehoses delivered by the server's jobs (query files): defined, not delivered, here.
    let deliveredByJobs: Set<String>
    private let open: Opener
    private let log: @Sendable (String) -> Void
    private let interval: useconds_t
    private let lock = NSLock()
    private var deliveries: [String: DeliveryStream] = [:]
    private var configs: [String: FirehoseConfig] = [:]
    /// The last delivery error of each firehose, logged once until it changes.
    private var failing: [String: String] = [:]
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
        for name in DeliveryStream.list(store: store) {
            let config = try DeliveryStream.load(name: name, store: store)
            configs[name] = config
            if !deliveredByJobs.contains(name) { deliveries[name] = try open(config) }
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

    /// Stops polling, reads what is new and delivers everything buffered.
    public func stop() throws {
        let wasRunning = lock.withLock { () -> Bool in
            stopping = true
            return running
        }
        if wasRunning { finished.wait() }
        try lock.withLock {
            for name in deliveries.keys.sorted() { try deliveries[name]!.deliverAll() }
        }
    }

    /// One poll of every firehose; a failing one is logged and retried on the next poll.
    func pollAll() {
        lock.withLock {
            for name in deliveries.keys.sorted() {
                do throws(DeliveryError) {
                    try deliveries[name]!.poll()
                    if failing[name] != nil {
                        failing[name] = nil
                        log("firehose \(name): delivering again")
                    }
                } catch {
                    if failing[name] != error.description { log("firehose \(name): \(error.description) (retrying)") }
                    failing[name] = error.description
                }
            }
        }
    }

    /// The definition of a firehose, or ResourceNotFound.
    func config(_ name: String) throws(DeliveryError) -> FirehoseConfig {
        guard let c = lock.withLock({ configs[name] }) else {
            throw DeliveryError(.resourceNotFound, "Firehose \(name) under account \(store.configuration.accountId) not found.")
        }
        return c
    }

    var names: [String] { lock.withLock { configs.keys.sorted() } }

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
            let saved = try DeliveryStream.create(next, store: store, replace: true)
            configs[name] = saved
            deliveries[name] = try opened(saved)
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
