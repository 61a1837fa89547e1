import SluiceAWS
/// Reads HTTP/1.1 requests out of a connection's bytes as they arrive (RFC 9112), one at a time.
///
/// Incremental: each byte is looked at once (a search for the end of the head or of a line goes
/// on where the last one stopped), and consumed bytes are dropped, so a request that arrives a
/// byte at a time costs no more than one that arrives whole. Bounded: the head and the trailers
/// at most `maxHeaderBytes`, a chunk-size line at most `maxLineBytes`, the body at most
/// `maxBodyBytes` (checked before any arithmetic can overflow). Strict where RFC 9112 lets a
/// server choose, so no request can be framed two ways (request smuggling): Content-Length is
/// digits only, several Content-Length values must agree, Transfer-Encoding beside
/// Content-Length is refused, and `chunked` is the only transfer coding. Malformed input is an
/// error with the status to answer; the connection closes after it.
struct HTTPRequestReader {
    struct Failure: Error {
        var status: Int
        var message: String
    }

    enum Outcome {
        /// More bytes are needed.
        case incomplete
        /// The head is in and the client waits for `100 Continue` before sending the body.
        case expectsContinue
        /// A whole request.
        case request(HTTPRequest)
    }

    let maxHeaderBytes: Int
    let maxBodyBytes: Int
    /// The longest chunk-size line, extensions included.
    let maxLineBytes = 4096

    private enum State {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkEnd
        case trailers(bytes: Int)
    }

    private var state = State.head
    /// Bytes received and not consumed: `buffer[start...]`.
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where the search for the current terminator goes on (everything before it was looked at).
    private var scanned = 0
    private var request: HTTPRequest? = nil
    private var body: [UInt8] = []
    /// The head asked for 100 Continue and it has not been answered.
    private var wantsContinue = false

    init(maxHeaderBytes: Int, maxBodyBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
    }

    /// Bytes looked at by searches for line and head ends (tests: each byte about once).
    private(set) var bytesExamined = 0

    /// Bytes held for the request in progress (received and not consumed, plus its body so far).
    var bufferedBytes: Int { buffer.count - start + body.count }
    /// Whether any byte of a next request has arrived.
    var isIdle: Bool { buffer.count == start && request == nil }

    mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            scanned -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole request if it is in; `continued`: 100 Continue was sent for this one.
    mutating func next(continued: Bool) throws(Failure) -> Outcome {
        while true {
            switch state {
            case .head:
                guard let end = find([13, 10, 13, 10]) else {
                    if buffer.count - start > maxHeaderBytes { throw Failure(status: 431, message: "the request headers exceed \(maxHeaderBytes) bytes") }
                    return .incomplete
                }
                if end - start > maxHeaderBytes { throw Failure(status: 431, message: "the request headers exceed \(maxHeaderBytes) bytes") }
                let head = try parseHead(buffer[start..<end])
                consume(to: end + 4)
                request = head.request
                body = []
                wantsContinue = head.request.header("expect")?.lowercased() == "100-continue"
                switch head.framing {
                case .none:
                    if ["POST", "PUT"].contains(head.request.method) {
                        throw Failure(status: 411, message: "a request body needs Content-Length or chunked encoding")
                    }
                    return .request(finish())
                case .length(let n):
                    if n == 0 { return .request(finish()) }
                    state = .fixedBody(remaining: n)
                case .chunked:
                    state = .chunkSize
                }
            case .fixedBody(let remaining):
                let take = min(remaining, buffer.count - start)
                if take == 0 {
                    if wantsContinue && !continued && body.isEmpty { return .expectsContinue }
                    return .incomplete
                }
                body += buffer[start..<(start + take)]
                consume(to: start + take)
                if take == remaining { return .request(finish()) }
                state = .fixedBody(remaining: remaining - take)
            case .chunkSize:
                guard let end = find([13, 10]) else {
                    if buffer.count - start > maxLineBytes { throw Failure(status: 400, message: "a chunk-size line is longer than \(maxLineBytes) bytes") }
                    if wantsContinue && !continued && body.isEmpty && buffer.count == start { return .expectsContinue }
                    return .incomplete
                }
                if end - start > maxLineBytes { throw Failure(status: 400, message: "a chunk-size line is longer than \(maxLineBytes) bytes") }
                let size = try chunkSize(buffer[start..<end])
                consume(to: end + 2)
                state = size == 0 ? .trailers(bytes: 0) : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let take = min(remaining, buffer.count - start)
                if take == 0 { return .incomplete }
                body += buffer[start..<(start + take)]
                consume(to: start + take)
                state = take == remaining ? .chunkEnd : .chunkData(remaining: remaining - take)
            case .chunkEnd:
                guard buffer.count - start >= 2 else { return .incomplete }
                guard buffer[start] == 13, buffer[start + 1] == 10 else { throw Failure(status: 400, message: "a chunk does not end with CRLF") }
                consume(to: start + 2)
                state = .chunkSize
            case .trailers(let bytes):
                // Trailer fields (ignored), each a line, then an empty line.
                guard let end = find([13, 10]) else {
                    if bytes + buffer.count - start > maxHeaderBytes { throw Failure(status: 431, message: "the request trailers exceed \(maxHeaderBytes) bytes") }
                    return .incomplete
                }
                let length = end - start
                if bytes + length + 2 > maxHeaderBytes { throw Failure(status: 431, message: "the request trailers exceed \(maxHeaderBytes) bytes") }
                if length > 0, !buffer[start..<end].contains(58) { throw Failure(status: 400, message: "malformed trailer line") }
                consume(to: end + 2)
                if length == 0 { return .request(finish()) }
                state = .trailers(bytes: bytes + length + 2)
            }
        }
    }

    /// One request from the start of `bytes` and how many bytes it used (tests, and anything
    /// that holds a whole buffer).
    static func parse(_ bytes: [UInt8], continued: Bool, maxHeaderBytes: Int, maxBodyBytes: Int) throws(Failure) -> (Outcome, consumed: Int) {
        var r = HTTPRequestReader(maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes)
        r.feed(bytes)
        let o = try r.next(continued: continued)
        return (o, r.start)
    }

    // MARK: - Pieces

    private mutating func finish() -> HTTPRequest {
        var r = request!
        r.body = body
        request = nil
        body = []
        wantsContinue = false
        state = .head
        return r
    }

    private mutating func consume(to index: Int) {
        start = index
        scanned = index
    }

    /// The index of `pattern` at or after `start`, searching on from where the last search
    /// stopped (nil: not yet in).
    private mutating func find(_ pattern: [UInt8]) -> Int? {
        let from = max(start, scanned - (pattern.count - 1))
        let last = buffer.count - pattern.count
        var i = from
        while i <= last {
            if buffer[i] == pattern[0] {
                var k = 1
                while k < pattern.count && buffer[i + k] == pattern[k] { k += 1 }
                if k == pattern.count {
                    bytesExamined += i + k - from
                    return i
                }
            }
            i += 1
        }
        bytesExamined += max(0, buffer.count - from)
        scanned = max(start, buffer.count)
        return nil
    }

    private enum Framing {
        case none
        case length(Int)
        case chunked
    }

    private func parseHead(_ bytes: ArraySlice<UInt8>) throws(Failure) -> (request: HTTPRequest, framing: Framing) {
        let head = String(decoding: bytes, as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        // Lines end with CRLF only: a bare CR or LF (or NUL) in the head is refused, not read as a break.
        if lines.contains(where: { $0.utf8.contains { $0 == 13 || $0 == 10 || $0 == 0 } }) {
            throw Failure(status: 400, message: "the request head holds a bare CR, LF or NUL")
        }
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard requestLine.count == 3, !requestLine[0].isEmpty, requestLine[0].utf8.allSatisfy({ $0 >= 65 && $0 <= 90 }),
              requestLine[1].hasPrefix("/") || requestLine[1] == "*" else {
            throw Failure(status: 400, message: "malformed request line")
        }
        guard requestLine[2] == "HTTP/1.1" || requestLine[2] == "HTTP/1.0" else {
            throw Failure(status: 505, message: "only HTTP/1.1 and HTTP/1.0 are spoken here")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            // A field name is a token (no spaces, so no space before the colon); a line folded
            // onto the one before (obs-fold) is refused, as RFC 9112 lets a server do.
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  line[line.startIndex..<colon].utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                throw Failure(status: 400, message: "malformed header line")
            }
            let value = HTTPRequestReader.trimmed(line[line.index(after: colon)...])
            if value.utf8.contains(where: { $0 == 0 || $0 == 13 || $0 == 10 }) { throw Failure(status: 400, message: "a header value holds a control character") }
            headers.append((line[..<colon].lowercased(), value))
        }
        let request = HTTPRequest(method: requestLine[0], target: requestLine[1], version: requestLine[2], headers: headers)
        let encodings = headers.filter { $0.name == "transfer-encoding" }
        let lengths = headers.filter { $0.name == "content-length" }
        if !encodings.isEmpty {
            if !lengths.isEmpty {
                throw Failure(status: 400, message: "a request may not carry both Transfer-Encoding and Content-Length")
            }
            if request.version == "HTTP/1.0" { throw Failure(status: 400, message: "Transfer-Encoding is not allowed in HTTP/1.0") }
            let codings = encodings.flatMap { $0.value.split(separator: ",") }.map { HTTPRequestReader.trimmed($0).lowercased() }
            guard codings == ["chunked"] else {
                throw Failure(status: 501, message: "the only transfer coding understood here is chunked, not '\(encodings.map(\.value).joined(separator: ", "))'")
            }
            return (request, .chunked)
        }
        if !lengths.isEmpty {
            var value: Int? = nil
            for l in lengths {
                for part in l.value.split(separator: ",", omittingEmptySubsequences: false) {
                    let t = HTTPRequestReader.trimmed(part)
                    guard !t.isEmpty, t.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                        throw Failure(status: 400, message: "Content-Length is not a number of digits: '\(l.value)'")
                    }
                    // More digits than the limit has can only be over it (and cannot overflow).
                    let n = t.utf8.count > 18 ? Int.max : Int(t)!
                    if let v = value, v != n { throw Failure(status: 400, message: "the request has Content-Length values that differ") }
                    value = n
                }
            }
            let n = value!
            if n > maxBodyBytes { throw Failure(status: 413, message: "the request body of \(n) bytes exceeds the limit of \(maxBodyBytes) bytes") }
            return (request, .length(n))
        }
        return (request, .none)
    }

    /// The size of a chunk-size line (hex digits, then optional `;extensions`), checked against
    /// the room the body has left before it is ever added.
    private func chunkSize(_ line: ArraySlice<UInt8>) throws(Failure) -> Int {
        // A bare CR or LF inside the line would let another parser end it elsewhere.
        if line.contains(13) || line.contains(10) { throw Failure(status: 400, message: "a chunk-size line holds a bare CR or LF") }
        var size = 0
        var digits = 0
        var i = line.startIndex
        while i < line.endIndex, let d = HTTPRequestReader.hexValue(line[i]) {
            digits += 1
            // Once the size passes the room left, more digits only make it larger.
            if size <= maxBodyBytes { size = size * 16 + d }
            i += 1
        }
        guard digits > 0 else { throw Failure(status: 400, message: "malformed chunk size") }
        while i < line.endIndex, line[i] == 32 || line[i] == 9 { i += 1 }
        guard i == line.endIndex || line[i] == 59 else { throw Failure(status: 400, message: "malformed chunk size") }
        if size > maxBodyBytes - body.count {
            throw Failure(status: 413, message: "the request body exceeds the limit of \(maxBodyBytes) bytes")
        }
        return size
    }

    /// Without leading and trailing spaces and tabs (optional white space around field values).
    static func trimmed(_ s: Substring) -> String {
        var t = s
        while let c = t.first, c == " " || c == "\t" { t = t.dropFirst() }
        while let c = t.last, c == " " || c == "\t" { t = t.dropLast() }
        return String(t)
    }

    private static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 48...57: return Int(c - 48)
        case 65...70: return Int(c - 55)
        case 97...102: return Int(c - 87)
        default: return nil
        }
    }
}
