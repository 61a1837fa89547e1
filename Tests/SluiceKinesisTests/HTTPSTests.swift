import Foundation
import Testing
import SluiceAWS
import SluiceCore
import SluiceKinesis
import SluiceStreams
import SluiceTestSupport

/// HTTPS to an endpoint with a self-signed certificate (sluice serve's API behind a TLS proxy):
/// refused until its CA is trusted (AWS_CA_BUNDLE's way), then the same answers as over plain
/// HTTP; a certificate for another name is refused whatever the trust.
@Suite("HTTPS with certificate verification")
struct HTTPSTests {
    static let credentials = AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "secret", source: "the test")

    @Test func aSelfSignedCertificateIsRefusedUnlessTrustedAndANameMismatchAlways() throws {
        let e = try LocalEndpoint()
        try e.store.createStream(name: "events", shardCount: 1)
        try e.put("events", 0..<5)
        let proxy = try TLSProxy(forwardingTo: e.server.port)

        let untrusted = KinesisClient(api: AWSJSONClient.kinesis(endpoint: proxy.endpoint, credentials: HTTPSTests.credentials, region: "us-east-1")!,
                                      stream: "events", maxAttempts: 1)
        do {
            _ = try untrusted.status()
            Issue.record("a self-signed certificate was trusted")
        } catch {
            #expect(error.message.contains("is not trusted") && error.message.contains("self-signed") && error.message.contains("AWS_CA_BUNDLE"), "\(error)")
        }

        let trusted = KinesisClient(api: AWSJSONClient.kinesis(endpoint: proxy.endpoint, credentials: HTTPSTests.credentials, region: "us-east-1",
                                                               caBundle: proxy.certificate)!, stream: "events")
        #expect(try trusted.status() == "ACTIVE")
        let reader = RemoteStreamConsumer(client: trusted, start: .trimHorizon, nowMillis: 0)
        let got = try reader.poll(limitPerShard: 100)
        #expect(got.first?.result.records.count == 5)

        // Trusted, but made out to another name: refused.
        let other = try TLSProxy(forwardingTo: e.server.port, names: "DNS:other.example")
        let mismatch = KinesisClient(api: AWSJSONClient.kinesis(endpoint: other.endpoint, credentials: HTTPSTests.credentials, region: "us-east-1",
                                                                caBundle: other.certificate)!, stream: "events", maxAttempts: 1)
        do {
            _ = try mismatch.status()
            Issue.record("a certificate for another name was taken")
        } catch {
            #expect(error.message.contains("is not trusted") && error.message.contains("mismatch"), "\(error)")
        }
    }
}
