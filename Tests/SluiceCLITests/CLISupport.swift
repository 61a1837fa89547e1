import Foundation
import Testing

/// Runs the built `sluice` executable as a user would.
enum CLI {
    /// The `sluice` binary next to the test bundle (swift test builds it alongside).
    static let executable: String = {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [here.appendingPathComponent("sluice").path,
                          here.deletingLastPathComponent().appendingPathComponent("sluice").path] {
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        // Fall back to the package's debug build folder.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/sluice").path
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    }

    /// Starts `sluice args...` in the background, its standard output or standard error read
    /// line by line into `lines` (the other goes nowhere, and so does its input).
    static func spawn(_ args: [String], stdoutInto out: LockedLines? = nil, stderrInto err: LockedLines? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["SLUICE_DATA_DIR"] = nil
        p.environment = env
        let outPipe = Pipe(), errPipe = Pipe()
        p.standardOutput = out == nil ? FileHandle.nullDevice : outPipe
        p.standardError = err == nil ? FileHandle.nullDevice : errPipe
        p.standardInput = FileHandle.nullDevice
        try p.run()
        out?.collect(outPipe.fileHandleForReading)
        err?.collect(errPipe.fileHandleForReading)
        return p
    }

    /// Runs `sluice args...` to completion with `stdin` as its standard input.
    static func run(_ args: [String], stdin: String? = nil, environment: [String: String] = [:], cwd: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        if let d = cwd { p.currentDirectoryURL = URL(fileURLWithPath: d) }
        var env = ProcessInfo.processInfo.environment
        env["SLUICE_DATA_DIR"] = nil
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        let writer = Thread {
            if let s = stdin {
                let bytes = Array(s.utf8)
                var done = 0
                while done < bytes.count {
                    let n = bytes.withUnsafeBytes { write(inp.fileHandleForWriting.fileDescriptor, $0.baseAddress! + done, bytes.count - done) }
                    if n <= 0 { break }
                    done += n
                }
            }
            try? inp.fileHandleForWriting.close()
        }
        writer.start()
        let errData = ReadAll(err.fileHandleForReading)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData.wait(), as: UTF8.self))
    }
}

/// Reads a pipe to its end on a background thread (so stdout and stderr cannot block each other).
final class ReadAll: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)
    init(_ handle: FileHandle) {
        Thread {
            self.data = handle.readDataToEndOfFile()
            self.done.signal()
        }.start()
    }
    func wait() -> Data {
        done.wait()
        return data
    }
}

final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "sluice-cli-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
