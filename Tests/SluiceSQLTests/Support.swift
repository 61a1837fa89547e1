import SluiceCore
@testable import SluiceSQL

/// Parses text that must be one clean statement.
func statement(_ sql: String, sourceLocation: SourceLocation = #_sourceLocation) -> Statement? {
    let (s, diags) = Parser.parseStatement(sql)
    if s == nil { Issue.record("did not parse: \(sql)\n\(diags.map(\.description).joined(separator: "\n"))", sourceLocation: sourceLocation) }
    return s
}

/// The expression of `SELECT <expr>`, fully parenthesized, to show how it was grouped.
func grouping(_ expr: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    guard let s = statement("SELECT \(expr)", sourceLocation: sourceLocation), case .query(let q) = s.kind,
          case .expression(let e, _, _) = q.items[0]
    else { return "<no parse>" }
    return full(e)
}

/// Every operator application in parentheses.
func full(_ e: Expr) -> String {
    switch e.kind {
    case .binary(let op, let l, let r): return "(\(full(l)) \(op.rawValue) \(full(r)))"
    case .unary(let op, let x): return "(\(op.rawValue)\(op == .not ? " " : "")\(full(x)))"
    case .isNull(let x, let n): return "(\(full(x)) IS \(n ? "NOT " : "")NULL)"
    case .between(let x, let lo, let hi, let n): return "(\(full(x)) \(n ? "NOT " : "")BETWEEN \(full(lo)) AND \(full(hi)))"
    case .inList(let x, let l, let n): return "(\(full(x)) \(n ? "NOT " : "")IN (\(l.map(full).joined(separator: ", "))))"
    case .like(let x, let p, _, let n): return "(\(full(x)) \(n ? "NOT " : "")LIKE \(full(p)))"
    default: return Printer.expr(e)
    }
}

/// The diagnostics of a text (which is expected to have some).
func diagnostics(_ sql: String) -> [Diagnostic] { Parser.parse(sql).diagnostics }

import Testing
