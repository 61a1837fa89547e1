import Foundation
import Glibc
import SluiceAWS

/// moto's server (Kinesis, DynamoDB and S3 in one process) on a free port, for one test. It is
/// run as the Python installation's own `bin/moto_server` (not a shim that would run it as a
/// child), so that killing the process stops the server.
public final class MotoServer {
    /// The server's script: `sys.prefix/bin/moto_server` of the `python3` on the PATH, when moto is installed there.
    public static let path: String? = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sys, os, moto; print(os.path.join(sys.prefix, 'bin', 'moto_server'))"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return p.terminationStatus == 0 && FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    let process = Process()
    public let port: UInt16

    public init() throws {
        // A free port: bound, read, released.
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) } }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        port = UInt16(bigEndian: a.sin_port)
        close(s)
        process.executableURL = URL(fileURLWithPath: MotoServer.path!)
        process.arguments = ["-p", String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if let c = try? HTTPConnection.open(host: "127.0.0.1", port: port, timeout: 5) { c.close(); return }
            usleep(100_000)
        }
        kill(process.processIdentifier, SIGKILL)
        throw HTTPClientError("moto_server did not start on port \(port)")
    }

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

