import Foundation
import Testing
@testable import SluiceAWS

/// Credentials and the region found as the AWS CLI finds them (the environment, then the
/// profile's sections of ~/.aws/credentials and ~/.aws/config), with errors that say what to mend.
@Suite("AWS credentials and profiles")
struct CredentialsTests {
    /// A home directory with `credentials` and `config` under `.aws` (nil: no such file).
    func home(credentials: String?, config: String?) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-aws-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/.aws", withIntermediateDirectories: true)
        if let c = credentials { try c.write(toFile: dir + "/.aws/credentials", atomically: true, encoding: .utf8) }
        if let c = config { try c.write(toFile: dir + "/.aws/config", atomically: true, encoding: .utf8) }
        return dir
    }

    static let credentialsFile = """
        # keys
        [default]
        aws_access_key_id = AKIADEFAULT
        aws_secret_access_key = secret-default

        [dev]
        aws_access_key_id=AKIADEV
        aws_secret_access_key=secret-dev
        aws_session_token = token-dev
        ; a comment
        """
    static let configFile = """
        [default]
        region = eu-west-1
        [profile ci]
        region = us-west-2
        aws_access_key_id = AKIACI
        aws_secret_access_key = secret-ci
        s3 =
          max_concurrent_requests = 20
        [profile empty]
        output = json
        """

    @Test func theEnvironmentComesFirst() throws {
        let h = try home(credentials: Self.credentialsFile, config: Self.configFile)
        let p = AWSProfiles(environment: ["AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "secret-env", "AWS_SESSION_TOKEN": "tok", "AWS_PROFILE": "dev"], home: h)
        let c = try #require(try p.credentials())
        #expect(c.accessKeyId == "AKIAENV" && c.secretAccessKey == "secret-env" && c.sessionToken == "tok" && c.source == "the environment")
        #expect(AWSProfiles(environment: ["AWS_REGION": "ap-south-1"], home: h).region() == "ap-south-1")
    }

    @Test func theDefaultProfileThenANamedOne() throws {
        let h = try home(credentials: Self.credentialsFile, config: Self.configFile)
        let d = try #require(try AWSProfiles(environment: [:], home: h).credentials())
        #expect(d.accessKeyId == "AKIADEFAULT" && d.sessionToken == nil && d.source == "profile default of \(h)/.aws/credentials")
        #expect(AWSProfiles(environment: [:], home: h).region() == "eu-west-1")
        let dev = try #require(try AWSProfiles(environment: ["AWS_PROFILE": "dev"], home: h).credentials())
        #expect(dev.accessKeyId == "AKIADEV" && dev.secretAccessKey == "secret-dev" && dev.sessionToken == "token-dev")
        // A profile of the config file ([profile ci]), its nested s3 settings skipped.
        let ci = AWSProfiles(environment: ["AWS_PROFILE": "ci"], home: h)
        #expect(try ci.credentials()?.accessKeyId == "AKIACI")
        #expect(ci.region() == "us-west-2")
        // Other files by their variables.
        let other = try home(credentials: "[x]\naws_access_key_id = A\naws_secret_access_key = B\n", config: nil)
        let env = ["AWS_PROFILE": "x", "AWS_SHARED_CREDENTIALS_FILE": other + "/.aws/credentials", "AWS_CONFIG_FILE": "/nonexistent"]
        #expect(try AWSProfiles(environment: env, home: h).credentials()?.accessKeyId == "A")
    }

    @Test func nothingAnywhereIsNoCredentials() throws {
        let h = try home(credentials: nil, config: nil)
        #expect(try AWSProfiles(environment: [:], home: h).credentials() == nil)
        #expect(AWSProfiles(environment: [:], home: h).region() == nil)
    }

    @Test(arguments: [
        (["AWS_ACCESS_KEY_ID": "AKIA"], "AWS_ACCESS_KEY_ID without AWS_SECRET_ACCESS_KEY"),
        (["AWS_SECRET_ACCESS_KEY": "s"], "AWS_SECRET_ACCESS_KEY without AWS_ACCESS_KEY_ID"),
        (["AWS_PROFILE": "prod"], "AWS_PROFILE names the profile prod, which is in neither"),
        (["AWS_PROFILE": "empty"], "the profile empty has no aws_access_key_id and aws_secret_access_key"),
        (["AWS_PROFILE": "half"], "profile half of"),
    ])
    func unusableCredentialsAreErrorsThatSayWhy(_ env: [String: String], _ message: String) throws {
        let h = try home(credentials: Self.credentialsFile + "\n[half]\naws_access_key_id = AKIAHALF\n", config: Self.configFile)
        #expect(throws: AWSCredentialsError.self) { try AWSProfiles(environment: env, home: h).credentials() }
        do { _ = try AWSProfiles(environment: env, home: h).credentials() } catch {
            #expect(error.message.contains(message), "\(error.message)")
            #expect(!error.message.contains("secret-"), "no secret in \(error.message)")
        }
    }

    @Test func printedCredentialsShowNoSecret() {
        let c = AWSCredentials(accessKeyId: "AKIAEXAMPLEKEY", secretAccessKey: "wJalrXUtnFEMI", sessionToken: "FwoGZXIvYXdzE", source: "the environment")
        #expect(c.description == "access key AKIA... (temporary) from the environment")
        #expect(!"\(c)".contains("wJalr") && !"\(c)".contains("FwoG"))
    }

    @Test func iniFilesParse() {
        let s = AWSConfigFile.parse("top = ignored\n[ a ]\nk = v = w\n  nested = x\n#c\n[profile  b]\nK2=  v2  \n")
        #expect(s == ["a": ["k": "v = w"], "profile b": ["k2": "v2"]])
    }
}
