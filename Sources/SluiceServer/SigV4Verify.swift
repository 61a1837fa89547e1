import Foundation
import SluiceAWS

/// The server's side of Signature Version 4: a request's signature checked against the keys it knows.
extension SigV4 {
    /// Nil when the request is signed by a known key; else the error AWS answers. `now` (epoch
    /// milliseconds) checks the 15-minute clock skew AWS allows; nil skips it.
    static func verify(_ r: HTTPRequest, keys: [String: String], now: Int64?) -> APIError? {
        guard let header = r.header("authorization"), let a = parse(header) else {
            return APIError("IncompleteSignatureException", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters of AWS4-HMAC-SHA256")
        }
        guard let secret = keys[a.accessKey] else {
            return APIError("UnrecognizedClientException", "The security token included in the request is invalid.")
        }
        guard a.signedHeaders.contains("host"), let amzDate = r.header("x-amz-date"), amzDate.hasPrefix(a.date) else {
            return APIError("IncompleteSignatureException", "The request must sign the host header and carry X-Amz-Date matching its credential scope")
        }
        if let now {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
            guard let t = f.date(from: amzDate), abs(Int64(t.timeIntervalSince1970 * 1000) - now) <= 15 * 60_000 else {
                return APIError("InvalidSignatureException", "Signature expired: \(amzDate) is more than 15 minutes away from the server's time.")
            }
        }
        // The payload hash is the body's, computed here: a client's X-Amz-Content-Sha256 is only a
        // claim, and a signed request replayed with another body must fail (as AWS checks it).
        let bodyHash = hex(SHA256.hash(r.body))
        if let claimed = r.header("x-amz-content-sha256"), claimed.lowercased() != bodyHash {
            return APIError("InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.")
        }
        let expected = Array(signature(r, a, secret: secret, payloadHash: bodyHash).utf8), given = Array(a.signature.utf8)
        var diff = UInt8(expected.count == given.count ? 0 : 1)
        for (x, y) in zip(expected, given) { diff |= x ^ y }
        if diff != 0 {
            return APIError("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
        }
        return nil
    }
}
