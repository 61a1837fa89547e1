import Testing
import SluiceCore
@testable import SluiceSQL

@Suite("Lexer")
struct LexerTests {
    func kinds(_ s: String) -> [TokenKind] { Lexer.tokenize(s).tokens.map(\.kind) }

    @Test func tokensCarryByteSpans() {
        let out = Lexer.tokenize("SELECT é1, 'x''y' FROM \"t\"\"q\";")
        #expect(out.diagnostics.isEmpty)
        #expect(out.tokens.map(\.kind) == [.keyword(.SELECT), .identifier, .punct(.comma), .string, .keyword(.FROM), .quotedIdentifier, .punct(.semicolon), .eof])
        #expect(out.tokens[1].span == SourceSpan(start: 7, end: 10))  // é is two bytes
        let bytes = Array("SELECT é1, 'x''y' FROM \"t\"\"q\";".utf8)
        #expect(Lexer.stringValue(bytes, out.tokens[3].span) == "x'y")
        #expect(Lexer.quotedValue(bytes, out.tokens[5].span) == "t\"q")
    }

    @Test func keywordsAreCaseInsensitive() {
        #expect(kinds("select SeLeCt SELECT") == [.keyword(.SELECT), .keyword(.SELECT), .keyword(.SELECT), .eof])
        #expect(kinds("selects") == [.identifier, .eof])
    }

    @Test func operatorsAndNumbers() {
        #expect(kinds("a<>b!=c<=d>=e||f=>g") == [.identifier, .punct(.neq), .identifier, .punct(.bangEq), .identifier, .punct(.le), .identifier,
                                                   .punct(.ge), .identifier, .punct(.concat), .identifier, .punct(.arrow), .identifier, .eof])
        #expect(kinds("42 3.5 1e-3 .5 2E+10") == [.number, .number, .number, .number, .number, .eof])
        #expect(kinds("1-2") == [.number, .punct(.minus), .number, .eof])
    }

    @Test func commentsAreSkippedAndRecorded() {
        let out = Lexer.tokenize("a -- line\n/* block /* nested */ still */ b")
        #expect(out.tokens.map(\.kind) == [.identifier, .identifier, .eof])
        #expect(out.comments.count == 2)
        #expect(out.diagnostics.isEmpty)
        // A ';' inside a comment or a string does not end anything.
        #expect(kinds("'a;b' -- ;\n") == [.string, .eof])
    }

    @Test(arguments: [
        ("'abc", "syntax.unterminated-string"), ("\"abc", "syntax.unterminated-identifier"), ("/* abc", "syntax.unterminated-comment"),
        ("a # b", "syntax.bad-character"), ("a ! b", "syntax.bad-character"), ("12abc", "syntax.bad-number"), ("1e+", "syntax.bad-number"),
        ("\"\"", "syntax.empty-identifier"), ("a | b", "syntax.bad-character"),
    ])
    func badInputBecomesADiagnostic(_ text: String, _ id: String) {
        let out = Lexer.tokenize(text)
        #expect(out.diagnostics.map(\.id).contains(id), "\(out.diagnostics)")
        #expect(out.tokens.last?.kind == .eof)
    }

    @Test func invalidUTF8IsReportedNotCrashedOn() {
        let out = Lexer.tokenize([0x61, 0xff, 0x62, 0x20, 0xc3])
        #expect(out.diagnostics.allSatisfy { $0.id == "syntax.bad-character" })
        #expect(!out.diagnostics.isEmpty)
    }

    @Test func everyByteValueIsHandled() {
        for b in 0..<256 {
            let out = Lexer.tokenize([UInt8(b), 32, UInt8(b), UInt8(b)])
            #expect(out.tokens.last?.kind == .eof)
        }
    }
}
