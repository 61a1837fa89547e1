import Foundation

/// Shard iterators and list tokens: opaque base64 strings that carry what they point at and when
/// they were issued, sealed with a check value so a damaged token is told apart from a real one.
struct ShardIteratorToken: Equatable {
    var issuedMillis: Int64
    var streamCreationMillis: Int64
    var shardIndex: UInt32
    var position: UInt64
    var streamName: String

    func encode() -> String {
        var p = [UInt8]()
        p.append(1)
        p.appendLE(UInt64(bitPattern: issuedMillis))
        p.appendLE(UInt64(bitPattern: streamCreationMillis))
        p.appendLE(shardIndex)
        p.appendLE(position)
        p.append(contentsOf: streamName.utf8)
        return seal(p)
    }

    static func decode(_ text: String) -> ShardIteratorToken? {
        guard let p = unseal(text), p.count > 29, p[0] == 1 else { return nil }
        let name = String(decoding: p[29...], as: UTF8.self)
        return ShardIteratorToken(issuedMillis: Int64(bitPattern: p.loadLE(UInt64.self, at: 1)),
                                  streamCreationMillis: Int64(bitPattern: p.loadLE(UInt64.self, at: 9)),
                                  shardIndex: p.loadLE(UInt32.self, at: 17),
                                  position: p.loadLE(UInt64.self, at: 21), streamName: name)
    }
}

private let tokenKey: [UInt8] = Array("sluice-token-v1".utf8)

/// base64(payload || first 8 bytes of MD5(key || payload)).
func seal(_ payload: [UInt8]) -> String {
    let mac = MD5.digest(tokenKey + payload).prefix(8)
    return Data(payload + mac).base64EncodedString()
}

/// The payload of a sealed token, or nil when it is not one of ours. Quotes around the token
/// (as the AWS CLI passes them on when output is piped) are ignored.
func unseal(_ text: String) -> [UInt8]? {
    var t = Substring(text)
    if t.count >= 2, t.first == "\"", t.last == "\"" { t = t.dropFirst().dropLast() }
    guard t.utf8.count <= 1024, let data = Data(base64Encoded: String(t)), data.count > 8 else { return nil }
    let bytes = [UInt8](data)
    let payload = Array(bytes[..<(bytes.count - 8)])
    guard Array(MD5.digest(tokenKey + payload).prefix(8)) == Array(bytes[(bytes.count - 8)...]) else { return nil }
    return payload
}
