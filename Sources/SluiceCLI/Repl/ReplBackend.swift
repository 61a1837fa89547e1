import Foundation
import SluiceCore
import SluiceEngine
import SluiceSQL
import SluiceStreams

/// What a REPL session runs its statements on: its own engine over the data directory, or the
/// server that holds the directory (`RemoteReplBackend`). The session (prompt, editing, result
/// views, meta commands) is the same either way.
protocol ReplBackend: AnyObject {
    /// Runs a statement that is neither a push query, SET nor DESCRIBE: what it prints.
    func load(_ statement: Statement, _ file: SourceFile) throws(EngineError) -> [String]
    /// DESCRIBE: a stream's or table's definition, or nil when there is none.
    func describe(_ name: String) -> String?
    /// Starts a push query; its rows go to `onRows` as it is stepped. `untilEnd`: the query is to
    /// end once it has read what its streams hold (a script's SELECT).
    func startPush(_ q: Query, _ statement: Statement, _ file: SourceFile, from start: ReadStart, untilEnd: Bool,
                   onRows: @escaping ([[Value]]) -> Void) throws(EngineError) -> any ReplPush
    /// Puts a JSON-lines or CSV file into a stream (at its recorded pace, times `pace`); `stop`
    /// is asked between records. The records put.
    func loadInput(stream: String, path: String, pace: Double?, stop: () -> Bool) throws -> Int
    /// Starts putting a file into a stream beside the prompt (a thread of its own); nil when this
    /// backend loads only in the foreground (`loadInput`).
    func startLoad(stream: String, path: String, pace: Double?) throws -> InputLoader?
    /// A load started with `startLoad` has ended: what it found is reported.
    func finishLoad(_ loader: InputLoader)
    /// While the prompt waits: the persistent queries go on.
    func idle()
    /// The session ends.
    func close()
    /// Names for completion.
    var completionNames: [String] { get }
}

/// A running push query of a session.
protocol ReplPush: AnyObject {
    var columns: [String] { get }
    var emitsChanges: Bool { get }
    var done: Bool { get }
    /// For the status line, where known.
    var counters: QueryCounters? { get }
    var watermark: Int64? { get }
    var newestEventTime: Int64? { get }
    /// Whether, started `untilEnd`, it ends by itself (the server tells when its streams are
    /// read); otherwise the session ends it with `finish` once a step reads nothing.
    var endsByItself: Bool { get }
    /// Reads what there is; whether it read anything.
    func step() throws(EngineError) -> Bool
    /// Ends the input (a script's SELECT, once its streams are read): open windows close.
    func finish() throws(EngineError)
    func stop()
}

/// The session's own engine.
final class LocalReplBackend: ReplBackend {
    let engine: Engine
    init(engine: Engine) { self.engine = engine }

    func load(_ statement: Statement, _ file: SourceFile) throws(EngineError) -> [String] {
        let before = engine.output.count
        try engine.load(Script(statements: [statement]))
        return Array(engine.output.dropFirst(before))
    }

    func describe(_ name: String) -> String? { engine.describe(name) }

    func startPush(_ q: Query, _ statement: Statement, _ file: SourceFile, from start: ReadStart, untilEnd: Bool,
                   onRows: @escaping ([[Value]]) -> Void) throws(EngineError) -> any ReplPush {
        LocalPush(engine: engine, query: try engine.startAdHoc(q, from: start, onRows: onRows))
    }

    func loadInput(stream: String, path: String, pace: Double?, stop: () -> Bool) throws -> Int {
        try engine.loadInput(stream: stream, path: path, pace: pace, stop: stop)
    }

    func startLoad(stream: String, path: String, pace: Double?) throws -> InputLoader? {
        let loader = try engine.inputLoader(stream: stream, path: path, pace: pace)
        Thread { loader.run() }.start()
        return loader
    }

    func finishLoad(_ loader: InputLoader) { engine.finish(loader) }

    func idle() { _ = try? engine.step() }
    func close() { try? engine.stop() }
    var completionNames: [String] { engine.completionNames }
}

final class LocalPush: ReplPush {
    let engine: Engine
    let query: AdHocQuery
    init(engine: Engine, query: AdHocQuery) {
        self.engine = engine
        self.query = query
    }
    var columns: [String] { query.columns }
    var emitsChanges: Bool { query.emitsChanges }
    var done: Bool { query.done }
    var counters: QueryCounters? { query.counters }
    var watermark: Int64? { query.watermark }
    var newestEventTime: Int64? { query.newestEventTime }
    var endsByItself: Bool { false }
    func step() throws(EngineError) -> Bool {
        let busy = try engine.step(query)
        _ = try engine.step()
        return busy
    }
    func finish() throws(EngineError) { try engine.finish(query) }
    func stop() { engine.stop(query) }
}
