import Foundation
import Synchronization
import Testing
@testable import SluiceKinesis

@Suite("Blocking calls side by side")
struct BlockingWorkTests {
    /// Calls that block (as requests to an endpoint do) all run at once up to the width, whatever
    /// the number of cores, and their results keep the items' order.
    @Test func blockedCallsRunAtOnceUpToTheWidthInOrder() {
        let running = Atomic<Int>(0), most = Atomic<Int>(0)
        let gate = DispatchSemaphore(value: 0)
        let arrived = Atomic<Int>(0)
        let out = BlockingWork.map(Array(0..<12), width: 12) { i -> Int in
            let now = running.add(1, ordering: .relaxed).newValue
            _ = most.max(now, ordering: .relaxed)
            // Every call waits until all twelve are in: only possible if they run side by side.
            if arrived.add(1, ordering: .relaxed).newValue == 12 { for _ in 0..<12 { gate.signal() } }
            _ = gate.wait(timeout: .now() + 10)
            running.subtract(1, ordering: .relaxed)
            return i * i
        }
        #expect(most.load(ordering: .relaxed) == 12)
        #expect(out == (0..<12).map { $0 * $0 })
        // A narrower width: never more at once than it.
        let peak = Atomic<Int>(0), live = Atomic<Int>(0)
        _ = BlockingWork.map(Array(0..<20), width: 3) { _ -> Int in
            _ = peak.max(live.add(1, ordering: .relaxed).newValue, ordering: .relaxed)
            usleep(2_000)
            live.subtract(1, ordering: .relaxed)
            return 0
        }
        #expect(peak.load(ordering: .relaxed) <= 3)
    }
}
