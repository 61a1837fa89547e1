import SluiceCore
import SluiceDataflow
import SluicePlanner

/// Where the SQL side meets execution: bound expressions become physical ones.
enum Lowering {
    static func expr(_ e: BoundExpr) -> PhysicalExpr {
        switch e {
        case .column(let i, _, _): return .column(i)
        case .literal(let v, _): return .literal(v)
        case .negate(let x): return .negate(expr(x))
        case .not(let x): return .not(expr(x))
        case .arithmetic(let op, let a, let b, _):
            let o: ArithmeticOp
            switch op {
            case "+": o = .add
            case "-": o = .subtract
            case "*": o = .multiply
            case "/": o = .divide
            default: o = .modulo
            }
            return .arithmetic(o, expr(a), expr(b))
        case .compare(let op, let a, let b):
            let o: CompareOp
            switch op {
            case "=": o = .eq
            case "<>": o = .neq
            case "<": o = .lt
            case "<=": o = .le
            case ">": o = .gt
            default: o = .ge
            }
            return .compare(o, expr(a), expr(b))
        case .and(let a, let b): return .and(expr(a), expr(b))
        case .or(let a, let b): return .or(expr(a), expr(b))
        case .isNull(let x, let n): return .isNull(expr(x), negated: n)
        case .inList(let x, let l, let n): return .inList(expr(x), l.map(expr), negated: n)
        case .like(let x, let p, let esc, let n): return .like(expr(x), pattern: p, escape: esc?.first, negated: n)
        case .concat(let a, let b): return .concat(expr(a), expr(b))
        case .cast(let x, let t): return .cast(expr(x), to: t)
        case .caseWhen(let bs, let o, _):
            return .caseWhen(branches: bs.map { WhenThen(expr($0.condition), expr($0.value)) }, otherwise: o.map(expr))
        case .call(let name, let args, _):
            guard let f = ScalarFunction(rawValue: name) else { return .literal(.null) }
            return .call(f, args.map(expr))
        }
    }

    static func aggregate(_ a: AggregateCall) -> AggregateFunction {
        switch a.function {
        case "COUNT": return a.argument == nil ? .countStar : (a.distinct ? .countDistinct : .count)
        case "SUM": return .sum
        case "AVG": return .avg
        case "MIN": return .min
        case "MAX": return .max
        case "STDDEV_POP": return .stddevPop
        case "VAR_SAMP": return .varSamp
        case "VAR_POP": return .varPop
        case "APPROX_COUNT_DISTINCT": return .approxCountDistinct
        case "PERCENTILE": return .percentile
        case "FIRST_VALUE": return .firstValue
        case "LAST_VALUE": return .lastValue
        case "LAG": return .lag
        case "LEAD": return .lead
        case "NTH_VALUE": return .nthValue
        case "EXP_AVG": return .expAvg
        default: return .stddevSamp
        }
    }

    /// Evaluates a constant expression for the optimizer's constant folding (nil when it errs).
    static let fold: Optimizer.Fold = { e in
        var ev = Evaluator()
        let batch = Batch(schema: Schema([]), columns: [], count: 1)
        let v = ev.evaluate(expr(e), batch)
        return ev.errors.isEmpty ? v.first : nil
    }
}
