import Testing
@testable import SluiceCore

@Suite("JSON values")
struct JSONTests {
    @Test func parsesEveryKindOfValue() throws {
        let v = try JSONValue.parse(#" {"a": 1, "b": [true, false, null], "c": "x\ny", "d": -2.5e3, "e": {}} "#)
        #expect(v["a"] == .int(1))
        #expect(v["b"] == [true, false, nil])
        #expect(v["c"] == "x\ny")
        #expect(v["d"] == .double(-2500))
        #expect(v["e"] == .object(JSONObject()))
        #expect(v.objectValue?.keys == ["a", "b", "c", "d", "e"])
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let v = try JSONValue.parse(#""\u00e9\ud83d\ude00\t\"\\\/""#)
        #expect(v == .string("é😀\t\"\\/"))
    }

    @Test func serializesWithEscapesAndRoundTrips() throws {
        let v: JSONValue = ["s": "quote \" backslash \\ newline \n tab \t bell \u{07}", "n": 12, "d": 0.1, "arr": [1, "two"], "nul": nil]
        let text = v.serialized()
        #expect(text == #"{"s":"quote \" backslash \\ newline \n tab \t bell \u0007","n":12,"d":0.1,"arr":[1,"two"],"nul":null}"#)
        #expect(try JSONValue.parse(text) == v)
        #expect(try JSONValue.parse(v.serialized(pretty: true)) == v)
    }

    /// Strings are scanned for what needs escaping eight bytes at a time: a quote, a backslash or a
    /// control character at any position of a long string is escaped, and the text parses back.
    @Test func everyPositionOfALongStringIsChecked() throws {
        for special in ["\"", "\\", "\n", "\u{01}", "\u{1F}", "é"] {
            for at in 0..<24 {
                let s = String(repeating: "a", count: at) + special + String(repeating: "b", count: 23 - at)
                let text = JSONValue.string(s).serialized()
                #expect(try JSONValue.parse(bytes: Array(text.utf8)) == .string(s), "\(special) at \(at): \(text)")
                #expect(special == "é" || text.count > s.utf8.count + 2, "\(special) at \(at) escaped")
            }
        }
    }

    @Test func nonFiniteNumbersBecomeNull() {
        #expect(JSONValue.double(.infinity).serialized() == "null")
        #expect(JSONValue.double(.nan).serialized() == "null")
    }

    @Test func bigIntegersFallBackToDouble() throws {
        #expect(try JSONValue.parse("9223372036854775807") == .int(Int64.max))
        #expect(try JSONValue.parse("9223372036854775808") == .double(9223372036854775808))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":}", "tru", "01", "1.", "-", "\"abc", "\"\u{01}\"", "{\"a\" 1}", "[1 2]", "1 2",
        "\"\\x\"", "\"\\ud800\"", "nul", "{'a':1}", "\"\\u12\"",
    ])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes: [0x22, 0xff, 0xfe, 0x22]) }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try JSONValue.parse(ok) }
    }

    @Test func errorsCarryTheOffset() {
        do {
            _ = try JSONValue.parse("[1, 2, x]")
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 7)
        }
    }

    /// A checkpoint's large parts are written when the document is: through a flush, the text
    /// leaves a megabyte at a time, never whole, and reads back as the same document.
    @Test func deferredArraysAreWrittenPieceByPieceAndReadAsTheirText() throws {
        let rows = (0..<40_000).map { i in "row \(i) " + String(repeating: "x", count: 50) }
        let doc: JSONValue = ["seq": 7, "rows": JSONValue.rawArray(rows) { .string($0) }]
        var flushed: [UInt8] = [], largest = 0, flushes = 0
        var out: [UInt8] = []
        let flush: JSONFlush = { b in
            largest = max(largest, b.count)
            flushed += b
            flushes += 1
            b.removeAll(keepingCapacity: true)
        }
        doc.write(to: &out, flush: flush)
        flush(&out)
        #expect(flushes >= 3, "about 2.4 MB of text, a megabyte at a time")
        #expect(largest < JSONValueFlush.size + 200)
        #expect(flushed == Array(doc.serialized().utf8))
        let back = try JSONValue.parse(bytes: flushed)
        #expect(back["rows"]?.arrayValue?.count == 40_000 && back["rows"]?.arrayValue?[39_999] == .string(rows[39_999]))
        // As a value: its array reads through, and two with the same text are equal.
        #expect(doc["rows"]?.arrayValue?.count == 40_000)
        #expect(JSONValue.rawArray([1, 2]) { .int(Int64($0)) } == JSONValue.rawArray([1, 2]) { .int(Int64($0)) })
        #expect(JSONValue.rawArray([1, 2]) { .int(Int64($0)) } != JSONValue.rawArray([1, 3]) { .int(Int64($0)) })
    }
}
