import Testing
import SluiceCore
@testable import SluiceCodecs

@Suite("CSV record decoder")
struct CSVRecordDecoderTests {
    static let fields = [FieldSpec(name: "device", type: .varchar), FieldSpec(name: "temp", type: .double),
                         FieldSpec(name: "n", type: .bigint), FieldSpec(name: "ts", type: .timestamp)]

    func run(_ d: inout CSVRecordDecoder, _ lines: [String]) -> (rows: [[Value]], errors: [Int: DecodeError]) {
        var builders = d.fields.map { ColumnBuilder($0.type) }
        var errors: [Int: DecodeError] = [:]
        for (i, l) in lines.enumerated() {
            if let e = Array(l.utf8).withUnsafeBytes({ d.decode($0, into: &builders) }) { errors[i] = e }
        }
        let cols = builders.indices.map { builders[$0].finish() }
        return ((0..<(cols.first?.count ?? 0)).map { i in cols.map { $0.value(i) } }, errors)
    }

    @Test func byHeaderNameWithQuoting() throws {
        let header = Array("ts,N,extra,temp,device\r\n".utf8)
        var d = try header.withUnsafeBytes { CSVRecordDecoder.bind(fields: Self.fields, header: $0) }.get()
        #expect(d.columns == [4, 3, 1, 0])
        let (rows, errors) = run(&d, [
            "2024-01-01T00:00:01Z,5,\"x, \"\"quoted\"\"\",21.5,\"dev,1\"\r\n",
            "1704067200000,,,-3.25,\"\"",
            ",7,,,plain",
        ])
        #expect(errors.isEmpty)
        #expect(rows[0] == [.string("dev,1"), .double(21.5), .int(5), .timestamp(1_704_067_201_000)])
        #expect(rows[1] == [.string(""), .double(-3.25), .null, .timestamp(1_704_067_200_000)])
        #expect(rows[2] == [.string("plain"), .null, .int(7), .null])
    }

    @Test func byPositionAndOtherDelimiters() {
        var d = CSVRecordDecoder(fields: Self.fields, delimiter: UInt8(ascii: ";"))
        let (rows, errors) = run(&d, ["a;1.5;2;0", "b;2;3;1"])
        #expect(errors.isEmpty)
        #expect(rows[1] == [.string("b"), .double(2), .int(3), .timestamp(1)])
    }

    @Test func decimalsAreReadExactlyAndCheckedAgainstTheirPrecision() {
        let fields = [FieldSpec(name: "id", type: .bigint), FieldSpec(name: "amount", type: .decimal(precision: 6, scale: 2))]
        var d = CSVRecordDecoder(fields: fields)
        let (rows, errors) = run(&d, ["1, 12.345 ", "2,-0.005", "3,1e2", "4,12345.6", "5,ten", "6,"])
        let dec = { (u: Int64) in Value.decimal(Decimal64(unscaled: u, scale: 2)) }
        #expect(rows == [[.int(1), dec(1235)], [.int(2), dec(-1)], [.int(3), dec(10000)], [.int(6), .null]])
        #expect(errors[3]?.message == "12345.6 is out of the range of DECIMAL(6, 2)")
        #expect(errors[4]?.message == "'ten' is not a number")
    }

    /// Epoch milliseconds more than 9999 years from 1970 are no timestamp (a bad record).
    @Test func timestampsOutOfRangeAreBadRecords() {
        var d = CSVRecordDecoder(fields: Self.fields)
        let m = Millis.maxTimestamp
        let (rows, errors) = run(&d, ["a,1,1,\(m)", "b,1,1,\(m + 1)", "c,1,1,-9223372036854775808", "d,1,1,-\(m)"])
        #expect(rows.map { $0[3] } == [.timestamp(m), .timestamp(-m)])
        #expect(errors[1]?.field == "ts" && errors[1]?.message.contains("out of range") == true)
        #expect(errors[2]?.field == "ts" && errors[2]?.message.contains("out of range") == true)
    }

    @Test func badRecordsLeaveNothingBehind() {
        var d = CSVRecordDecoder(fields: Self.fields)
        let (rows, errors) = run(&d, ["a,1.5,x,0", "b,oops,1,0", "c,1,2,yesterday", "d,1", "\"open,1,2,3", "ok,1,2,3"])
        #expect(errors[0]?.description == "field 'n': 'x' is not a whole number")
        #expect(errors[1]?.field == "temp")
        #expect(errors[2]?.field == "ts")
        #expect(errors[3]?.message.contains("column 3 is missing") == true)
        #expect(errors[4]?.message == "unterminated quote")
        #expect(rows.count == 1 && rows[0][0] == .string("ok"))
    }

    @Test func aHeaderWithoutTheColumnIsAnError() {
        let header = Array("a,b".utf8)
        let r = header.withUnsafeBytes { CSVRecordDecoder.bind(fields: Self.fields, header: $0) }
        guard case .failure(let e) = r else { Issue.record("bound"); return }
        #expect(e.message == "no column 'device' in the CSV header (a, b)")
    }
}
