import Foundation
import Synchronization

/// A persistent query on a thread of its own (a server's engine: `Engine.threadedQueries`): it
/// steps the query while there is something to read and naps, a little longer each time, while
/// there is not. So queries run side by side on the machine's cores, and a slow one holds up
/// neither the others nor the API. The query's state is touched only under `lock`: by this
/// thread's steps, and by the engine's thread to look at it (SHOW QUERIES, /metrics), to
/// checkpoint it, drop it or stop it, each of which waits for the step under way.
final class QueryRunner: @unchecked Sendable {
    unowned let job: Job
    unowned let engine: Engine
    let lock = NSLock()
    /// Threads waiting to look at the query (`observed`): the loop lets them in between steps. A
    /// lock is not fair: a thread that unlocks and locks again at once keeps it, so a query with
    /// much to read held SHOW QUERIES, /metrics and the server's stop off for minutes.
    let observers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)

    init(_ job: Job, engine: Engine) {
        self.job = job
        self.engine = engine
    }

    func start() {
        running.store(true, ordering: .releasing)
        let name = "query \(job.id)"
        let thread = Thread { [self] in
            // Named after its query: what `top -H` and /proc show (15 characters at most).
            Thread.current.name = String(name.prefix(15))
            loop()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    private func loop() {
        var nap: useconds_t = 1_000
        while !stopping.load(ordering: .acquiring) {
            lock.lock()
            var busy = false, over = job.done
            if !over {
                do throws(EngineError) {
                    busy = try job.step()
                    over = job.done
                } catch {
                    engine.fail(job, error)
                    over = true
                }
            }
            lock.unlock()
            if over { break }
            // Whoever waits to look goes before the next step.
            while observers.load(ordering: .acquiring) > 0 && !stopping.load(ordering: .acquiring) { usleep(50) }
            if busy {
                nap = 1_000
            } else {
                usleep(nap)
                nap = min(nap * 2, 50_000)
            }
        }
        running.store(false, ordering: .releasing)
    }

    /// Ends the thread after the step under way; the query stays as it is (the caller checkpoints,
    /// stops or drops it).
    func stop() {
        stopping.store(true, ordering: .releasing)
        while running.load(ordering: .acquiring) { usleep(200) }
    }
}

extension Job {
    /// `body` with the query's state to itself: under its runner's lock when it runs on a thread
    /// of its own.
    func observed<T, E: Error>(_ body: (Job) throws(E) -> T) throws(E) -> T {
        guard let r = runner else { return try body(self) }
        r.observers.add(1, ordering: .releasing)
        r.lock.lock()
        r.observers.subtract(1, ordering: .releasing)
        defer { r.lock.unlock() }
        return try body(self)
    }
}
