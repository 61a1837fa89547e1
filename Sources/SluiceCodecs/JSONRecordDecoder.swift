public import SluiceCore
import Glibc
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// Why a record could not be decoded (it goes to the error stream with its raw bytes).
public struct DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    /// The field being read when it went wrong, if any.
    public var field: String?
    public init(_ message: String, field: String? = nil) {
        self.message = message
        self.field = field
    }
    public var description: String { field.map { "field '\($0)': \(message)" } ?? message }
}

/// A field to read from each record: a name, where it is (`$.page.url` is ["page", "url"]) and its type.
public struct FieldSpec: Sendable, Equatable {
    public var name: String
    public var path: [String]
    public var type: ColumnType
    public init(name: String, path: [String]? = nil, type: ColumnType) {
        self.name = name
        self.path = path ?? [name]
        self.type = type
    }

    /// Parses a JSON path of the form `$.a.b` (or `a.b`) into its keys.
    public static func parsePath(_ text: String) -> [String]? {
        var t = Substring(text)
        if t.hasPrefix("$.") { t = t.dropFirst(2) } else if t.hasPrefix("$") { return nil }
        let keys = t.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        return keys.isEmpty || keys.contains(where: \.isEmpty) ? nil : keys
    }
}

/// Decodes JSON records straight into typed columns, reading only the fields asked for and
/// skipping everything else without building it. One decoder per stream; not thread-safe.
///
/// Rules: a missing field or `null` is NULL. BIGINT takes whole numbers (and strings holding one);
/// DOUBLE numbers (and numeric strings); BOOLEAN `true`/`false`; VARCHAR strings, and the JSON text
/// of numbers, booleans, objects and arrays as written; TIMESTAMP epoch milliseconds or an ISO-8601 string. If a key appears twice,
/// the first occurrence counts. Anything else makes the record bad, with a reason.
public struct JSONRecordDecoder {
    public let fields: [FieldSpec]
    /// The path trie, flattened: node n's keys are `entries[nodeStart[n]..<nodeStart[n + 1]]`.
    private let entries: [KeyEntry]
    private let nodeStart: [Int]
    private let keyBytes: [UInt8]
    private var scratch: [UInt8] = []
    /// Which fields the current record has given a value (bit i: field i); fields past 64 in `seenWide`.
    private var seenBits: UInt64 = 0
    private var seenWide: [Bool]
    /// Each field's type, read per value without copying its `FieldSpec` (and its strings).
    private let types: [ColumnType]
    /// Per field, the later fields at the same path (each reads the value again, by its own
    /// type); records of a stream with any are read the general way, without a template.
    private let aliases: [[Int]]
    private let hasAliases: Bool
    /// The keys met at each position of each trie node's object in earlier records: records of a
    /// stream mostly repeat one key order, so the key at position p is first compared with the one
    /// seen there last time, whole words at a time, and a hit needs no scan and no lookup.
    /// Slot `node * KeyGuess.positions + p`.
    private var guesses: [KeyGuess]
    /// The layout of the records, once one was read whose layout the next ones can repeat byte
    /// for byte (no spaces, every key guessed, no key twice, no empty object, nested objects
    /// included): a step per key in document order, with how its value is read and the closing
    /// brackets and comma that follow it. A record that repeats it is read by `byTemplate`,
    /// straight through; any other goes the general way, and may teach a new one.
    private(set) var steps: [Step] = []
    /// Fields the template's records do not hold: NULL in each.
    private var templateMissing: [Int] = []
    /// The template is one object (no `.enter` step): step p is the key at position p.
    private var templateFlat = false
    /// The steps of the record the general way is reading, while its layout could be a template.
    private var trace: [Step] = []
    private var tracing = false

    struct Step {
        enum Kind: UInt8 {
            /// A whole number for a BIGINT or TIMESTAMP field, read by `fastInteger`.
            case int
            /// Any other value of a field, read by `value`.
            case value
            case skipString, skipInteger, skipValue
            /// An object whose keys some fields read: the steps after this one are its keys.
            case enter
        }
        /// The key's guess (`node * KeyGuess.positions + position`).
        var slot: Int32
        var kind: Kind
        /// How deep the key's object is (a skipped value's nesting counts from there).
        var depth: UInt8
        var field: Int32
        /// The bytes after the value up to the next key or the end of the record (',', '}' and
        /// '},' and so on), first byte lowest, and how many.
        var after: UInt64 = 0
        var afterCount: UInt8 = 0
    }

    /// One key of a trie node: its bytes in `keyBytes`, and a field index (>= 0) or a child node
    /// (`-1 - node`).
    struct KeyEntry {
        var offset: Int
        var length: Int
        var target: Int
    }

    /// A key written as it was at this position before: its raw text from the opening quote to
    /// the colon, up to 32 bytes, as little-endian words (`last` masks the final one), and what it
    /// leads to.
    struct KeyGuess {
        static let positions = 32
        /// A key that no field reads: its value is skipped.
        static let skip = Int.min
        /// No guess yet (or the key was too long to keep).
        static let none = Int.max
        var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0
        var last: UInt64 = 0
        /// Bytes with the quotes, and the number of words they take.
        var length = 0
        var words = 0
        /// A field (>= 0), a child node (`-1 - node`), `skip` or `none`.
        var target = KeyGuess.none

        /// Whether the bytes at `p` (at least `words * 8` of them) begin with this key as written.
        @inline(__always)
        func matches(_ p: UnsafeRawPointer) -> Bool {
            switch words {
            case 1: return p.loadUnaligned(as: UInt64.self) & last == w0
            case 2: return p.loadUnaligned(as: UInt64.self) == w0 && p.loadUnaligned(fromByteOffset: 8, as: UInt64.self) & last == w1
            case 3: return p.loadUnaligned(as: UInt64.self) == w0 && p.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == w1
                && p.loadUnaligned(fromByteOffset: 16, as: UInt64.self) & last == w2
            default: return p.loadUnaligned(as: UInt64.self) == w0 && p.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == w1
                && p.loadUnaligned(fromByteOffset: 16, as: UInt64.self) == w2 && p.loadUnaligned(fromByteOffset: 24, as: UInt64.self) & last == w3
            }
        }
    }

    public init(fields: [FieldSpec]) {
        self.fields = fields
        seenWide = Array(repeating: false, count: max(0, fields.count - 64))
        types = fields.map(\.type)
        aliases = fields.indices.map { f in fields.indices.filter { $0 > f && fields[$0].path == fields[f].path && !fields[..<f].contains { $0.path == fields[f].path } } }
        hasAliases = aliases.contains { !$0.isEmpty }
        // Build a nested trie, then flatten it breadth first.
        final class Builder {
            var keys: [[UInt8]] = []
            var fields: [Int?] = []
            var children: [Builder?] = []
        }
        let root = Builder()
        for (fi, f) in fields.enumerated() {
            var node = root
            for (depth, key) in f.path.enumerated() {
                let k = Array(key.utf8)
                let last = depth == f.path.count - 1
                var i = node.keys.firstIndex(of: k)
                if i == nil {
                    node.keys.append(k)
                    node.fields.append(nil)
                    node.children.append(nil)
                    i = node.keys.count - 1
                }
                if last {
                    if node.fields[i!] == nil && node.children[i!] == nil { node.fields[i!] = fi }  // the first field at a path wins
                } else {
                    if node.fields[i!] != nil { break }  // a field already reads this key as a value
                    if node.children[i!] == nil { node.children[i!] = Builder() }
                    node = node.children[i!]!
                }
            }
        }
        var order = [root]
        var k = 0
        while k < order.count {
            for c in order[k].children { if let c { order.append(c) } }
            k += 1
        }
        var entries: [KeyEntry] = [], starts: [Int] = [], bytes: [UInt8] = []
        var childIndex = 1
        for node in order {
            starts.append(entries.count)
            for (i, key) in node.keys.enumerated() {
                let target: Int
                if let f = node.fields[i] {
                    target = f
                } else if node.children[i] != nil {
                    target = -1 - childIndex
                    childIndex += 1
                } else {
                    continue
                }
                entries.append(KeyEntry(offset: bytes.count, length: key.count, target: target))
                bytes.append(contentsOf: key)
            }
        }
        starts.append(entries.count)
        self.entries = entries
        nodeStart = starts
        keyBytes = bytes
        guesses = Array(repeating: KeyGuess(), count: order.count * KeyGuess.positions)
    }

    /// Whether the key at the cursor is written exactly as guess `g` was: on a hit, the cursor
    /// moves past its colon.
    @inline(__always)
    private func matchGuess(_ r: inout Reader, _ g: Int) -> Int? {
        return guesses.withUnsafeBufferPointer { gs -> Int? in
            let k = gs[g]
            guard k.target != KeyGuess.none, r.i + k.words * 8 <= r.b.count else { return nil }
            guard k.matches(r.b.baseAddress! + r.i) else { return nil }
            r.i += k.length
            return k.target
        }
    }

    /// Remembers the key written at `start..<end` (from its opening quote to its colon) as guess `g`.
    private mutating func learnGuess(_ g: Int, _ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, target: Int) {
        let length = end - start
        var k = KeyGuess()
        guard length <= 32 else { guesses[g] = k; return }
        var w: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &w) { out in
            for j in 0..<length { out[j] = b[start + j] }
        }
        k.words = (length + 7) / 8
        let tail = length - (k.words - 1) * 8
        k.last = tail == 8 ? ~0 : (1 << UInt64(tail * 8)) - 1
        (k.w0, k.w1, k.w2, k.w3) = (UInt64(littleEndian: w.0), UInt64(littleEndian: w.1), UInt64(littleEndian: w.2), UInt64(littleEndian: w.3))
        k.length = length
        k.target = target
        guesses[g] = k
    }

    /// A key of trie node `node` written at the cursor (which is on its opening quote) exactly,
    /// closing quote included: its target and length.
    @inline(__always)
    private func knownKey(_ r: Reader, _ node: Int) -> (Int, Int)? {
        let lo = nodeStart[node], hi = nodeStart[node + 1]
        let start = r.i + 1
        return entries.withUnsafeBufferPointer { e in
            keyBytes.withUnsafeBytes { kb in
                for j in lo..<hi {
                    let len = e[j].length
                    let close = start + len
                    guard close < r.b.count, r.b[close] == UInt8(ascii: "\"") else { continue }
                    // Keys are short: compare inline rather than call memcmp.
                    let off = e[j].offset
                    var k = 0
                    while k < len && kb[off + k] == r.b[start + k] { k += 1 }
                    if k == len { return (e[j].target, len) }
                }
                return nil
            }
        }
    }

    /// The target of `key` in trie node `node`, if it has one.
    @inline(__always)
    private func find(_ node: Int, _ key: UnsafeRawBufferPointer) -> Int? {
        let lo = nodeStart[node], hi = nodeStart[node + 1]
        return entries.withUnsafeBufferPointer { e in
            keyBytes.withUnsafeBytes { kb in
                for j in lo..<hi where e[j].length == key.count {
                    if key.count == 0 || memcmp(kb.baseAddress! + e[j].offset, key.baseAddress!, key.count) == 0 { return e[j].target }
                }
                return nil
            }
        }
    }

    /// Decodes one record, appending one value to each builder (`builders[i]` is `fields[i]`'s).
    /// On error nothing is appended and the reason is returned.
    @inline(__always)
    private func isSeen(_ i: Int) -> Bool { i < 64 ? seenBits & (1 << UInt64(i)) != 0 : seenWide[i - 64] }

    @inline(__always)
    private mutating func markSeen(_ i: Int) {
        if i < 64 { seenBits |= 1 << UInt64(i) } else { seenWide[i - 64] = true }
    }

    public mutating func decode(_ record: UnsafeRawBufferPointer, into builders: inout [ColumnBuilder]) -> DecodeError? {
        builders.withUnsafeMutableBufferPointer { decode(record, into: $0) }
    }

    /// `decode(_:into:)` with the builders held by the caller (one access to them for many records).
    public mutating func decode(_ record: UnsafeRawBufferPointer, into builders: UnsafeMutableBufferPointer<ColumnBuilder>) -> DecodeError? {
        if let why = UTF8Check.problem(record) { return DecodeError(why) }
        seenBits = 0
        for i in seenWide.indices { seenWide[i] = false }
        if !steps.isEmpty {
            if byTemplate(record, builders) { return nil }
            steps = []  // this record is laid out otherwise: the general way may learn its layout
        }
        tracing = !hasAliases && record.count > 0 && record[0] == UInt8(ascii: "{")
        trace.removeAll(keepingCapacity: true)
        var r = Reader(b: record)
        r.skipSpace()
        guard r.i < r.b.count, r.b[r.i] == UInt8(ascii: "{") else {
            return DecodeError(r.i >= r.b.count ? "empty record" : "the record is not a JSON object")
        }
        if !object(&r, 0, builders, depth: 0) {
            rollback(builders)
            return r.error ?? DecodeError("unreadable record")
        }
        if r.i != r.b.count { tracing = false }
        r.skipSpace()
        if r.i != r.b.count {
            rollback(builders)
            return DecodeError("unexpected text after the JSON object at byte \(r.i)")
        }
        if tracing && !trace.isEmpty {
            steps = trace
            templateMissing = fields.indices.filter { !isSeen($0) }
            templateFlat = trace.allSatisfy { $0.kind != .enter && $0.depth == 0 }
        }
        for i in fields.indices where !isSeen(i) { builders[i].appendNull() }
        return nil
    }

    /// Reads a record laid out exactly as the template says; false, with nothing appended, if it
    /// is not (the general way then reads it, and reports what is wrong with it, if anything).
    private mutating func byTemplate(_ b: UnsafeRawBufferPointer, _ builders: UnsafeMutableBufferPointer<ColumnBuilder>) -> Bool {
        let n = b.count
        guard n >= 2, let base = b.baseAddress, base.load(as: UInt8.self) == UInt8(ascii: "{") else { return false }
        var r = Reader(b: b, i: 1)
        let keys = guesses, plan = steps, flat = templateFlat
        let ok = keys.withUnsafeBufferPointer { gs in
            plan.withUnsafeBufferPointer { st -> Bool in
                /// The value after a key, as the step says (not `.enter`).
                @inline(__always)
                func read(_ kind: Step.Kind, _ field: Int, depth: UInt8) -> Bool {
                    switch kind {
                    case .int:
                        guard let v = r.fastInteger() else { return false }
                        // (A timestamp out of range is reported by the general way.)
                        if v > Millis.maxTimestamp || v < -Millis.maxTimestamp, types[field] == .timestamp { return false }
                        builders[field].append(int: v)
                        markSeen(field)
                    case .value:
                        guard value(&r, field: field, &builders[field]) else { return false }
                        markSeen(field)
                    case .skipString:
                        guard r.i < n, base.load(fromByteOffset: r.i, as: UInt8.self) == UInt8(ascii: "\""), r.skipString() else { return false }
                    case .skipInteger:
                        guard r.skipInteger() else { return false }
                    case .skipValue:
                        guard r.skipValue(depth: Int(depth)) else { return false }
                    case .enter:
                        return false
                    }
                    return true
                }
                let last = st.count - 1
                if flat {
                    // One object: the key at position p has guess p, and a comma or the closing
                    // brace follows each value.
                    for p in 0...last {
                        let k = gs[p]
                        guard r.i + k.words * 8 <= n, k.matches(base + r.i) else { return false }
                        r.i += k.length
                        let s = st[p]
                        guard read(s.kind, Int(s.field), depth: 0) else { return false }
                        guard r.i < n, base.load(fromByteOffset: r.i, as: UInt8.self) == (p == last ? UInt8(ascii: "}") : UInt8(ascii: ",")) else { return false }
                        r.i += 1
                    }
                    return r.i == n
                }
                for s in st {
                    // The key and its colon, as at this position before.
                    let k = gs[Int(s.slot)]
                    guard r.i + k.words * 8 <= n, k.matches(base + r.i) else { return false }
                    r.i += k.length
                    if s.kind == .enter {
                        guard r.i < n, base.load(fromByteOffset: r.i, as: UInt8.self) == UInt8(ascii: "{") else { return false }
                        r.i += 1
                        continue  // the next step is the object's first key
                    }
                    guard read(s.kind, Int(s.field), depth: s.depth) else { return false }
                    // Then straight on to the next key, or the end of the record: a comma or a
                    // brace, then the braces closing nested objects.
                    guard r.i + Int(s.afterCount) <= n else { return false }
                    var after = s.after
                    for _ in 0..<s.afterCount {
                        guard base.load(fromByteOffset: r.i, as: UInt8.self) == UInt8(truncatingIfNeeded: after) else { return false }
                        r.i += 1
                        after >>= 8
                    }
                }
                return r.i == n
            }
        }
        guard ok else {
            rollback(builders)
            seenBits = 0
            for i in seenWide.indices { seenWide[i] = false }
            return false
        }
        for f in templateMissing { builders[f].appendNull() }
        return true
    }

    private func rollback(_ builders: UnsafeMutableBufferPointer<ColumnBuilder>) {
        for i in fields.indices where isSeen(i) { builders[i].removeLast() }
    }

    /// Reads an object whose keys are looked up in trie node `node`.
    private mutating func object(_ r: inout Reader, _ node: Int, _ builders: UnsafeMutableBufferPointer<ColumnBuilder>, depth: Int) -> Bool {
        guard depth < 64 else { return r.fail("JSON nested more than 64 levels deep") }
        r.i += 1  // {
        r.skipSpace()
        if r.peek == UInt8(ascii: "}") {
            tracing = false  // an empty object: no key to hang the closing bracket on
            r.i += 1
            return true
        }
        var position = 0
        while true {
            if tracing && r.peek != UInt8(ascii: "\"") { tracing = false }  // a space before the key
            r.skipSpace()
            if r.peek == nil { return r.fail("unexpected end of the record") }
            guard r.peek == UInt8(ascii: "\"") else { return r.fail("expected a key at byte \(r.i)") }
            let g = position < KeyGuess.positions ? node * KeyGuess.positions + position : -1
            position += 1
            var target: Int
            if g >= 0, let t = matchGuess(&r, g) {
                // The key and its colon, exactly as at this position last time.
                target = t
            } else {
                let keyStart = r.i
                if let (t, length) = knownKey(r, node) {
                    // A key we read, written plainly: no scan and no lookup.
                    target = t
                    r.i += length + 2
                } else {
                    guard let key = r.rawString() else { return r.fail("unterminated key at byte \(r.i)") }
                    target = KeyGuess.skip
                    if key.escaped {
                        scratch.removeAll(keepingCapacity: true)
                        guard JSONText.unescape(key.bytes, into: &scratch) else { return r.fail("bad escape in a key") }
                        target = scratch.withUnsafeBytes { find(node, $0) } ?? KeyGuess.skip
                    }
                }
                r.skipSpace()
                guard r.peek == UInt8(ascii: ":") else { return r.fail("expected ':' at byte \(r.i)") }
                r.i += 1
                if g >= 0 { learnGuess(g, r.b, keyStart, r.i, target: target) }
            }
            // A layout to repeat has every key guessed, and every value right after its colon.
            if tracing && (g < 0 || guesses[g].target == KeyGuess.none || r.peek.map({ $0 <= 32 }) ?? true) { tracing = false }
            let step = trace.count
            if tracing { trace.append(Step(slot: Int32(g), kind: .skipValue, depth: UInt8(depth), field: Int32(target >= 0 ? target : -1))) }
            r.skipSpace()
            var kind = Step.Kind.skipValue
            if target >= 0 {
                if isSeen(target) {
                    tracing = false  // a key twice
                    guard r.skipValue(depth: depth) else { return false }
                } else {
                    let valueStart = r.i
                    let type = types.withUnsafeBufferPointer { $0[target] }
                    if type == .bigint || type == .timestamp, let v = r.fastInteger() {
                        if type == .timestamp, let why = JSONRecordDecoder.outOfRange(v) { return r.fail(why, field: fields[target].name) }
                        builders[target].append(int: v)  // the common case, without a call
                        kind = .int
                    } else {
                        guard value(&r, field: target, &builders[target]) else { return false }
                        kind = .value
                    }
                    markSeen(target)
                    if hasAliases {
                        // Fields at the same path read the value again, each by its type.
                        for g in aliases[target] {
                            var again = r
                            again.i = valueStart
                            guard value(&again, field: g, &builders[g]) else { r.error = again.error; return false }
                            markSeen(g)
                        }
                    }
                }
            } else if target != KeyGuess.skip, r.peek == UInt8(ascii: "{") {
                if tracing { trace[step].kind = .enter }
                kind = .enter
                guard object(&r, -1 - target, builders, depth: depth + 1) else { return false }
            } else if r.peek == UInt8(ascii: "\"") {
                guard r.skipString() else { return r.fail("unterminated string at byte \(r.i)") }
                kind = .skipString
            } else if r.skipInteger() {
                // A skipped integer: its end found, its value not computed.
                kind = .skipInteger
            } else {
                guard r.skipValue(depth: depth) else { return false }
            }
            if tracing {
                if kind != .enter { trace[step].kind = kind }
                if let c = r.peek, c == UInt8(ascii: ",") || c == UInt8(ascii: "}") {} else { tracing = false }
            }
            r.skipSpace()
            guard let c = r.peek else { return r.fail("unexpected end of the record") }
            r.i += 1
            if tracing {
                // The separator belongs to the last key read, here or in an object nested in this one.
                let last = trace.count - 1
                if trace[last].afterCount < 8 {
                    trace[last].after |= UInt64(c) << (8 * UInt64(trace[last].afterCount))
                    trace[last].afterCount += 1
                } else {
                    tracing = false
                }
            }
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { return true }
            return r.fail("expected ',' or '}' at byte \(r.i - 1)")
        }
    }

    /// Why epoch milliseconds `ms` are no timestamp (nil when they are one): a timestamp lies
    /// within 9999 years of 1970 (`Millis.maxTimestamp`), so that windows, watermarks and
    /// arithmetic on it cannot overflow.
    public static func outOfRange(_ ms: Int64) -> String? {
        ms > Millis.maxTimestamp || ms < -Millis.maxTimestamp
            ? "the timestamp \(ms) is out of range (epoch milliseconds within \(Millis.maxTimestamp) of 1970, up to 9999-12-31T23:59:59.999Z)" : nil
    }

    /// Reads the value of field `f` into its builder.
    private mutating func value(_ r: inout Reader, field f: Int, _ builder: inout ColumnBuilder) -> Bool {
        let start = r.i
        func found() -> String { Reader.valueText(r.b, at: start) }
        guard let c = r.peek else { return r.fail("missing value", field: fields[f].name) }
        if c == UInt8(ascii: "n") {
            guard r.literal("null") else { return r.fail("invalid literal at byte \(r.i)", field: fields[f].name) }
            builder.appendNull()
            return true
        }
        switch types[f] {
        case .varchar:
            if c == UInt8(ascii: "\"") {
                guard let s = r.rawString() else { return r.fail("unterminated string", field: fields[f].name) }
                if s.escaped {
                    scratch.removeAll(keepingCapacity: true)
                    guard JSONText.unescape(s.bytes, into: &scratch) else { return r.fail("bad escape in a string", field: fields[f].name) }
                    scratch.withUnsafeBytes { builder.append(utf8: $0) }
                } else {
                    builder.append(utf8: s.bytes)
                }
                return true
            }
            // Numbers, booleans, objects and arrays as their JSON text, as written.
            let start = r.i
            guard r.skipValue(depth: 0) else {
                r.error?.field = fields[f].name
                return false
            }
            builder.append(utf8: UnsafeRawBufferPointer(rebasing: r.b[start..<r.i]))
            return true
        case .bigint, .interval:
            if let v = r.fastInteger() {
                builder.append(int: v)
                return true
            }
            if let v = r.number() {
                guard let i = v.integer else { return r.fail("\(v.text(r.b)) is not a whole number", field: fields[f].name) }
                builder.append(int: i)
                return true
            }
            if c == UInt8(ascii: "\""), let s = r.rawString(), !s.escaped, let i = Reader.parseInt(s.bytes) {
                builder.append(int: i)
                return true
            }
            return r.fail("expected a whole number, found \(found())", field: fields[f].name)
        case .double:
            if let v = r.number() {
                builder.append(double: v.double(r.b))
                return true
            }
            if c == UInt8(ascii: "\""), let s = r.rawString(), !s.escaped, let d = Reader.parseDouble(s.bytes) {
                builder.append(double: d)
                return true
            }
            return r.fail("expected a number, found \(found())", field: fields[f].name)
        case .boolean:
            if r.literal("true") { builder.append(bool: true); return true }
            if r.literal("false") { builder.append(bool: false); return true }
            if c == UInt8(ascii: "\""), let s = r.rawString() {
                if s.bytes.elementsEqual("true".utf8) { builder.append(bool: true); return true }
                if s.bytes.elementsEqual("false".utf8) { builder.append(bool: false); return true }
            }
            return r.fail("expected true or false, found \(found())", field: fields[f].name)
        case .timestamp:
            if let v = r.fastInteger() {
                if let why = JSONRecordDecoder.outOfRange(v) { return r.fail(why, field: fields[f].name) }
                builder.append(int: v)
                return true
            }
            if let v = r.number() {
                guard let ms = v.integer else { return r.fail("a timestamp in epoch milliseconds must be a whole number", field: fields[f].name) }
                if let why = JSONRecordDecoder.outOfRange(ms) { return r.fail(why, field: fields[f].name) }
                builder.append(int: ms)
                return true
            }
            if c == UInt8(ascii: "\""), let s = r.rawString() {
                if !s.escaped, let ms = TimeFormat.parseISO8601(bytes: s.bytes) {
                    builder.append(int: ms)
                    return true
                }
                return r.fail("'\(String(decoding: s.bytes, as: UTF8.self))' is not an ISO-8601 timestamp", field: fields[f].name)
            }
            return r.fail("expected a timestamp (epoch milliseconds or an ISO-8601 string), found \(found())", field: fields[f].name)
        case .decimal(let precision, let scale):
            // The number's text read exactly (never through a double), rounded to the column's scale.
            let text: UnsafeRawBufferPointer
            if let v = r.number() {
                text = UnsafeRawBufferPointer(rebasing: r.b[v.start..<v.end])
            } else if c == UInt8(ascii: "\""), let s = r.rawString(), !s.escaped {
                text = s.bytes
            } else {
                return r.fail("expected a number, found \(found())", field: fields[f].name)
            }
            guard let d = Decimal64.parse(text, scale: scale), d.fits(precision: precision) else {
                // A number too long for the column, or no number at all.
                let shown = String(decoding: text, as: UTF8.self), type = types[f].rawValue
                return r.fail(Double(shown) != nil ? "\(shown) is out of the range of \(type)" : "'\(shown)' is not a number", field: fields[f].name)
            }
            builder.append(int: d.unscaled)
            return true
        }
    }
}

/// A cursor over one record's bytes.
struct Reader {
    let b: UnsafeRawBufferPointer
    var i = 0
    /// Why reading failed (set when a method returns false).
    var error: DecodeError? = nil

    @inline(never)
    mutating func fail(_ message: String, field: String? = nil) -> Bool {
        error = DecodeError(message, field: field)
        return false
    }

    var peek: UInt8? { i < b.count ? b[i] : nil }

    @inline(__always)
    mutating func skipSpace() {
        // Records written without spaces are the common case: one comparison says so.
        guard i < b.count, b[i] <= 32 else { return }
        while i < b.count {
            let c = b[i]
            if c == 32 || c == 9 || c == 10 || c == 13 { i += 1 } else { break }
        }
    }

    mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { return false }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { return false }
        i += n
        return true
    }

    /// The bytes between the quotes of a string, and whether they contain escapes. Scans sixteen
    /// bytes at a time (SSE2), then eight, for a quote, a backslash or a control character.
    mutating func rawString() -> (bytes: UnsafeRawBufferPointer, escaped: Bool)? {
        guard peek == UInt8(ascii: "\"") else { return nil }
        i += 1
        let start = i
        var escaped = false
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while i < b.count {
            var onSpecial = false
            #if arch(x86_64)
            if i + 16 <= b.count {
                let special = Reader.specials16(b.baseAddress! + i)
                if special == 0 {
                    i += 16
                    continue
                }
                i += special.trailingZeroBitCount
                onSpecial = true
            }
            #endif
            if !onSpecial && i + 8 <= b.count {
                let x = b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let q = x ^ (ones &* 0x22), bs = x ^ (ones &* 0x5C)
                let special = (((q &- ones) & ~q) | ((bs &- ones) & ~bs) | ((x &- ones &* 0x20) & ~x)) & highs
                if special == 0 {
                    i += 8
                    continue
                }
                // The lowest flagged byte is exactly the first quote, backslash or control byte.
                i += special.trailingZeroBitCount >> 3
            }
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                let s = UnsafeRawBufferPointer(rebasing: b[start..<i])
                i += 1
                return (s, escaped)
            }
            if c == 92 {
                escaped = true
                i += 2
                continue
            }
            if c < 32 { return nil }
            i += 1
        }
        return nil
    }

    static let pow10: [UInt64] = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000]

    /// A JSON number at the cursor.
    struct Number {
        var start: Int, end: Int
        var negative: Bool
        var mantissa: UInt64
        var digits: Int
        var exponent: Int
        var isInteger: Bool

        var integer: Int64? {
            guard isInteger, digits <= 19 else { return nil }
            if negative { return mantissa <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- mantissa) : nil }
            return mantissa <= UInt64(Int64.max) ? Int64(mantissa) : nil
        }

        static let powers: [Double] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]

        func double(_ b: UnsafeRawBufferPointer) -> Double {
            // Exact when the mantissa fits 53 bits and the power of ten is exact (Clinger's fast path).
            if digits <= 15 && mantissa < (1 << 53) && abs(exponent) <= 22 {
                var d = Double(mantissa)
                d = exponent >= 0 ? d * Number.powers[exponent] : d / Number.powers[-exponent]
                return negative ? -d : d
            }
            return Double(String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<end]), as: UTF8.self)) ?? .nan
        }

        func text(_ b: UnsafeRawBufferPointer) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<end]), as: UTF8.self) }
    }

    /// How many of the eight bytes of `x` (first byte lowest) are ASCII digits before the first
    /// byte that is not one (8 if all are).
    @inline(__always)
    static func leadingDigits(_ x: UInt64) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        // A byte is flagged if it is >= 0x3A, < 0x30, or >= 0x80. Carries out of a flagged byte
        // only reach later bytes, so the lowest flag is exact.
        let flags = ((x &+ ones &* 0x46) | x | ~((x | highs) &- ones &* 0x30)) & highs
        return flags.trailingZeroBitCount >> 3
    }

    /// The value of the first `n` (1...8) digits of `x` (first byte lowest, bytes already minus '0').
    @inline(__always)
    static func digitsValue(_ x: UInt64, _ n: Int) -> UInt64 {
        var v = x << UInt64(8 * (8 - n))  // the digits in the top bytes, zeros (leading zeros) below
        v = (v &* 10 &+ (v >> 8)) & 0x00FF_00FF_00FF_00FF
        v = (v &* 100 &+ (v >> 16)) & 0x0000_FFFF_0000_FFFF
        return (v &* 10000 &+ (v >> 32)) & 0xFFFF_FFFF
    }

    /// Moves past the string at the cursor (on its opening quote); false if it is unterminated or
    /// holds a raw control character. Sixteen bytes at a time (SSE2), then eight, then one; nothing built.
    @inline(__always)
    mutating func skipString() -> Bool {
        i += 1
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let count = b.count
        guard let base = b.baseAddress else { return false }
        #if arch(x86_64)
        while i + 16 <= count {
            let special = Reader.specials16(base + i)
            if special == 0 { i += 16; continue }
            i += special.trailingZeroBitCount
            let c = base.load(fromByteOffset: i, as: UInt8.self)
            if c == UInt8(ascii: "\"") { i += 1; return true }
            if c == 92 { i += 2; continue }
            return false  // a control character
        }
        #endif
        while i + 8 <= count {
            let x = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let q = x ^ (ones &* 0x22), bs = x ^ (ones &* 0x5C)
            let special = (((q &- ones) & ~q) | ((bs &- ones) & ~bs) | ((x &- ones &* 0x20) & ~x)) & highs
            if special == 0 { i += 8; continue }
            i += special.trailingZeroBitCount >> 3
            let c = base.load(fromByteOffset: i, as: UInt8.self)
            if c == UInt8(ascii: "\"") { i += 1; return true }
            if c == 92 { i += 2; continue }
            return false  // a control character
        }
        while i < count {
            let c = base.load(fromByteOffset: i, as: UInt8.self)
            if c == UInt8(ascii: "\"") { i += 1; return true }
            if c == 92 { i += 2; continue }
            if c < 32 { return false }
            i += 1
        }
        return false
    }

    #if arch(x86_64)
    /// Bit k set if byte k of the sixteen at `p` is a quote, a backslash or a control character
    /// (SSE2, which every x86-64 processor has).
    @inline(__always)
    static func specials16(_ p: UnsafeRawPointer) -> UInt32 {
        let x = _mm_loadu_si128(p.assumingMemoryBound(to: __m128i_u.self))
        let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x22))
        let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x5C))
        let control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1F)), x)  // x <= 0x1F, unsigned
        return UInt32(truncatingIfNeeded: _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)))
    }
    #endif

    /// Moves past a plain integer (as `fastInteger` reads) without computing it; false, with the
    /// cursor unmoved, for anything else.
    @inline(__always)
    mutating func skipInteger() -> Bool {
        var j = i
        if j < b.count && b[j] == UInt8(ascii: "-") { j += 1 }
        guard j + 16 <= b.count, b[j] &- 49 < 9 else { return false }
        let n1 = Reader.leadingDigits(b.loadUnaligned(fromByteOffset: j, as: UInt64.self))
        var end = j + n1
        if n1 == 8 {
            let n2 = Reader.leadingDigits(b.loadUnaligned(fromByteOffset: j + 8, as: UInt64.self))
            if n2 == 8 { return false }
            end += n2
        }
        let next = b[end]
        if next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") { return false }
        i = end
        return true
    }

    /// A plain integer of 1 to 16 digits (not starting with 0, no fraction or exponent) at the
    /// cursor, read eight bytes at a time; nil, with the cursor unmoved, for anything else.
    @inline(__always)
    mutating func fastInteger() -> Int64? {
        var j = i
        let negative = j < b.count && b[j] == UInt8(ascii: "-")
        if negative { j += 1 }
        guard j + 16 <= b.count, b[j] &- 49 < 9 else { return nil }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let x = b.loadUnaligned(fromByteOffset: j, as: UInt64.self)
        let n1 = Reader.leadingDigits(x)
        var m = Reader.digitsValue(x &- ones &* 0x30, n1)
        var end = j + n1
        if n1 == 8 {
            let y = b.loadUnaligned(fromByteOffset: j + 8, as: UInt64.self)
            let n2 = Reader.leadingDigits(y)
            if n2 == 8 { return nil }
            if n2 > 0 {
                m = m &* Reader.pow10[n2] &+ Reader.digitsValue(y &- ones &* 0x30, n2)
                end += n2
            }
        }
        let next = b[end]
        if next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") { return nil }
        i = end
        return negative ? -Int64(m) : Int64(m)
    }

    mutating func number() -> Number? {
        let start = i
        var j = i
        var neg = false
        if j < b.count && b[j] == UInt8(ascii: "-") { neg = true; j += 1 }
        // Fast path: an integer of 1 to 16 digits, not starting with 0, read eight bytes at a time.
        if j + 16 <= b.count, b[j] >= 49 && b[j] <= 57 {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let x = b.loadUnaligned(fromByteOffset: j, as: UInt64.self)
            let n1 = Reader.leadingDigits(x)
            var m = Reader.digitsValue(x &- ones &* 0x30, n1)
            var digits = n1
            if n1 == 8 {
                let y = b.loadUnaligned(fromByteOffset: j + 8, as: UInt64.self)
                let n2 = Reader.leadingDigits(y)
                if n2 > 0 {
                    if n2 == 8 { digits = 17 }  // too long for this path
                    else {
                        m = m &* Reader.pow10[n2] &+ Reader.digitsValue(y &- ones &* 0x30, n2)
                        digits += n2
                    }
                }
            }
            if digits <= 16 {
                let e = j + digits
                let next = b[e]
                if next != UInt8(ascii: ".") && next != UInt8(ascii: "e") && next != UInt8(ascii: "E") {
                    i = e
                    return Number(start: start, end: e, negative: neg, mantissa: m, digits: digits, exponent: 0, isInteger: true)
                }
            }
        } else if j < b.count && b[j] >= 49 && b[j] <= 57 {
            // Near the end of the record: a plain integer of at most 18 digits, a byte at a time.
            var m: UInt64 = 0
            let digitStart = j
            while j < b.count && j - digitStart < 18 {
                let d = b[j] &- 48
                if d > 9 { break }
                m = m &* 10 &+ UInt64(d)
                j += 1
            }
            let next: UInt8 = j < b.count ? b[j] : 32
            if next != UInt8(ascii: ".") && next != UInt8(ascii: "e") && next != UInt8(ascii: "E") && (next &- 48) > 9 {
                i = j
                return Number(start: start, end: j, negative: neg, mantissa: m, digits: j - digitStart, exponent: 0, isInteger: true)
            }
        }
        var n = Number(start: i, end: i, negative: false, mantissa: 0, digits: 0, exponent: 0, isInteger: true)
        if peek == UInt8(ascii: "-") { n.negative = true; i += 1 }
        guard let first = peek, first >= 48 && first <= 57 else { i = start; return nil }
        func digit(_ c: UInt8) { if n.digits < 19 { n.mantissa = n.mantissa &* 10 &+ UInt64(c - 48) } else { n.exponent += 1 }; if n.mantissa != 0 || c != 48 { n.digits += 1 } }
        if first == 48 {
            i += 1
        } else {
            while let c = peek, c >= 48 && c <= 57 { digit(c); i += 1 }
        }
        if peek == UInt8(ascii: ".") {
            n.isInteger = false
            i += 1
            guard let c = peek, c >= 48 && c <= 57 else { i = start; return nil }
            while let c = peek, c >= 48 && c <= 57 {
                if n.digits < 19 { n.mantissa = n.mantissa &* 10 &+ UInt64(c - 48); n.exponent -= 1; if n.mantissa != 0 { n.digits += 1 } }
                i += 1
            }
        }
        if let e = peek, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            n.isInteger = false
            i += 1
            var neg = false
            if peek == UInt8(ascii: "-") { neg = true; i += 1 } else if peek == UInt8(ascii: "+") { i += 1 }
            guard let c = peek, c >= 48 && c <= 57 else { i = start; return nil }
            var exp = 0
            while let c = peek, c >= 48 && c <= 57 { if exp < 100_000 { exp = exp * 10 + Int(c - 48) }; i += 1 }
            n.exponent += neg ? -exp : exp
        }
        if n.isInteger && n.exponent > 0 { n.isInteger = false }  // more than 19 digits
        n.end = i
        return n
    }

    /// The value written at `start`, for messages (at most 40 bytes of it).
    @inline(never)
    static func valueText(_ b: UnsafeRawBufferPointer, at start: Int) -> String {
        var probe = Reader(b: b, i: start)
        _ = probe.skipValue(depth: 0)
        let end = max(probe.i, min(b.count, start + 1))
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<min(end, start + 40)]), as: UTF8.self)
        return end - start > 40 ? text + "..." : text
    }

    /// Skips one value of any kind.
    mutating func skipValue(depth: Int) -> Bool {
        guard depth < 64 else { return fail("JSON nested more than 64 levels deep") }
        guard let c = peek else { return fail("unexpected end of the record") }
        switch c {
        case UInt8(ascii: "\""):
            return rawString() == nil ? fail("unterminated string at byte \(i)") : true
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close: UInt8 = c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            i += 1
            skipSpace()
            if peek == close { i += 1; return true }
            while true {
                skipSpace()
                if close == UInt8(ascii: "}") {
                    guard rawString() != nil else { return fail("expected a key at byte \(i)") }
                    skipSpace()
                    guard peek == UInt8(ascii: ":") else { return fail("expected ':' at byte \(i)") }
                    i += 1
                    skipSpace()
                }
                guard skipValue(depth: depth + 1) else { return false }
                skipSpace()
                guard let d = peek else { return fail("unexpected end of the record") }
                i += 1
                if d == UInt8(ascii: ",") { continue }
                if d == close { return true }
                return fail("expected ',' at byte \(i - 1)")
            }
        case UInt8(ascii: "t"): return literal("true") ? true : fail("invalid literal at byte \(i)")
        case UInt8(ascii: "f"): return literal("false") ? true : fail("invalid literal at byte \(i)")
        case UInt8(ascii: "n"): return literal("null") ? true : fail("invalid literal at byte \(i)")
        default:
            return number() == nil ? fail("unexpected character at byte \(i)") : true
        }
    }

    static func parseInt(_ s: UnsafeRawBufferPointer) -> Int64? {
        guard !s.isEmpty, s.count <= 20 else { return nil }
        return Int64(String(decoding: s, as: UTF8.self))
    }

    static func parseDouble(_ s: UnsafeRawBufferPointer) -> Double? {
        guard !s.isEmpty, s.count <= 64 else { return nil }
        return Double(String(decoding: s, as: UTF8.self))
    }
}
