import Foundation
import SluiceCore
import SluiceServer
import SluiceStreams
import SluiceDelivery

/// The `sluice` command line. `run` returns the process exit status.
public enum SluiceMain {
    public static let version = "0.1.0"

    static let usage = """
        sluice: streaming SQL analytics with a built-in Kinesis-style sharded stream

        usage:
          sluice [repl] [--data-dir DIR]         the interactive session (the default command)
          sluice run FILE.sql [options]          run a query file headless
          sluice serve [options] [FILE.sql ...]  the Kinesis and Firehose APIs over HTTP, query files as jobs
          sluice check [--syntax-only] FILE.sql ...  report every diagnostic (names, types, streaming rules)
          sluice fmt [--write] FILE.sql ...      print (or rewrite) SQL in canonical form, comments kept
          sluice kda convert APP.json            a Kinesis Data Analytics application in Sluice's own SQL
          sluice demo [options]                  a short tour of the stream store on samples/clicks.jsonl
          sluice stream <command> ...            create, describe, put, get, reshard, delete streams
          sluice firehose <command> ...          Firehose delivery streams to files
          sluice gen clicks|sensors|payments|logs|shapes|bids|nexmark [options]   seeded data sets
          sluice bench stream|decode|queries|firehose|serve|rcf|anomalies|parse|nexmark [options]   benchmarks (release builds)
          sluice --version

        Each command prints its own usage with --help (or -h): sluice run --help, sluice stream --help, ...
        Every command that touches data takes --data-dir DIR (default: $SLUICE_DATA_DIR, else ./sluice-data).
        A wrong command line exits with status 2.
        """

    /// The usage text of a command, for `--help`.
    static func usage(of command: String) -> String? {
        switch command {
        case "repl": return ReplCommand.usage
        case "run": return RunCommand.usage
        case "serve": return ServeCommand.usage
        case "check": return CheckCommand.checkUsage
        case "fmt": return CheckCommand.fmtUsage
        case "kda": return KDACommand.usage
        case "demo": return DemoCommand.usage
        case "stream": return StreamCommands.usage
        case "firehose": return FirehoseCommands.usage
        case "gen": return GenCommand.usage
        case "bench": return BenchCommand.usage
        default: return nil
        }
    }

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
        // `--help` or `-h` right after a command or its subcommand: its usage, and nothing else
        // is done (further on, it may be an option's value).
        if let text = usage(of: command), args.dropFirst().prefix(2).contains(where: { $0 == "--help" || $0 == "-h" }) {
            out.line(text)
            return 0
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
                return try ServeCommand(out: out, err: err).run(args.dropFirst())
            case "repl":
                return try ReplCommand(out: out, err: err).run(args.dropFirst())
            case "run":
                return try RunCommand(out: out, err: err).run(args.dropFirst())
            case "check":
                return try CheckCommand(out: out, err: err).check(args.dropFirst())
            case "fmt":
                return try CheckCommand(out: out, err: err).fmt(args.dropFirst())
            case "kda":
                return try KDACommand(out: out, err: err).run(args.dropFirst())
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
                let hint = closest(command, in: ["run", "repl", "serve", "stream", "firehose", "bench", "check", "fmt", "kda", "demo", "gen", "help", "version"]).map { " (did you mean '\($0)'?)" } ?? ""
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

    /// The server a client command talks to: `--server URL`, else the server that holds the data
    /// directory (its DIR/server.json, checked alive); nil to work on the store directly.
    static func server(_ args: Arguments) throws -> APIClient? {
        if let url = args.value("server") {
            guard let c = APIClient(url: url) else { throw UsageError("--server takes http://HOST:PORT, not '\(url)'") }
            return c
        }
        return ServerAddress.find(dataDirectory: dataDirectory(args))
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
