public import SluiceCore

/// A key of rows (a join's or a session's): one or two integers without an array (the common
/// cases), else the values. Build keys with the initializers, which normalize them: a key of one
/// or two integers is never `.values`, so keys made elsewhere would not meet theirs.
public enum RowKey: Hashable, Sendable {
    case one(Int64)
    case two(Int64, Int64)
    case values([Value])

    public init(_ v: [Value]) {
        if v.count == 1, case .int(let a) = v[0] { self = .one(a); return }
        if v.count == 2, case .int(let a) = v[0], case .int(let b) = v[1] { self = .two(a, b); return }
        self = .values(v)
    }

    /// Row `r` of evaluated key columns, with no array in between for one or two integers.
    public init(_ columns: [[Value]], row r: Int) {
        if columns.count == 1, case .int(let a) = columns[0][r] { self = .one(a); return }
        if columns.count == 2, case .int(let a) = columns[0][r], case .int(let b) = columns[1][r] { self = .two(a, b); return }
        self = .values(columns.map { $0[r] })
    }

    /// Every row's key where the key is one or two BIGINT columns of `batch` without NULLs, read
    /// straight from them (no values built); nil for any other key, which is evaluated.
    public static func direct(_ exprs: [PhysicalExpr], _ batch: Batch) -> [RowKey]? {
        func ints(_ e: PhysicalExpr) -> ContiguousArray<Int64>? {
            guard case .column(let c) = e, c < batch.columns.count else { return nil }
            let column = batch.columns[c]
            guard column.type == .bigint, column.valid == nil, case .int(let a) = column.storage else { return nil }
            return a
        }
        switch exprs.count {
        case 1:
            guard let a = ints(exprs[0]) else { return nil }
            return (0..<batch.count).map { .one(a[$0]) }
        case 2:
            guard let a = ints(exprs[0]), let b = ints(exprs[1]) else { return nil }
            return (0..<batch.count).map { .two(a[$0], b[$0]) }
        default:
            return nil
        }
    }

    /// A NULL in the key (a join's NULL key meets nothing).
    var hasNull: Bool { if case .values(let v) = self { return v.contains(.null) }; return false }

    var values: [Value] {
        switch self {
        case .one(let a): return [.int(a)]
        case .two(let a, let b): return [.int(a), .int(b)]
        case .values(let v): return v
        }
    }

    /// The key's hash in a `KeyTable`: integer keys through MurmurHash3's finalizer (with the
    /// table's random seed, so crafted keys cannot pile onto one run), others through `Hasher`.
    func hash(seed: UInt64) -> UInt64 {
        switch self {
        case .one(let a): return murmurFinalize(UInt64(bitPattern: a) ^ seed)
        case .two(let a, let b): return murmurFinalize(murmurFinalize(UInt64(bitPattern: a) ^ seed) &+ UInt64(bitPattern: b))
        case .values(let v):
            var h = Hasher()
            h.combine(seed)
            h.combine(v)
            return UInt64(bitPattern: Int64(h.finalize()))
        }
    }
}

/// A table from row keys to values for operators that look a key up per row (joins, sessions).
/// The entries (key, hash, value) lie side by side in the order they came, and a separate index
/// finds them: open addressing with linear probing over a power-of-two number of slots at most
/// half full, each slot a byte (0 when empty, else 0x80 and 7 bits of its key's hash) and the
/// number of its entry. A probe reads the bytes and looks at an entry only when a byte matches,
/// so a lookup of a key that is not there mostly touches no entry at all; a new key writes a byte
/// and a number into the index and appends its entry. The index of 32,768 slots takes 160 KB and
/// stays in the cache where a table of whole slots (1.3 MB) did not: a self-join spent most of its
/// time waiting for slots it probed or filled. Removing a key shifts the rest of its run back, so
/// no tombstones build up as keys come and go, and moves the last entry into its place. The
/// entries live in a buffer, so reading and changing a value in place takes no reference counting
/// or exclusivity checks. It replaces `Dictionary`s whose SipHash and probing were a third of a
/// self-join's time.
///
/// An entry is named by its number (`find`, `slot(for:)`), valid until the next insertion or
/// removal.
final class KeyTable<V> {
    struct Entry {
        var key: RowKey
        var hash: UInt64
        var value: V
    }

    let seed: UInt64
    /// What a new key's value starts as.
    let empty: V
    /// Slots of the index.
    private(set) var capacity: Int
    private(set) var count = 0
    /// Keys held that are not one or two integers (which need deinitializing).
    private var boxedKeys = 0
    private var mask: Int
    /// A byte per slot: 0 when empty, else 0x80 and the top 7 bits of its key's hash.
    private var tags: UnsafeMutablePointer<UInt8>
    /// The entry of each slot whose byte is not 0.
    private var slots: UnsafeMutablePointer<Int32>
    /// Room for `capacity / 2` entries (the most the index takes), of which 0..<count are initialized.
    private var entries: UnsafeMutablePointer<Entry>
    /// Where an entry's value lies in it.
    private let valueOffset = MemoryLayout<Entry>.offset(of: \Entry.value)!

    init(seed: UInt64 = .random(in: .min ... .max), empty: V, capacity: Int = 16) {
        precondition(capacity > 1 && capacity & (capacity - 1) == 0 && capacity <= 1 << 30)
        self.seed = seed
        self.empty = empty
        self.capacity = capacity
        mask = capacity - 1
        tags = Self.emptyTags(capacity)
        slots = .allocate(capacity: capacity)
        entries = .allocate(capacity: capacity / 2)
    }

    private static func emptyTags(_ n: Int) -> UnsafeMutablePointer<UInt8> {
        let t = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
        t.initialize(repeating: 0, count: n)
        return t
    }

    @inline(__always) static func tag(_ h: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: h >> 57) | 0x80 }

    /// The hash the table files `k` under (for `find(_:hash:)` and `slot(for:hash:)`, when one key
    /// is looked up in several tables of the same seed).
    @inline(__always) func hash(_ k: RowKey) -> UInt64 { k.hash(seed: seed) }

    deinit {
        entries.deinitialize(count: count)
        entries.deallocate()
        tags.deallocate()
        slots.deallocate()
    }

    /// Entry `i`'s value, to be read or changed in place (valid until the next insertion or removal).
    @inline(__always) func value(_ i: Int) -> UnsafeMutablePointer<V> {
        (UnsafeMutableRawPointer(entries + i) + valueOffset).assumingMemoryBound(to: V.self)
    }

    /// Entry `i`'s key.
    func key(_ i: Int) -> RowKey { entries[i].key }

    /// The entry holding `k`, if any.
    @inline(__always) func find(_ k: RowKey) -> Int? { find(k, hash: hash(k)) }

    /// The entry holding `k`, whose hash (`hash(k)`) is `h`, if any.
    @inline(__always) func find(_ k: RowKey, hash h: UInt64) -> Int? {
        let tag = Self.tag(h)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let t = tags[i]
            if t == 0 { return nil }
            if t == tag {
                let e = Int(slots[i])
                if entries[e].hash == h && entries[e].key == k { return e }
            }
            i = (i + 1) & mask
        }
    }

    /// The entry holding `k`, made (holding `empty`) if there was none.
    func slot(for k: RowKey) -> Int { slot(for: k, hash: hash(k)).slot }

    /// The entry holding `k`, whose hash is `h`, made (holding `empty`) if there was none; `made`
    /// says which (a caller that knows the new value need not read it).
    @inline(__always) func slot(for k: RowKey, hash h: UInt64) -> (slot: Int, made: Bool) {
        let tag = Self.tag(h)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let t = tags[i]
            if t == 0 { break }
            if t == tag {
                let e = Int(slots[i])
                if entries[e].hash == h && entries[e].key == k { return (e, false) }
            }
            i = (i + 1) & mask
        }
        if 2 * (count + 1) > capacity {
            grow()
            i = Int(truncatingIfNeeded: h) & mask
            while tags[i] != 0 { i = (i + 1) & mask }
        }
        let e = count
        (entries + e).initialize(to: Entry(key: k, hash: h, value: empty))
        tags[i] = tag
        slots[i] = Int32(e)
        count += 1
        if case .values = k { boxedKeys += 1 }
        return (e, true)
    }

    /// Doubles the index (and the room for entries), filing the entries again by their hashes.
    private func grow() {
        tags.deallocate()
        slots.deallocate()
        capacity *= 2
        mask = capacity - 1
        tags = Self.emptyTags(capacity)
        slots = .allocate(capacity: capacity)
        for e in 0..<count {
            let h = entries[e].hash
            var i = Int(truncatingIfNeeded: h) & mask
            while tags[i] != 0 { i = (i + 1) & mask }
            tags[i] = Self.tag(h)
            slots[i] = Int32(e)
        }
        let more = UnsafeMutablePointer<Entry>.allocate(capacity: capacity / 2)
        more.moveInitialize(from: entries, count: count)
        entries.deallocate()
        entries = more
    }

    /// The index slot of entry `e`.
    private func indexSlot(of e: Int) -> Int {
        var i = Int(truncatingIfNeeded: entries[e].hash) & mask
        while slots[i] != Int32(e) || tags[i] == 0 { i = (i + 1) & mask }
        return i
    }

    /// Removes entry `e`: the index slots after its slot in their run move back where their probe
    /// allows, and the last entry moves into its place.
    func remove(at e: Int) {
        var i = indexSlot(of: e)
        tags[i] = 0
        var j = i
        while true {
            j = (j + 1) & mask
            guard tags[j] != 0 else { break }
            let home = Int(truncatingIfNeeded: entries[Int(slots[j])].hash) & mask
            // Slot j's key stays if its home lies cyclically in (i, j].
            let stays = i <= j ? (i < home && home <= j) : (i < home || home <= j)
            if stays { continue }
            tags[i] = tags[j]
            slots[i] = slots[j]
            tags[j] = 0
            i = j
        }
        if case .values = entries[e].key { boxedKeys -= 1 }
        (entries + e).deinitialize(count: 1)
        let last = count - 1
        if e != last {
            slots[indexSlot(of: last)] = Int32(e)
            (entries + e).moveInitialize(from: entries + last, count: 1)
        }
        count -= 1
    }

    /// Removes every key for which `drop` says so (it may change the value first).
    func removeAll(where drop: (RowKey, inout V) -> Bool) {
        var gone: [RowKey] = []
        for e in 0..<count where drop(entries[e].key, &value(e).pointee) { gone.append(entries[e].key) }
        for k in gone { if let e = find(k) { remove(at: e) } }
    }

    /// Empties the table and keeps its size (for a table about to take as many keys again).
    func clear() {
        // Keys of one or two integers and plain values need no deinitializing: then the entries
        // go unread.
        if boxedKeys > 0 || !_isPOD(V.self) { entries.deinitialize(count: count) }
        tags.update(repeating: 0, count: capacity)
        count = 0
        boxedKeys = 0
    }

    /// Empties the table.
    func removeAll() {
        entries.deinitialize(count: count)
        entries.deallocate()
        tags.deallocate()
        slots.deallocate()
        capacity = 16
        mask = capacity - 1
        count = 0
        boxedKeys = 0
        tags = Self.emptyTags(capacity)
        slots = .allocate(capacity: capacity)
        entries = .allocate(capacity: capacity / 2)
    }

    /// The entries, in the order they came (as moved by removals).
    var occupied: Range<Int> { 0..<count }
    /// Every (key, value) held.
    var all: [(RowKey, V)] { (0..<count).map { (entries[$0].key, entries[$0].value) } }
}
