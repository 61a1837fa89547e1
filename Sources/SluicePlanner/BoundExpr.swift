public import SluiceCore

/// An expression with its names resolved to input columns and its type known.
public indirect enum BoundExpr: Sendable, Equatable {
    /// Input column `index` (named `name` for EXPLAIN).
    case column(Int, name: String, ColumnType)
    case literal(Value, ColumnType)
    case negate(BoundExpr)
    case not(BoundExpr)
    case arithmetic(String, BoundExpr, BoundExpr, ColumnType)
    case compare(String, BoundExpr, BoundExpr)
    case and(BoundExpr, BoundExpr)
    case or(BoundExpr, BoundExpr)
    case isNull(BoundExpr, negated: Bool)
    case inList(BoundExpr, [BoundExpr], negated: Bool)
    case like(BoundExpr, pattern: String, escape: String?, negated: Bool)
    case concat(BoundExpr, BoundExpr)
    case cast(BoundExpr, ColumnType)
    case caseWhen([BoundCase], otherwise: BoundExpr?, ColumnType)
    /// A scalar function by its canonical name (see `Functions`).
    case call(String, [BoundExpr], ColumnType)

    public var type: ColumnType {
        switch self {
        case .column(_, _, let t), .literal(_, let t), .arithmetic(_, _, _, let t), .cast(_, let t), .caseWhen(_, _, let t), .call(_, _, let t):
            return t
        case .negate(let x): return x.type
        case .not, .compare, .and, .or, .isNull, .inList, .like: return .boolean
        case .concat: return .varchar
        }
    }

    /// Whether the expression reads no column (so it can be computed once).
    public var isConstant: Bool {
        switch self {
        case .column: return false
        case .literal: return true
        case .negate(let x), .not(let x), .isNull(let x, _), .cast(let x, _): return x.isConstant
        case .like(let x, _, _, _): return x.isConstant
        case .arithmetic(_, let a, let b, _), .compare(_, let a, let b), .and(let a, let b), .or(let a, let b), .concat(let a, let b):
            return a.isConstant && b.isConstant
        case .inList(let x, let l, _): return x.isConstant && l.allSatisfy(\.isConstant)
        case .caseWhen(let bs, let o, _): return bs.allSatisfy { $0.condition.isConstant && $0.value.isConstant } && (o?.isConstant ?? true)
        case .call(let n, let args, _): return n != "NOW" && args.allSatisfy(\.isConstant)
        }
    }

    /// The input columns read.
    public var columns: Set<Int> {
        switch self {
        case .column(let i, _, _): return [i]
        case .literal: return []
        case .negate(let x), .not(let x), .isNull(let x, _), .cast(let x, _), .like(let x, _, _, _): return x.columns
        case .arithmetic(_, let a, let b, _), .compare(_, let a, let b), .and(let a, let b), .or(let a, let b), .concat(let a, let b):
            return a.columns.union(b.columns)
        case .inList(let x, let l, _): return l.reduce(x.columns) { $0.union($1.columns) }
        case .caseWhen(let bs, let o, _):
            return bs.reduce(o?.columns ?? []) { $0.union($1.condition.columns).union($1.value.columns) }
        case .call(_, let args, _): return args.reduce([]) { $0.union($1.columns) }
        }
    }

    /// The same expression with every column index mapped through `f`.
    public func remapped(_ f: (Int) -> Int) -> BoundExpr {
        switch self {
        case .column(let i, let n, let t): return .column(f(i), name: n, t)
        case .literal: return self
        case .negate(let x): return .negate(x.remapped(f))
        case .not(let x): return .not(x.remapped(f))
        case .arithmetic(let o, let a, let b, let t): return .arithmetic(o, a.remapped(f), b.remapped(f), t)
        case .compare(let o, let a, let b): return .compare(o, a.remapped(f), b.remapped(f))
        case .and(let a, let b): return .and(a.remapped(f), b.remapped(f))
        case .or(let a, let b): return .or(a.remapped(f), b.remapped(f))
        case .isNull(let x, let n): return .isNull(x.remapped(f), negated: n)
        case .inList(let x, let l, let n): return .inList(x.remapped(f), l.map { $0.remapped(f) }, negated: n)
        case .like(let x, let p, let e, let n): return .like(x.remapped(f), pattern: p, escape: e, negated: n)
        case .concat(let a, let b): return .concat(a.remapped(f), b.remapped(f))
        case .cast(let x, let t): return .cast(x.remapped(f), t)
        case .caseWhen(let bs, let o, let t):
            return .caseWhen(bs.map { BoundCase(condition: $0.condition.remapped(f), value: $0.value.remapped(f)) }, otherwise: o?.remapped(f), t)
        case .call(let n, let args, let t): return .call(n, args.map { $0.remapped(f) }, t)
        }
    }

    /// SQL-like text for EXPLAIN.
    public var text: String {
        switch self {
        case .column(_, let n, _): return n
        case .literal(let v, let t):
            switch v {
            case .string(let s): return "'" + s.replacingAll("'", with: "''") + "'"
            case .timestamp(let ms): return "TIMESTAMP '\(TimeFormat.iso8601(ms))'"
            case .interval(let ms): return "INTERVAL '\(ms)' MILLISECOND"
            case .null: return t == .varchar ? "NULL" : "CAST(NULL AS \(t.rawValue))"
            default: return v.description
            }
        case .negate(let x): return "-(\(x.text))"
        case .not(let x): return "NOT (\(x.text))"
        case .arithmetic(let o, let a, let b, _): return "(\(a.text) \(o) \(b.text))"
        case .compare(let o, let a, let b): return "\(a.text) \(o) \(b.text)"
        case .and(let a, let b): return "(\(a.text) AND \(b.text))"
        case .or(let a, let b): return "(\(a.text) OR \(b.text))"
        case .isNull(let x, let n): return "\(x.text) IS \(n ? "NOT " : "")NULL"
        case .inList(let x, let l, let n): return "\(x.text) \(n ? "NOT " : "")IN (\(l.map(\.text).joined(separator: ", ")))"
        case .like(let x, let p, _, let n): return "\(x.text) \(n ? "NOT " : "")LIKE '\(p)'"
        case .concat(let a, let b): return "(\(a.text) || \(b.text))"
        case .cast(let x, let t): return "CAST(\(x.text) AS \(t.rawValue))"
        case .caseWhen(let bs, let o, _):
            return "CASE" + bs.map { " WHEN \($0.condition.text) THEN \($0.value.text)" }.joined() + (o.map { " ELSE \($0.text)" } ?? "") + " END"
        case .call(let n, let args, _): return "\(n)(\(args.map(\.text).joined(separator: ", ")))"
        }
    }
}

public struct BoundCase: Sendable, Equatable {
    public var condition: BoundExpr
    public var value: BoundExpr
}

