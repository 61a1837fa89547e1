public import SluiceCore

/// A Kinesis Data Analytics (SQL) application as its description gives it: the SQL, and what
/// feeds and drains its in-application streams. Read from any of the three forms users have
/// (`ApplicationDescription.parse`); what runs it is built from this.
public struct KDAApplication: Sendable, Equatable {
    public var name: String
    /// `ApplicationCode`: the application's SQL.
    public var code: String
    public var inputs: [Input]
    public var outputs: [Output]
    public var referenceSources: [ReferenceSource]

    /// An input: a Kinesis stream or a Firehose delivery stream feeding `parallelism` in-application
    /// streams named after the prefix (`SOURCE_SQL_STREAM_001`, `_002`, ...).
    public struct Input: Sendable, Equatable {
        public var namePrefix: String
        public var parallelism: Int
        public var source: Resource?
        public var schema: RecordSchema

        /// The in-application streams this input makes.
        public var streamNames: [String] {
            (1...max(1, parallelism)).map { namePrefix + "_" + String(repeating: "0", count: max(0, 3 - String($0).count)) + String($0) }
        }
    }

    /// An output: an in-application stream's rows, to a stream, a firehose or a Lambda function.
    public struct Output: Sendable, Equatable {
        /// The in-application stream.
        public var name: String
        public var destination: Resource?
        /// `DestinationSchema.RecordFormatType`: JSON or CSV.
        public var format: RecordFormat.Kind
    }

    /// A table of reference data from an S3 object.
    public struct ReferenceSource: Sendable, Equatable {
        public var tableName: String
        public var bucket: String
        public var fileKey: String
        public var schema: RecordSchema
    }

    /// What a resource ARN names.
    public enum Resource: Sendable, Equatable {
        case kinesisStream(String)
        case firehose(String)
        case lambda(arn: String, name: String)
    }

    /// How records map to columns (`InputSchema`, `ReferenceSchema`).
    public struct RecordSchema: Sendable, Equatable {
        public var format: RecordFormat
        /// `RecordEncoding`; KDA accepted only UTF-8.
        public var encoding: String
        public var columns: [RecordColumn]
    }

    public struct RecordFormat: Sendable, Equatable {
        public enum Kind: String, Sendable, Equatable { case json = "JSON", csv = "CSV" }
        public var kind: Kind
        /// JSON: `RecordRowPath` (`$` for one row per record, `$.rows[0:]` for several).
        public var rowPath: String?
        /// CSV: `RecordRowDelimiter` and `RecordColumnDelimiter`.
        public var rowDelimiter: String?
        public var columnDelimiter: String?
    }

    /// A column: its name, its SQL type as written (`VARCHAR(4)`, `DECIMAL(10,2)`, ...) and, for
    /// JSON, the JSONPath it is read from.
    public struct RecordColumn: Sendable, Equatable {
        public var name: String
        public var sqlType: String
        public var mapping: String?
    }

    /// Every in-application stream the inputs make, in order.
    public var sourceStreamNames: [String] { inputs.flatMap(\.streamNames) }
}

/// A description that cannot be read as an application, with where in it the problem is.
public struct KDADescriptionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A JSON path into the description (`ApplicationDetail.InputDescriptions[0].InputSchema`).
    public var path: String
    public var message: String
    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}
