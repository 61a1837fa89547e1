/// The Kinesis Producer Library's aggregated record: several user records in one Kinesis record,
/// as the KCL and Firehose read them. The bytes are the magic `F3 89 9A C2`, a protobuf
/// `AggregatedRecord` and the MD5 of that protobuf:
///
///     message AggregatedRecord { repeated string partition_key_table = 1;
///                                repeated string explicit_hash_key_table = 2; repeated Record records = 3; }
///     message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
///                      required bytes data = 3; repeated Tag tags = 4; }
///
/// A record with the magic whose digest or protobuf does not check out is an ordinary record, as
/// the KCL treats it.
public enum KPLAggregate {
    public static let magic: [UInt8] = [0xF3, 0x89, 0x9A, 0xC2]

    public struct UserRecord: Sendable, Equatable {
        public var partitionKey: String
        public var explicitHashKey: String?
        public var data: [UInt8]

        public init(partitionKey: String, explicitHashKey: String? = nil, data: [UInt8]) {
            self.partitionKey = partitionKey
            self.explicitHashKey = explicitHashKey
            self.data = data
        }
    }

    /// Whether the bytes start with the magic (a cheap test before `deaggregate`).
    @inline(__always)
    public static func hasMagic(_ b: UnsafeRawBufferPointer) -> Bool {
        b.count >= 20 && b[0] == 0xF3 && b[1] == 0x89 && b[2] == 0x9A && b[3] == 0xC2
    }

    /// The user records of an aggregated record, in order; nil if the bytes are not one.
    public static func deaggregate(_ b: UnsafeRawBufferPointer) -> [UserRecord]? {
        guard hasMagic(b) else { return nil }
        let body = UnsafeRawBufferPointer(rebasing: b[4..<(b.count - 16)])
        guard Array(MD5.digest(body)) == Array(b[(b.count - 16)...]) else { return nil }
        var keys: [String] = [], hashKeys: [String] = []
        var raw: [(key: UInt64, hash: UInt64?, data: [UInt8])] = []
        var r = ProtoReader(body)
        while !r.atEnd {
            guard let (field, wire) = r.tag() else { return nil }
            switch (field, wire) {
            case (1, 2): guard let s = r.bytes() else { return nil }; keys.append(String(decoding: s, as: UTF8.self))
            case (2, 2): guard let s = r.bytes() else { return nil }; hashKeys.append(String(decoding: s, as: UTF8.self))
            case (3, 2):
                guard let m = r.bytes() else { return nil }
                var rr = ProtoReader(m)
                var key: UInt64? = nil, hash: UInt64? = nil, data: [UInt8]? = nil
                while !rr.atEnd {
                    guard let (f, w) = rr.tag() else { return nil }
                    switch (f, w) {
                    case (1, 0): key = rr.varint()
                    case (2, 0): hash = rr.varint()
                    case (3, 2): data = rr.bytes().map(Array.init)
                    default: guard rr.skip(w) else { return nil }
                    }
                }
                guard let k = key, let d = data else { return nil }
                raw.append((k, hash, d))
            default: guard r.skip(wire) else { return nil }
            }
        }
        var out: [UserRecord] = []
        out.reserveCapacity(raw.count)
        for u in raw {
            guard u.key < UInt64(keys.count) else { return nil }
            var ehk: String? = nil
            if let h = u.hash {
                guard h < UInt64(hashKeys.count) else { return nil }
                ehk = hashKeys[Int(h)]
            }
            out.append(UserRecord(partitionKey: keys[Int(u.key)], explicitHashKey: ehk, data: u.data))
        }
        return out
    }

    public static func deaggregate(_ bytes: [UInt8]) -> [UserRecord]? { bytes.withUnsafeBytes { deaggregate($0) } }

    /// Aggregates user records as the KPL does (tables of distinct keys, then the records).
    public static func aggregate(_ records: [UserRecord]) -> [UInt8] {
        var keys: [String] = [], keyIndex: [String: Int] = [:]
        var hashes: [String] = [], hashIndex: [String: Int] = [:]
        var body: [UInt8] = []
        var members: [[UInt8]] = []
        for u in records {
            let k = keyIndex[u.partitionKey] ?? { keys.append(u.partitionKey); keyIndex[u.partitionKey] = keys.count - 1; return keys.count - 1 }()
            var m: [UInt8] = []
            ProtoWriter.varintField(1, UInt64(k), &m)
            if let h = u.explicitHashKey {
                let i = hashIndex[h] ?? { hashes.append(h); hashIndex[h] = hashes.count - 1; return hashes.count - 1 }()
                ProtoWriter.varintField(2, UInt64(i), &m)
            }
            ProtoWriter.bytesField(3, u.data, &m)
            members.append(m)
        }
        for k in keys { ProtoWriter.bytesField(1, Array(k.utf8), &body) }
        for h in hashes { ProtoWriter.bytesField(2, Array(h.utf8), &body) }
        for m in members { ProtoWriter.bytesField(3, m, &body) }
        return magic + body + MD5.digest(body)
    }
}

/// Reads protobuf wire format: tags, varints, length-delimited fields; nil on truncation.
struct ProtoReader {
    let b: UnsafeRawBufferPointer
    var at = 0

    init(_ b: UnsafeRawBufferPointer) { self.b = b }

    var atEnd: Bool { at >= b.count }

    mutating func varint() -> UInt64? {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while at < b.count, shift < 64 {
            let byte = b[at]
            at += 1
            v |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return v }
            shift += 7
        }
        return nil
    }

    mutating func tag() -> (Int, Int)? {
        guard let t = varint(), t >> 3 > 0, t >> 3 < 1 << 29 else { return nil }
        return (Int(t >> 3), Int(t & 7))
    }

    mutating func bytes() -> UnsafeRawBufferPointer? {
        guard let n = varint(), n <= UInt64(b.count - at) else { return nil }
        let s = UnsafeRawBufferPointer(rebasing: b[at..<(at + Int(n))])
        at += Int(n)
        return s
    }

    /// Skips a field of another number: varint, 64-bit, length-delimited or 32-bit.
    mutating func skip(_ wire: Int) -> Bool {
        switch wire {
        case 0: return varint() != nil
        case 1: guard b.count - at >= 8 else { return false }; at += 8; return true
        case 2: return bytes() != nil
        case 5: guard b.count - at >= 4 else { return false }; at += 4; return true
        default: return false
        }
    }
}

enum ProtoWriter {
    static func varint(_ v: UInt64, _ out: inout [UInt8]) {
        var x = v
        while x >= 0x80 {
            out.append(UInt8(x & 0x7f) | 0x80)
            x >>= 7
        }
        out.append(UInt8(x))
    }

    static func varintField(_ field: Int, _ v: UInt64, _ out: inout [UInt8]) {
        varint(UInt64(field << 3), &out)
        varint(v, &out)
    }

    static func bytesField(_ field: Int, _ v: [UInt8], _ out: inout [UInt8]) {
        varint(UInt64(field << 3 | 2), &out)
        varint(UInt64(v.count), &out)
        out += v
    }
}
