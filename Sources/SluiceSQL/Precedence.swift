/// Operator precedence, lowest first. `grammar/precedence.md` is this table in prose, and a test
/// checks that the two agree. Binary operators of one level associate to the left unless the
/// level is non-associative (`a = b = c` is an error).
public enum Precedence {
    public enum Associativity: String, Sendable { case left, right, none }

    public struct Level: Sendable, Equatable {
        public var rank: Int
        public var operators: [String]
        public var associativity: Associativity
    }

    public static let levels: [Level] = [
        Level(rank: 1, operators: ["OR"], associativity: .left),
        Level(rank: 2, operators: ["AND"], associativity: .left),
        Level(rank: 3, operators: ["NOT"], associativity: .right),
        Level(rank: 4, operators: ["IS NULL", "IS NOT NULL"], associativity: .none),
        Level(rank: 5, operators: ["=", "<>", "!=", "<", "<=", ">", ">="], associativity: .none),
        Level(rank: 6, operators: ["BETWEEN", "IN", "LIKE", "NOT BETWEEN", "NOT IN", "NOT LIKE"], associativity: .none),
        Level(rank: 7, operators: ["||"], associativity: .left),
        Level(rank: 8, operators: ["+", "-"], associativity: .left),
        Level(rank: 9, operators: ["*", "/", "%"], associativity: .left),
        Level(rank: 10, operators: ["unary +", "unary -"], associativity: .right),
    ]

    static let or = 1, and = 2, not = 3, isNull = 4, comparison = 5, between = 6, concat = 7, additive = 8,
        multiplicative = 9, unary = 10

    static func of(_ op: BinaryOperator) -> Int {
        switch op {
        case .or: return or
        case .and: return and
        case .eq, .neq, .lt, .le, .gt, .ge: return comparison
        case .concat: return concat
        case .add, .subtract: return additive
        case .multiply, .divide, .modulo: return multiplicative
        }
    }
}
