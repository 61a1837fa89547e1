import Foundation
import Testing
import SluiceAWS
import SluiceTestSupport

/// The S3 client against moto's S3: keys with spaces and reserved characters round trip, listing
/// pages through more keys than one page holds, a missing key reads as none, and S3's errors come
/// back by their codes.
@Suite("S3 client against moto's server", .enabled(if: MotoServer.path != nil, "moto is not installed: pip install 'moto[server]'"))
struct S3ClientTests {
    @Test func objectsRoundTripAndErrorsAreNamed() throws {
        let moto = try MotoServer()
        let s3 = try #require(S3Client(endpoint: moto.endpoint, region: "us-east-1", credentials: AWSCredentials(accessKeyId: "AKIDTEST", secretAccessKey: "secret", source: "t")))
        try s3.createBucket("things")
        let odd = "a dir/with spaces+plus&amp=equals/é.json"
        try s3.putObject(bucket: "things", key: odd, Array("hello".utf8))
        #expect(try s3.getObject(bucket: "things", key: odd) == Array("hello".utf8))
        #expect(try s3.getObject(bucket: "things", key: "nothing") == nil)
        for i in 0..<12 { try s3.putObject(bucket: "things", key: "many/\(i)", [UInt8(i)]) }
        let many = try s3.listKeys(bucket: "things", prefix: "many/", pageSize: 5)
        #expect(many.sorted() == (0..<12).map { "many/\($0)" }.sorted())
        #expect(try s3.listKeys(bucket: "things").contains(odd))
        try s3.deleteObject(bucket: "things", key: odd)
        #expect(try s3.getObject(bucket: "things", key: odd) == nil)
        do {
            try s3.putObject(bucket: "no-such-bucket", key: "k", [1])
            Issue.record("a put into a missing bucket was taken")
        } catch {
            #expect(error.code == "NoSuchBucket" && error.message.contains("s3://no-such-bucket/k"), "\(error)")
        }
    }
}
