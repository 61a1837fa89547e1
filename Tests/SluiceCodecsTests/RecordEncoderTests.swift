import Testing
import SluiceCore
@testable import SluiceCodecs

@Suite("Record encoder")
struct RecordEncoderTests {
    let row: [Value] = [.timestamp(1_704_067_260_000), .string("a \"b\", c"), .int(-3), .double(0.1), .double(1e21), .null, .bool(true), .string("")]
    let columns = ["window_end", "url", "n", "avg", "big", "missing", "ok", "empty"]

    @Test func jsonLinesInSelectOrder() {
        let e = RecordEncoder(format: .json, columns: columns)
        var out: [UInt8] = []
        e.append(row, to: &out)
        #expect(String(decoding: out, as: UTF8.self)
                == #"{"window_end":"2024-01-01T00:01:00.000Z","url":"a \"b\", c","n":-3,"avg":0.1,"big":1e+21,"missing":null,"ok":true,"empty":""}"# + "\n")
        #expect(e.header.isEmpty)
        // What is written reads back as the same values.
        let back = try? JSONValue.parse(bytes: Array(out.dropLast()))
        #expect(back?["avg"] == .double(0.1) && back?["url"] == .string("a \"b\", c"))
    }

    @Test func csvWithHeaderAndQuoting() {
        let e = RecordEncoder(format: .csv, columns: columns)
        var out = e.header
        e.append(row, to: &out)
        e.append([.timestamp(0), .string("line\nbreak"), .int(1), .double(.nan), .double(2.5), .null, .bool(false), .string(" x")], to: &out)
        #expect(String(decoding: out, as: UTF8.self) == """
            window_end,url,n,avg,big,missing,ok,empty
            2024-01-01T00:01:00.000Z,"a ""b"", c",-3,0.1,1e+21,,true,""
            1970-01-01T00:00:00.000Z,"line
            break",1,,2.5,,false," x"

            """)
    }

    @Test func encodedCSVDecodesBack() throws {
        let e = RecordEncoder(format: .csv, columns: ["a", "b"])
        var out: [UInt8] = []
        e.append([.string("x,\"y\""), .double(3.25)], to: &out)
        var d = CSVRecordDecoder(fields: [FieldSpec(name: "a", type: .varchar), FieldSpec(name: "b", type: .double)])
        var builders = [ColumnBuilder(.varchar), ColumnBuilder(.double)]
        #expect(out.withUnsafeBytes { d.decode($0, into: &builders) } == nil)
        #expect(builders[0].finish().value(0) == .string("x,\"y\""))
        #expect(builders[1].finish().value(0) == .double(3.25))
    }
}
