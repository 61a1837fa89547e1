import Testing
@testable import SluiceAWS
@testable import SluiceServer

@Suite("SHA-256, HMAC and Signature Version 4")
struct SigV4Tests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func sha256KnownAnswers() {
        #expect(hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(bytes("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(SHA256.hash(bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000))) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // Fed in pieces of every size, the same digest.
        var s = SHA256()
        for n in 0..<64 { s.update([UInt8](repeating: UInt8(n), count: n)) }
        var whole: [UInt8] = []
        for n in 0..<64 { whole += [UInt8](repeating: UInt8(n), count: n) }
        #expect(s.finalize() == SHA256.hash(whole))
    }

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
    @Test func hmacKnownAnswers() {
        #expect(hex(SHA256.hmac(key: [UInt8](repeating: 0x0b, count: 20), bytes("Hi There"))) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(hex(SHA256.hmac(key: bytes("Jefe"), bytes("what do ya want for nothing?"))) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(hex(SHA256.hmac(key: [UInt8](repeating: 0xaa, count: 131), bytes("Test Using Larger Than Block-Size Key - Hash Key First")))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    /// Cases of AWS's Signature Version 4 test suite (credentials AKIDEXAMPLE, us-east-1, service
    /// `service`, 2015-08-30T12:36:00Z).
    @Test(arguments: [
        ("GET", "/", [String: String](), "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("POST", "/", [:], "host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        ("GET", "/?Param2=value2&Param1=value1", [:], "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        ("POST", "/", ["my-header1": "VALUE1"], "host;my-header1;x-amz-date", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
        ("GET", "/", ["my-header1": " value1", "my-header2": "\"a   b   c\""], "host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    ])
    func awsTestSuite(_ method: String, _ target: String, _ extra: [String: String], _ signed: String, _ expected: String) {
        var headers: [(name: String, value: String)] = [("host", "example.amazonaws.com"), ("x-amz-date", "20150830T123600Z")]
        for (k, v) in extra { headers.append((k, v.trimmingCharacters(in: .whitespaces))) }
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(signed), Signature=\(expected)"
        headers.append(("authorization", auth))
        let r = HTTPRequest(method: method, target: target, headers: headers)
        let keys = ["AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"]
        #expect(SigV4.verify(r, keys: keys, now: nil) == nil)
        // Any change to what is signed is caught.
        var tampered = r
        tampered.body = bytes("x")
        #expect(SigV4.verify(tampered, keys: keys, now: nil)?.name == "InvalidSignatureException")
        #expect(SigV4.verify(r, keys: ["AKIDEXAMPLE": "other"], now: nil)?.name == "InvalidSignatureException")
        #expect(SigV4.verify(r, keys: ["SOMEONE": "x"], now: nil)?.name == "UnrecognizedClientException")
        // Signed in 2015: refused once the clock is checked.
        #expect(SigV4.verify(r, keys: keys, now: 1_704_067_200_000)?.message.contains("Signature expired") == true)
    }

    /// A signed request replayed with another body fails: the payload hash is the body's, not
    /// what the (signed) X-Amz-Content-Sha256 header claims.
    @Test func theBodyMustMatchTheSignedPayloadHash() {
        let keys = ["AKID": "secret"]
        let original = bytes(#"{"StreamName":"s","Data":"b2s=","PartitionKey":"k"}"#)
        var r = HTTPRequest(method: "POST", target: "/", headers: [("host", "h"), ("x-amz-date", "20240101T000000Z"),
                                                                   ("x-amz-content-sha256", hex(SHA256.hash(original)))], body: original)
        let a = SigV4.Authorization(accessKey: "AKID", scope: "20240101/us-east-1/kinesis/aws4_request", date: "20240101",
                                    signedHeaders: ["host", "x-amz-content-sha256", "x-amz-date"], signature: "")
        let sig = SigV4.signature(r, a, secret: "secret")
        r.headers.append(("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=\(sig)"))
        #expect(SigV4.verify(r, keys: keys, now: nil) == nil)
        var forged = r
        forged.body = bytes(#"{"StreamName":"s","Data":"Zm9yZ2Vk","PartitionKey":"k"}"#)
        #expect(SigV4.verify(forged, keys: keys, now: nil)?.name == "InvalidSignatureException")
        // The header may be left out; then the body's hash is what was signed.
        var bare = HTTPRequest(method: "POST", target: "/", headers: [("host", "h"), ("x-amz-date", "20240101T000000Z")], body: original)
        var b = a
        b.signedHeaders = ["host", "x-amz-date"]
        bare.headers.append(("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=\(SigV4.signature(bare, b, secret: "secret"))"))
        #expect(SigV4.verify(bare, keys: keys, now: nil) == nil)
        bare.body = forged.body
        #expect(SigV4.verify(bare, keys: keys, now: nil)?.name == "InvalidSignatureException")
    }

    /// The client signs with the credentials the AWS CLI would use; a session token goes in
    /// x-amz-security-token, among the signed headers, and the signature verifies.
    @Test func theClientSignsWithASessionToken() throws {
        let env = ["AWS_ACCESS_KEY_ID": "AKIDTEMP", "AWS_SECRET_ACCESS_KEY": "temp-secret", "AWS_SESSION_TOKEN": "token-123", "HOME": "/nonexistent"]
        let client = try #require(APIClient(url: "http://127.0.0.1:4567", environment: env))
        var r = HTTPRequest(method: "POST", target: "/", headers: [("host", "127.0.0.1:4567"), ("content-type", "application/x-amz-json-1.1"),
                                                                    ("x-amz-target", "Kinesis_20131202.ListStreams")], body: Array("{}".utf8))
        client.sign(&r, service: "kinesis")
        #expect(r.headers.contains { $0.name == "x-amz-security-token" && $0.value == "token-123" })
        let auth = try #require(r.headers.first { $0.name == "authorization" }?.value)
        #expect(auth.contains("Credential=AKIDTEMP/") && auth.contains("x-amz-security-token"), "\(auth)")
        #expect(SigV4.verify(r, keys: ["AKIDTEMP": "temp-secret"], now: nil) == nil)
        #expect(SigV4.verify(r, keys: ["AKIDTEMP": "other"], now: nil)?.name == "InvalidSignatureException")
    }
}
