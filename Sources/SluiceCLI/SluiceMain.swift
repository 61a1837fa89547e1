import Foundation
import SluiceCore
import SluiceStreams
import SluiceDelivery

/// The `sluice` command line. `run` returns the process exit status.
public enum SluiceMain {
    public static let version = "0.1.0"

    static let usage = """
        sluice: streaming SQL analytics with a built-in Kinesis-style sharded stream

        usage:
          sluice run FILE.sql [options]   run a query file (sluice run --help)
          sluice serve [options] [FILE.sql ...]  the Kinesis API over HTTP, query files as jobs (sluice serve --help)
          sluice check FILE.sql ...       report every syntax error, with its position
          sluice fmt [--write] FILE.sql   print (or rewrite) SQL in canonical form, comments kept
          sluice demo [options]           a short tour of the stream store on samples/clicks.jsonl
          sluice stream <command> ...     manage and use streams (sluice stream --help)
          sluice firehose <command> ...   Firehose delivery streams to files (sluice firehose --help)
          sluice gen clicks [options]     seeded sample data (sluice gen --help)
          sluice bench stream [options]   measure put and get throughput of the stream store
          sluice --version

        Every command that touches data takes --data-dir DIR (default: $SLUICE_DATA_DIR, else ./sluice-data).
        """

    public static func run(_ argv: [String]) -> Int32 {
        // A parent may have started us with signals blocked (threads of Dispatch block them and a
        // spawned child inherits the mask): SIGINT and SIGTERM must work, so unblock everything.
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
        signal(SIGPIPE, SIG_IGN)
        let out = OutputStream(fd: 1)
        let err = OutputStream(fd: 2)
        defer {
            out.flush()
            err.flush()
        }
        let args = argv.dropFirst()
        guard let command = args.first, !command.hasPrefix("--data-dir") else {
            // No command: the interactive session.
            do { return try ReplCommand(out: out, err: err).run(args) } catch let e as UsageError {
                err.line("error: \(e.message)")
                return 2
            } catch {
                err.line("error: \(error)")
                return 1
            }
        }
        do {
            switch command {
            case "stream":
                return try StreamCommands(out: out, err: err).run(args.dropFirst())
            case "firehose":
                return try FirehoseCommands(out: out, err: err).run(args.dropFirst())
            case "bench":
                return try BenchCommand(out: out, err: err).run(args.dropFirst())
            case "serve":
                if args.dropFirst().first == "--help" { out.line(ServeCommand.usage); return 0 }
                return try ServeCommand(out: out, err: err).run(args.dropFirst())
            case "repl":
                if args.dropFirst().first == "--help" { out.line(ReplCommand.usage); return 0 }
                return try ReplCommand(out: out, err: err).run(args.dropFirst())
            case "run":
                if args.dropFirst().first == "--help" { out.line(RunCommand.usage); return 0 }
                return try RunCommand(out: out, err: err).run(args.dropFirst())
            case "check":
                return CheckCommand(out: out, err: err).check(args.dropFirst())
            case "fmt":
                return try CheckCommand(out: out, err: err).fmt(args.dropFirst())
            case "demo":
                return try DemoCommand(out: out, err: err).run(args.dropFirst())
            case "gen":
                return try GenCommand(out: out).run(args.dropFirst())
            case "--version", "version":
                out.line("sluice \(version)")
                return 0
            case "--help", "-h", "help":
                out.line(usage)
                return 0
            default:
                let hint = closest(command, in: ["run", "repl", "serve", "stream", "firehose", "bench", "check", "fmt", "demo", "gen", "help", "version"]).map { " (did you mean '\($0)'?)" } ?? ""
                throw UsageError("unknown command '\(command)'\(hint)")
            }
        } catch let e as UsageError {
            err.line("error: \(e.message)")
            err.line("run 'sluice --help' for usage")
            return 2
        } catch let e as StreamError {
            err.line("error: \(e.name): \(e.message)")
            return 1
        } catch let e as DeliveryError {
            err.line("error: \(e.code.rawValue): \(e.message)")
            return 1
        } catch {
            err.line("error: \(error)")
            return 1
        }
    }

    /// The data directory: --data-dir, else $SLUICE_DATA_DIR, else ./sluice-data.
    static func dataDirectory(_ args: Arguments) -> String {
        if let d = args.value("data-dir") { return d }
        if let d = ProcessInfo.processInfo.environment["SLUICE_DATA_DIR"], !d.isEmpty { return d }
        return "sluice-data"
    }

    static func openStore(_ args: Arguments, warnings err: OutputStream? = nil, tweak: (inout StoreConfiguration) -> Void = { _ in }) throws -> StreamStore {
        var config = StoreConfiguration(dataDirectory: dataDirectory(args))
        tweak(&config)
        if let f = args.value("fsync") {
            guard let p = FsyncPolicy(f) else { throw UsageError("--fsync takes never, always, interval or interval:<ms>, not '\(f)'") }
            config.fsync = p
        }
        if args.flag("enforce-limits") { config.enforceThroughputLimits = true }
        let store = try StreamStore(configuration: config)
        // Damage is loud, whatever the command: records that were acknowledged cannot be read.
        for w in store.recoveryReport { err?.line("error: DATA DAMAGED: \(w)") }
        err?.flush()
        return store
    }
}
