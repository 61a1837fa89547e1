public import SluiceCore

/// Punctuation and operators.
public enum Punct: String, Sendable, CaseIterable {
    case leftParen = "(", rightParen = ")", comma = ",", semicolon = ";", dot = "."
    case star = "*", plus = "+", minus = "-", slash = "/", percent = "%"
    case eq = "=", neq = "<>", bangEq = "!=", lt = "<", le = "<=", gt = ">", ge = ">="
    case concat = "||", arrow = "=>"
}

public enum TokenKind: Sendable, Equatable {
    case keyword(Keyword)
    /// An unquoted name that is not a keyword.
    case identifier
    /// A double-quoted name.
    case quotedIdentifier
    /// A single-quoted string.
    case string
    case number
    case punct(Punct)
    /// Text the lexer could not make a token of (a diagnostic says why).
    case error
    case eof
}

public struct Token: Sendable, Equatable {
    public var kind: TokenKind
    public var span: SourceSpan

    public init(_ kind: TokenKind, _ span: SourceSpan) {
        self.kind = kind
        self.span = span
    }
}
