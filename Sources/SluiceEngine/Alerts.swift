import Foundation
import SluiceCodecs
public import SluiceCore
import SluiceDataflow
import SluiceDelivery
import SluicePlanner
import SluiceSQL
import SluiceStreams

/// An alert as SHOW ALERTS lists it.
public struct AlertStatus: Sendable {
    public var name: String
    public var severity: String
    public var running: Bool
    /// The keys now FIRING (PER column = value) and since when (event time).
    public var firing: [(key: [(String, Value)], since: Int64)]
    public var suppressed: Int64
}

/// What a `CREATE ALERT` compiles to: the conditions over the query's output rows, the key, the
/// time of a row, the message and where notifications go.
struct AlertDefinition {
    var name: String
    var severity: String
    var outputColumns: [String]
    /// Output columns that identify an alert key (PER).
    var per: [Int]
    /// The output column holding a row's event time (`window_end`), if any.
    var at: Int?
    var message: String?
    var cooldownMillis: Int64?
    /// `FIRE WHEN SILENT FOR`: a key fires when it has sent no row for this long.
    var silentForMillis: Int64? = nil
    var silentFor: String? = nil
    /// `SELECT fire, resolve FROM <the query's rows>`, planned.
    var conditions: LogicalPlan
    var targets: [String]
}

extension Engine {
    /// Plans `CREATE ALERT`: the query, its FIRE / RESOLVE conditions over the query's output
    /// columns, the PER key (by default the query's GROUP BY columns other than the window's),
    /// the message's `{column}` references and the NOTIFY targets. Windowed queries are judged on
    /// final rows, so EMIT CHANGES on a window is refused.
    func planAlert(_ a: CreateAlert, _ cat: MemoryCatalog, _ span: SourceSpan) throws(EngineError) -> (LogicalPlan, AlertDefinition) {
        var plan = try planQuery(a.query, cat)
        if plan.isUpdating {
            // An alert judges each row as it stands after a change: the rows a change adds (+I,
            // +U), without their change kind.
            let schema = plan.schema, op = schema.count - 1
            let adds = BoundExpr.inList(.column(op, name: ChangeKind.column, .varchar),
                                        [.literal(.string(ChangeKind.insert.rawValue), .varchar), .literal(.string(ChangeKind.updateAfter.rawValue), .varchar)],
                                        negated: false)
            plan = .project(.filter(plan, adds), (0..<op).map { .column($0, name: schema[$0].name, schema[$0].type) }, names: schema.dropLast().map(\.name))
        }
        func bad(_ id: String, _ m: String, _ help: String? = nil) -> EngineError {
            EngineError(diagnostics: [Diagnostic(id: id, message: m, span: span, help: help)])
        }
        if case .changes? = a.query.emit, Engine.isWindowed(plan) {
            throw bad("plan.alert-needs-final-rows", "an alert judges final window rows; remove EMIT CHANGES from its query")
        }
        let columns = plan.schema.map(\.name)
        func index(_ name: String) -> Int? { columns.firstIndex(of: name) ?? columns.firstIndex { $0.lowercased() == name.lowercased() } }
        var per: [Int] = []
        if a.per.isEmpty {
            for g in a.query.groupBy {
                if case .column(nil, let n) = g.kind, !["window_start", "window_end"].contains(n.name.lowercased()), let i = index(n.name) { per.append(i) }
            }
            // A random cut forest's alerts are per partition (the PARTITION BY columns the query outputs).
            if a.query.groupBy.isEmpty, let forest = Engine.anomalyNode(plan) {
                for case .column(_, let n, _) in forest.partition { if let i = index(n) { per.append(i) } }
            }
        } else {
            for p in a.per {
                guard let i = index(p.name) else {
                    throw bad("bind.unknown-column", "PER names '\(p.name)', which the alert's query does not output",
                              closestMatch(p.name, in: columns).map { "did you mean '\($0)'?" })
                }
                per.append(i)
            }
        }
        // The conditions, bound against the query's output as if it were a stream.
        let schema = plan.schema.map { (name: $0.name, type: $0.type) }
        func planConditions(_ exprs: [(sql: String, name: String)]) throws(EngineError) -> LogicalPlan {
            try RowExpressions.plan(exprs, over: schema, context: "in FIRE WHEN / RESOLVE WHEN", span: span)
        }
        if a.silentFor != nil, a.resolveWhen != nil {
            throw bad("plan.bad-alert", "an alert that fires on silence resolves when the key sends a row again; RESOLVE WHEN does not apply to it",
                      "remove RESOLVE WHEN, or write a second alert for the condition")
        }
        if let d = a.silentFor, d.millis <= 0 { throw bad("plan.bad-alert", "SILENT FOR takes a duration above 0") }
        // A silence alert's rows only tell that their key is alive: no condition fires on them.
        let fire = a.fireWhen.map(Printer.expr) ?? "FALSE"
        for (clause, e) in [("FIRE WHEN", fire), ("RESOLVE WHEN", a.resolveWhen.map(Printer.expr))] {
            guard let e else { continue }
            let t = try planConditions([(e, "c")]).schema[0].type
            if t != .boolean { throw bad("bind.type-mismatch", "\(clause) must be a condition (BOOLEAN), not \(t.rawValue)") }
        }
        let resolve = a.resolveWhen.map(Printer.expr) ?? "NOT (\(fire))"
        let conditions = try planConditions([(fire, "fire"), (resolve, "resolve")])
        guard conditions.schema.allSatisfy({ $0.type == .boolean }) else {
            throw bad("bind.type-mismatch", "FIRE WHEN and RESOLVE WHEN must be conditions (BOOLEAN)")
        }
        if let m = a.message?.value {
            var rest = Substring(m)
            while let open = rest.firstIndex(of: "{") {
                guard let close = rest[open...].firstIndex(of: "}") else { break }
                let name = String(rest[rest.index(after: open)..<close])
                if index(name) == nil {
                    throw bad("bind.unknown-column", "MESSAGE refers to {\(name)}, which the alert's query does not output",
                              closestMatch(name, in: columns).map { "did you mean '{\($0)}'?" })
                }
                rest = rest[rest.index(after: close)...]
            }
        }
        var targets = a.notify.map(\.value)
        if targets.isEmpty { targets = ["stderr"] }
        for t in targets {
            if t == "stderr" || t.hasPrefix("file:") && t.count > 5 { continue }
            if t.hasPrefix("stream:") {
                let s = String(t.dropFirst(7))
                guard cat.stream(named: s) != nil else {
                    throw bad("bind.unknown-target", "NOTIFY 'stream:\(s)': declare the stream first (CREATE STREAM \(s) ...)")
                }
                continue
            }
            if t.hasPrefix("webhook:") {
                if case .failure(let e) = WebhookSender.parse(String(t.dropFirst(8))) { throw bad("plan.bad-alert", "NOTIFY: \(e.message)") }
                continue
            }
            throw bad("plan.bad-alert", "NOTIFY '\(t)' is not a target: 'file:PATH', 'stream:NAME', 'stderr' or 'webhook:URL'")
        }
        // A row's time: its window's end, or else its stream's event time if the query outputs it.
        var eventTime: Int? = nil
        if let w = Engine.sourceNode(plan)?.stream.watermark, let i = index(w.column), plan.schema[i].type == .timestamp { eventTime = i }
        let def = AlertDefinition(name: a.name.name, severity: a.severity?.value ?? "warning", outputColumns: columns, per: per,
                                  at: index("window_end") ?? eventTime, message: a.message?.value, cooldownMillis: a.cooldown?.millis,
                                  silentForMillis: a.silentFor?.millis, silentFor: a.silentFor.map(Printer.interval),
                                  conditions: conditions, targets: targets)
        return (plan, def)
    }

    /// Each running alert, its keys now FIRING and since when (SHOW ALERTS).
    public var alertStatus: [AlertStatus] {
        jobs.compactMap { j in j.observed { j -> AlertStatus? in
            guard let a = j.sink as? AlertSink else { return nil }
            let per = a.def.per.map { a.def.outputColumns[$0] }
            return AlertStatus(name: a.def.name, severity: a.def.severity, running: !j.done,
                               firing: a.machine.firing.map { k in (zip(per, k.key).map { ($0, $1) }, k.since) },
                               suppressed: a.machine.suppressed)
        } }
    }

    /// SHOW ALERTS as text: a line per alert, then a line per FIRING key.
    static func render(_ alerts: [AlertStatus]) -> String {
        guard !alerts.isEmpty else { return "no alerts" }
        var lines: [String] = []
        for a in alerts {
            lines.append("\(a.name) (\(a.severity)): " + (a.firing.isEmpty ? "OK" : "\(a.firing.count) FIRING")
                         + (a.suppressed > 0 ? ", \(a.suppressed) suppressed by the cooldown" : "") + (a.running ? "" : " (ended)"))
            for f in a.firing {
                let key = f.key.isEmpty ? "(all)" : f.key.map { "\($0.0)=\($0.1)" }.joined(separator: ", ")
                lines.append("  \(key) FIRING since \(TimeFormat.iso8601(f.since))")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The random cut forest a query's rows pass through, if any.
    static func anomalyNode(_ p: LogicalPlan) -> AnomalyDetection? {
        switch p {
        case .anomaly(_, let a): return a
        case .filter(let c, _), .project(let c, _, _), .limit(let c, _), .over(let c, _), .lookupJoin(let c, _): return anomalyNode(c)
        default: return nil
        }
    }

    static func isWindowed(_ p: LogicalPlan) -> Bool {
        switch p {
        case .windowAggregate: return true
        case .source: return false
        case .filter(let c, _), .project(let c, _, _), .limit(let c, _), .aggregate(let c, _, _, _, _, _), .over(let c, _), .anomaly(let c, _), .lookupJoin(let c, _), .intervalJoin(let c, _, _),
             .topN(let c, _), .union(let c, _), .windowRows(let c, _, _, _): return isWindowed(c)
        }
    }

    func alertSink(_ def: AlertDefinition) throws(EngineError) -> AlertSink {
        let columns = AlertSink.notificationColumns(def)
        var targets: [any RowSink] = []
        for t in def.targets {
            if t == "stderr" {
                // Where a log takes the engine's events (sluice run, sluice serve: on stderr), the
                // alert's line in it is the notification: one line, not that and a JSON copy.
                if onEvent == nil { targets.append(DescriptorSink(fd: 2, columns: columns)) }
            } else if t.hasPrefix("file:") {
                targets.append(try FileSink(path: String(t.dropFirst(5)), format: .json, columns: columns))
            } else if t.hasPrefix("stream:"), let s = catalog.stream(named: String(t.dropFirst(7))) {
                targets.append(StreamSink(store: store, stream: s.name, columns: columns, partitionKey: "alert"))
            } else if t.hasPrefix("webhook:") {
                do {
                    targets.append(WebhookSink(sender: try WebhookSender(url: String(t.dropFirst(8))), columns: columns))
                } catch {
                    throw EngineError(message: "alert \(def.name): \(error.message)")
                }
            }
        }
        return AlertSink(def, targets: targets, clock: clock)
    }
}

/// The sink of an alert's query: each row is judged by the conditions, the per-key state machine
/// decides, and each transition becomes a notification (one JSON object: `alert`, `severity`,
/// `state`, `at`, the query's columns, `message`) written to every target. The state machine and
/// the targets' positions are part of the query's checkpoint.
final class AlertSink: RowSink {
    let def: AlertDefinition
    let machine: AlertStateMachine
    let targets: [any RowSink]
    private let clock: any SluiceClock
    private let conditions: RowExpressions
    /// Each target's position at the last checkpoint (restored before `begin`).
    private var positions: [Int64?]
    /// Called for each notification: state, event time, the PER key (`col=value, ...`), message.
    var onNotification: ((String, Int64, String, String) -> Void)?
    /// Rows whose conditions could not be evaluated (reported through the counters).
    private(set) var failed = 0

    static func notificationColumns(_ def: AlertDefinition) -> [String] {
        ["alert", "severity", "state", "at"] + def.outputColumns + ["message"]
    }

    init(_ def: AlertDefinition, targets: [any RowSink], clock: any SluiceClock) {
        self.def = def
        self.targets = targets
        self.clock = clock
        machine = AlertStateMachine(cooldownMillis: def.cooldownMillis, silentForMillis: def.silentForMillis)
        conditions = RowExpressions(def.conditions, rowColumns: def.outputColumns, clock: clock)
        positions = Array(repeating: nil, count: targets.count)
    }

    func begin(resumingAt position: Int64?) throws(EngineError) {
        for (i, t) in targets.enumerated() { try t.begin(resumingAt: positions[i]) }
    }

    func write(_ rows: [[Value]]) throws(EngineError) {
        var out: [[Value]] = []
        for row in rows {
            let at: Int64
            if let i = def.at, case .timestamp(let t) = row[i] { at = t } else { at = clock.nowMillis() }
            let key = def.per.map { row[$0] }
            if def.silentForMillis != nil {
                for (transition, when) in machine.heard(key: key, at: at) {
                    // A silence that only this row shows: its FIRING is told as the watermark would have told it.
                    out.append(transition == .firing ? silenceNotification(key: key, at: when, lastSeen: when - def.silentForMillis!)
                                                     : notification(transition, at: when, row: row, text: message(row)))
                }
                continue
            }
            let (fire, resolve) = evaluate(row)
            guard let transition = machine.observe(key: key, fire: fire, resolve: resolve, at: at) else { continue }
            out.append(notification(transition, at: at, row: row, text: message(row)))
        }
        try deliver(out)
    }

    /// Time has moved (the watermark for rows with an event time, else processing time): the keys
    /// of a silence alert that sent nothing for its duration fire. Their notification holds the
    /// key's PER columns (the other columns NULL) and says when the key was last heard.
    func advance(watermark: Int64, now: Int64) throws(EngineError) {
        guard def.silentFor != nil else { return }
        let time = def.at == nil ? now : watermark
        guard time != .min else { return }
        try deliver(machine.silence(at: time).map { silenceNotification(key: $0.key, at: $0.at, lastSeen: $0.lastSeen) })
    }

    /// A silent key's FIRING: its PER columns, the others NULL, and when it was last heard.
    private func silenceNotification(key: [Value], at: Int64, lastSeen: Int64) -> [Value] {
        var row = [Value](repeating: .null, count: def.outputColumns.count)
        for (k, i) in def.per.enumerated() { row[i] = key[k] }
        let text: Value = def.message == nil ? .string("no row for \(def.silentFor ?? "") (the last at \(TimeFormat.iso8601(lastSeen)))") : message(row)
        return notification(.firing, at: at, row: row, text: text)
    }

    /// A notification's row, told to `onNotification` too.
    private func notification(_ transition: AlertStateMachine.Transition, at: Int64, row: [Value], text: Value) -> [Value] {
        if let note = onNotification {
            let key = def.per.map { "\(def.outputColumns[$0])=\(row[$0].description)" }
            var said = ""
            if case .string(let m) = text { said = m }
            note(transition.rawValue, at, key.joined(separator: ", "), said)
        }
        return [.string(def.name), .string(def.severity), .string(transition.rawValue), .timestamp(at)] + row + [text]
    }

    private func deliver(_ out: [[Value]]) throws(EngineError) {
        guard !out.isEmpty else { return }
        for t in targets {
            try t.write(out)
            // Notifications are few and wanted now: an alarm file shows them at once, not at the next checkpoint.
            if let f = t as? FileSink { try f.flush() }
        }
    }

    /// The conditions over one row: (fire, resolve), NULL and errors counting as false.
    private func evaluate(_ row: [Value]) -> (Bool, Bool) {
        guard let r = conditions.evaluate([row])[0] else {
            failed += 1
            return (false, false)
        }
        return (r[0] == .bool(true), r[1] == .bool(true))
    }

    /// The MESSAGE with its `{column}` references filled in; without a MESSAGE, the row's columns
    /// (`name=value, ...`; the PER key's are in the notification already), so that a
    /// notification always says what fired it.
    private func message(_ row: [Value]) -> Value {
        guard let m = def.message else {
            let parts = def.outputColumns.indices.filter { !def.per.contains($0) }.map { "\(def.outputColumns[$0])=\(row[$0].description)" }
            return .string(parts.joined(separator: ", "))
        }
        var out = ""
        var rest = Substring(m)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out += rest[..<open]
            let name = String(rest[rest.index(after: open)..<close])
            if let i = def.outputColumns.firstIndex(of: name) ?? def.outputColumns.firstIndex(where: { $0.lowercased() == name.lowercased() }) {
                out += row[i].description
            }
            rest = rest[rest.index(after: close)...]
        }
        return .string(out + rest)
    }

    func checkpoint() throws(EngineError) -> Int64? {
        for (i, t) in targets.enumerated() { positions[i] = try t.checkpoint() }
        return nil
    }

    func state() -> JSONValue? {
        ["machine": machine.snapshot(), "targets": .array(positions.map { $0.map { .int($0) } ?? .null })]
    }

    func restore(_ j: JSONValue?) throws(EngineError) {
        guard let j else { return }
        if let m = j["machine"] {
            do { try machine.restore(m) } catch { throw EngineError(message: "alert \(def.name): \(error)") }
        }
        let p = j["targets"]?.arrayValue ?? []
        positions = targets.indices.map { $0 < p.count ? p[$0].int64Value : nil }
    }

    func close() throws(EngineError) {
        for t in targets { try t.close() }
    }

    var streamsWritten: [String] { targets.flatMap(\.streamsWritten) }
}

/// Notifications POSTed to a webhook, one JSON object per request, from the sender's worker
/// thread: retried with backoff, failures logged and counted, never blocking the query. At close
/// it waits up to five seconds for what is still queued. At least once across restarts.
final class WebhookSink: RowSink {
    let sender: WebhookSender
    let encoder: RecordEncoder

    init(sender: WebhookSender, columns: [String]) {
        self.sender = sender
        encoder = RecordEncoder(format: .json, columns: columns)
    }

    func write(_ rows: [[Value]]) throws(EngineError) {
        for r in rows {
            var body: [UInt8] = []
            encoder.append(r, to: &body)
            if body.last == 10 { body.removeLast() }
            sender.send(body)
        }
    }

    func close() throws(EngineError) {
        let drained = sender.drain(timeoutMillis: 5_000)
        let c = sender.counters
        if !drained || c.failed > 0 || c.dropped > 0 {
            let line = "webhook \(sender.url): \(c.sent) notifications delivered, \(c.failed) failed, \(c.dropped) dropped"
                + (drained ? "" : ", some still queued after 5 s") + "\n"
            _ = Array(line.utf8).withUnsafeBytes { Foundation.write(2, $0.baseAddress, $0.count) }
        }
    }
}
