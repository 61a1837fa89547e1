import Foundation
import Testing
import SluiceCore
@testable import SluiceAWS

@Suite("AWS JSON client without an endpoint")
struct AWSJSONClientEndpointTests {
    @Test func endpointsParseAndAnUnreachableOneIsSaid() throws {
        let c = AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "test-secret", source: "the test")
        let aws = try #require(AWSJSONClient.kinesis(endpoint: "https://kinesis.us-east-1.amazonaws.com/", credentials: c, region: "us-east-1"))
        #expect(aws.tls && aws.port == 443 && aws.host == "kinesis.us-east-1.amazonaws.com" && aws.endpoint == "https://kinesis.us-east-1.amazonaws.com" && !aws.isLoopback)
        let v6 = try #require(AWSJSONClient.kinesis(endpoint: "http://[::1]:4567", credentials: c, region: "us-east-1"))
        #expect(v6.host == "::1" && v6.port == 4567 && v6.endpoint == "http://[::1]:4567" && v6.isLoopback)
        for bad in ["http://:80", "ftp://x", "https://", "http://host:port", "http://a/b", "kinesis.us-east-1.amazonaws.com"] {
            #expect(AWSJSONClient.kinesis(endpoint: bad, credentials: c, region: "us-east-1") == nil, "\(bad)")
        }
        let k = try #require(AWSJSONClient.kinesis(endpoint: "http://127.0.0.1:1/", credentials: c, region: "us-east-1"))
        #expect(k.endpoint == "http://127.0.0.1:1")
        do {
            _ = try k.call("ListStreams", [:])
            Issue.record("port 1 answered")
        } catch {
            #expect(error.status == 0 && error.unreachable != nil && error.message.hasPrefix("cannot reach kinesis at http://127.0.0.1:1: "), "\(error)")
        }
    }
}
