import Foundation
import SluiceCore
import SluiceDelivery
import SluiceEngine
import SluiceServer
import SluiceStreams

/// `sluice firehose ...`: delivery streams from the command line. Descriptions use the field
/// names of the Firehose API responses.
struct FirehoseCommands {
    let out: OutputStream
    let err: OutputStream

    static let usage = """
        usage: sluice firehose <command> [--data-dir DIR] ...
          create NAME --destination file:DIR [--buffer-size 5MB] [--buffer-interval 300s] [--compression gzip|none]
                      [--prefix P] [--error-prefix P] [--newline-delimiter] [--source stream:NAME]
          list
          describe NAME
          put NAME --data TEXT                 one record (PutRecord)
          put NAME [--quiet] < records         one record per line, in PutRecordBatch calls of 500
          flush NAME                           deliver everything buffered now
          delete NAME
        A command that puts delivers as it goes and, when it ends, flushes what it buffered (Firehose
        flushes on shutdown). Records acknowledged by a put are on disk in the firehose's stream: a
        command killed before its flush loses nothing, and the next command on the firehose delivers them.
        options for every command: --data-dir DIR, --fsync never|always|interval[:MS], --server URL
        When a server holds the data directory (or with --server), each command goes through it: create is a
        CREATE FIREHOSE of its SQL API (its engine delivers the firehose, its catalog keeps it; a relative
        file: destination is taken from here), delete a DROP FIREHOSE, the rest the Firehose API; flush is
        refused (the server delivers as buffers fill, on their interval and when it stops).
        """

    func run(_ argv: ArraySlice<String>) throws -> Int32 {
        guard let sub = argv.first else { throw UsageError("missing firehose command\n" + FirehoseCommands.usage) }
        let rest = argv.dropFirst()
        func parse(_ valued: Set<String>, _ booleans: Set<String> = []) throws -> Arguments {
            try Arguments(rest, valued: valued.union(["data-dir", "fsync", "server"]), booleans: booleans)
        }
        func name(_ a: Arguments) throws -> String {
            guard a.positionals.count == 1 else {
                throw UsageError(a.positionals.isEmpty ? "missing firehose name" : "unexpected argument '\(a.positionals[1])'")
            }
            return a.positionals[0]
        }
        switch sub {
        case "--help", "-h", "help":
            out.line(FirehoseCommands.usage)
            return 0
        case "create":
            let a = try parse(["destination", "buffer-size", "buffer-interval", "compression", "prefix", "error-prefix", "source"], ["newline-delimiter"])
            let n = try name(a)
            var options: [String: String] = [:]
            for (flag, key) in [("destination", "destination"), ("buffer-size", "buffer_size"), ("buffer-interval", "buffer_interval"),
                                ("compression", "compression"), ("prefix", "prefix"), ("error-prefix", "error_prefix"), ("source", "source")] {
                if let v = a.value(flag) { options[key] = v }
            }
            if a.flag("newline-delimiter") { options["newline_delimiter"] = "true" }
            if let r = try remote(a) { return try r.create(n, options: options) }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            let config = try FirehoseConfig.parse(name: n, options: options)
            let saved = try DeliveryStream.create(config, store: store)
            out.json(saved.apiDescription(store), pretty: true)
        case "list":
            let a = try parse([])
            if !a.positionals.isEmpty { throw UsageError("unexpected argument '\(a.positionals[0])'") }
            if let r = try remote(a) { return try r.list() }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            out.json(["DeliveryStreamNames": .array(DeliveryStream.list(store: store).map { .string($0) }), "HasMoreDeliveryStreams": false], pretty: true)
        case "describe":
            let a = try parse([])
            let n = try name(a)
            if let r = try remote(a) { return try r.describe(n) }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            out.json(["DeliveryStreamDescription": try DeliveryStream.load(name: n, store: store).apiDescription(store)], pretty: true)
        case "delete":
            let a = try parse([])
            let n = try name(a)
            if let r = try remote(a) { return try r.delete(n) }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            try DeliveryStream.delete(name: n, store: store)
        case "flush":
            let a = try parse([])
            let n = try name(a)
            if let server = try SluiceMain.server(a) {
                throw UsageError("the server at \(server.url) holds the data directory and delivers \(n) as its buffers fill, on its interval and when it stops; flush is for a directory no server holds")
            }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            let d = try Engine(store: store).openFirehose(named: n)
            try d.deliverAll()
            out.json(counters(d.counters), pretty: true)
        case "put":
            let a = try parse(["data"], ["quiet"])
            let n = try name(a)
            if let r = try remote(a) {
                if let text = a.value("data") { return try r.put(n, data: text) }
                return try r.putLines(n, quiet: a.flag("quiet")) > 0 ? 1 : 0
            }
            let store = try SluiceMain.openStore(a, warnings: err)
            defer { store.close() }
            let engine = Engine(store: store)
            let d = try engine.openFirehose(named: n)
            if let text = a.value("data") {
                let r = try DeliveryStream.putBatch(d.config, store: store, records: [Array(text.utf8)])
                out.json(["RecordId": .string(try r[0].get().description), "Encrypted": false])
                out.flush()
            } else {
                let failed = try putLines(d, quiet: a.flag("quiet"))
                try d.deliverAll()
                if a.flag("quiet") { err.line(counters(d.counters).serialized()) }
                if failed > 0 { return 1 }
            }
            try d.deliverAll()
        default:
            let hint = closest(sub, in: ["create", "list", "describe", "put", "flush", "delete"]).map { " (did you mean '\($0)'?)" } ?? ""
            throw UsageError("unknown firehose command '\(sub)'\(hint)")
        }
        return 0
    }

    /// The server to go through: --server URL, else the one holding the data directory, if any.
    func remote(_ a: Arguments) throws -> RemoteFirehoses? {
        try SluiceMain.server(a).map { RemoteFirehoses(client: $0, out: out, err: err) }
    }

    /// Puts standard input, a record per line, in batches of up to 500 records and 4 MiB; prints
    /// a result per record (its RecordId, or ErrorCode and ErrorMessage) once its batch is on disk,
    /// and delivers what is due between batches. Returns how many records failed.
    private func putLines(_ d: DeliveryStream, quiet: Bool) throws -> Int {
        try FirehoseCommands.putBatches(out: out, err: err) { batch in
            try DeliveryStream.putBatch(d.config, store: d.store, records: batch.map { Array($0) }).map { r in
                switch r {
                case .success(let id):
                    if !quiet { out.json(["RecordId": .string(id.description)]) }
                    return true
                case .failure(let e):
                    out.json(["ErrorCode": .string(e.code.rawValue), "ErrorMessage": .string(e.message)])
                    return false
                }
            }.filter { !$0 }.count
        } between: {
            try d.poll()
        }
    }

    /// Standard input, a record per non-blank line, in PutRecordBatch batches of up to 500 records
    /// and 4 MiB, each handed to `put` (which prints a line per record and returns how many
    /// failed); a line over the record limit fails alone, with its line number. `between` runs
    /// after each batch. Returns how many records failed, and says so on `err`.
    static func putBatches(out: OutputStream, err: OutputStream, _ put: ([ArraySlice<UInt8>]) throws -> Int,
                           between: () throws -> Void = {}) throws -> Int {
        var failed = 0, lineNumber = 0, bytes = 0
        var batch: [ArraySlice<UInt8>] = []
        func flush() throws {
            guard !batch.isEmpty else { return }
            failed += try put(batch)
            out.flush()
            batch.removeAll(keepingCapacity: true)
            bytes = 0
            try between()
        }
        func handle(_ line: ArraySlice<UInt8>) throws {
            lineNumber += 1
            var l = line
            if l.last == 13 { l = l.dropLast() }
            if l.isEmpty { return }
            if l.count > DeliveryStream.maxRecordBytes {
                failed += 1
                out.json(["ErrorCode": "InvalidArgumentException",
                          "ErrorMessage": .string("line \(lineNumber): the record has \(l.count) bytes; the limit is \(DeliveryStream.maxRecordBytes)")])
                return
            }
            if batch.count == DeliveryStream.maxBatchRecords || bytes + l.count > DeliveryStream.maxBatchBytes { try flush() }
            batch.append(l)
            bytes += l.count
        }
        try forEachInputLine(handle, afterChunk: flush)
        try flush()
        if failed > 0 { err.line("error: \(failed) of \(lineNumber) records were not put (see the ErrorCode lines)") }
        return failed
    }

    private func counters(_ c: DeliveryCounters) -> JSONValue {
        ["RecordsRead": .int(c.recordsRead), "RecordsDelivered": .int(c.recordsDelivered), "RecordsFailed": .int(c.recordsFailed),
         "RecordsDropped": .int(c.recordsDropped), "Objects": .int(c.objects), "BytesIn": .int(c.bytesIn), "BytesWritten": .int(c.bytesWritten)]
    }
}
