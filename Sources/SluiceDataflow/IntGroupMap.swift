/// Integer group keys to group numbers: open addressing with linear probing over a power-of-two
/// table kept at most half full, with a multiplicative hash. Swift's `Dictionary` hashes every
/// key with SipHash; group lookup is the inner loop of aggregation, and integer keys need less.
struct IntGroupMap {
    private var slots: [Int64]
    /// The group of each slot, or -1 for an empty slot.
    private var groups: [Int32]
    private var shift: UInt64
    private(set) var count = 0

    init(capacity: Int = 8) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
        groups = Array(repeating: -1, count: size)
        shift = UInt64(64 - size.trailingZeroBitCount)
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    private func home(_ key: Int64) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// The group of `key`, if it has one.
    @inline(__always)
    func find(_ key: Int64) -> Int? {
        let mask = groups.count - 1
        var i = home(key)
        return groups.withUnsafeBufferPointer { g in
            slots.withUnsafeBufferPointer { s in
                while true {
                    let v = g[i]
                    if v < 0 { return nil }
                    if s[i] == key { return Int(v) }
                    i = (i + 1) & mask
                }
            }
        }
    }

    /// The group of `key`; a key not seen before gets group `next` (and `inserted` is true).
    @inline(__always)
    mutating func findOrInsert(_ key: Int64, next n: Int) -> (group: Int, inserted: Bool) {
        if (count + 1) * 2 > groups.count { grow() }
        let mask = groups.count - 1
        var i = home(key)
        let found: Int? = groups.withUnsafeMutableBufferPointer { g in
            slots.withUnsafeMutableBufferPointer { s in
                while true {
                    let v = g[i]
                    if v < 0 {
                        g[i] = Int32(n)
                        s[i] = key
                        return nil
                    }
                    if s[i] == key { return Int(v) }
                    i = (i + 1) & mask
                }
            }
        }
        if let f = found { return (f, false) }
        count += 1
        return (n, true)
    }

    /// Records `key` as group `group` (restoring a snapshot; the key must be new).
    mutating func insert(_ key: Int64, group: Int) {
        if (count + 1) * 2 > groups.count { grow() }
        let mask = groups.count - 1
        var i = home(key)
        while groups[i] >= 0 { i = (i + 1) & mask }
        groups[i] = Int32(group)
        slots[i] = key
        count += 1
    }

    /// Every (key, group), in table order.
    func forEach(_ body: (Int64, Int) -> Void) {
        for i in groups.indices where groups[i] >= 0 { body(slots[i], Int(groups[i])) }
    }

    private mutating func grow() {
        let oldSlots = slots, oldGroups = groups
        let size = groups.count * 2
        slots = Array(repeating: 0, count: size)
        groups = Array(repeating: -1, count: size)
        shift = UInt64(64 - size.trailingZeroBitCount)
        count = 0
        for i in oldGroups.indices where oldGroups[i] >= 0 { insert(oldSlots[i], group: Int(oldGroups[i])) }
    }
}
