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

/// A table from row keys to values for operators that look a key up per row (joins, sessions):
/// open addressing with linear probing, a power-of-two size at most half full, each slot holding
/// its key, the key's hash and the value side by side (a probe touches one slot, not several
/// arrays). Removing a key shifts the rest of its run back, so no tombstones build up as keys come
/// and go. The slots live in a buffer, so reading and changing a value in place takes no
/// reference counting or exclusivity checks. It replaces `Dictionary`s whose SipHash and probing
/// were a third of a self-join's time.
final class KeyTable<V> {
    struct Slot {
        var key: RowKey?
        var hash: UInt64
        var value: V
    }

    let seed: UInt64
    /// What an empty slot holds.
    let empty: V
    private(set) var capacity: Int
    private(set) var count = 0
    private var mask: Int
    private var slots: UnsafeMutablePointer<Slot>
    /// Where a slot's value lies in it.
    private let valueOffset = MemoryLayout<Slot>.offset(of: \Slot.value)!

    init(seed: UInt64 = .random(in: .min ... .max), empty: V, capacity: Int = 16) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0)
        self.seed = seed
        self.empty = empty
        self.capacity = capacity
        mask = capacity - 1
        slots = Self.emptySlots(capacity, empty)
    }

    private static func emptySlots(_ n: Int, _ empty: V) -> UnsafeMutablePointer<Slot> {
        let s = UnsafeMutablePointer<Slot>.allocate(capacity: n)
        s.initialize(repeating: Slot(key: nil, hash: 0, value: empty), count: n)
        return s
    }

    deinit {
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    /// Slot `i`'s value, to be read or changed in place (valid until the table next grows or
    /// removes a key).
    @inline(__always) func value(_ i: Int) -> UnsafeMutablePointer<V> {
        (UnsafeMutableRawPointer(slots + i) + valueOffset).assumingMemoryBound(to: V.self)
    }

    /// Slot `i`'s key (the slot must hold one).
    func key(_ i: Int) -> RowKey { slots[i].key! }

    /// The slot holding `k`, if any.
    func find(_ k: RowKey) -> Int? {
        let h = k.hash(seed: seed)
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i].key != nil {
            if slots[i].hash == h && slots[i].key == k { return i }
            i = (i + 1) & mask
        }
        return nil
    }

    /// The slot holding `k`, made (holding `empty`) if there was none.
    func slot(for k: RowKey) -> Int {
        let h = k.hash(seed: seed)
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i].key != nil {
            if slots[i].hash == h && slots[i].key == k { return i }
            i = (i + 1) & mask
        }
        if 2 * (count + 1) > capacity {
            grow()
            i = Int(truncatingIfNeeded: h) & mask
            while slots[i].key != nil { i = (i + 1) & mask }
        }
        slots[i].key = k
        slots[i].hash = h
        count += 1
        return i
    }

    private func grow() {
        let old = slots, n = capacity
        capacity *= 2
        mask = capacity - 1
        slots = Self.emptySlots(capacity, empty)
        for i in 0..<n where old[i].key != nil {
            var j = Int(truncatingIfNeeded: old[i].hash) & mask
            while slots[j].key != nil { j = (j + 1) & mask }
            swap(&slots[j], &old[i])
        }
        old.deinitialize(count: n)
        old.deallocate()
    }

    /// Empties slot `i`; the slots after it in its run move back where their probe allows.
    func remove(at slot: Int) {
        var i = slot
        slots[i] = Slot(key: nil, hash: 0, value: empty)
        count -= 1
        var j = i
        while true {
            j = (j + 1) & mask
            guard slots[j].key != nil else { return }
            let home = Int(truncatingIfNeeded: slots[j].hash) & mask
            // Slot j's key stays if its home lies cyclically in (i, j].
            let stays = i <= j ? (i < home && home <= j) : (i < home || home <= j)
            if stays { continue }
            swap(&slots[i], &slots[j])
            i = j
        }
    }

    /// Removes every key for which `drop` says so (it may change the value first).
    func removeAll(where drop: (RowKey, inout V) -> Bool) {
        var gone: [RowKey] = []
        for i in 0..<capacity where slots[i].key != nil {
            if drop(slots[i].key!, &value(i).pointee) { gone.append(slots[i].key!) }
        }
        for k in gone { if let i = find(k) { remove(at: i) } }
    }

    /// Empties the table.
    func removeAll() {
        slots.deinitialize(count: capacity)
        slots.deallocate()
        capacity = 16
        mask = capacity - 1
        count = 0
        slots = Self.emptySlots(capacity, empty)
    }

    /// The slots holding keys, in table order.
    var occupied: [Int] { (0..<capacity).filter { slots[$0].key != nil } }
    /// Every (key, value) held, in table order.
    var all: [(RowKey, V)] { occupied.map { (slots[$0].key!, slots[$0].value) } }
}
