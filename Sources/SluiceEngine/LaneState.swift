import Foundation
import SluiceCore
import SluiceAWS
import SluiceStreams

/// Where the lanes of a scaled-out query keep their state, for whichever worker takes a lease
/// over: a directory every worker reaches (files written atomically), or an S3 bucket and
/// prefix (`state = 's3://bucket/prefix'`; each object put whole). Names are relative
/// (`query-1/shardId-000000000003.json`).
enum LaneState {
    case directory(String)
    case s3(S3Client, bucket: String, prefix: String)

    /// `state` as a stream declares it.
    static func parse(_ state: String, s3: () throws(EngineError) -> S3Client) throws(EngineError) -> LaneState {
        guard state.hasPrefix("s3://") else { return .directory(state) }
        let rest = state.dropFirst("s3://".count)
        let bucket = String(rest.prefix { $0 != "/" })
        var prefix = String(rest.drop { $0 != "/" }.dropFirst())
        if !prefix.isEmpty && !prefix.hasSuffix("/") { prefix += "/" }
        guard !bucket.isEmpty else { throw EngineError(message: "state '\(state)' names no bucket (s3://BUCKET/PREFIX)") }
        return .s3(try s3(), bucket: bucket, prefix: prefix)
    }

    /// The same place, one level down (an application's own part of it).
    func within(_ name: String) -> LaneState {
        switch self {
        case .directory(let d): return .directory(d + "/" + name)
        case .s3(let c, let bucket, let prefix): return .s3(c, bucket: bucket, prefix: prefix + name + "/")
        }
    }

    /// Where `name` is, for messages.
    func place(_ name: String) -> String {
        switch self {
        case .directory(let d): return d + "/" + name
        case .s3(_, let bucket, let prefix): return "s3://\(bucket)/\(prefix)\(name)"
        }
    }

    func read(_ name: String) throws(EngineError) -> [UInt8]? {
        switch self {
        case .directory(let d): return readFile(d + "/" + name)
        case .s3(let c, let bucket, let prefix):
            do { return try c.getObject(bucket: bucket, key: prefix + name) } catch {
                throw EngineError.io("cannot read the state \(place(name)): \(error)")
            }
        }
    }

    func write(_ name: String, _ bytes: [UInt8]) throws(EngineError) {
        switch self {
        case .directory(let d):
            let path = d + "/" + name
            do {
                try FileManager.default.createDirectory(atPath: FileNames.directory(of: path), withIntermediateDirectories: true)
                try writeFileAtomically(path, bytes)
            } catch {
                throw EngineError.io("cannot write the state \(path): \(error)")
            }
        case .s3(let c, let bucket, let prefix):
            do { try c.putObject(bucket: bucket, key: prefix + name, bytes) } catch {
                throw EngineError.io("cannot write the state \(place(name)): \(error)")
            }
        }
    }
}
