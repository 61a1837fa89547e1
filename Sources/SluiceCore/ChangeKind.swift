/// The kind of change a row of an updating result stands for (Flink's row kinds): a new row, the
/// old and the new row of an update, or a row withdrawn. An updating plan carries it as its last
/// column, named `op`, as the strings `+I`, `-U`, `+U` and `-D`.
public enum ChangeKind: String, Sendable, CaseIterable {
    case insert = "+I"
    case updateBefore = "-U"
    case updateAfter = "+U"
    case delete = "-D"

    /// Withdraws a row seen before (`-U`, `-D`).
    public var retracts: Bool { self == .updateBefore || self == .delete }

    /// The value of the `op` column.
    public var value: Value { .string(rawValue) }

    public init?(_ v: Value) {
        guard case .string(let s) = v, let k = ChangeKind(rawValue: s) else { return nil }
        self = k
    }

    /// The name of the column that carries the change kind.
    public static let column = "op"
}
