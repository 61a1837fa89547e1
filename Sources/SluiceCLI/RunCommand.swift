import Foundation
import SluiceCore
import SluiceEngine
import SluiceSQL
import SluiceStreams
import Synchronization

/// Set by SIGINT or SIGTERM: a running job stops at the next step.
let stopRequested = Atomic<Bool>(false)

/// `sluice run FILE.sql [--data-dir DIR] [--state-dir DIR] [--input STREAM=FILE ...] [--until-end] [--dry-run] [--log-format plain|json]`
struct RunCommand {
    let out: OutputStream
    let err: OutputStream

    static let usage = """
        usage: sluice run FILE.sql [--data-dir DIR] [--state-dir DIR] [--input STREAM=FILE ...] [--arrival-field FIELD] [--fresh] [--until-end]
                                   [--checkpoint-interval SECONDS] [--worker-id W] [--dry-run] [--log-format plain|json]
          Executes every statement of FILE.sql. --input loads a JSON-lines or CSV file into a declared stream
          through the normal put path first. With --until-end the run stops once every input is read and every
          window has closed; without it, it runs until SIGINT or SIGTERM, which stop it at a checkpoint (open
          windows kept). Each query takes a checkpoint every 10 s (--checkpoint-interval) in DIR/queries/; running the same file again
          over the same data directory continues from there, and file sinks are cut back to what the checkpoint
          had written, so no row is written twice.
          With --input and neither --data-dir nor $SLUICE_DATA_DIR, the run is a replay in a scratch data
          directory removed at exit, so running it twice gives the same result; name a data directory to keep it.
          Over a named data directory --input adds the file to what the stream holds (a warning says how many
          records were there); --fresh first empties every stream the file declares (and error_stream) and removes
          the queries' checkpoints, so the run reads only this input and its sinks are written from the start.
          --state-dir DIR keeps the checkpoints there instead of DIR/queries (a restart, after SIGTERM or kill -9,
          resumes from them). --dry-run checks the file and prints each query's logical and physical plan, touching
          no data. While `sluice serve` holds the data directory (or with --server URL), the file goes to the server:
          its definitions join the server's catalog, its persistent queries run there, and each SELECT prints its rows
          as they come (with --until-end, until it has read what its streams hold). The log on stderr has a line per event (query started or resumed, input loaded, checkpoint,
          alert fired or resolved, stop, error, final counts); --log-format json makes each a JSON object.
          --worker-id W makes this run worker W of the applications its streams name (a remote stream declared with
          application = 'APP'): the workers share the stream's shards through the DynamoDB lease table APP, each
          shard's query state moving with its lease through the stream's state directory (README: Scaling out);
          with --until-end the worker stops, letting its leases go, once every shard is read to what it holds.
               sluice run APP.json [--input NAME=FILE ...] [--output STREAM=FILE ...] [--s3-dir DIR] [--lambda FUNCTION=COMMAND ...]
                               [--arrival-field FIELD] [--approximate-arrival-field FIELD] [the options above]
          Runs a Kinesis Data Analytics SQL application from its description (describe-application output, a
          CreateApplication request or a CloudFormation template): --input feeds an input (an in-application
          stream or an input's name prefix), --output writes an in-application stream's rows (ROWTIME first) as
          JSON lines, --approximate-arrival-field FIELD reads APPROXIMATE_ARRIVAL_TIME from each JSON record,
          --s3-dir DIR holds S3 as bucket/key directories (reference data; Firehose outputs deliver to DIR/NAME),
          --lambda FUNCTION=COMMAND runs COMMAND for a Lambda output (the function's event on stdin, its response on stdout).
          grammar/kda.md says what of KDA's SQL runs.
          --arrival-field FIELD (any run with --input) takes each record's arrival, its ROWTIME, from FIELD (ISO-8601
          or epoch ms) and runs on the replay's time instead of the wall clock, so a replay of a processing-time
          query gives the same rows every time; its streams keep every record for the run.
        """

    /// A query file read and parsed, or nil after its syntax errors (or why it cannot be read) went to `err`.
    static func readQueryFile(_ path: String, _ err: OutputStream) -> (SourceFile, ParseResult)? {
        guard let data = FileManager.default.contents(atPath: path) else {
            err.line("error: cannot read \(path)")
            return nil
        }
        let file = SourceFile(name: path, bytes: [UInt8](data))
        let parsed = Parser.parse(bytes: file.bytes)
        if parsed.hasErrors {
            for d in parsed.diagnostics { err.write(DiagnosticRenderer.render(d, in: file)) }
            return nil
        }
        return (file, parsed)
    }

    func run(_ argv: ArraySlice<String>) throws -> Int32 {
        let valued: Set<String> = ["data-dir", "state-dir", "input", "output", "fsync", "log-format", "checkpoint-interval", "server", "arrival-field", "approximate-arrival-field", "s3-dir", "lambda", "worker-id"], booleans: Set<String> = ["until-end", "dry-run", "fresh"]
        let a = try Arguments(argv, valued: valued, booleans: booleans)
        let log = EventLog(try EventLog.format(a.value("log-format")), err)
        guard a.positionals.count == 1 else {
            throw UsageError(a.positionals.isEmpty ? "missing the query file\n" + RunCommand.usage : "one query file at a time")
        }
        // A Kinesis Data Analytics application (APP.json) runs as the statements it amounts to.
        var kda: KDARun? = nil
        if a.positionals[0].lowercased().hasSuffix(".json") {
            guard let data = FileManager.default.contents(atPath: a.positionals[0]) else {
                err.line("error: cannot read \(a.positionals[0])")
                return 1
            }
            kda = try KDARun.read(a.positionals[0], [UInt8](data))
        } else if !a.values("output").isEmpty {
            throw UsageError("--output STREAM=FILE is for a Kinesis Data Analytics application (APP.json); in a .sql file, write a sink")
        } else if let f = a.value("approximate-arrival-field") {
            throw UsageError("--approximate-arrival-field \(f) is for a Kinesis Data Analytics application (APP.json); in a .sql file, declare the column")
        } else if a.value("lambda") != nil || a.value("s3-dir") != nil {
            throw UsageError("--lambda and --s3-dir are for a Kinesis Data Analytics application (APP.json); in a .sql file, declare a sink or a table")
        }
        let read: (SourceFile, ParseResult)?
        if let kda {
            var options = KDARun.Options(approximateArrival: a.value("approximate-arrival-field"))
            for spec in a.values("output") {
                guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else { throw UsageError("--output takes STREAM=FILE, not '\(spec)'") }
                options.outputs.append((String(spec[..<eq]), String(spec[spec.index(after: eq)...])))
            }
            for spec in a.values("lambda") {
                guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex, spec.index(after: eq) != spec.endIndex else {
                    throw UsageError("--lambda takes FUNCTION=COMMAND (the function's name or ARN), not '\(spec)'")
                }
                options.lambdas[String(spec[..<eq])] = String(spec[spec.index(after: eq)...])
            }
            // S3 as a directory of buckets: --s3-dir, else DIR/s3 of a named data directory.
            options.s3Dir = a.value("s3-dir") ?? a.value("data-dir").map { $0 + "/s3" }
            for spec in a.values("input") {
                if let eq = spec.firstIndex(of: "="), let name = try? kda.inputStream(String(spec[..<eq])) { options.fedByFiles.insert(name) }
            }
            let (source, parsed) = try kda.script(options)
            if parsed.hasErrors {
                for d in parsed.diagnostics { err.write(DiagnosticRenderer.render(d, in: source)) }
                return 1
            }
            read = (source, parsed)
        } else {
            read = RunCommand.readQueryFile(a.positionals[0], err)
        }
        guard let (file, parsed) = read else { return 1 }
        if a.flag("dry-run") { return dryRun(file, parsed) }
        if let server = try SluiceMain.server(a) {
            if kda != nil { throw UsageError("a Kinesis Data Analytics application runs standalone for now: stop the server, or give --data-dir another directory") }
            // A server holds the data directory: the file goes to it.
            for option in ["input", "fresh", "state-dir", "checkpoint-interval"] where a.value(option) != nil || a.flag(option) {
                throw UsageError("--\(option) is for a run of its own; the server at \(server.url) holds the data directory and its queries' state"
                                 + (option == "input" ? " (put the file with `sluice stream put`, which goes through the server)" : ""))
            }
            signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
            signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
            return try RemoteRun(client: server, out: out, err: err).run(file, parsed.script, untilEnd: a.flag("until-end"))
        }
        var inputs: [(String, String)] = []
        for spec in a.values("input") {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else { throw UsageError("--input takes STREAM=FILE, not '\(spec)'") }
            let name = String(spec[..<eq])
            inputs.append((try kda?.inputStream(name) ?? name, String(spec[spec.index(after: eq)...])))
        }
        var scratch: String? = nil
        var storeArgs = a
        if !inputs.isEmpty && a.value("data-dir") == nil && (ProcessInfo.processInfo.environment["SLUICE_DATA_DIR"] ?? "").isEmpty {
            scratch = NSTemporaryDirectory() + "sluice-run-\(getpid())"
            // A scratch store goes when the run ends: nothing in it needs to reach the disk.
            storeArgs = try Arguments(["--data-dir", scratch!] + (a.value("fsync") == nil ? ["--fsync", "never"] : []) + argv, valued: valued, booleans: booleans)
        }
        // A replay at the recorded arrival times runs on the replay's clock (see ReplayClock),
        // and its streams keep every record for the run however old the times are.
        var replay: ReplayClock? = nil
        if let field = a.value("arrival-field") {
            guard !inputs.isEmpty else { throw UsageError("--arrival-field \(field) times the records of --input files; give one") }
            replay = ReplayClock(start: 0)
        }
        let store = try SluiceMain.openStore(storeArgs, warnings: err) { config in
            if let r = replay {
                // The replay's time runs ahead of the wall clock's: records stay, iterators last.
                config.clock = r
                config.retentionApplies = false
                config.iteratorTTLMillis = .max / 4
            }
        }
        defer {
            store.close()
            if let s = scratch { try? FileManager.default.removeItem(atPath: s) }
        }
        let engine = replay.map { Engine(store: store, clock: $0) } ?? Engine(store: store)
        if let s = a.value("state-dir") { engine.stateDirectory = s }
        if let w = a.value("worker-id") {
            guard !w.isEmpty, w.utf8.count <= 128, w.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != 47 }) else {
                throw UsageError("--worker-id takes a name of printable characters without spaces or '/', not '\(w)'")
            }
            engine.workerId = w
        }
        if a.flag("fresh") {
            // Start afresh: every stream the file declares (inputs and derived streams) and the
            // error stream are emptied and the queries' checkpoints removed, so the run reads only
            // this run's input and its sinks are written from the start.
            var declared = Set(inputs.map(\.0)).union(["error_stream"])
            for s in parsed.script.statements {
                switch s.kind {
                case .createStream(let c): declared.insert(c.name.name)
                case .createStreamAs(let c): declared.insert(c.name.name)
                default: break
                }
            }
            for stream in declared.sorted() where (try? store.describeStreamSummary(name: stream)) != nil {
                try store.deleteStream(name: stream, enforceConsumerDeletion: true)
            }
            let checkpoints = a.value("state-dir") ?? store.configuration.dataDirectory + "/queries"
            for f in (try? FileManager.default.contentsOfDirectory(atPath: checkpoints)) ?? [] where f.hasPrefix("query-") && f.hasSuffix(".json") {
                try? FileManager.default.removeItem(atPath: checkpoints + "/" + f)
            }
        }
        if let t = a.value("checkpoint-interval") {
            guard let secs = Double(t), secs > 0, let ms = Millis.fromSeconds(secs), ms <= Millis.maxTimestamp else {
                throw UsageError("--checkpoint-interval takes seconds, not '\(t)'")
            }
            engine.checkpointIntervalMillis = max(1, ms)
        }
        engine.onEvent = { log.log($0) }
        do {
            try engine.load(parsed.script)
        } catch {
            for d in error.diagnostics { err.write(DiagnosticRenderer.render(d, in: file)) }
            if let m = error.message { err.line("error: \(m)") }
            return 1
        }
        for text in engine.output { out.line(text) }
        out.flush()
        if !inputs.isEmpty && !a.flag("until-end") {
            // A long-running job stops its loads too.
            signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
            signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
        }
        do {
            var loaders: [InputLoader] = []
            for (stream, file) in inputs {
                // The same file loaded again over a named data directory would be read twice.
                if scratch == nil, let held = try? store.recordCount(name: stream), held > 0 {
                    log.log("warning", "warning: stream \(stream) already holds \(held) records (from an earlier run); --input adds \(file) after them, so the queries read both. Run with --fresh to empty the input streams and start the queries afresh.",
                            [("stream", .string(stream)), ("records", .int(Int64(held)))])
                }
                // Before anything loads: a file that cannot be read stops the run with the reason.
                let fd = open(file, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw EngineError(message: "cannot read \(file): \(String(cString: strerror(errno)))") }
                close(fd)
                loaders.append(try engine.inputLoader(stream: stream, path: file, arrival: replay.map { RecordedArrival(field: a.value("arrival-field")!, clock: $0) }))
            }
            try engine.run(whileLoading: loaders, stop: { stopRequested.load(ordering: .relaxed) }) { l in
                log.log("input", "loaded \(l.put) records from \(l.path) into \(l.stream)" + (l.stopRequested || stopRequested.load(ordering: .relaxed) ? " (stopped)" : ""),
                        [("stream", .string(l.stream)), ("file", .string(l.path)), ("records", .int(Int64(l.put)))])
            }
            if a.flag("until-end") {
                try engine.runUntilEnd()
            } else {
                signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
                signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
                while !stopRequested.load(ordering: .relaxed) {
                    if try !engine.step() { usleep(100_000) }
                }
                if scratch == nil {
                    // A long-running job: stop at a checkpoint, open windows kept; running the
                    // same file again over the same data directory continues where this stopped.
                    try engine.stop()
                    log.log("stop", "stopped at a checkpoint; run the same file over \(store.configuration.dataDirectory) to continue")
                } else {
                    try engine.finish()
                }
            }
        } catch {
            log.log("error", "error: \(error)")
            return 1
        }
        for c in engine.counters { log.summary(c) }
        return 0
    }

    /// `--dry-run`: plans every statement against a scratch store (the data directory is not
    /// opened, so a running job does not stand in the way) and prints each query's plans.
    private func dryRun(_ file: SourceFile, _ parsed: ParseResult) -> Int32 {
        do {
            let plans = try planOnScratchStore(parsed.script, "dry-run")
            for (i, p) in plans.enumerated() {
                out.line("query \(i + 1) (\(p.label)) -> \(p.target)")
                out.line(p.logical)
                out.line(p.physical)
                out.line("")
            }
            out.line("\(plans.count) \(plans.count == 1 ? "query" : "queries") planned; nothing was run")
        } catch let e as EngineError {
            for d in e.diagnostics { err.write(DiagnosticRenderer.render(d, in: file)) }
            if let m = e.message { err.line("error: \(m)") }
            return 1
        } catch {
            err.line("error: \(error)")
            return 1
        }
        return 0
    }
}
