public import Foundation

/// AWS credentials: an access key, its secret and, for temporary ones, a session token. Printed,
/// they show the key's first characters and where they came from, never the secret or the token.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// Where they were found: `the environment`, `profile dev of /home/u/.aws/credentials`.
    public var source: String

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, source: String) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
    }

    public var description: String {
        "access key \(accessKeyId.prefix(4))...\(sessionToken == nil ? "" : " (temporary)") from \(source)"
    }
}

/// Credentials that are there but cannot be used, said so that the user can mend them.
public struct AWSCredentialsError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Finds credentials and the region as the AWS CLI and SDKs do: the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), then the profile named by
/// `AWS_PROFILE` (else `default`) in the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`,
/// else `~/.aws/credentials`, sections `[name]`) and in the config file (`AWS_CONFIG_FILE`, else
/// `~/.aws/config`, sections `[profile name]` and `[default]`); the credentials file wins.
public struct AWSProfiles: Sendable {
    public let environment: [String: String]
    public let home: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, home: String? = nil) {
        self.environment = environment
        self.home = home ?? environment["HOME"] ?? NSHomeDirectory()
    }

    /// The profile asked for, and whether it was named (a named one must exist).
    public var profile: (name: String, named: Bool) {
        if let p = environment["AWS_PROFILE"] ?? environment["AWS_DEFAULT_PROFILE"], !p.isEmpty { return (p, true) }
        return ("default", false)
    }

    var credentialsFile: String { environment["AWS_SHARED_CREDENTIALS_FILE"] ?? home + "/.aws/credentials" }
    var configFile: String { environment["AWS_CONFIG_FILE"] ?? home + "/.aws/config" }

    /// The profile's keys in each file (the credentials file first), with the file's path.
    private func sections() -> [(file: String, keys: [String: String])] {
        let name = profile.name
        var out: [(String, [String: String])] = []
        if let text = try? String(contentsOfFile: credentialsFile, encoding: .utf8), let s = AWSConfigFile.parse(text)[name] {
            out.append((credentialsFile, s))
        }
        if let text = try? String(contentsOfFile: configFile, encoding: .utf8) {
            let all = AWSConfigFile.parse(text)
            if let s = all["profile " + name] ?? (name == "default" ? all["default"] : nil) { out.append((configFile, s)) }
        }
        return out
    }

    /// The credentials to sign with; nil when there are none anywhere (and no profile was named).
    public func credentials() throws(AWSCredentialsError) -> AWSCredentials? {
        let key = environment["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = environment["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if key != nil || secret != nil {
            guard let key, let secret else {
                throw AWSCredentialsError("the environment has \(key == nil ? "AWS_SECRET_ACCESS_KEY without AWS_ACCESS_KEY_ID" : "AWS_ACCESS_KEY_ID without AWS_SECRET_ACCESS_KEY"): set both, or neither to use a profile")
            }
            let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            return AWSCredentials(accessKeyId: key, secretAccessKey: secret, sessionToken: token, source: "the environment")
        }
        let (name, named) = profile
        let found = sections()
        for (file, keys) in found {
            let k = keys["aws_access_key_id"], s = keys["aws_secret_access_key"]
            if k == nil && s == nil { continue }
            guard let k, let s, !k.isEmpty, !s.isEmpty else {
                throw AWSCredentialsError("profile \(name) of \(file) has \(k == nil ? "aws_secret_access_key without aws_access_key_id" : "aws_access_key_id without aws_secret_access_key")")
            }
            return AWSCredentials(accessKeyId: k, secretAccessKey: s, sessionToken: keys["aws_session_token"], source: "profile \(name) of \(file)")
        }
        if named {
            if found.isEmpty {
                throw AWSCredentialsError("AWS_PROFILE names the profile \(name), which is in neither \(credentialsFile) nor \(configFile)")
            }
            throw AWSCredentialsError("the profile \(name) has no aws_access_key_id and aws_secret_access_key (\(found.map(\.file).joined(separator: ", ")))")
        }
        return nil
    }

    /// The certificate authorities of https endpoints, as the AWS CLI takes them: `AWS_CA_BUNDLE`,
    /// else the profile's `ca_bundle`; nil: the system's.
    public func caBundle() -> String? {
        if let b = environment["AWS_CA_BUNDLE"], !b.isEmpty { return b }
        return sections().lazy.compactMap { $0.keys["ca_bundle"] }.first
    }

    /// The region: `AWS_REGION`, `AWS_DEFAULT_REGION`, else the profile's `region`.
    public func region() -> String? {
        if let r = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"], !r.isEmpty { return r }
        return sections().lazy.compactMap { $0.keys["region"] }.first
    }
}

/// The INI files of the AWS CLI: `[section]` lines, `key = value` lines, `#` and `;` comments.
/// Indented lines under a key without a value (nested settings such as `s3 =`) are skipped.
public enum AWSConfigFile {
    public static func parse(_ text: String) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        var section: String? = nil
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if raw.first == " " || raw.first == "\t" { continue }  // nested
            if line.hasPrefix("["), line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                section = name
                if out[name] == nil { out[name] = [:] }
                continue
            }
            guard let s = section, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if !key.isEmpty { out[s]![key] = value }
        }
        return out
    }
}
