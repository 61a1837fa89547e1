public import SluiceCore

/// Rows of values packed for keeping (a join's held rows): each value a tag byte and 64 bits in
/// two flat buffers, a string's text aside. Keeping a row copies no `Value` (whose copies and
/// releases, value by value, were a join's largest cost after decoding) and allocates nothing
/// once the buffers have grown; an append checks room once, not per array.
public final class PackedRows {
    private var tags: UnsafeMutablePointer<UInt8>
    private var bits: UnsafeMutablePointer<Int64>
    private var strings: [String] = []
    /// Values held.
    public private(set) var count = 0
    private var capacity: Int

    static let null: UInt8 = 0, bool: UInt8 = 1, int: UInt8 = 2, double: UInt8 = 3, string: UInt8 = 4
    static let timestamp: UInt8 = 5, interval: UInt8 = 6
    /// A DECIMAL of scale s has tag `decimal + s`.
    static let decimal: UInt8 = 16

    public init(capacity: Int = 64) {
        self.capacity = max(capacity, 1)
        tags = .allocate(capacity: self.capacity)
        bits = .allocate(capacity: self.capacity)
    }

    deinit {
        tags.deallocate()
        bits.deallocate()
    }

    /// Makes room for `n` more values.
    @inline(__always) public func reserve(_ n: Int) {
        if count + n > capacity { grow(to: count + n) }
    }

    private func grow(to n: Int) {
        var c = capacity
        while c < n { c *= 2 }
        let t = UnsafeMutablePointer<UInt8>.allocate(capacity: c), b = UnsafeMutablePointer<Int64>.allocate(capacity: c)
        t.update(from: tags, count: count)
        b.update(from: bits, count: count)
        tags.deallocate()
        bits.deallocate()
        tags = t
        bits = b
        capacity = c
    }

    /// Appends `v`; room for it must have been made with `reserve`.
    @inline(__always) public func appendReserved(_ v: Value) {
        let tag: UInt8, b: Int64
        switch v {
        case .null: (tag, b) = (Self.null, 0)
        case .bool(let x): (tag, b) = (Self.bool, x ? 1 : 0)
        case .int(let i): (tag, b) = (Self.int, i)
        case .double(let d): (tag, b) = (Self.double, Int64(bitPattern: d.bitPattern))
        case .string(let s):
            (tag, b) = (Self.string, Int64(strings.count))
            strings.append(s)
        case .timestamp(let t): (tag, b) = (Self.timestamp, t)
        case .interval(let i): (tag, b) = (Self.interval, i)
        case .decimal(let d): (tag, b) = (Self.decimal + UInt8(d.scale), d.unscaled)
        }
        tags[count] = tag
        bits[count] = b
        count += 1
    }

    public func append(_ v: Value) {
        reserve(1)
        appendReserved(v)
    }

    /// Value `i` (in the order appended).
    @inline(__always) public func value(_ i: Int) -> Value {
        precondition(i >= 0 && i < count)
        let b = bits[i]
        switch tags[i] {
        case Self.null: return .null
        case Self.bool: return .bool(b != 0)
        case Self.int: return .int(b)
        case Self.double: return .double(Double(bitPattern: UInt64(bitPattern: b)))
        case Self.string: return .string(strings[Int(b)])
        case Self.timestamp: return .timestamp(b)
        case Self.interval: return .interval(b)
        case let t: return .decimal(Decimal64(unscaled: b, scale: Int(t - Self.decimal)))
        }
    }

    /// Values `range` as an array.
    public func values(_ range: Range<Int>) -> [Value] { range.map(value) }

    /// Empties it, keeping the room.
    public func removeAll() {
        count = 0
        strings.removeAll(keepingCapacity: true)
    }
}
