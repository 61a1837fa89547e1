import Foundation
import Synchronization

/// Blocking calls (requests to an endpoint) made side by side on threads of their own. Dispatch's
/// pool on Linux runs about one item per core at a time and is slow to grow, so calls that wait on
/// the network would mostly wait for each other there.
package enum BlockingWork {
    /// `body` of every item, at most `width` at once; the results in the items' order.
    package static func map<T: Sendable, R: Sendable>(_ items: [T], width: Int = 16, _ body: @escaping @Sendable (T) -> R) -> [R] {
        if items.count <= 1 { return items.map(body) }
        let results = Mutex<[R?]>(Array(repeating: nil, count: items.count))
        let next = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        let threads = min(max(1, width), items.count)
        for _ in 0..<threads {
            let t = Thread {
                while true {
                    let i = next.add(1, ordering: .relaxed).oldValue
                    guard i < items.count else { break }
                    let r = body(items[i])
                    results.withLock { $0[i] = r }
                }
                done.signal()
            }
            t.stackSize = 1 << 20
            t.start()
        }
        for _ in 0..<threads { done.wait() }
        return results.withLock { $0.map { $0! } }
    }
}
