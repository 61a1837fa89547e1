import Dispatch
import Foundation
import SluiceCore

/// The built-in sharded stream store: Kinesis Data Streams semantics on one machine, durable on disk.
///
/// Layout of a data directory:
///
///     LOCK                                    flock held while a store has the directory open
///     streams/<name>/meta.json                the stream and its shards (rewritten atomically)
///     streams/<name>/shards/shardId-N/*.seg   the shard's append-only log
///     streams/<name>/consumers/<app>.json     checkpoints of a consumer application
///
/// Thread-safe. A put is acknowledged once its bytes are in the shard's file (so they survive the
/// process being killed); `StoreConfiguration.fsync` decides when they are forced to the device.
public final class StreamStore: @unchecked Sendable {
    public let configuration: StoreConfiguration
    let clock: any SluiceClock
    let lock = NSLock()
    var streams: [String: StreamHandle] = [:]
    private var directoryLock: DataDirectoryLock?
    private var syncTimer: (any DispatchSourceTimer)?
    private var closed = false
    /// Damage found while opening the data directory (records that fail their checksums). Such
    /// records are never served; the valid records after them are. This says which were lost.
    public private(set) var damage: [SegmentDamage] = []
    public var recoveryReport: [String] { damage.map(\.description) }

    /// Puts that have taken their arrival time and are not yet written to every shard.
    let putsInFlight = PutsInFlight()

    /// The earliest arrival of any record of a put being written now (nil when none is): a
    /// reader that goes over several shards one by one asks after reading the clock, and lets
    /// records arriving at or after it wait, since the rest of their put may land on a shard it
    /// has already read (see `Job.step`).
    public var arrivalsInFlight: Int64? { putsInFlight.floor }

    /// Called by every put once it has its time and routes, before it writes (tests hold a put
    /// there to look at the store in the meantime).
    var beforeWritingShares: (@Sendable () -> Void)? = nil

    var streamsDirectory: String { configuration.dataDirectory + "/streams" }
    var account: String { configuration.accountId }

    /// Opens the store in `configuration.dataDirectory`, creating it if needed, taking the
    /// directory lock and recovering every shard (a torn tail is cut off).
    public init(configuration: StoreConfiguration) throws(StreamError) {
        self.configuration = configuration
        clock = configuration.clock
        directoryLock = try DataDirectoryLock(directory: configuration.dataDirectory)
        try makeDirectory(streamsDirectory)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: streamsDirectory)) ?? []
        for dirName in names.sorted() {
            let dir = streamsDirectory + "/" + dirName
            guard let bytes = readFile(dir + "/meta.json") else {
                // A stream whose creation never finished (no metadata): nothing was acknowledged in it.
                try? FileManager.default.removeItem(atPath: dir)
                continue
            }
            guard let json = try? JSONValue.parse(bytes: bytes), let meta = StreamMeta(json: json) else {
                throw StreamError(.storage, "stream metadata \(dir)/meta.json is unreadable")
            }
            let handle = StreamHandle(directory: dir, meta: meta)
            for s in meta.shards {
                let path = handle.shardDirectory(s.index)
                if FileManager.default.fileExists(atPath: path) {
                    let log = try ShardLog(directory: path, segmentBytes: configuration.segmentBytes, mapSegments: configuration.mapSegments, create: false)
                    damage += log.damage.map { d in
                        var d = d
                        d.stream = meta.name
                        d.shard = ShardID.format(s.index)
                        return d
                    }
                    handle.logs[s.index] = log
                }
            }
            streams[meta.name] = handle
        }
        if case .interval(let ms) = configuration.fsync {
            let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "sluice.fsync"))
            timer.schedule(deadline: .now() + .milliseconds(Int(ms)), repeating: .milliseconds(Int(ms)))
            timer.setEventHandler { [weak self] in self?.sync() }
            timer.resume()
            syncTimer = timer
        }
    }

    deinit { close() }

    /// Flushes everything to the device and releases the data directory.
    public func close() {
        let first = lock.locked { () -> Bool in
            if closed { return false }
            closed = true
            return true
        }
        guard first else { return }
        syncTimer?.cancel()
        syncTimer = nil
        // Writes under way finish first (they write without the stream's lock): what they
        // acknowledge is synced with the rest.
        for h in lock.locked({ Array(streams.values) }) { h.writeLock.locked {} }
        if configuration.fsync != .never { sync() }
        lock.locked {
            streams.removeAll()
            directoryLock?.release()
            directoryLock = nil
        }
    }

    /// Forces every shard's written data to the device.
    public func sync() {
        let handles = lock.locked { Array(streams.values) }
        for h in handles {
            let logs = h.lock.locked { Array(h.logs.values) }
            for l in logs { l.sync() }
        }
    }

    func arn(_ name: String) -> String { "arn:aws:kinesis:\(configuration.region):\(account):stream/\(name)" }

    func notFound(_ name: String) -> StreamError {
        StreamError(.resourceNotFound, "Stream \(name) under account \(account) not found.")
    }

    func handle(_ name: String) throws(StreamError) -> StreamHandle {
        try validateStreamName(name)
        guard let h = lock.locked({ streams[name] }) else { throw notFound(name) }
        return h
    }

    /// Runs `body` with the stream locked; fails if the stream was deleted meanwhile. `reshaping`:
    /// `body` changes which shards are open, so no write may be under way (the stream's
    /// `writeLock` is held too).
    func withStream<R>(_ name: String, reshaping: Bool = false, _ body: (StreamHandle) throws(StreamError) -> R) throws(StreamError) -> R {
        let h = try handle(name)
        if reshaping { h.writeLock.lock() }
        defer { if reshaping { h.writeLock.unlock() } }
        h.lock.lock()
        defer { h.lock.unlock() }
        guard !h.deleted else { throw notFound(name) }
        return try body(h)
    }

    // MARK: - Validation

    func validateStreamName(_ name: String, field: String = "streamName") throws(StreamError) {
        let n = name.utf8.count
        if n < 1 {
            throw .validation(field, name, "Member must have length greater than or equal to 1")
        }
        if n > 128 {
            throw .validation(field, name, "Member must have length less than or equal to 128")
        }
        let ok = name.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 46 || c == 45
        }
        if !ok {
            throw .validation(field, name, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
        }
        // Names become directories and files of the data directory: `.` and `..` would name the
        // streams directory or the data directory itself.
        if !FileNames.isSafeComponent(name) {
            throw .validation(field, name, "Member must not be '.' or '..'")
        }
    }

    static func validateRetention(_ hours: Int) throws(StreamError) {
        if hours < 24 {
            throw StreamError(.invalidArgument,
                              "Minimum allowed retention period is 24 hours. Requested retention period (\(hours) hours) is too short.")
        }
        if hours > 8760 {
            throw StreamError(.invalidArgument,
                              "Maximum allowed retention period is 8760 hours. Requested retention period (\(hours) hours) is too long.")
        }
    }

    /// Open shards across every stream of the store.
    func openShardCount() -> Int { openShardCountOther(than: nil) }

    /// Open shards of every stream but `excluded` (whose lock the caller may hold).
    func openShardCountOther(than excluded: StreamHandle?) -> Int {
        let handles = lock.locked { Array(streams.values) }
        return handles.reduce(0) { acc, h in h === excluded ? acc : acc + h.openCount.load(ordering: .relaxed) }
    }

    func shardLimitError(additional: Int, current: Int) -> StreamError {
        StreamError(.limitExceeded,
                    "This request would exceed the shard limit for the account \(account) in \(configuration.region). "
                        + "Current shard count for the account: \(current). Limit: \(configuration.shardLimit). "
                        + "Number of additional shards that would have resulted from this request: \(additional).")
    }

    // MARK: - Streams

    /// CreateStream. Provisioned streams need `shardCount`; on-demand streams start with
    /// `configuration.onDemandInitialShards` unless a count is given.
    public func createStream(name: String, shardCount: Int? = nil, mode: StreamMode = .provisioned,
                             retentionHours: Int = 24) throws(StreamError) {
        try validateStreamName(name)
        let count: Int
        switch (mode, shardCount) {
        case (.provisioned, nil):
            throw StreamError(.invalidArgument, "ShardCount is required for a stream in PROVISIONED mode.")
        case (_, let c?):
            if c < 1 { throw .validation("shardCount", String(c), "Member must have value greater than or equal to 1") }
            count = c
        case (.onDemand, nil):
            count = configuration.onDemandInitialShards
        }
        try StreamStore.validateRetention(retentionHours)
        let current = openShardCount()
        if current + count > configuration.shardLimit {
            throw shardLimitError(additional: count, current: current)
        }
        let now = clock.nowMillis()
        let shards = HashKey.evenRanges(count: count).enumerated().map { i, r in
            ShardMeta(index: UInt32(i), range: r, parent: nil, adjacentParent: nil, createdMillis: now)
        }
        let meta = StreamMeta(name: name, createdMillis: now, retentionHours: retentionHours, mode: mode, shards: shards)
        let dir = streamsDirectory + "/" + name
        try lock.locked { () throws(StreamError) in
            guard !closed else { throw StreamError(.internalFailure, "the stream store is closed") }
            if streams[name] != nil {
                throw StreamError(.resourceInUse, "Stream \(name) under account \(account) already exists.")
            }
            // What an interrupted creation left (a directory without metadata) is replaced; the
            // name is one validated path component, so this never reaches beyond `streams/`.
            if FileNames.isSafeComponent(name), access(dir, F_OK) == 0, access(dir + "/meta.json", F_OK) != 0 {
                try? FileManager.default.removeItem(atPath: dir)
            }
            let h = StreamHandle(directory: dir, meta: meta)
            try makeDirectory(dir + "/shards")
            for s in shards { _ = try h.log(s.index, segmentBytes: configuration.segmentBytes, mapSegments: configuration.mapSegments) }
            try h.saveMeta()  // the stream exists once its metadata is on disk
            streams[name] = h
        }
    }

    /// DeleteStream: the stream and all its data are removed at once. A stream with registered
    /// consumers is deleted only with `enforceConsumerDeletion` (which deregisters them).
    public func deleteStream(name: String, enforceConsumerDeletion: Bool = false) throws(StreamError) {
        try validateStreamName(name)
        let h = try lock.locked { () throws(StreamError) -> StreamHandle in
            guard let h = streams[name] else { throw notFound(name) }
            if !enforceConsumerDeletion, h.lock.locked({ !h.meta.consumers.isEmpty }) {
                throw StreamError(.resourceInUse, "Stream \(name) under account \(account) has registered consumers; deregister them or pass EnforceConsumerDeletion.")
            }
            streams[name] = nil
            return h
        }
        // (After any write under way: one writes without the stream's lock.)
        h.writeLock.lock()
        defer { h.writeLock.unlock() }
        h.lock.locked {
            h.deleted = true
            h.openCount.store(0, ordering: .relaxed)
            for l in h.logs.values { l.destroy() }
            h.logs.removeAll()
            try? FileManager.default.removeItem(atPath: h.directory)
        }
    }

    /// ListStreams: names in order, `limit` at most (1-10,000; at most 100 are returned).
    public func listStreams(limit: Int = 100, exclusiveStartStreamName: String? = nil) throws(StreamError)
        -> (names: [String], hasMore: Bool)
    {
        if limit < 1 { throw .validation("limit", String(limit), "Member must have value greater than or equal to 1") }
        if limit > 10000 { throw .validation("limit", String(limit), "Member must have value less than or equal to 10000") }
        let all = lock.locked { streams.keys.sorted() }
        let after = exclusiveStartStreamName.map { s in all.filter { $0 > s } } ?? all
        let n = min(limit, 100)
        return (Array(after.prefix(n)), after.count > n)
    }

    /// DescribeStream (shards after `exclusiveStartShardId`, at most `limit`, itself at most 100).
    public func describeStream(name: String, limit: Int = 100, exclusiveStartShardId: String? = nil) throws(StreamError)
        -> StreamDescription
    {
        if limit < 1 { throw .validation("limit", String(limit), "Member must have value greater than or equal to 1") }
        if limit > 10000 { throw .validation("limit", String(limit), "Member must have value less than or equal to 10000") }
        return try withStream(name) { h throws(StreamError) in
            let now = clock.nowMillis()
            var shards = visibleShards(h, now: now)
            if let start = exclusiveStartShardId {
                let idx = ShardID.parse(start).map(Int64.init) ?? -1
                shards = shards.filter { Int64($0.index) > idx }
            }
            let n = min(limit, 100)
            return description(h, shards: Array(shards.prefix(n)), hasMore: shards.count > n)
        }
    }

    /// DescribeStreamSummary.
    public func describeStreamSummary(name: String) throws(StreamError) -> StreamDescription {
        try withStream(name) { h in description(h, shards: [], hasMore: false) }
    }

    func visibleShards(_ h: StreamHandle, now: Int64) -> [ShardMeta] {
        h.meta.shards.filter { !h.isExpired($0, now: now) }
    }

    func describe(_ s: ShardMeta) -> ShardDescription {
        ShardDescription(
            index: s.index, parentShardId: s.parent.map(ShardID.format),
            adjacentParentShardId: s.adjacentParent.map(ShardID.format), hashKeyRange: s.range,
            startingSequenceNumber: SequenceNumber(shardCreationSeconds: s.creationSeconds, shardIndex: s.index,
                                                   index: 0, recordSeconds: s.creationSeconds),
            endingSequenceNumber: s.closedMillis.map {
                SequenceNumber(shardCreationSeconds: s.creationSeconds, shardIndex: s.index,
                               index: SequenceNumber.endingIndex, recordSeconds: UInt64(max(0, $0) / 1000))
            })
    }

    func description(_ h: StreamHandle, shards: [ShardMeta], hasMore: Bool) -> StreamDescription {
        let status = self.status(h, now: clock.nowMillis())
        // A stream being created has no shards to show yet.
        let shown = status == .creating ? [] : shards
        return StreamDescription(name: h.meta.name, arn: arn(h.meta.name), status: status, mode: h.meta.mode,
                                 retentionHours: h.meta.retentionHours, creationMillis: h.meta.createdMillis,
                                 shards: shown.map(describe), hasMoreShards: hasMore && status != .creating,
                                 openShardCount: status == .creating ? 0 : h.routes.count,
                                 tags: h.meta.tags, consumerCount: h.meta.consumers.count,
                                 encryptionKeyId: h.meta.encryptionKeyId, shardLevelMetrics: h.meta.shardLevelMetrics)
    }

    /// CREATING for `createDelayMillis` after creation, UPDATING until a reshard or mode change
    /// has settled, else ACTIVE (the stream's lock held).
    func status(_ h: StreamHandle, now: Int64) -> StreamStatus {
        if configuration.createDelayMillis > 0 && now < h.meta.createdMillis + configuration.createDelayMillis { return .creating }
        if now < h.meta.updatingUntilMillis { return .updating }
        return .active
    }

    /// Operations that change a stream's shape or settings need it ACTIVE.
    func requireActive(_ h: StreamHandle, now: Int64) throws(StreamError) {
        let s = status(h, now: now)
        guard s == .active else {
            throw StreamError(.resourceInUse, "Stream \(h.meta.name) under account \(account) not ACTIVE, instead in state \(s.rawValue)")
        }
    }

    /// Data operations find a stream that is still being created as not there yet.
    func requireCreated(_ h: StreamHandle, now: Int64) throws(StreamError) {
        if status(h, now: now) == .creating {
            throw StreamError(.resourceNotFound, "Stream \(h.meta.name) under account \(account) not found (it is CREATING).")
        }
    }

    /// ListShards. Pass `streamName` (with optional filter, start and limit) for the first page, or
    /// only `nextToken` for the following ones.
    public func listShards(streamName: String?, nextToken: String? = nil, exclusiveStartShardId: String? = nil,
                           maxResults: Int = 1000, filter: ShardFilter? = nil) throws(StreamError)
        -> (shards: [ShardDescription], nextToken: String?)
    {
        if maxResults < 1 {
            throw .validation("maxResults", String(maxResults), "Member must have value greater than or equal to 1")
        }
        if maxResults > 10000 {
            throw .validation("maxResults", String(maxResults), "Member must have value less than or equal to 10000")
        }
        var name: String
        var after: Int64 = -1
        var filter = filter
        let now = clock.nowMillis()
        var expectedCreation: Int64? = nil
        switch (streamName, nextToken) {
        case (.some, .some):
            throw StreamError(.invalidArgument, "NextToken and StreamName cannot be provided together.")
        case (nil, nil):
            throw StreamError(.invalidArgument, "Either NextToken or StreamName should be provided.")
        case (let n?, nil):
            name = n
            if let s = exclusiveStartShardId { after = ShardID.parse(s).map(Int64.init) ?? -1 }
        case (nil, let token?):
            guard let p = unseal(token), p.count > 26, p[0] == 2 else {
                throw StreamError(.invalidArgument, "Invalid NextToken.")
            }
            let issued = Int64(bitPattern: p.loadLE(UInt64.self, at: 1))
            if now - issued > configuration.nextTokenTTLMillis {
                throw StreamError(.expiredNextToken, "The timestamp of the last ListShard call has expired.")
            }
            expectedCreation = Int64(bitPattern: p.loadLE(UInt64.self, at: 9))
            after = Int64(p.loadLE(UInt32.self, at: 17))
            let filterCode = p[21]
            name = String(decoding: p[26...], as: UTF8.self)
            let nameEnd = name.firstIndex(of: "\u{0}")
            var arg: Int64 = 0
            if let e = nameEnd {
                arg = Int64(name[name.index(after: e)...]) ?? 0
                name = String(name[..<e])
            }
            filter = ShardFilter.decode(code: filterCode, arg: arg)
        }
        return try withStream(name) { h throws(StreamError) in
            if let c = expectedCreation, c != h.meta.createdMillis {
                throw StreamError(.resourceNotFound, "Stream \(name) under account \(account) not found.")
            }
            let horizon = self.horizon(h, now: now)
            var shards = visibleShards(h, now: now)
            func openAt(_ s: ShardMeta, _ t: Int64) -> Bool {
                (s.createdMillis <= t || s.parent == nil) && (s.closedMillis.map { $0 > t } ?? true)
            }
            switch filter {
            case nil, .fromTrimHorizon?: break
            case .afterShardId(let id)?:
                let idx = ShardID.parse(id).map(Int64.init) ?? -1
                shards = shards.filter { Int64($0.index) > idx }
            case .atTrimHorizon?: shards = shards.filter { openAt($0, horizon) }
            case .atLatest?: shards = shards.filter(\.isOpen)
            case .atTimestamp(let t)?: shards = shards.filter { openAt($0, t) }
            case .fromTimestamp(let t)?: shards = shards.filter { $0.closedMillis.map { $0 > t } ?? true }
            }
            shards = shards.filter { Int64($0.index) > after }
            let page = Array(shards.prefix(maxResults))
            var token: String? = nil
            if shards.count > page.count, let last = page.last {
                var p: [UInt8] = [2]
                p.appendLE(UInt64(bitPattern: now))
                p.appendLE(UInt64(bitPattern: h.meta.createdMillis))
                p.appendLE(last.index)
                let (code, arg) = filter?.encoded ?? (0, 0)
                p.append(code)
                p.appendLE(UInt32(0))
                p.append(contentsOf: name.utf8)
                p.append(0)
                p.append(contentsOf: String(arg).utf8)
                token = seal(p)
            }
            return (page.map(describe), token)
        }
    }

    // MARK: - Retention

    /// IncreaseStreamRetentionPeriod: the new period must not be shorter than the current one.
    public func increaseRetention(name: String, hours: Int) throws(StreamError) {
        try StreamStore.validateRetention(hours)
        try withStream(name) { h throws(StreamError) in
            try requireActive(h, now: clock.nowMillis())
            if hours < h.meta.retentionHours {
                throw StreamError(.invalidArgument,
                                  "Requested retention period (\(hours) hours) for stream \(name) can not be shorter than "
                                      + "existing retention period (\(h.meta.retentionHours) hours). Use DecreaseRetentionPeriod API.")
            }
            h.meta.retentionHours = hours
            try h.saveMeta()
        }
    }

    /// DecreaseStreamRetentionPeriod: older records are hidden at once and trimmed from disk.
    public func decreaseRetention(name: String, hours: Int) throws(StreamError) {
        try StreamStore.validateRetention(hours)
        try withStream(name) { h throws(StreamError) in
            try requireActive(h, now: clock.nowMillis())
            if hours > h.meta.retentionHours {
                throw StreamError(.invalidArgument,
                                  "Requested retention period (\(hours) hours) for stream \(name) can not be longer than "
                                      + "existing retention period (\(h.meta.retentionHours) hours). Use IncreaseRetentionPeriod API.")
            }
            let now = clock.nowMillis()
            h.meta.retentionHours = hours
            h.meta.trimFloorMillis = max(h.meta.trimFloorMillis, now - Int64(hours) * 3_600_000)
            try h.saveMeta()
            try trim(h, now: now)
        }
    }

    /// Sets the retention period either way (the CLI's `stream retention`).
    public func setRetention(name: String, hours: Int) throws(StreamError) {
        try StreamStore.validateRetention(hours)
        let current = try withStream(name) { $0.meta.retentionHours }
        if hours >= current { try increaseRetention(name: name, hours: hours) } else { try decreaseRetention(name: name, hours: hours) }
    }

    /// Removes expired records from disk in every stream now (this also happens by itself, at most
    /// once per `trimIntervalMillis`, as streams are read and written). Returns the records removed.
    @discardableResult
    public func trimExpired() throws(StreamError) -> Int {
        let handles = lock.locked { Array(streams.values) }
        var removed = 0
        for h in handles {
            h.lock.lock()
            defer { h.lock.unlock() }
            if !h.deleted { removed += try trim(h, now: clock.nowMillis()) }
        }
        return removed
    }

    /// Trims one stream (its lock held): expired segments go, and expired closed shards go entirely.
    @discardableResult
    func trim(_ h: StreamHandle, now: Int64) throws(StreamError) -> Int {
        h.lastTrimMillis = now
        let horizon = self.horizon(h, now: now)
        var removed = 0
        var expired: [UInt32] = []
        for s in h.meta.shards {
            guard let log = h.logs[s.index] else { continue }
            if self.expired(h, s, now: now) {
                removed += log.recordCount
                log.destroy()
                h.logs[s.index] = nil
                expired.append(s.index)
            } else {
                removed += try log.trim(before: horizon)
            }
        }
        if !expired.isEmpty {
            h.meta.shards.removeAll { expired.contains($0.index) }
            try h.saveMeta()
        }
        return removed
    }

    /// Where the stream's retention begins: records that arrived before it are gone. A store
    /// that keeps everything (a replay's, `retentionApplies` false) keeps only what was trimmed
    /// by hand (DecreaseStreamRetentionPeriod aside, nothing).
    func horizon(_ h: StreamHandle, now: Int64) -> Int64 {
        configuration.retentionApplies ? h.trimHorizon(now: now) : h.meta.trimFloorMillis
    }

    /// Whether a closed shard has left the retention period.
    func expired(_ h: StreamHandle, _ s: ShardMeta, now: Int64) -> Bool {
        configuration.retentionApplies && h.isExpired(s, now: now)
    }

    func maybeTrim(_ h: StreamHandle, now: Int64) throws(StreamError) {
        if now - h.lastTrimMillis >= configuration.trimIntervalMillis { try trim(h, now: now) }
    }

    // MARK: - Tags

    public func addTags(name: String, tags: [String: String]) throws(StreamError) {
        try withStream(name) { h throws(StreamError) in
            if status(h, now: clock.nowMillis()) == .creating { try requireActive(h, now: clock.nowMillis()) }
            var merged = h.meta.tags
            for (k, v) in tags { merged[k] = v }
            if merged.count > 50 {
                throw StreamError(.invalidArgument, "Failed to add tags to stream \(name) under account \(account) because a given stream cannot have more than 50 tags associated with it.")
            }
            h.meta.tags = merged
            try h.saveMeta()
        }
    }

    public func removeTags(name: String, keys: [String]) throws(StreamError) {
        try withStream(name) { h throws(StreamError) in
            for k in keys { h.meta.tags[k] = nil }
            try h.saveMeta()
        }
    }

    public func listTags(name: String) throws(StreamError) -> [(key: String, value: String)] {
        try withStream(name) { h in h.meta.tags.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }

    // MARK: - Settings recorded and described (encryption, monitoring, policies)

    /// Start/StopStreamEncryption: the key is recorded and described (EncryptionType KMS, KeyId);
    /// records are not encrypted at rest. Nil stops it.
    public func setEncryption(name: String, keyId: String?) throws(StreamError) {
        try withStream(name) { h throws(StreamError) in
            try requireActive(h, now: clock.nowMillis())
            h.meta.encryptionKeyId = keyId
            try h.saveMeta()
        }
    }

    /// Enable/DisableEnhancedMonitoring: the shard-level metrics before and after.
    public func changeMonitoring(name: String, enable: [String], disable: [String]) throws(StreamError) -> (current: [String], desired: [String]) {
        try withStream(name) { h throws(StreamError) in
            let current = h.meta.shardLevelMetrics
            var desired = Set(current)
            let all = ["IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords", "WriteProvisionedThroughputExceeded",
                       "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds"]
            func expand(_ m: [String]) -> [String] { m.contains("ALL") ? all : m }
            desired.formUnion(expand(enable))
            desired.subtract(expand(disable))
            h.meta.shardLevelMetrics = all.filter(desired.contains)
            try h.saveMeta()
            return (current, h.meta.shardLevelMetrics)
        }
    }

    /// The resource policy attached to `arn` (the stream's, or one of its consumers').
    public func policy(stream: String, arn: String) throws(StreamError) -> String? {
        try withStream(stream) { $0.meta.policies[arn] }
    }

    /// Put (or with nil, delete) the policy of `arn`.
    public func setPolicy(stream: String, arn: String, policy: String?) throws(StreamError) {
        try withStream(stream) { h throws(StreamError) in
            h.meta.policies[arn] = policy
            try h.saveMeta()
        }
    }

    // MARK: - Metrics

    /// Records the stream holds on disk now (every shard, within retention or not yet trimmed).
    public func recordCount(name: String) throws(StreamError) -> Int {
        try withStream(name) { h in h.logs.values.reduce(0) { $0 + $1.recordCount } }
    }

    /// Counters since the store opened: records and bytes written, writes refused by throughput limits.
    public func writeCounters(name: String) throws(StreamError) -> (records: Int64, bytes: Int64, throttled: Int64) {
        try withStream(name) { h in (h.incomingRecords, h.incomingBytes, h.throttledWrites) }
    }
}

extension ShardFilter {
    var encoded: (UInt8, Int64) {
        switch self {
        case .afterShardId(let id): return (1, ShardID.parse(id).map(Int64.init) ?? -1)
        case .atTrimHorizon: return (2, 0)
        case .fromTrimHorizon: return (3, 0)
        case .atLatest: return (4, 0)
        case .atTimestamp(let t): return (5, t)
        case .fromTimestamp(let t): return (6, t)
        }
    }

    static func decode(code: UInt8, arg: Int64) -> ShardFilter? {
        switch code {
        case 1: return .afterShardId(ShardID.format(UInt32(clamping: arg)))
        case 2: return .atTrimHorizon
        case 3: return .fromTrimHorizon
        case 4: return .atLatest
        case 5: return .atTimestamp(arg)
        case 6: return .fromTimestamp(arg)
        default: return nil
        }
    }
}
