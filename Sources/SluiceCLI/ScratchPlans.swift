import Foundation
import SluiceEngine
import SluiceSQL
import SluiceStreams

/// Plans every statement of a script against a scratch store that is removed at once: what
/// `check` and `run --dry-run` report, without opening the data directory (so a running job
/// does not stand in the way and nothing is written there).
func planOnScratchStore(_ script: Script, _ label: String) throws -> [Engine.PlannedQuery] {
    try planOnScratchStore(label) { try $0.plans(script) }
}

/// `body` with an engine over a scratch store that is removed at once.
func planOnScratchStore<R>(_ label: String = "plan", _ body: (Engine) throws -> R) throws -> R {
    let scratch = NSTemporaryDirectory() + "sluice-\(label)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    var config = StoreConfiguration(dataDirectory: scratch)
    config.fsync = .never
    let store = try StreamStore(configuration: config)
    defer { store.close() }
    return try body(Engine(store: store))
}
