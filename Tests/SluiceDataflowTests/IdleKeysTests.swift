import Testing
import SluiceCore
@testable import SluiceDataflow

/// A state TTL's bookkeeping: a key touched at time t is forgotten once the watermark passes the
/// end of t's second plus the TTL; touched again meanwhile, it lives on. Against a brute-force
/// model on seeded touches (some out of order) and watermarks, and through a checkpoint.
@Suite("IdleKeys")
struct IdleKeysTests {
    @Test func keysAreForgottenExactlyWhenIdleForTheTTL() {
        var rng = SplitMix64(seed: 12)
        var keys = IdleKeys<Int>(ttl: 3_000)
        var model: [Int: Int64] = [:]  // key -> last second touched
        var clock: Int64 = 1_000_000
        var watermark: Int64 = 0
        for step in 0..<5_000 {
            clock += Int64(rng.next() % 400)
            let k = Int(rng.next() % 50)
            let t = clock - Int64(rng.next() % 2_000)  // up to 2 s out of order
            keys.touch(k, at: t)
            model[k] = max(model[k] ?? .min, t >= 0 ? t / 1000 : (t - 999) / 1000)
            if step % 7 == 0 {
                watermark = max(watermark, clock - 1_500)
                let limit = (watermark - 3_000) / 1000
                let want = Set(model.filter { $0.value < limit }.keys)
                for k in want { model[k] = nil }
                #expect(Set(keys.expire(at: watermark)) == want, "step \(step)")
            }
            if step == 2_500 {
                var copy = IdleKeys<Int>(ttl: 3_000)
                copy.restore(keys.entries)
                keys = copy
            }
        }
        #expect(keys.count == model.count)
    }
}
