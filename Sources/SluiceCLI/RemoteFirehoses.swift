import Foundation
import SluiceCore
import SluiceDelivery
import SluiceServer
import SluiceSQL

/// `sluice firehose ...` through a server that holds the data directory (or `--server URL`):
/// `create` is a CREATE FIREHOSE through the SQL API (the server's engine delivers it and its
/// catalog keeps it), `delete` a DROP FIREHOSE (or DeleteDeliveryStream for a firehose the
/// Firehose API made); list, describe and put are the Firehose API calls. Each prints what it
/// prints without a server.
struct RemoteFirehoses {
    let client: APIClient
    let out: OutputStream
    let err: OutputStream

    func create(_ name: String, options: [String: String]) throws -> Int32 {
        var options = options
        // A file destination is the client's path: the server runs elsewhere.
        if let d = options["destination"], d.hasPrefix("file:"), !d.dropFirst(5).hasPrefix("/") {
            options["destination"] = "file:" + FileManager.default.currentDirectoryPath + "/" + d.dropFirst(5)
        }
        let with = options.keys.sorted().map { "\($0) = \(Printer.string(options[$0]!))" }.joined(separator: ", ")
        let (status, answer) = try client.sql("CREATE FIREHOSE \(Printer.quoted(name)) WITH (\(with))")
        guard status == 200 else {
            let e = answer["errors"]?.arrayValue?.first
            throw APIClient.Failure(name: "InvalidArgumentException", message: e?["message"]?.stringValue ?? "the server refused the firehose", status: status)
        }
        return try describe(name, wrapped: false)
    }

    func list() throws -> Int32 {
        var names: [JSONValue] = []
        var start: String? = nil
        repeat {
            var input: JSONObject = ["Limit": 10000]
            if let s = start { input["ExclusiveStartDeliveryStreamName"] = .string(s) }
            let page = try client.firehose("ListDeliveryStreams", .object(input))
            let pageNames = page["DeliveryStreamNames"]?.arrayValue ?? []
            names += pageNames
            start = page["HasMoreDeliveryStreams"] == .bool(true) ? pageNames.last?.stringValue : nil
        } while start != nil
        out.json(["DeliveryStreamNames": .array(names), "HasMoreDeliveryStreams": false], pretty: true)
        return 0
    }

    func describe(_ name: String, wrapped: Bool = true) throws -> Int32 {
        let d = try client.firehose("DescribeDeliveryStream", ["DeliveryStreamName": .string(name)])
        out.json(wrapped ? d : d["DeliveryStreamDescription"] ?? d, pretty: true)
        return 0
    }

    func delete(_ name: String) throws -> Int32 {
        let (status, answer) = try client.sql("DROP FIREHOSE \(Printer.quoted(name))")
        if status == 200 { return 0 }
        let e = answer["errors"]?.arrayValue?.first
        // Not one of the server's CREATE FIREHOSE: the Firehose API's.
        guard e?["id"]?.stringValue == "plan.unsupported" else {
            throw APIClient.Failure(name: e?["id"]?.stringValue == "bind.unknown-firehose" ? "ResourceNotFoundException" : "ResourceInUseException",
                                    message: (e?["message"]?.stringValue ?? "refused") + (e?["help"]?.stringValue.map { " (\($0))" } ?? ""), status: status)
        }
        _ = try client.firehose("DeleteDeliveryStream", ["DeliveryStreamName": .string(name)])
        return 0
    }

    func put(_ name: String, data: String) throws -> Int32 {
        let r = try client.firehose("PutRecord", ["DeliveryStreamName": .string(name), "Record": ["Data": .string(Data(data.utf8).base64EncodedString())]])
        out.json(["RecordId": r["RecordId"] ?? .null, "Encrypted": false])
        return 0
    }

    /// Standard input, a record per line, in PutRecordBatch calls (as without a server); a result
    /// per record as each batch is answered. Returns how many records failed.
    func putLines(_ name: String, quiet: Bool) throws -> Int {
        var put = 0
        let failed = try FirehoseCommands.putBatches(out: out, err: err) { batch in
            let records: [JSONValue] = batch.map { ["Data": .string(Data($0).base64EncodedString())] }
            let r = try client.firehose("PutRecordBatch", ["DeliveryStreamName": .string(name), "Records": .array(records)])
            var failed = 0
            for e in r["RequestResponses"]?.arrayValue ?? [] {
                if let code = e["ErrorCode"]?.stringValue {
                    failed += 1
                    out.json(["ErrorCode": .string(code), "ErrorMessage": e["ErrorMessage"] ?? .null])
                } else {
                    put += 1
                    if !quiet { out.json(["RecordId": e["RecordId"] ?? .null]) }
                }
            }
            return failed
        }
        if quiet { err.line(JSONValue.object(["RecordsPut": .int(Int64(put)), "RecordsFailed": .int(Int64(failed))]).serialized()) }
        return failed
    }
}
