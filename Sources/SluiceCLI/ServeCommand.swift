import Foundation
import SluiceCore
import SluiceEngine
import SluiceServer
import SluiceSQL
import SluiceStreams
import Synchronization

/// `sluice serve [--listen HOST:PORT] [--data-dir DIR] [FILE.sql ...]`
struct ServeCommand {
    let out: OutputStream
    let err: OutputStream

    static let usage = """
        usage: sluice serve [--listen 127.0.0.1:4567] [--data-dir DIR] [--s3-dir DIR] [--iterator-ttl SECONDS]
                            [--create-delay S] [--update-delay S] [--consumer-delay S] [--enforce-limits]
                            [--require-auth --access-key ID:SECRET ... [--console-token TOKEN]] [--checkpoint-interval SECONDS]
                            [--lambda FUNCTION=COMMAND ...] [FILE.sql | APP.json ...]
          Serves the Kinesis Data Streams API (X-Amz-Target Kinesis_20131202.*) and the Firehose API
          (Firehose_20150804.*), JSON 1.1 over HTTP/1.1, on the stream store of DIR, so boto3, the AWS CLI and the
          SDKs in JSON mode work unchanged with --endpoint-url http://HOST:PORT. Firehoses deliver to S3
          destinations as directories: arn:aws:s3:::BUCKET is --s3-dir/BUCKET (default DIR/s3). Every firehose
          defined in DIR is delivered while the server runs, and flushed when it stops. It binds to loopback
          unless told otherwise (--listen 0.0.0.0:4567, which requires --require-auth). --enforce-limits applies Kinesis's per-shard limits to
          provisioned streams (writes 1 MiB/s and 1,000 records/s, reads 2 MiB/s and 5 calls/s). The delays (0 by
          default) keep new streams CREATING, resharded streams UPDATING and new consumers CREATING for that long,
          as Kinesis does for seconds, so clients' waits and state checks can be tested.
          Any SigV4-signed request is accepted, unless --require-auth: then each request's signature is
          verified against the --access-key pairs (unknown keys, bad signatures and 15-minute skew refused), and
          the web console is at the address printed at start, with its token (--console-token, or one made
          at start), which its requests to the SQL API and /metrics carry as a bearer token. GET /health answers ok; GET /metrics is in the Prometheus text format. While it runs, DIR/server.json holds its
          URL and process id, so that `sluice stream` commands given DIR go through it. Query files named after the options run
          as jobs on the same store, with checkpoints (every 10 s, or --checkpoint-interval), until SIGINT or
          SIGTERM stop the server and the jobs at a checkpoint. Each persistent query runs on a thread of its own.
          A Kinesis Data Analytics application (APP.json, as for `sluice run`) runs the same way: each input reads
          the stream its ARN names (producers put into it through the Kinesis API), its outputs write streams,
          firehoses (delivering under --s3-dir) and Lambda commands (--lambda).
        """

    func run(_ argv: ArraySlice<String>) throws -> Int32 {
        let a = try Arguments(argv, valued: ["listen", "data-dir", "s3-dir", "fsync", "iterator-ttl", "create-delay", "update-delay", "consumer-delay", "access-key", "checkpoint-interval", "console-token", "lambda"], booleans: ["enforce-limits", "require-auth"])
        var keys: [String: String]? = nil
        if a.flag("require-auth") {
            var k: [String: String] = [:]
            for spec in a.values("access-key") {
                guard let colon = spec.firstIndex(of: ":"), colon != spec.startIndex, spec.index(after: colon) != spec.endIndex else {
                    throw UsageError("--access-key takes ID:SECRET, not '\(spec)'")
                }
                k[String(spec[..<colon])] = String(spec[spec.index(after: colon)...])
            }
            guard !k.isEmpty else { throw UsageError("--require-auth needs at least one --access-key ID:SECRET") }
            keys = k
        } else if !a.values("access-key").isEmpty || a.value("console-token") != nil {
            throw UsageError("--access-key and --console-token are used with --require-auth")
        }
        // Under --require-auth the console's token: given, or made now (and printed with the
        // console's address, as a notebook server prints its own).
        var consoleToken: String? = nil
        if keys != nil {
            if let t = a.value("console-token") {
                guard t.count >= 16, t.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 }) else {
                    throw UsageError("--console-token takes at least 16 letters, digits, '-' or '_'")
                }
                consoleToken = t
            } else {
                var rng = SystemRandomNumberGenerator()
                consoleToken = (0..<32).map { _ in String(UInt8.random(in: 0...15, using: &rng), radix: 16) }.joined()
            }
        }
        let listen = a.value("listen") ?? "127.0.0.1:4567"
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else {
            throw UsageError("--listen takes HOST:PORT, not '\(listen)'")
        }
        let hostName = String(listen[..<colon])
        // Off loopback anyone who can reach the port could run SQL (which reads and writes files)
        // and the APIs: credentials are required there.
        let loopback = hostName == "localhost" || hostName.hasPrefix("127.") || hostName == "::1" || hostName == "[::1]"
        if !loopback && keys == nil {
            throw UsageError("listening on \(hostName) needs --require-auth --access-key ID:SECRET: off loopback, every request (the SQL API, the Kinesis and Firehose APIs) must be signed")
        }
        var files: [(SourceFile, Script)] = []
        for path in a.positionals {
            if path.lowercased().hasSuffix(".json") {
                // A Kinesis Data Analytics application: its inputs read the streams their ARNs
                // name (put into them through the API), its outputs go to streams and firehoses.
                guard let data = FileManager.default.contents(atPath: path) else {
                    err.line("error: cannot read \(path)")
                    return 1
                }
                var options = KDARun.Options(s3Dir: a.value("s3-dir") ?? SluiceMain.dataDirectory(a) + "/s3")
                for spec in a.values("lambda") {
                    guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else { throw UsageError("--lambda takes FUNCTION=COMMAND, not '\(spec)'") }
                    options.lambdas[String(spec[..<eq])] = String(spec[spec.index(after: eq)...])
                }
                let (file, parsed) = try KDARun.read(path, [UInt8](data)).script(options)
                if parsed.hasErrors {
                    for d in parsed.diagnostics { err.write(DiagnosticRenderer.render(d, in: file)) }
                    return 1
                }
                files.append((file, parsed.script))
                continue
            }
            guard let (file, parsed) = RunCommand.readQueryFile(path, err) else { return 1 }
            files.append((file, parsed.script))
        }
        func millis(_ flag: String, allowZero: Bool) throws -> Int64? {
            guard let t = a.value(flag) else { return nil }
            guard let secs = Double(t), allowZero ? secs >= 0 : secs > 0, let ms = Millis.fromSeconds(secs), ms <= Millis.maxTimestamp else {
                throw UsageError("--\(flag) takes seconds, not '\(t)'")
            }
            return ms
        }
        let ttl = try millis("iterator-ttl", allowZero: false)
        let createDelay = try millis("create-delay", allowZero: true), updateDelay = try millis("update-delay", allowZero: true)
        let consumerDelay = try millis("consumer-delay", allowZero: true)
        let store = try SluiceMain.openStore(a, warnings: err) { c in
            if let t = ttl { c.iteratorTTLMillis = t }
            if let d = createDelay { c.createDelayMillis = d }
            if let d = updateDelay { c.updateDelayMillis = d }
            if let d = consumerDelay { c.consumerCreationMillis = d }
        }
        defer { store.close() }
        let engine = Engine(store: store)
        // One query that fails stops alone; the server and the other queries go on, each on a
        // thread of its own.
        engine.isolateFailures = true
        engine.threadedQueries = true
        if let t = a.value("checkpoint-interval") {
            guard let secs = Double(t), secs > 0, let ms = Millis.fromSeconds(secs), ms <= Millis.maxTimestamp else {
                throw UsageError("--checkpoint-interval takes seconds, not '\(t)'")
            }
            engine.checkpointIntervalMillis = max(1, ms)
        }
        // Query files log as `sluice run` does: start, checkpoints, alerts, final counts.
        let log = EventLog(.plain, err)
        engine.onEvent = { log.log($0) }
        let queryCounters = Mutex<[QueryCounters]>([])
        for (file, script) in files {
            do {
                try engine.load(script)
            } catch {
                for d in error.diagnostics { err.write(DiagnosticRenderer.render(d, in: file)) }
                if let m = error.message { err.line("error: \(m)") }
                return 1
            }
        }
        // What clients defined through the SQL API in earlier runs, after the files (so that the
        // queries keep their numbers, and with them their checkpoints).
        let sql = ServerSQL(engine: engine, dataDirectory: store.configuration.dataDirectory)
        if let failed = sql.loadCatalog() {
            for d in failed.diagnostics { err.write(DiagnosticRenderer.render(d, in: failed.file)) }
            if let m = failed.message { err.line("error: \(m)") }
            err.line("error: the catalog \(sql.catalogPath) no longer loads; fix or remove the statement named above")
            return 1
        }
        for text in engine.output { out.line(text) }
        var buckets = a.value("s3-dir") ?? store.configuration.dataDirectory + "/s3"
        if !buckets.hasPrefix("/") { buckets = FileManager.default.currentDirectoryPath + "/" + buckets }
        let host: FirehoseHost
        do {
            host = try FirehoseHost(store: store, bucketsDirectory: buckets, deliveredByJobs: Set(engine.firehoses.map(\.config.name)),
                                    open: { config in try Engine.openFirehose(config, store: store, clock: SystemClock()) },
                                    log: { line in FileHandle.standardError.write(Data(("sluice serve: " + line + "\n").utf8)) })
        } catch {
            err.line("error: \(error)")
            return 1
        }
        sql.firehosesChanged = { host.jobsDeliver($0) }
        let service = Service(store: store, accessKeys: keys, firehoses: host, extraMetrics: { ServeCommand.metrics(queryCounters.withLock { $0 }) }, sql: sql,
                              consoleToken: consoleToken)
        let server: HTTPServer
        do {
            server = try HTTPServer(host: hostName, port: port) { service.handle($0) }
        } catch {
            err.line("error: \(error)")
            return 1
        }
        server.start()
        host.start()
        // Clients given the same data directory find the server here (a wildcard address is
        // reached over loopback).
        let reachable = hostName == "0.0.0.0" || hostName == "::" || hostName == "[::]" ? "127.0.0.1" : hostName
        do {
            try ServerAddress.write(url: "http://\(reachable):\(server.port)", dataDirectory: store.configuration.dataDirectory)
        } catch {
            err.line("warning: \(error); commands given this data directory will not find the server (give them --server)")
        }
        defer { ServerAddress.remove(dataDirectory: store.configuration.dataDirectory) }
        err.line("listening on http://\(hostName):\(server.port) (Kinesis Data Streams and Firehose APIs), data in \(store.configuration.dataDirectory)")
        if let t = consoleToken { err.line("console: http://\(hostName):\(server.port)/?token=\(t)") }
        err.flush()
        out.flush()
        signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
        var status: Int32 = 0
        do {
            queryCounters.withLock { $0 = engine.counters }
            while !stopRequested.load(ordering: .relaxed) {
                let (read, counters) = try sql.withEngine { e in (try e.step(), e.counters) }
                queryCounters.withLock { $0 = counters }
                err.flush()
                if !read { usleep(50_000) }
            }
        } catch {
            err.line("error: \(error)")
            status = 1
        }
        server.stop()
        // Every firehose is flushed, each on its own; one that cannot be (a full disk) keeps its
        // records in its stream, delivered when the server starts again.
        for (name, why) in host.stop() {
            err.line("error: firehose \(name): the final delivery failed: \(why); its records stay in its stream and are delivered when the server starts again")
            status = 1
        }
        do { try sql.withEngine { try $0.stop() } } catch {
            err.line("error: \(error)")
            status = 1
        }
        for c in engine.counters { log.summary(c) }
        err.line(status == 0 ? "stopped" : "stopped with errors")
        return status
    }

    /// The server's queries on /metrics: records in, rows out, bad and late records, and the
    /// watermark's lag behind the newest event time read, per query.
    static func metrics(_ counters: [QueryCounters]) -> String {
        let series: [(String, String, String, (QueryCounters) -> Int64?)] = [
            ("sluice_query_records_in_total", "counter", "Records the query read.", { $0.recordsIn }),
            ("sluice_query_rows_out_total", "counter", "Rows the query emitted.", { $0.rowsOut }),
            ("sluice_query_bad_records_total", "counter", "Records the query could not decode or compute.", { $0.bad }),
            ("sluice_query_late_records_total", "counter", "Records that arrived behind the query's watermark.", { $0.late }),
            ("sluice_query_watermark_lag_milliseconds", "gauge", "How far the query's watermark is behind the newest event time it read.", { $0.watermarkLagMillis }),
        ]
        var out = ""
        for (name, type, help, value) in series {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for c in counters {
                guard let v = value(c) else { continue }
                let label = c.name.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"").replacingAll("\n", with: "\\n")
                out += "\(name){query=\"\(label)\"} \(v)\n"
            }
        }
        return out
    }
}
