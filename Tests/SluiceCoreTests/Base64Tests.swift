import Foundation
import Testing
import SluiceCore

@Suite("Base64 as the AWS JSON APIs carry record data")
struct Base64Tests {
    @Test func roundTripsAndAgreesWithFoundation() {
        var rng = SplitMix64(seed: 7)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let text = Base64.encode(bytes)
            #expect(text == Data(bytes).base64EncodedString(), "length \(length)")
            #expect(Base64.decode(text) == bytes, "length \(length)")
        }
    }

    @Test func refusesWhatIsNotPaddedBase64AndLeavesTheBufferAsItWas() {
        for bad in ["abc", "ab=c", "a===", "ab==cd==", "ab!d", "YQ==YQ==", "\u{e9}abc"] {
            var out: [UInt8] = [1, 2]
            var t = bad
            let ok = t.withUTF8 { Base64.decode(UnsafeRawBufferPointer($0), into: &out) }
            #expect(!ok && out == [1, 2], "\(bad)")
        }
        #expect(Base64.decode("") == [])
        #expect(Base64.decode("YQ==") == [97])
        #expect(Base64.decode("YWI=") == [97, 98])
    }
}
