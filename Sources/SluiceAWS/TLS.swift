import COpenSSL
import Foundation
import Synchronization

/// TLS for the AWS clients, through the system's OpenSSL: TLS 1.2 or later, the server's
/// certificate verified against the system's certificate authorities (or a bundle of one's own,
/// as `AWS_CA_BUNDLE` gives the AWS CLI) and its name (or IP address) checked.
package enum TLS {
    /// One client context per CA bundle (nil: the system's), made once.
    /// An `SSL_CTX*`: set up once, then only read (OpenSSL makes sessions from it on any thread).
    struct Context: @unchecked Sendable { let pointer: OpaquePointer }
    private static let contexts = Mutex<[String: Context]>([:])

    static func context(caBundle: String?) throws(HTTPClientError) -> OpaquePointer {
        try contexts.withLock { (c: inout [String: Context]) throws(HTTPClientError) -> Context in
            let key = caBundle ?? ""
            if let ctx = c[key] { return ctx }
            guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw HTTPClientError("TLS: cannot make a context: \(lastError())") }
            _ = sluice_ssl_ctx_min_tls12(ctx)
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
            if let bundle = caBundle {
                guard SSL_CTX_load_verify_locations(ctx, bundle, nil) == 1 else {
                    SSL_CTX_free(ctx)
                    throw HTTPClientError("TLS: cannot read the CA bundle \(bundle): \(lastError())")
                }
            } else {
                SSL_CTX_set_default_verify_paths(ctx)
            }
            c[key] = Context(pointer: ctx)
            return Context(pointer: ctx)
        }.pointer
    }

    /// OpenSSL's last error, as text.
    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "unknown error" }
        var buf = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buf, buf.count)
        return String(cString: buf)
    }

    /// The handshake on a connected socket, the server's certificate checked for `host`.
    static func connect(fd: Int32, host: String, caBundle: String?) throws(HTTPClientError) -> OpaquePointer {
        let ctx = try context(caBundle: caBundle)
        ERR_clear_error()
        guard let ssl = SSL_new(ctx) else { throw HTTPClientError("TLS: \(lastError())") }
        var ip = in6_addr()
        let isIP = inet_pton(AF_INET, host, &ip) == 1 || inet_pton(AF_INET6, host, &ip) == 1
        if isIP {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
        } else {
            _ = sluice_ssl_set_sni(ssl, host)
            SSL_set1_host(ssl, host)
        }
        SSL_set_fd(ssl, fd)
        guard SSL_connect(ssl) == 1 else {
            let verify = SSL_get_verify_result(ssl)
            let why = verify != X509_V_OK
                ? "the certificate of \(host) is not trusted (\(String(cString: X509_verify_cert_error_string(verify)))); "
                    + (caBundle == nil ? "if it is signed by a CA of your own, set AWS_CA_BUNDLE to that CA's certificate (PEM)" : "it is not signed by a CA of \(caBundle!)")
                : "the TLS handshake with \(host) failed: \(lastError())"
            SSL_free(ssl)
            throw HTTPClientError(why)
        }
        return ssl
    }
}
