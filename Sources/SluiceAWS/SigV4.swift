package import Foundation

/// SHA-256 (FIPS 180-4), written in Swift: the toolchain has no hash functions on Linux.
package struct SHA256 {
    private var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
        0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
        0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    package mutating func update(_ bytes: [UInt8]) {
        length &+= UInt64(bytes.count)
        var at = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, bytes.count)
            pending += bytes[0..<take]
            at = take
            if pending.count == 64 {
                pending.withUnsafeBytes { compress($0, 0) }
                pending = []
            }
        }
        bytes.withUnsafeBytes { raw in
            while bytes.count - at >= 64 {
                compress(raw, at)
                at += 64
            }
        }
        if at < bytes.count { pending += bytes[at...] }
    }

    package mutating func finalize() -> [UInt8] {
        let bits = length &* 8
        var tail = pending + [0x80]
        while tail.count % 64 != 56 { tail.append(0) }
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        tail.withUnsafeBytes { raw in
            var at = 0
            while at < raw.count {
                compress(raw, at)
                at += 64
            }
        }
        pending = []
        return h.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - UInt32($0) * 8)) } }
    }

    /// One 64-byte block at `at` (the message schedule on the stack, no allocation per block).
    private mutating func compress(_ b: UnsafeRawBufferPointer, _ at: Int) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for i in 0..<16 {
                w[i] = UInt32(b[at + 4 * i]) << 24 | UInt32(b[at + 4 * i + 1]) << 16 | UInt32(b[at + 4 * i + 2]) << 8 | UInt32(b[at + 4 * i + 3])
            }
            func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, bb, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            SHA256.k.withUnsafeBufferPointer { k in
                for i in 0..<64 {
                    let t1 = hh &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[i] &+ w[i]
                    let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & bb) ^ (a & c) ^ (bb & c))
                    (hh, g, f, e, d, c, bb, a) = (g, f, e, d &+ t1, c, bb, a, t1 &+ t2)
                }
            }
            h[0] &+= a; h[1] &+= bb; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
        }
    }

    package static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var s = SHA256()
        s.update(bytes)
        return s.finalize()
    }

    /// HMAC-SHA256 (RFC 2104).
    package static func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var k = key.count > 64 ? hash(key) : key
        k += [UInt8](repeating: 0, count: 64 - k.count)
        return hash(k.map { $0 ^ 0x5c } + hash(k.map { $0 ^ 0x36 } + message))
    }
}

package func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

/// AWS Signature Version 4 for requests with the signature in the Authorization header:
/// `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX`.
package enum SigV4 {
    package struct Authorization {
        package var accessKey: String
        package var scope: String
        package var date: String
        package var signedHeaders: [String]
        package var signature: String
    }

    package static func parse(_ header: String) -> Authorization? {
        guard header.hasPrefix("AWS4-HMAC-SHA256 ") else { return nil }
        var fields: [String: String] = [:]
        for part in header.dropFirst(17).split(separator: ",") {
            let p = part.trimmingCharacters(in: .whitespaces)
            guard let eq = p.firstIndex(of: "=") else { return nil }
            fields[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }
        guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else { return nil }
        let c = credential.split(separator: "/", maxSplits: 1)
        guard c.count == 2, c[1].hasSuffix("/aws4_request"), let date = c[1].split(separator: "/").first else { return nil }
        return Authorization(accessKey: String(c[0]), scope: String(c[1]), date: String(date), signedHeaders: signed.split(separator: ";").map(String.init),
                             signature: signature)
    }

    /// RFC 3986 encoding with AWS's unreserved set; `/` kept in paths.
    package static func encode(_ s: String, slash: Bool) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(Unicode.Scalar(b))
            if c.isASCII && (c.isLetter || c.isNumber || "-._~".contains(c) || (slash && c == "/")) { out.append(c) } else { out += String(format: "%%%02X", b) }
        }
        return out
    }

    package static func canonicalQuery(_ target: String) -> String {
        guard let q = target.firstIndex(of: "?") else { return "" }
        let pairs = target[target.index(after: q)...].split(separator: "&").map { item -> (String, String) in
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let k = String(kv[0]).removingPercentEncoding ?? String(kv[0])
            let v = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
            return (encode(k, slash: false), encode(v, slash: false))
        }
        return pairs.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// The canonical request of RFC-style SigV4 (path as sent, query sorted, signed headers
    /// lower-cased with their values trimmed and inner runs of spaces collapsed, the payload hash).
    package static func canonicalRequest(_ r: HTTPRequest, signedHeaders: [String], payloadHash: String? = nil) -> String {
        let path = r.path.removingPercentEncoding ?? r.path
        var headers = ""
        for name in signedHeaders {
            let values = r.headers.filter { $0.name == name }.map { $0.value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
            headers += "\(name):\(values.joined(separator: ","))\n"
        }
        let payload = payloadHash ?? hex(SHA256.hash(r.body))
        return [r.method, encode(path, slash: true), canonicalQuery(r.target), headers, signedHeaders.joined(separator: ";"), payload].joined(separator: "\n")
    }

    package static func signature(_ r: HTTPRequest, _ a: Authorization, secret: String, payloadHash: String? = nil) -> String {
        let amzDate = r.header("x-amz-date") ?? ""
        let canonical = canonicalRequest(r, signedHeaders: a.signedHeaders, payloadHash: payloadHash)
        let toSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(a.scope)\n" + hex(SHA256.hash(Array(canonical.utf8)))
        var key = Array(("AWS4" + secret).utf8)
        for part in a.scope.split(separator: "/") { key = SHA256.hmac(key: key, Array(part.utf8)) }
        return hex(SHA256.hmac(key: key, Array(toSign.utf8)))
    }

    /// Signs a request in place as a client does: `x-amz-date` (and `x-amz-security-token` for
    /// temporary credentials) added, then the Authorization header over the host, content type,
    /// date, target and token headers that it has.
    package static func sign(_ request: inout HTTPRequest, credentials: AWSCredentials, region: String, service: String, at date: Date = Date()) {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let amzDate = f.string(from: date)
        request.headers.append(("x-amz-date", amzDate))
        if let t = credentials.sessionToken { request.headers.append(("x-amz-security-token", t)) }
        let names = request.headers.map { $0.name.lowercased() }.filter { ["content-type", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-target", "x-amz-security-token"].contains($0) }.sorted()
        let scope = "\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
        let auth = Authorization(accessKey: credentials.accessKeyId, scope: scope, date: String(amzDate.prefix(8)), signedHeaders: names, signature: "")
        let signature = signature(request, auth, secret: credentials.secretAccessKey)
        request.headers.append(("authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyId)/\(scope), SignedHeaders=\(names.joined(separator: ";")), Signature=\(signature)"))
    }
}
