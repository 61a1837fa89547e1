import Foundation
import Testing
import SluiceCore
@testable import SluiceAWS

@Suite("AWS JSON client without an endpoint")
struct AWSJSONClientEndpointTests {
    @Test func endpointsParseAndAnUnreachableOneIsSaid() throws {
        let c = AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "test-secret", source: "the test")
        #expect(AWSJSONClient.kinesis(endpoint: "https://kinesis.us-east-1.amazonaws.com", credentials: c, region: "us-east-1") == nil)
        #expect(AWSJSONClient.kinesis(endpoint: "http://:80", credentials: c, region: "us-east-1") == nil)
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
