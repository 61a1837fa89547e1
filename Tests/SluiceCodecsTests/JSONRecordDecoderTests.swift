import Testing
import SluiceCore
@testable import SluiceCodecs

@Suite("JSON record decoder")
struct JSONRecordDecoderTests {
    static let fields = [
        FieldSpec(name: "user_id", type: .varchar),
        FieldSpec(name: "url", path: ["page", "url"], type: .varchar),
        FieldSpec(name: "latency_ms", type: .double),
        FieldSpec(name: "status", type: .bigint),
        FieldSpec(name: "ok", type: .boolean),
        FieldSpec(name: "ts", type: .timestamp),
    ]

    /// Decodes records; returns the rows and the errors by record index.
    func decode(_ records: [String], _ fields: [FieldSpec] = fields) -> (rows: [[Value]], errors: [Int: DecodeError]) {
        var d = JSONRecordDecoder(fields: fields)
        var builders = fields.map { ColumnBuilder($0.type) }
        var errors: [Int: DecodeError] = [:]
        for (i, r) in records.enumerated() {
            let bytes = Array(r.utf8)
            if let e = bytes.withUnsafeBytes({ d.decode($0, into: &builders) }) { errors[i] = e }
        }
        let columns = builders.indices.map { builders[$0].finish() }
        let n = columns.first?.count ?? 0
        #expect(columns.allSatisfy { $0.count == n })
        return ((0..<n).map { i in columns.map { $0.value(i) } }, errors)
    }

    @Test func decimalsAreReadFromTheNumbersTextNeverThroughADouble() {
        let fields = [FieldSpec(name: "amount", type: .decimal(precision: 18, scale: 2)), FieldSpec(name: "n", type: .bigint)]
        // 0.295 is 0.29499999999999998 as a double: read as text it rounds half away from zero.
        let (rows, errors) = decode([
            #"{"amount":0.295,"n":1}"#, #"{"amount":"-12.5","n":2}"#, #"{"amount":1.5e3,"n":3}"#, #"{"amount":null,"n":4}"#,
            #"{"amount":9999999999999999.994,"n":5}"#, #"{"amount":99999999999999999.5,"n":6}"#, #"{"amount":true,"n":7}"#,
            #"{"amount":"1,5","n":8}"#, #"{"n":9,"amount":7}"#,
        ], fields)
        let dec = { (u: Int64) in Value.decimal(Decimal64(unscaled: u, scale: 2)) }
        #expect(rows == [[dec(30), .int(1)], [dec(-1250), .int(2)], [dec(150_000), .int(3)], [.null, .int(4)],
                         [dec(999_999_999_999_999_999), .int(5)], [dec(700), .int(9)]])
        #expect(errors[5]?.message == "99999999999999999.5 is out of the range of DECIMAL(18, 2)")
        #expect(errors[6]?.message == "expected a number, found true")
        #expect(errors[7]?.message == "'1,5' is not a number")
    }

    /// A timestamp lies within 9999 years of 1970 (so windows and watermarks over it cannot
    /// overflow): epoch milliseconds beyond are a bad record, whether the decoder reads the
    /// record by a learned layout or field by field; the bounds themselves are timestamps.
    @Test func timestampsOutOfRangeAreBadRecords() {
        let m = Millis.maxTimestamp
        let fields = [FieldSpec(name: "n", type: .bigint), FieldSpec(name: "ts", type: .timestamp)]
        let times = ["1", "\(m)", "-\(m)", "\(m + 1)", "-\(m + 1)", "9223372036854775807", "-9223372036854775808", "1e300", "2"]
        // Each after records of the same layout (the template path), and in a layout of its own.
        let records = times.flatMap { t in [#"{"n":1,"ts":\#(t)}"#, #"{"ts":\#(t),"other":[1],"n":2}"#] }
        let (rows, errors) = decode(records, fields)
        let good = [Value.timestamp(1), .timestamp(m), .timestamp(-m), .timestamp(2)]
        #expect(rows.map { $0[1] } == good.flatMap { [$0, $0] })
        #expect(errors.count == 10)
        for (i, e) in errors where i / 2 != 7 {
            #expect(e.field == "ts" && e.message.contains("is out of range") && e.message.contains(times[i / 2]), "\(i): \(e)")
        }
        #expect(errors[14]?.field == "ts")
    }

    @Test func readsTheFieldsAskedForIntoTypedColumns() {
        let (rows, errors) = decode([
            #"{"user_id":"u1","page":{"url":"/a","ref":"x"},"latency_ms":12.5,"status":200,"ok":true,"ts":1704067200123,"extra":[1,{"a":2}]}"#,
            #"  { "ts" : "2024-01-01T00:00:01.5Z", "status": -3, "latency_ms": 7, "ok": false }  "#,
        ])
        #expect(errors.isEmpty)
        #expect(rows[0] == [.string("u1"), .string("/a"), .double(12.5), .int(200), .bool(true), .timestamp(1_704_067_200_123)])
        #expect(rows[1] == [.null, .null, .double(7), .int(-3), .bool(false), .timestamp(1_704_067_201_500)])
    }

    @Test func nullsMissingFieldsAndDuplicates() {
        let (rows, errors) = decode([#"{"user_id":null,"page":null,"status":1,"status":2}"#, "{}", #"{"page":{"url":"/x","url":"/y"}}"#])
        #expect(errors.isEmpty)
        #expect(rows[0] == [.null, .null, .null, .int(1), .null, .null])
        #expect(rows[1] == Array(repeating: .null, count: 6))
        #expect(rows[2][1] == .string("/x"))
    }

    /// More than 64 fields: duplicates, missing fields and a bad record's rollback work past the 64th.
    @Test func manyFields() {
        let many = (0..<70).map { FieldSpec(name: "f\($0)", type: .bigint) }
        let (rows, errors) = decode([
            #"{"f69":1,"f3":2,"f69":3,"f64":4}"#,
            #"{"f68":5,"f1":"x"}"#,
            #"{"f0":6,"f65":7}"#,
        ], many)
        #expect(errors.keys.sorted() == [1])
        #expect(rows.count == 2)
        var first = [Value](repeating: .null, count: 70)
        first[69] = .int(1); first[3] = .int(2); first[64] = .int(4)
        #expect(rows[0] == first)
        var second = [Value](repeating: .null, count: 70)
        second[0] = .int(6); second[65] = .int(7)
        #expect(rows[1] == second)
    }

    @Test func escapesAndUnicode() {
        let (rows, errors) = decode([#"{"user_id":"a\"b\\c\n\u00e9\ud83d\ude00","page":{"url":"\/x"}}"#, #"{"user\u005fid":"escaped key"}"#])
        #expect(errors.isEmpty)
        #expect(rows[0][0] == .string("a\"b\\c\né😀"))
        #expect(rows[0][1] == .string("/x"))
        #expect(rows[1][0] == .string("escaped key"))
    }

    @Test func lenientScalars() {
        let (rows, errors) = decode([#"{"user_id":42,"latency_ms":"3.25","status":"17","ok":"true"}"#, #"{"user_id":true,"status":1e2}"#])
        #expect(errors[0] == nil)
        #expect(rows[0][0] == .string("42") && rows[0][2] == .double(3.25) && rows[0][3] == .int(17) && rows[0][4] == .bool(true))
        #expect(errors[1]?.field == "status")  // 1e2 is not written as a whole number
    }

    /// A VARCHAR field holding an object or an array reads its JSON text as written (Flink's
    /// rule, and KDA's for a `$.a[0:]` mapping); other types refuse them.
    @Test func objectsAndArraysAreTextForVarchar() {
        let (rows, errors) = decode([#"{"user_id":{"a":[1, "x"]},"status":1}"#, #"{"user_id":[],"page":{"url":["/a","/b"]}}"#, #"{"status":[1]}"#])
        #expect(errors[0] == nil && errors[1] == nil)
        #expect(rows[0][0] == .string(#"{"a":[1, "x"]}"#) && rows[0][3] == .int(1))
        #expect(rows[1][0] == .string("[]") && rows[1][1] == .string(#"["/a","/b"]"#))
        #expect(errors[2]?.field == "status")
    }

    /// Several fields at one path each read its value, by their own types (a KDA schema may map
    /// one JSONPath to two columns); a value one of them cannot take makes the record bad.
    @Test func fieldsAtOnePathEachReadTheValue() {
        let fields = [FieldSpec(name: "a", path: ["v"], type: .varchar), FieldSpec(name: "b", path: ["v"], type: .bigint),
                      FieldSpec(name: "c", path: ["n", "x"], type: .double), FieldSpec(name: "d", path: ["n", "x"], type: .varchar),
                      FieldSpec(name: "e", path: ["v"], type: .double)]
        let (rows, errors) = decode([#"{"v":42,"n":{"x":1.5}}"#, #"{"n":{"x":2}}"#, #"{"v":"abc"}"#, #"{"v":7,"n":{"x":null}}"#], fields)
        #expect(errors.keys.sorted() == [2], "\(errors)")
        #expect(errors[2]?.field == "b")
        #expect(rows.count == 3)
        #expect(rows[0] == [.string("42"), .int(42), .double(1.5), .string("1.5"), .double(42)])
        #expect(rows[1] == [.null, .null, .double(2), .string("2"), .null])
        #expect(rows[2] == [.string("7"), .int(7), .null, .null, .double(7)])
    }

    @Test func numbersAreExact() {
        let fields = [FieldSpec(name: "d", type: .double), FieldSpec(name: "i", type: .bigint)]
        let texts = ["0", "-0.0", "1.5", "0.1", "123456.789", "1e-7", "2.5E+10", "3.141592653589793", "1.7976931348623157e308",
                     "4.9e-324", "0.30000000000000004", "123456789012345678901234567890", "-9.87654321e-5"]
        let (rows, errors) = decode(texts.map { #"{"d":\#($0)}"# }, fields)
        #expect(errors.isEmpty)
        for (t, r) in zip(texts, rows) { #expect(r[0] == .double(Double(t)!), "\(t)") }
        let ints = ["0", "-1", "9223372036854775807", "-9223372036854775808"]
        let (irows, ierrors) = decode(ints.map { #"{"i":\#($0)}"# }, fields)
        #expect(ierrors.isEmpty)
        #expect(irows.map { $0[1] } == ints.map { .int(Int64($0)!) })
        let (_, tooBig) = decode([#"{"i":9223372036854775808}"#, #"{"i":1.5}"#], fields)
        #expect(tooBig.count == 2)
    }

    /// Integers of every length, both signs and each terminator, at the end of the record and
    /// away from it, decode to what Swift's own parser reads (the eight-bytes-at-a-time path and
    /// the byte path near the end must agree).
    @Test func integersOfEveryLength() {
        let fields = [FieldSpec(name: "i", type: .bigint), FieldSpec(name: "d", type: .double)]
        var rng = SplitMix64(seed: 7)
        var texts: [String] = []
        for digits in 1...19 {
            for _ in 0..<20 {
                var t = String(rng.next() % 9 + 1)
                for _ in 1..<digits { t += String(rng.next() % 10) }
                if rng.next() % 3 == 0 { t = "-" + t }
                texts.append(t)
            }
        }
        texts += ["0", "-0", "7", "99999999", "100000000", "9999999999999999", "10000000000000000", "9223372036854775807", "-9223372036854775808"]
        var records: [String] = []
        var expected: [[Value]] = []
        for t in texts {
            let v = Value.int(Int64(t)!)
            records.append(#"{"i":\#(t),"pad":"0123456789abcdefghij","d":\#(t)}"#)
            expected.append([v, .double(Double(t)!)])
            records.append(#"{"d":\#(t),"i":\#(t)}"#)
            expected.append([v, .double(Double(t)!)])
            records.append(#"{"i":\#(t) }"#)
            expected.append([v, .null])
            records.append(#"{"d":\#(t).25,"i":\#(t)}"#)
            expected.append([v, .double(Double(t + ".25")!)])
            records.append(#"{"d":\#(t)e3,"i":\#(t)}"#)
            expected.append([v, .double(Double(t + "e3")!)])
        }
        let (rows, errors) = decode(records, fields)
        #expect(errors.isEmpty, "\(errors.first.map { "\(records[$0.key]): \($0.value)" } ?? "")")
        #expect(rows.count == expected.count)
        for (k, (r, e)) in zip(rows, expected).enumerated() where r != e {
            Issue.record("\(records[k]): \(r) != \(e)")
            break
        }
        // Twenty digits do not fit a BIGINT, and a leading zero is not JSON.
        let (_, bad) = decode([#"{"i":12345678901234567890,"pad":"................"}"#, #"{"i":0123456789012345678,"pad":"................"}"#], fields)
        #expect(bad.count == 2)
    }

    /// Key orders are guessed from earlier records; a decoder reused across records that change
    /// order, share prefixes, lengthen keys or escape them reads exactly what a fresh decoder reads.
    @Test func guessedKeyOrdersNeverMisread() {
        let fields = [FieldSpec(name: "a", type: .bigint), FieldSpec(name: "ab", type: .bigint),
                      FieldSpec(name: "sensor_temperature_reading_1", type: .bigint),
                      FieldSpec(name: "sensor_temperature_reading_2", type: .bigint),
                      FieldSpec(name: "a_key_that_is_longer_than_thirty_two_bytes", type: .bigint),
                      FieldSpec(name: "x", path: ["n", "x"], type: .bigint)]
        let keys = ["a", "ab", "abc", "sensor_temperature_reading_1", "sensor_temperature_reading_2", "sensor_temperature_reading_3",
                    "a_key_that_is_longer_than_thirty_two_bytes", "a_key_that_is_longer_than_thirty_two_bytez", "n", "x", #"\u0061"#]
        var rng = SplitMix64(seed: 11)
        var records: [String] = []
        for r in 0..<400 {
            let count = Int(rng.next() % 6) + 1
            var parts: [String] = []
            for _ in 0..<count {
                let k = keys[Int(rng.next() % UInt64(keys.count))]
                let v = k == "n" ? #"{"x":\#(r),"y":1}"# : String(rng.next() % 1000)
                parts.append("\"\(k)\":\(v)")
            }
            records.append("{" + parts.joined(separator: ",") + "}")
        }
        let reused = decode(records, fields)
        var fresh: [[Value]] = []
        for rec in records { fresh += decode([rec], fields).rows }
        #expect(reused.errors.isEmpty)
        #expect(reused.rows.count == fresh.count)
        if let k = reused.rows.indices.first(where: { $0 < fresh.count && reused.rows[$0] != fresh[$0] }) {
            Issue.record("\(records[k]): read \(reused.rows[k]), a fresh decoder reads \(fresh[k])")
        }
    }

    /// Values of fields nobody reads are skipped without being built: strings with escapes and
    /// quotes, numbers of every form; the field after them is still read right.
    @Test func skippedValuesOfEveryForm() {
        let skipped = [#""x\"y\\\"z""#, #""""#, #""0123456789abcdef\u00e9\n""#, "-12", "0", "12345678901234567", "1.5", "-2e-3",
                       "123456789012345678901234567890", "true", "null", #"{"a":[1,"}"]}"#, #"["]",{}]"#]
        let records = skipped.map { "{\"skip\":" + $0 + ",\"status\":7}" }
        let (rows, errors) = decode(records)
        #expect(errors.isEmpty, "\(errors)")
        #expect(rows.map { $0[3] } == Array(repeating: .int(7), count: skipped.count))
        let (_, bad) = decode(["{\"skip\":\"a\u{01}b\",\"status\":7}", #"{"skip":"open,"status":7}"#, #"{"skip":--1,"status":7}"#])
        #expect(bad.count == 3)
    }

    @Test(arguments: [
        ("", "empty record"), ("[1,2]", "not a JSON object"), ("{", "unexpected end"), (#"{"a":1,}"#, "expected a key"),
        (#"{"a" 1}"#, "expected ':'"), (#"{"a":1} x"#, "unexpected text after"), (#"{"a":tru}"#, "invalid literal"),
        (#"{"a":"unterminated}"#, "unterminated"), (#"{"status":"abc"}"#, "whole number"), (#"{"ts":"yesterday"}"#, "ISO-8601"),
        (#"{"ts":1.5}"#, "whole number"), (#"{"ok":1}"#, "true or false"), (#"{"user_id":{"a":1,}}"#, "expected a key"),
        (#"{"user_id":"\x"}"#, "bad escape"), (#"{"a":01}"#, "expected ','"), (#"{"a":-}"#, "unexpected character"),
    ])
    func badRecordsAreRefusedWithAReason(_ record: String, _ reason: String) {
        let (rows, errors) = decode([record, #"{"user_id":"fine"}"#])
        #expect(errors[0]?.description.contains(reason) == true, "\(String(describing: errors[0]))")
        // Nothing of the bad record is left behind; the next one is intact.
        #expect(rows.count == 1 && rows[0][0] == .string("fine"))
    }

    @Test func deepNestingIsRefused() {
        let deep = #"{"x":"# + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}"
        #expect(decode([deep]).errors[0]?.message.contains("nested") == true)
    }

    @Test func pathsParse() {
        #expect(FieldSpec.parsePath("$.page.url") == ["page", "url"])
        #expect(FieldSpec.parsePath("a") == ["a"])
        #expect(FieldSpec.parsePath("$..a") == nil)
        #expect(FieldSpec.parsePath("$[0]") == nil)
    }

    // MARK: - Records read by the learned layout

    /// Rows and errors of `records` read one decoder each: no record can follow a layout learned
    /// from the one before it.
    func decodeEachAfresh(_ records: [String], _ fields: [FieldSpec]) -> (rows: [[Value]], errors: [Int: DecodeError]) {
        var rows: [[Value]] = []
        var errors: [Int: DecodeError] = [:]
        for (i, r) in records.enumerated() {
            let (one, e) = decode([r], fields)
            rows += one
            if let e = e[0] { errors[i] = e }
        }
        return (rows, errors)
    }

    /// A record of the bench's layout, sometimes changed: other value types, NULLs, spaces, keys
    /// missing, added, repeated or reordered, escapes, and damage of every kind.
    static func variant(_ rng: inout SplitMix64, _ k: Int) -> String {
        var pairs: [(String, String)] = [
            ("auction", String(1000 + rng.below(50))), ("bidder", String(rng.below(100_000))),
            ("price", String(rng.below(1 << 40))), ("channel", "\"channel-\(rng.below(9999))\""),
            ("url", "\"https://nx.io/c/\(rng.below(9999))\""), ("dateTime", String(1_704_067_200_000 + k)),
            ("extra", "\"\(String(repeating: "x", count: rng.below(30)))\""),
        ]
        var sep = ",", colon = ":", open = "{", close = "}", tail = ""
        switch rng.below(40) {
        case 0: pairs[2].1 = "12.5"
        case 1: pairs[2].1 = "null"
        case 2: pairs[0].1 = "\"1007\""
        case 3: pairs[5].1 = "\"2024-01-01T00:00:01.5Z\""
        case 4: pairs.remove(at: 1)
        case 5: pairs.append(("more", "[1,{\"a\":2}]"))
        case 6: pairs.append(("price", "7"))
        case 7: pairs.swapAt(0, 2)
        case 8: sep = ", "
        case 9: colon = " : "
        case 10: open = "{ "
        case 11: close = " }"
        case 12: tail = "  "
        case 13: pairs[3].1 = "\"esc\\\"aped\\u0041\""
        case 14: pairs[1].1 = "-5"
        case 15: pairs[2].1 = "1e3"
        case 16: pairs[2].1 = "\"not a number\""
        case 17: pairs[0].1 = "{\"nested\":1}"
        case 18: tail = "x"
        case 19: pairs[6].1 = "\"unterminated"
        case 20: pairs[2].1 = "123456789012345678"
        case 21: pairs[2].1 = "0"
        case 22: pairs[4].1 = "true"
        case 23: pairs.removeAll()
        case 24: pairs[3] = ("ch\\u0061nnel", pairs[3].1)
        case 25: pairs[5].1 = ""
        case 26: close = ""
        default: break
        }
        return open + pairs.map { "\"\($0.0)\"" + colon + $0.1 }.joined(separator: sep) + close + tail
    }

    /// A decoder that learned a layout from earlier records reads every record, and reports every
    /// bad one, exactly as a decoder that never saw one.
    @Test(arguments: [0, 1, 2])
    func aLearnedLayoutReadsAsTheGeneralWay(_ fieldSet: Int) {
        let fieldSets: [[FieldSpec]] = [
            [FieldSpec(name: "auction", type: .bigint), FieldSpec(name: "price", type: .bigint), FieldSpec(name: "dateTime", type: .timestamp)],
            [FieldSpec(name: "channel", type: .varchar), FieldSpec(name: "price", type: .double), FieldSpec(name: "missing", type: .bigint),
             FieldSpec(name: "url", type: .varchar), FieldSpec(name: "bidder", type: .bigint)],
            [FieldSpec(name: "auction", type: .varchar), FieldSpec(name: "x", path: ["auction", "nested"], type: .bigint), FieldSpec(name: "extra", type: .varchar)],
        ]
        var rng = SplitMix64(seed: UInt64(7 + fieldSet))
        let records = (0..<3000).map { JSONRecordDecoderTests.variant(&rng, $0) }
        let fields = fieldSets[fieldSet]
        let together = decode(records, fields), apart = decodeEachAfresh(records, fields)
        #expect(together.errors.keys.sorted() == apart.errors.keys.sorted())
        #expect(together.errors.values.map(\.description).sorted() == apart.errors.values.map(\.description).sorted())
        #expect(together.rows == apart.rows)
        #expect(together.rows.count > 2000 && together.errors.count > 50)
    }

    /// Bench records with random bytes changed, inserted or removed: the learned layout reads them
    /// (or gives them up to the general way) exactly as a fresh decoder does.
    @Test func damagedBytesReadAsTheGeneralWay() {
        var rng = SplitMix64(seed: 99)
        let alphabet = Array("{}[]\":,. 0123456789-+eE\\nutrlfasx\u{7f}".utf8) + [0x00, 0x0A, 0xC3, 0xA9, 0xFF]
        let records: [String] = (0..<4000).map { k in
            var b = Array(JSONRecordDecoderTests.variant(&rng, k).utf8)
            if rng.below(4) == 0 {
                for _ in 0...rng.below(3) where !b.isEmpty {
                    let at = rng.below(b.count)
                    switch rng.below(3) {
                    case 0: b[at] = alphabet[rng.below(alphabet.count)]
                    case 1: b.insert(alphabet[rng.below(alphabet.count)], at: at)
                    default: b.remove(at: at)
                    }
                }
            }
            return String(decoding: b, as: UTF8.self)
        }
        let fields = [FieldSpec(name: "auction", type: .bigint), FieldSpec(name: "price", type: .double),
                      FieldSpec(name: "dateTime", type: .timestamp), FieldSpec(name: "channel", type: .varchar)]
        let together = decode(records, fields), apart = decodeEachAfresh(records, fields)
        #expect(together.errors.keys.sorted() == apart.errors.keys.sorted())
        #expect(together.errors.values.map(\.description).sorted() == apart.errors.values.map(\.description).sorted())
        #expect(together.rows == apart.rows)
        #expect(together.errors.count > 300)
    }

    /// Strings of every length to 40 with an escape, a control character or a multi-byte
    /// character at every position: read and skipped (sixteen, eight, then one byte at a time)
    /// exactly as the rules say.
    @Test func stringsOfEveryLengthAndEveryPosition() {
        for length in 0...40 {
            for at in 0..<max(length, 1) {
                for kind in 0..<3 {
                    var chars = Array(repeating: "a", count: length)
                    var expected: Value? = nil
                    if length > 0 {
                        switch kind {
                        case 0: chars[at] = "\\\""
                        case 1: chars[at] = "\u{01}"
                        default: chars[at] = "é"
                        }
                    }
                    let text = chars.joined()
                    if kind == 1 && length > 0 { expected = nil } else {
                        expected = .string(text.replacingOccurrences(of: "\\\"", with: "\""))
                    }
                    let record = "{\"s\":\"\(text)\",\"n\":7,\"pad\":\"0123456789abcdef\"}"
                    let read = decode([record], [FieldSpec(name: "s", type: .varchar)])
                    let skipped = decode([record], [FieldSpec(name: "n", type: .bigint)])
                    if let expected {
                        #expect(read.rows == [[expected]], "length \(length) at \(at) kind \(kind)")
                        #expect(skipped.rows == [[.int(7)]], "length \(length) at \(at) kind \(kind)")
                    } else {
                        #expect(read.errors.count == 1 && skipped.errors.count == 1, "length \(length) at \(at): a raw control character")
                    }
                }
            }
        }
    }

    /// Nested records (the clicks sample's layout, with `page.url` read by path) through a learned
    /// layout, changed here and there: the same rows and errors as the general way.
    @Test func nestedLayoutsReadAsTheGeneralWay() {
        var rng = SplitMix64(seed: 3)
        let records: [String] = (0..<3000).map { k in
            var page = "{\"url\":\"/products/\(rng.below(50))\",\"referrer\":\"direct\"}"
            var tail = ",\"latency_ms\":\(rng.below(900)).\(rng.below(10)),\"status\":\(200 + rng.below(3) * 100),\"ts\":\"2024-01-01T00:00:\(10 + rng.below(50)).051Z\"}"
            switch rng.below(30) {
            case 0: page = "{}"
            case 1: page = "{\"url\":null}"
            case 2: page = "{\"referrer\":\"x\",\"url\":\"/a\"}"
            case 3: page = "{ \"url\":\"/b\"}"
            case 4: page = "{\"url\":\"/c\",\"deep\":{\"a\":[1,{\"b\":2}]}}"
            case 5: page = "\"not an object\""
            case 6: page = "{\"url\":\"/d\"} "
            case 7: tail = "}"
            case 8: tail = ",\"status\":\"two hundred\"}"
            case 9: page = "{\"url\":\"/e\",\"url\":\"/f\"}"
            case 10: page = "{\"url\":\"/g\""
            default: break
            }
            return "{\"user_id\":\"u\(1000 + k % 97)\",\"page\":" + page + tail
        }
        let fields = [FieldSpec(name: "user_id", type: .varchar), FieldSpec(name: "url", path: ["page", "url"], type: .varchar),
                      FieldSpec(name: "latency_ms", type: .double), FieldSpec(name: "status", type: .bigint), FieldSpec(name: "ts", type: .timestamp)]
        let together = decode(records, fields), apart = decodeEachAfresh(records, fields)
        #expect(together.errors.keys.sorted() == apart.errors.keys.sorted())
        #expect(together.errors.values.map(\.description).sorted() == apart.errors.values.map(\.description).sorted())
        #expect(together.rows == apart.rows)
        #expect(together.errors.count > 50 && together.rows.count > 2500)
        // And the layout of a plain nested record is learned.
        var d = JSONRecordDecoder(fields: fields)
        var builders = fields.map { ColumnBuilder($0.type) }
        _ = Array(records.first { !$0.contains(" ") && $0.contains("/products/") && $0.contains("referrer") }!.utf8).withUnsafeBytes { d.decode($0, into: &builders) }
        #expect(d.steps.map(\.kind) == [.value, .enter, .value, .skipString, .value, .int, .value])
    }

    /// The layout is learned from a plain record, used while records repeat it, and dropped for
    /// one laid out otherwise (spaces, another order), then learned again.
    @Test func theLayoutIsLearnedUsedAndDropped() {
        var d = JSONRecordDecoder(fields: [FieldSpec(name: "a", type: .bigint), FieldSpec(name: "b", type: .varchar)])
        var builders = [ColumnBuilder(.bigint), ColumnBuilder(.varchar)]
        func read(_ s: String) -> DecodeError? { Array(s.utf8).withUnsafeBytes { d.decode($0, into: &builders) } }
        #expect(read(#"{"a":1,"b":"x","c":2,"d":"sixteen bytes on"}"#) == nil)
        #expect(d.steps.map(\.kind) == [.int, .value, .skipInteger, .skipString])
        #expect(read(#"{"a":2,"b":"y","c":3,"d":"sixteen bytes on"}"#) == nil)
        #expect(d.steps.count == 4)
        #expect(read(#"{"a": 3,"b":"z"}"#) == nil)
        #expect(d.steps.isEmpty)  // a space after a colon: not a layout to repeat
        #expect(read(#"{"b":"w","a":4,"c":[1, 2, 3, 4, 5, 6, 7]}"#) == nil)
        #expect(d.steps.map(\.kind) == [.value, .int, .skipValue])
        #expect(read(#"{"b":"v","a":"oops"}"#) != nil)
        let a = builders[0].finish(), b = builders[1].finish()
        #expect((0..<a.count).map { a.value($0) } == [.int(1), .int(2), .int(3), .int(4)])
        #expect((0..<b.count).map { b.value($0) } == [.string("x"), .string("y"), .string("z"), .string("w")])
    }
}
