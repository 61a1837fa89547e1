import Foundation
import Glibc
import Synchronization
import Testing
@testable import SluiceDelivery
import SluiceTestSupport

@Suite("Webhooks")
struct WebhookTests {
    @Test func failedPostsAreRetriedWithBackoffUntilTheyGoThrough() throws {
        let server = try TestHTTPListener(statuses: [500, 503])
        let lines = Mutex<[String]>([])
        let sender = try WebhookSender(url: "http://127.0.0.1:\(server.port)/hook", backoffMillis: 10, log: { l in lines.withLock { $0.append(l) } })
        sender.send(Array(#"{"n":1}"#.utf8))
        sender.send(Array(#"{"n":2}"#.utf8))
        #expect(sender.drain(timeoutMillis: 5_000))
        #expect(server.bodies == [#"{"n":1}"#, #"{"n":2}"#], "in order, each once")
        #expect(server.requests == 4)
        #expect(sender.counters == WebhookSender.Counters(sent: 2, failed: 0, dropped: 0, retries: 2))
        #expect(lines.withLock { $0 }.isEmpty)
    }

    @Test func aDeadEndpointIsLoggedAndCountedWithoutBlocking() throws {
        // A port nobody listens on: bound, then closed without listening.
        let port: UInt16 = {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            return UInt16(bigEndian: addr.sin_port)
        }()
        let lines = Mutex<[String]>([])
        let sender = try WebhookSender(url: "http://127.0.0.1:\(port)/x", attempts: 3, backoffMillis: 5, capacity: 2,
                                       log: { l in lines.withLock { $0.append(l) } })
        let start = DispatchTime.now()
        for i in 0..<5 { sender.send(Array("{\"i\":\(i)}".utf8)) }
        let queued = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        #expect(queued < 0.5, "send returns at once")
        #expect(sender.drain(timeoutMillis: 5_000))
        let c = sender.counters
        #expect(c.sent == 0 && c.failed + c.dropped == 5 && c.dropped >= 1 && c.retries == 2 * c.failed)
        #expect(lines.withLock { $0 }.contains { $0.contains("not delivered after 3 attempts") })
    }

    @Test(arguments: ["https://example.com/x", "ftp://h/x", "http://", "http://h:port/x"])
    func badURLsAreRefused(_ url: String) {
        #expect(throws: DeliveryError.self) { try WebhookSender(url: url) }
    }
}
