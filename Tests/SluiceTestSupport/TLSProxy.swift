import Foundation
import Glibc

/// A TLS endpoint on a free loopback port with a self-signed certificate made for the test
/// (`openssl req`), passing each connection through to a plain local port: an https endpoint
/// whose certificate no system trusts. Python's own `ssl` serves it (run as the interpreter
/// itself, not a shim, so that killing it stops it).
public final class TLSProxy {
    public let dir: String
    public let certificate: String
    let process = Process()
    public private(set) var port: UInt16 = 0

    static let script = """
        import socket, ssl, sys, threading
        cert, key, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(64)
        print(srv.getsockname()[1], flush=True)
        def handle(c):
            try:
                s = ctx.wrap_socket(c, server_side=True)
            except Exception:
                c.close()
                return
            u = socket.create_connection(("127.0.0.1", target))
            def back():
                try:
                    while True:
                        d = u.recv(65536)
                        if not d:
                            break
                        s.sendall(d)
                except Exception:
                    pass
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except Exception:
                    pass
            t = threading.Thread(target=back, daemon=True)
            t.start()
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    u.sendall(d)
            except Exception:
                pass
            t.join()
            u.close()
            s.close()
        while True:
            c, _ = srv.accept()
            threading.Thread(target=handle, args=(c,), daemon=True).start()
        """

    /// `names`: the certificate's subject alternative names (`IP:127.0.0.1`, `DNS:localhost`).
    public init(forwardingTo target: UInt16, names: String = "IP:127.0.0.1,DNS:localhost") throws {
        dir = NSTemporaryDirectory() + "sluice-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        certificate = dir + "/cert.pem"
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=sluice test",
                             "-addext", "subjectAltName=\(names)", "-keyout", dir + "/key.pem", "-out", certificate]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        guard openssl.terminationStatus == 0 else { throw POSIXError(.EINVAL) }
        try TLSProxy.script.write(toFile: dir + "/proxy.py", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: TLSProxy.python)
        process.arguments = [dir + "/proxy.py", certificate, dir + "/key.pem", String(target)]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line is the port it listens on.
        var line: [UInt8] = []
        let h = out.fileHandleForReading
        while !line.contains(10) {
            let d = h.availableData
            if d.isEmpty { break }
            line += d
        }
        guard let p = UInt16(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            throw POSIXError(.ECONNREFUSED)
        }
        port = p
    }

    /// The interpreter itself (`sys.executable`), not a shim in front of it.
    static let python: String = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sys; print(sys.executable)"]
        let out = Pipe()
        p.standardOutput = out
        try? p.run()
        let d = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    public var endpoint: String { "https://127.0.0.1:\(port)" }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
