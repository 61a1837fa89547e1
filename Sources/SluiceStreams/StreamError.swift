/// An error from the stream store, named as Kinesis names it, so the HTTP API maps it one to one
/// (`__type` is `code.rawValue`) and the CLI prints `error: <Name>: <message>`.
public struct StreamError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case resourceNotFound = "ResourceNotFoundException"
        case resourceInUse = "ResourceInUseException"
        case invalidArgument = "InvalidArgumentException"
        case validation = "ValidationException"
        case provisionedThroughputExceeded = "ProvisionedThroughputExceededException"
        case expiredIterator = "ExpiredIteratorException"
        case expiredNextToken = "ExpiredNextTokenException"
        case limitExceeded = "LimitExceededException"
        case internalFailure = "InternalFailure"
        /// The data directory is locked by another process (not a Kinesis error; local only).
        case dataDirectoryInUse = "DataDirectoryInUse"
        /// A file in the data directory could not be read or written (local only).
        case storage = "StorageError"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The Kinesis error name, e.g. `ResourceNotFoundException`.
    public var name: String { code.rawValue }
    public var description: String { "\(code.rawValue): \(message)" }
}

extension StreamError {
    static func validation(_ field: String, _ value: String, _ constraint: String) -> StreamError {
        StreamError(.validation,
                    "1 validation error detected: Value '\(value)' at '\(field)' failed to satisfy constraint: \(constraint)")
    }
}
