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
        /// A remote endpoint refused the credentials (whatever it named the refusal).
        case accessDenied = "AccessDeniedException"
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

/// Damage found in a shard's segment when the store opened: where, and what it cost. Reported
/// loudly (standard error, `/metrics`), never silently cut.
public struct SegmentDamage: Sendable, Equatable {
    /// The segment file.
    public var segment: String
    /// The byte where its valid frames end.
    public var offset: Int
    /// Records that cannot be read: those between the damage and the valid frames after it (nil
    /// when nothing valid follows in the file, so how many is unknown).
    public var lostRecords: Int?
    /// The sequence index of the first record that cannot be read.
    public var firstLostIndex: UInt64
    /// The index from which records after the damage are kept (nil: none follow).
    public var keptFrom: UInt64?
    /// The stream and shard (set by the store).
    public var stream = ""
    public var shard = ""

    public var description: String {
        let at = "stream \(stream), \(shard): segment \(segment) is damaged at byte \(offset)"
        if let lost = lostRecords, let kept = keptFrom {
            return "\(at): \(lost) record\(lost == 1 ? "" : "s") from sequence index \(firstLostIndex) cannot be read; the records from index \(kept) on were kept"
        }
        return "\(at): the records from sequence index \(firstLostIndex) to the end of the segment cannot be read"
    }
}
