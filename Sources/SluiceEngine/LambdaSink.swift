import Foundation
import SluiceCodecs
import SluiceCore

/// A sink that hands rows to a local command as a Kinesis Data Analytics application handed them
/// to its Lambda output function (`CREATE SINK n WITH (type = 'lambda', command = '...')`; `sluice
/// run APP.json --lambda FUNCTION=COMMAND`). Each batch is one invocation: the command gets the
/// event Lambda received on stdin,
///
///     {"invocationId": "...", "applicationArn": "...",
///      "records": [{"recordId": "...", "lambdaDeliveryRecordMetadata": {"retryHint": 0}, "data": "<base64>"}]}
///
/// (each record's data is the row as a JSON object or a CSV line), and prints the function's
/// response on stdout: `{"records": [{"recordId": "...", "result": "Ok" | "DeliveryFailed"}]}`.
/// Records that come back `DeliveryFailed` or not at all are sent again in a new invocation with
/// `retryHint` one higher, as KDA retried them; an invocation that fails (a non-zero exit, a
/// response that is not that JSON) is tried again whole. After `attempts` tries the query fails,
/// naming the command and why: rows are delivered at least once or the run says so.
final class LambdaSink: RowSink {
    let command: String
    let applicationArn: String
    let encoder: RecordEncoder
    let attempts: Int
    private var invocation = 0
    private var record = 0

    init(command: String, applicationArn: String, format: RecordEncoder.Format, columns: [String], attempts: Int = 4) {
        self.command = command
        self.applicationArn = applicationArn
        self.attempts = attempts
        encoder = RecordEncoder(format: format, columns: columns)
    }

    func write(_ rows: [[Value]]) throws(EngineError) {
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(rows.count, start + 500)]
            var pending: [(id: String, data: String)] = chunk.map { row in
                var bytes: [UInt8] = []
                encoder.append(row, to: &bytes)
                bytes.removeLast()  // the newline
                record += 1
                return (String(format: "%08d-%@", record, "sluice"), Data(bytes).base64EncodedString())
            }
            var retry = 0
            var why = ""
            while !pending.isEmpty {
                guard retry < attempts else {
                    throw EngineError(message: "the Lambda output command `\(command)` did not take \(pending.count) record\(pending.count == 1 ? "" : "s") after \(attempts) attempts: \(why)")
                }
                switch invoke(pending, retryHint: retry) {
                case .failure(let reason):
                    why = reason.description
                case .success(let ok):
                    let failed = pending.filter { !ok.contains($0.id) }
                    if !failed.isEmpty { why = "\(failed.count) came back DeliveryFailed or without a result" }
                    pending = failed
                }
                retry += 1
            }
            start += 500
        }
    }

    /// One invocation: the ids the response says were delivered, or why the invocation failed.
    private func invoke(_ records: [(id: String, data: String)], retryHint: Int) -> Result<Set<String>, LambdaFailure> {
        invocation += 1
        let event: JSONValue = .object([
            "invocationId": .string(String(format: "sluice-%06d", invocation)),
            "applicationArn": .string(applicationArn),
            "records": .array(records.map {
                .object(["recordId": .string($0.id), "lambdaDeliveryRecordMetadata": .object(["retryHint": .int(Int64(retryHint))]), "data": .string($0.data)])
            }),
        ])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch { return .failure(LambdaFailure("it cannot be started: \(error)")) }
        // The event goes in while the response comes out: neither side waits on a full pipe.
        let body = Data(event.serialized().utf8)
        final class Collected: @unchecked Sendable { var errors = Data() }
        let collected = Collected()
        let done = DispatchGroup()
        DispatchQueue.global().async(group: done) {
            try? input.fileHandleForWriting.write(contentsOf: body)
            try? input.fileHandleForWriting.close()
        }
        DispatchQueue.global().async(group: done) { collected.errors = errors.fileHandleForReading.readDataToEndOfFile() }
        let response = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        done.wait()
        let stderr = String(decoding: collected.errors.prefix(2000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0 else {
            return .failure(LambdaFailure("it exited with status \(process.terminationStatus)" + (stderr.isEmpty ? "" : ": \(stderr)")))
        }
        guard let j = try? JSONValue.parse(bytes: Array(response)), let results = j["records"]?.arrayValue else {
            return .failure(LambdaFailure("its output is not a response of the form {\"records\": [{\"recordId\": ..., \"result\": \"Ok\"}]}"))
        }
        var ok = Set<String>()
        for r in results {
            if r["result"]?.stringValue == "Ok", let id = r["recordId"]?.stringValue { ok.insert(id) }
        }
        return .success(ok)
    }

    func close() throws(EngineError) {}
}

struct LambdaFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
