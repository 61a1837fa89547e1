import Foundation
import SluiceCore
import Testing
@testable import SluiceDataflow

@Suite("Alert state machine")
struct AlertStateMachineTests {
    @Test func conditionsFireResolveAndRespectTheCooldown() {
        let m = AlertStateMachine(cooldownMillis: 10_000)
        let k: [Value] = [.string("a")]
        #expect(m.observe(key: k, fire: true, resolve: false, at: 0) == .firing)
        #expect(m.observe(key: k, fire: true, resolve: false, at: 1_000) == nil, "already FIRING")
        #expect(m.observe(key: k, fire: false, resolve: true, at: 2_000) == .resolved)
        #expect(m.observe(key: k, fire: true, resolve: false, at: 5_000) == nil, "within the cooldown")
        #expect(m.suppressed == 1)
        #expect(m.observe(key: k, fire: true, resolve: false, at: 12_000) == .firing)
    }

    /// Silence shows either way: time passing (the watermark) or a row after a gap.
    @Test func silenceFiresOnTimeOrOnTheRowAfterAGap() throws {
        let m = AlertStateMachine(cooldownMillis: nil, silentForMillis: 10_000)
        let a: [Value] = [.string("a")], b: [Value] = [.string("b")]
        #expect(m.heard(key: a, at: 0).isEmpty && m.heard(key: b, at: 0).isEmpty)
        #expect(m.silence(at: 9_999).isEmpty)
        #expect(m.heard(key: a, at: 9_000).isEmpty)
        // b has been silent for 10 s at 10.5 s; a not.
        let fired = m.silence(at: 10_500)
        #expect(fired.count == 1 && fired[0].key == b && fired[0].at == 10_000 && fired[0].lastSeen == 0)
        #expect(m.silence(at: 30_000).map(\.key) == [a], "a's turn; b fires once")
        let back = m.heard(key: b, at: 31_000)
        #expect(back.count == 1 && back[0].transition == .resolved && back[0].at == 31_000)
        // A gap no watermark showed: the row after it tells both.
        let gap = m.heard(key: b, at: 50_000)
        #expect(gap.map(\.transition) == [.firing, .resolved] && gap.map(\.at) == [41_000, 50_000])
        // A restored machine knows who was heard when, and who is silent.
        let r = AlertStateMachine(cooldownMillis: nil, silentForMillis: 10_000)
        try r.restore(try JSONValue.parse(m.snapshot().serialized()))
        #expect(r.firing.map(\.key) == [a])
        #expect(r.silence(at: 60_000).map(\.key) == [b])
        #expect(r.heard(key: a, at: 61_000).map(\.transition) == [.resolved])
    }

    @Test func silenceRespectsTheCooldown() {
        let m = AlertStateMachine(cooldownMillis: 60_000, silentForMillis: 10_000)
        let k: [Value] = [.int(1)]
        _ = m.heard(key: k, at: 0)
        #expect(m.silence(at: 10_000).count == 1)
        _ = m.heard(key: k, at: 11_000)
        #expect(m.heard(key: k, at: 30_000).isEmpty, "a second silence within the cooldown is suppressed")
        #expect(m.suppressed == 1)
    }
}
