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

    @Test(arguments: [
        ("", "empty record"), ("[1,2]", "not a JSON object"), ("{", "unexpected end"), (#"{"a":1,}"#, "expected a key"),
        (#"{"a" 1}"#, "expected ':'"), (#"{"a":1} x"#, "unexpected text after"), (#"{"a":tru}"#, "invalid literal"),
        (#"{"a":"unterminated}"#, "unterminated"), (#"{"status":"abc"}"#, "whole number"), (#"{"ts":"yesterday"}"#, "ISO-8601"),
        (#"{"ts":1.5}"#, "whole number"), (#"{"ok":1}"#, "true or false"), (#"{"user_id":{"a":1}}"#, "object or array"),
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
}
