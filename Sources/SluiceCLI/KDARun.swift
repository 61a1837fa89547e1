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
        if let i = app.inputs.first(where: { $0.namePrefix.uppercased() == name.uppercased() }) { return i.parallelism > 1 ? Self.recordStream(i)! : i.streamNames[0] }
        throw UsageError("--input \(name)=...: the application's inputs make \(app.sourceStreamNames.joined(separator: ", ")) (name prefix "
                         + "\(app.inputs.map(\.namePrefix).joined(separator: ", ")))")
    }

    /// The statements that run the application: Sluice's for the inputs and outputs, KDA's for the code.
    /// How a run connects the application to files and commands.
    struct Options {
        /// `--output STREAM=FILE`: in-application streams written as JSON lines.
        var outputs: [(stream: String, file: String)] = []
        /// `--approximate-arrival-field`: the field of each JSON record that gives its
        /// APPROXIMATE_ARRIVAL_TIME (else that is its ROWTIME, when it reached the stream).
        var approximateArrival: String? = nil
        /// `--s3-dir`: S3 as a directory of buckets (reference data objects, Firehose deliveries).
        var s3Dir: String? = nil
        /// `--lambda ARN=COMMAND`: the command standing in for each Lambda output's function.
        var lambdas: [String: String] = [:]
        /// The in-application streams `--input` files feed; the others read the stream of the
        /// store their input's ARN names (Kinesis stream or Firehose delivery stream), if any.
        var fedByFiles: Set<String> = []
    }

    /// The columns of a record schema as Sluice declares them: `"NAME" TYPE PATH '$.mapping'`
    /// for JSON, by position for CSV. `field` names the schema in the description, for errors.
    /// A row of an array (`rowPath`) is its record with the element in the array's place, so
    /// `$.trades[0:].ticker` reads `$.trades.ticker` and `$.account` the record's own field.
    static func columns(_ schema: KDAApplication.RecordSchema, at field: String) throws -> String {
        let rows = try rowPath(schema, at: field).map { "$" + $0.map { "." + $0 }.joined() }
        return try schema.columns.enumerated().map { (c, col) -> String in
            var text = "\(Printer.quoted(col.name)) \(col.sqlType)"
            if schema.format.kind == .json {
                let mapping = col.mapping ?? "$.\(col.name)"
                let at = "\(field).RecordColumns[\(c)].Mapping"
                let arrays = mapping.components(separatedBy: "[0:]").count - 1
                if arrays > 1 { throw UsageError("\(at): '\(mapping)' steps into arrays within arrays, which Sluice does not read: one [0:] per mapping") }
                if let r = mapping.range(of: "[0:]."), String(mapping[..<r.lowerBound]) != rows {
                    throw UsageError("\(at): '\(mapping)' makes rows of \(mapping[..<r.lowerBound])[0:], but the input's rows are \(rows.map { $0 + "[0:]" } ?? "its records"): "
                                     + "Sluice makes the rows of one array per input")
                }
                if mapping.hasSuffix("[0:]") && !col.sqlType.uppercased().hasPrefix("VARCHAR") && !col.sqlType.uppercased().hasPrefix("CHAR") {
                    throw UsageError("\(at): '\(mapping)' gives the whole array as its JSON text, which a \(col.sqlType) column cannot hold: declare it VARCHAR(n)")
                }
                text += " PATH " + Printer.string(try Self.path(mapping.replacingOccurrences(of: "[0:]", with: ""), at: at, written: mapping))
            }
            return text
        }.joined(separator: ", ")
    }

    /// The array whose elements are a JSON schema's rows (`["a"]` for `$.a[0:]`, `[]` for
    /// `$[0:]`): RecordRowPath's, else the one the column mappings flatten (`$.a[0:].b`: KDA
    /// makes a row of each element when a step follows the array); nil when a record is a row.
    static func rowPath(_ schema: KDAApplication.RecordSchema, at field: String) throws -> [String]? {
        guard schema.format.kind == .json else { return nil }
        func steps(_ array: String, _ what: String) throws -> [String] {
            let s = array.split(separator: ".", omittingEmptySubsequences: false).dropFirst().map(String.init)
            guard array.hasPrefix("$"), array == "$" || (array.hasPrefix("$.") && s.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } }) else {
                throw UsageError("\(what) is not read: Sluice reads '$' (a record is a row) and '$.path[0:]' (the rows of an array)")
            }
            return s
        }
        if let p = schema.format.rowPath, p != "$" {
            guard p.hasSuffix("[0:]") else {
                throw UsageError("\(field).RecordFormat: RecordRowPath '\(p)' is not read: Sluice reads '$' (a record is a row) and '$.path[0:]' (the rows of an array)")
            }
            return try steps(String(p.dropLast(4)), "\(field).RecordFormat: RecordRowPath '\(p)'")
        }
        // Mappings that go on after an array's [0:] flatten it: one array, the same for all.
        var flattened: (array: String, column: Int)? = nil
        for (c, col) in schema.columns.enumerated() {
            guard let m = col.mapping, let r = m.range(of: "[0:]."), !m[r.upperBound...].contains("[") else { continue }
            let array = String(m[..<r.lowerBound])
            if let f = flattened, f.array != array {
                throw UsageError("\(field).RecordColumns[\(c)].Mapping: '\(m)' makes rows of \(array)[0:], and RecordColumns[\(f.column)] of \(f.array)[0:]: "
                                 + "Sluice makes the rows of one array per input")
            }
            flattened = (array, c)
        }
        guard let f = flattened else { return nil }
        return try steps(f.array, "\(field).RecordColumns[\(f.column)].Mapping")
    }

    /// The WITH options reading records of a schema.
    static func format(_ schema: KDAApplication.RecordSchema, at field: String) throws -> String {
        switch schema.format.kind {
        case .json:
            guard let rows = try rowPath(schema, at: field) else { return "format = 'json'" }
            return "format = 'json', row_path = \(Printer.string(rows.joined(separator: ".")))"
        case .csv:
            // A file's lines are its records; rows within a record part at the row delimiter.
            let rows = schema.format.rowDelimiter ?? "\n"
            return "format = 'csv', header = false, delimiter = \(Printer.string(schema.format.columnDelimiter ?? ","))"
                + (rows == "\n" ? "" : ", row_delimiter = \(Printer.string(rows))")
        }
    }

    /// The stream an input's records go into when no file feeds an in-application stream of it
    /// directly, which then fills its in-application streams: the stream its ARN names, else for
    /// several in-application streams one named after its prefix. Nil: the records go straight
    /// into its one in-application stream.
    static func recordStream(_ input: KDAApplication.Input) -> String? {
        switch input.source {
        case .kinesisStream(let n)?, .firehose(let n)?: return n
        default: return input.parallelism > 1 ? input.namePrefix : nil
        }
    }

    /// The stream of the script that takes each input's records as they are: its record stream
    /// when no file feeds an in-application stream of it directly, else its first in-application stream.
    func recordStreams(_ options: Options) -> [String] {
        app.inputs.map { input in
            guard let s = Self.recordStream(input), !input.streamNames.contains(where: { options.fedByFiles.contains($0) }) else { return input.streamNames[0] }
            return s
        }
    }

    func script(_ options: Options) throws -> (SourceFile, ParseResult) {
        var declarations = ""
        for (k, input) in app.inputs.enumerated() {
            var columns = try Self.columns(input.schema, at: "Inputs[\(k)].InputSchema")
            if let field = options.approximateArrival {
                guard input.schema.format.kind == .json else {
                    throw UsageError("--approximate-arrival-field \(field): input \(input.namePrefix) is CSV, whose columns are by position; the field can be given for JSON inputs")
                }
                let path = field.hasPrefix("$.") ? field : "$." + field
                columns += ", \"APPROXIMATE_ARRIVAL_TIME\" TIMESTAMP PATH " + Printer.string(try Self.path(path, at: "--approximate-arrival-field"))
            }
            let format = try Self.format(input.schema, at: "Inputs[\(k)].InputSchema")
            // Unless a file feeds an in-application stream directly, the input reads its record
            // stream (the one its ARN names), as KDA read it: its records are decoded there and
            // their rows go into the in-application streams (JSON by column name), each with its
            // arrival as ROWTIME. With several, KDA gave each some of the shards: shard n goes to
            // stream n mod N + 1 (a record stream of the prefix's name has N shards).
            if let s = Self.recordStream(input), !input.streamNames.contains(where: { options.fedByFiles.contains($0) }) {
                let n = input.streamNames.count
                declarations += "CREATE STREAM \(Printer.quoted(s)) (\(columns)) WITH (\(format)\(n > 1 ? ", shards = \(n)" : ""));\n"
                let plain = input.schema.columns.map { "\(Printer.quoted($0.name)) \($0.sqlType)" }.joined(separator: ", ")
                for name in input.streamNames { declarations += "CREATE STREAM \(Printer.quoted(name)) (\(plain)) WITH (format = 'json');\n" }
                for (j, name) in input.streamNames.enumerated() {
                    let share = n > 1 ? " WHERE MOD(CAST(SUBSTRING(SHARD_ID FROM 9) AS BIGINT), \(n)) = \(j)" : ""
                    declarations += "INSERT INTO \(Printer.quoted(name)) SELECT *, ROWTIME FROM \(Printer.quoted(s))\(share);\n"
                }
            } else {
                for name in input.streamNames { declarations += "CREATE STREAM \(Printer.quoted(name)) (\(columns)) WITH (\(format));\n" }
            }
        }
        // Reference data: a table loaded from the object, under --s3-dir as bucket/key.
        for (k, r) in app.referenceSources.enumerated() {
            guard let dir = options.s3Dir else {
                throw UsageError("reference data \(r.tableName) is the S3 object s3://\(r.bucket)/\(r.fileKey): give --s3-dir DIR, with the object at DIR/\(r.bucket)/\(r.fileKey)")
            }
            let field = "ReferenceDataSources[\(k)].ReferenceSchema"
            declarations += "CREATE TABLE \(Printer.quoted(r.tableName)) (\(try Self.columns(r.schema, at: field))) WITH (file = "
                + Printer.string(dir + "/" + r.bucket + "/" + r.fileKey) + ", \(try Self.format(r.schema, at: field)));\n"
        }
        var tail = ""
        for o in app.outputs {
            let format = o.format.rawValue.lowercased()
            switch o.destination {
            case .kinesisStream(let name)?:
                tail += "CREATE STREAM \(Printer.quoted(name)) WITH (format = '\(format)') AS SELECT * FROM \(Printer.quoted(o.name));\n"
            case .firehose(let name)?:
                // The delivery stream's own destination is not part of the application: it
                // delivers into --s3-dir as a bucket of its name.
                guard let dir = options.s3Dir else {
                    throw UsageError("output \(o.name) goes to the Firehose delivery stream \(name): give --s3-dir DIR, and it delivers to DIR/\(name)/ as Firehose would to S3")
                }
                tail += "CREATE FIREHOSE \(Printer.quoted(name)) WITH (destination = \(Printer.string("file:" + dir + "/" + name)), format = '\(format)', newline_delimiter = true);\n"
                tail += "INSERT INTO \(Printer.quoted(name)) SELECT * FROM \(Printer.quoted(o.name));\n"
            case .lambda(let arn, let name)?:
                guard let command = options.lambdas[arn] ?? options.lambdas[name] else {
                    throw UsageError("output \(o.name) goes to the Lambda function \(name): give --lambda \(name)=COMMAND (or the ARN \(arn)), a command that takes the function's event on stdin and prints its response")
                }
                let sink = "kda_lambda_" + name.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
                tail += "CREATE SINK \(sink) WITH (type = 'lambda', command = \(Printer.string(command)), function_arn = \(Printer.string(arn)), "
                    + "application_arn = \(Printer.string("arn:aws:kinesisanalytics:us-east-1:000000000000:application/" + app.name)), format = '\(format)');\n"
                tail += "INSERT INTO \(sink) SELECT * FROM \(Printer.quoted(o.name));\n"
            case nil: break
            }
        }
        for (k, (stream, path)) in options.outputs.enumerated() {
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

    /// A JSONPath KDA wrote (`$.a.b`, its `[0:]` steps taken out) as Sluice's PATH (the same
    /// text). KDA read no array step but `[0:]`; `written` is the mapping as the description has it.
    static func path(_ mapping: String, at field: String, written: String? = nil) throws -> String {
        let segments = mapping.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.first == "$", segments.count >= 2,
              segments.dropFirst().allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } }) else {
            throw UsageError("\(field): the JSONPath '\(written ?? mapping)' cannot be mapped: Sluice reads $.name, $.a.b and KDA's array step [0:] "
                             + "($.a[0:] the whole array as text, $.a[0:].b a row per element), as KDA did (no other index)")
        }
        return mapping
    }
}
