import Foundation
import SluiceCore
import SluiceKDA
import SluiceSQL

/// `sluice run APP.json`: a Kinesis Data Analytics application as a script of Sluice statements.
/// Each input's in-application streams are declared from its schema (columns, types, JSONPath
/// mappings or CSV positions), the application's code follows in KDA's dialect, then each output:
/// a Kinesis stream output becomes a stream of the store fed by the in-application stream, and
/// `--output STREAM=FILE` writes any in-application stream's rows (ROWTIME first) as JSON lines.
struct KDARun {
    let app: KDAApplication
    let file: String

    /// The application a description file holds; a file that is not one is a usage error naming
    /// the field at fault.
    static func read(_ path: String, _ bytes: [UInt8]) throws -> KDARun {
        do {
            return KDARun(app: try ApplicationDescription.parse(bytes), file: path)
        } catch {
            throw UsageError("\(path): \(error)")
        }
    }

    /// The in-application stream an `--input NAME=FILE` feeds: NAME is a stream the inputs make,
    /// or an input's name prefix (its first stream).
    func inputStream(_ name: String) throws -> String {
        if let s = app.sourceStreamNames.first(where: { $0.uppercased() == name.uppercased() }) { return s }
        if let i = app.inputs.first(where: { $0.namePrefix.uppercased() == name.uppercased() }) { return i.streamNames[0] }
        throw UsageError("--input \(name)=...: the application's inputs make \(app.sourceStreamNames.joined(separator: ", ")) (name prefix "
                         + "\(app.inputs.map(\.namePrefix).joined(separator: ", ")))")
    }

    /// The statements that run the application: Sluice's for the inputs and outputs, KDA's for the code.
    /// `approximateArrival`: the field of each JSON record that gives its APPROXIMATE_ARRIVAL_TIME
    /// (else that is its ROWTIME, when it reached the stream).
    func script(outputs: [(stream: String, file: String)], approximateArrival: String? = nil) throws -> (SourceFile, ParseResult) {
        var declarations = ""
        for (k, input) in app.inputs.enumerated() {
            var columns = try input.schema.columns.enumerated().map { (c, col) -> String in
                var text = "\(Printer.quoted(col.name)) \(col.sqlType)"
                if input.schema.format.kind == .json {
                    text += " PATH " + Printer.string(try Self.path(col.mapping ?? "$.\(col.name)", at: "Inputs[\(k)].InputSchema.RecordColumns[\(c)].Mapping"))
                }
                return text
            }.joined(separator: ", ")
            if let field = approximateArrival {
                guard input.schema.format.kind == .json else {
                    throw UsageError("--approximate-arrival-field \(field): input \(input.namePrefix) is CSV, whose columns are by position; the field can be given for JSON inputs")
                }
                let path = field.hasPrefix("$.") ? field : "$." + field
                columns += ", \"APPROXIMATE_ARRIVAL_TIME\" TIMESTAMP PATH " + Printer.string(try Self.path(path, at: "--approximate-arrival-field"))
            }
            let format: String
            switch input.schema.format.kind {
            case .json:
                guard input.schema.format.rowPath == "$" else {
                    throw UsageError("Inputs[\(k)].InputSchema.RecordFormat: RecordRowPath '\(input.schema.format.rowPath ?? "")' reads several rows per record, which Sluice does not do yet; use '$'")
                }
                format = "format = 'json'"
            case .csv:
                guard input.schema.format.rowDelimiter == "\n" else {
                    throw UsageError("Inputs[\(k)].InputSchema.RecordFormat: rows delimited by other than a newline are not read yet")
                }
                format = "format = 'csv', header = false, delimiter = \(Printer.string(input.schema.format.columnDelimiter ?? ","))"
            }
            for name in input.streamNames { declarations += "CREATE STREAM \(Printer.quoted(name)) (\(columns)) WITH (\(format));\n" }
        }
        var tail = ""
        for o in app.outputs {
            switch o.destination {
            case .kinesisStream(let name)?:
                tail += "CREATE STREAM \(Printer.quoted(name)) WITH (format = '\(o.format.rawValue.lowercased())') AS SELECT * FROM \(Printer.quoted(o.name));\n"
            case .firehose(let name)?:
                throw UsageError("output \(o.name) goes to the Firehose delivery stream \(name), which sluice run does not deliver yet: give --output \(o.name)=FILE, or remove the output")
            case .lambda(_, let name)?:
                throw UsageError("output \(o.name) goes to the Lambda function \(name), which sluice run does not call yet: give --output \(o.name)=FILE, or remove the output")
            case nil: break
            }
        }
        for (k, (stream, path)) in outputs.enumerated() {
            tail += "CREATE SINK kda_output_\(k + 1) WITH (type = 'file', path = \(Printer.string(path)), format = 'json');\n"
            tail += "INSERT INTO kda_output_\(k + 1) SELECT ROWTIME, * FROM \(Printer.quoted(stream));\n"
        }
        // One text, so that diagnostics point into it: the declarations, the code, the outputs.
        let text = "-- \(file): the application \(app.name)'s inputs\n" + declarations + "-- ApplicationCode\n" + app.code + "\n-- outputs\n" + tail
        let bytes = Array(text.utf8)
        let source = SourceFile(name: file + " (as SQL)", bytes: bytes)
        let parsed = Parser.parse(bytes: bytes, dialect: .kda)
        return (source, parsed)
    }

    /// A JSONPath KDA wrote (`$.a.b`) as Sluice's PATH (the same text); array steps are not read yet.
    static func path(_ mapping: String, at field: String) throws -> String {
        let segments = mapping.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.first == "$", segments.count >= 2,
              segments.dropFirst().allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } }) else {
            throw UsageError("\(field): the JSONPath '\(mapping)' cannot be mapped yet: Sluice reads $.name and $.a.b paths (no array steps)")
        }
        return mapping
    }
}
