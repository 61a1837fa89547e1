import Foundation
import Testing
import SluiceCore
import SluiceStreams
@testable import SluiceEngine

/// Issue 19, items 14 and 15: records the stream cannot take, bytes that are not UTF-8, and CSV
/// as RFC 4180 writes it. Nothing loads twice, nothing is silently changed or dropped.
@Suite("Bad input: oversized records, invalid UTF-8, CSV")
struct BadInputTests {
    /// One line over 1 MiB in the middle of a file: the other lines load (once), and the big one
    /// goes to error_stream naming its line.
    @Test func anOversizedRecordGoesToTheErrorStreamAndTheRestLoads() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            INSERT INTO out SELECT COUNT(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '1' HOUR) GROUP BY window_start, window_end;
            """)
        var lines: [String] = []
        for i in 0..<1_200 {
            lines.append(i == 700 ? #"{"url":"/\#(String(repeating: "x", count: 1_100_000))","ts":\#(i)}"# : #"{"url":"/p\#(i)","ts":\#(i)}"#)
        }
        lines.insert("", at: 10)  // an empty line counts as a line
        try (lines.joined(separator: "\n") + "\n").write(toFile: f.dir + "/in.jsonl", atomically: true, encoding: .utf8)
        let put = try f.engine.loadInput(stream: "clicks", path: f.dir + "/in.jsonl")
        #expect(put == 1_199)
        try f.engine.runUntilEnd()
        #expect(f.lines("out.jsonl") == [#"{"n":1199}"#])
        let errors = try f.errorStream().filter { $0["error_kind"] == "load" }
        #expect(errors.count == 1)
        #expect(errors.first?["message"]?.stringValue?.contains("line 702 of") == true, "\(errors)")
        #expect(errors.first?["source"] == "clicks")
        #expect((errors.first?["data"]?.stringValue?.utf8.count ?? 0) < 5_000)
    }

    /// Event times at the edges of what a number holds: a timestamp beyond 9999 years of 1970
    /// is a bad record (it made window arithmetic overflow, and the process died), and records
    /// far apart in time close their windows at once. A record whose expressions fail twice is
    /// one bad record with one error-stream entry (it was counted twice).
    @Test func extremeEventTimesAreBadRecordsNotACrash() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM clicks (url VARCHAR, n BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (format = 'json');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            CREATE SINK calc WITH (type = 'file', path = '$DIR/calc.jsonl');
            INSERT INTO out SELECT window_start, COUNT(*) AS c FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end;
            INSERT INTO calc SELECT n * 2 AS twice, n + 1 AS next FROM clicks;
            """)
        let m = Millis.maxTimestamp
        let lines = [#"{"url":"/a","n":1,"ts":1000}"#, #"{"url":"/b","n":9223372036854775807,"ts":9223372036854775807}"#,
                     #"{"url":"/c","n":2,"ts":-9223372036854775808}"#, #"{"url":"/d","n":9223372036854775807,"ts":\#(m)}"#]
        try lines.joined(separator: "\n").write(toFile: f.dir + "/in.jsonl", atomically: true, encoding: .utf8)
        #expect(try f.engine.loadInput(stream: "clicks", path: f.dir + "/in.jsonl") == 4)
        try f.engine.runUntilEnd()
        let lastWindow = m / 60_000 * 60_000
        #expect(f.lines("out.jsonl") == [#"{"window_start":"1970-01-01T00:00:00.000Z","c":1}"#,
                                         #"{"window_start":"\#(TimeFormat.iso8601(lastWindow))","c":1}"#])
        #expect(f.engine.counters[0].bad == 2)
        // The second query reads no event time: two records overflow, each in both expressions.
        #expect(f.lines("calc.jsonl") == [#"{"twice":2,"next":2}"#, #"{"twice":4,"next":3}"#])
        #expect(f.engine.counters[1].bad == 2)
        let errors = try f.errorStream()
        #expect(errors.filter { $0["error_kind"] == "decode" }.count == 2, "\(errors)")
        #expect(errors.filter { $0["error_kind"] == "eval" }.count == 2, "\(errors)")
    }

    /// A record that is not UTF-8 cannot be decoded: it goes to error_stream with its shard and
    /// sequence number; well-formed multi-byte text passes.
    @Test func invalidUTF8IsABadRecordNotReplacementCharacters() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            INSERT INTO out SELECT url FROM clicks;
            """)
        let good = Array(#"{"url":"/caf\#u{e9}-\#u{1F600}","ts":1}"#.utf8)
        var bad = Array(#"{"url":"/caf?","ts":2}"#.utf8)
        bad[bad.firstIndex(of: UInt8(ascii: "?"))!] = 0xE9  // Latin-1 é: not UTF-8
        var skipped = Array(#"{"other":"??","url":"/x","ts":3}"#.utf8)
        skipped[10] = 0xC0; skipped[11] = 0xAF  // an overlong '/', in a field the query does not read
        for r in [good, bad, skipped] { _ = try f.store.putRecord(stream: "clicks", data: r, partitionKey: "k") }
        try f.engine.runUntilEnd()
        #expect(f.lines("out.jsonl") == [#"{"url":"/caf\#u{e9}-\#u{1F600}"}"#])
        let errors = try f.errorStream().filter { $0["error_kind"] == "decode" }
        #expect(errors.count == 2)
        #expect(errors.allSatisfy { $0["message"]?.stringValue?.contains("not valid UTF-8") == true }, "\(errors)")
        #expect(errors.allSatisfy { $0["shard_id"]?.stringValue != nil && $0["sequence_number"]?.stringValue != nil })
        #expect(f.engine.counters[0].bad == 2)
    }

    /// RFC 4180: a quoted field may hold line breaks and doubled quotes; a record with more
    /// fields than the stream declares is refused (to error_stream), not cut.
    @Test func csvRecordsFollowRFC4180() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM notes (id BIGINT, body VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'csv');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            INSERT INTO out SELECT id, body FROM notes;
            """)
        let file = "1,plain,1000\n2,\"two\nlines, and \"\"quotes\"\"\",2000\n3,\"with\n\nblank\",3000\n4,extra,4000,oops\n5,last,5000\n"
        try file.write(toFile: f.dir + "/in.csv", atomically: true, encoding: .utf8)
        #expect(try f.engine.loadInput(stream: "notes", path: f.dir + "/in.csv") == 5)
        try f.engine.runUntilEnd()
        let rows = f.lines("out.jsonl")
        #expect(rows == [#"{"id":1,"body":"plain"}"#, #"{"id":2,"body":"two\nlines, and \"quotes\""}"#, #"{"id":3,"body":"with\n\nblank"}"#,
                         #"{"id":5,"body":"last"}"#])
        let errors = try f.errorStream().filter { $0["error_kind"] == "decode" }
        #expect(errors.count == 1 && errors.first?["message"]?.stringValue?.contains("4 fields; 3 are expected") == true, "\(errors)")
    }

    /// A stray quote does not swallow the rest of the file: once the open record passes the
    /// record limit, its first line is a bad record and reading resumes at the next line.
    @Test func aStrayQuoteCostsOneLine() throws {
        var lines = ["1,\"unclosed,100"]
        for i in 2...40_000 { lines.append("\(i),row\(i),\(i * 100)") }
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM notes (id BIGINT, body VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'csv');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            INSERT INTO out SELECT COUNT(*) AS n FROM TUMBLE(notes, ts, INTERVAL '1' DAY) GROUP BY window_start, window_end;
            """)
        try (lines.joined(separator: "\n") + "\n").write(toFile: f.dir + "/in.csv", atomically: true, encoding: .utf8)
        #expect(try f.engine.loadInput(stream: "notes", path: f.dir + "/in.csv") == 40_000)
        try f.engine.runUntilEnd()
        #expect(f.lines("out.jsonl") == [#"{"n":39999}"#])
        #expect(try f.errorStream().filter { $0["error_kind"] == "decode" }.count == 1)
    }

    /// error_stream can be read from the start of a file, and an expression failure names the
    /// record as it arrived: its shard, sequence number and raw bytes (not the projected row).
    @Test func errorStreamIsThereFromTheStartWithTheRawRecord() throws {
        let f = try EngineFixture()
        try f.load("""
            CREATE STREAM pays (merchant VARCHAR, amount VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');
            CREATE SINK errs WITH (type = 'file', path = '$DIR/errs.jsonl');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            INSERT INTO errs SELECT error_kind, message, source, shard_id, sequence_number, data FROM error_stream;
            INSERT INTO out SELECT merchant, CAST(amount AS BIGINT) AS cents FROM pays WHERE merchant <> 'skip';
            """)
        let raw = #"{"merchant":"m-1","amount":"12.5x","ts":1000,"extra":[1,2]}"#
        try f.put("pays", #"{"merchant":"m-0","amount":"7","ts":500}"#)
        try f.put("pays", raw)
        try f.engine.runUntilEnd()
        #expect(f.lines("out.jsonl") == [#"{"merchant":"m-0","cents":7}"#])
        let errs = f.lines("errs.jsonl").compactMap { try? JSONValue.parse(bytes: Array($0.utf8)) }
        #expect(errs.count == 1, "\(f.lines("errs.jsonl"))")
        #expect(errs.first?["error_kind"] == "eval" && errs.first?["source"] == "pays")
        #expect(errs.first?["data"]?.stringValue == raw)
        #expect(errs.first?["shard_id"]?.stringValue == "shardId-000000000000" && errs.first?["sequence_number"]?.stringValue?.count == 56)
        // The reason is counted for the summary, with the record as its example.
        let reasons = f.engine.counters[1].topReasons(3)
        #expect(reasons.first?.kind == "eval" && reasons.first?.count == 1 && reasons.first?.example == raw, "\(reasons)")
    }

    @Test func reasonsAreGroupedWithoutTheirValues() {
        #expect(QueryCounters.generalized("cannot cast 'abc' to BIGINT") == "cannot cast '…' to BIGINT")
        #expect(QueryCounters.generalized(#"field 'v': expected a number, found "warm""#) == #"field 'v': expected a number, found "…""#)
    }

    /// Rows reach a file sink within a second of being written, not only at checkpoints.
    @Test func fileSinksFlushWithinASecond() throws {
        let f = try EngineFixture()
        f.engine.checkpointIntervalMillis = nil
        try f.load("""
            CREATE STREAM clicks (url VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            INSERT INTO out SELECT url FROM clicks;
            """)
        try f.put("clicks", #"{"url":"/a","ts":1}"#)
        _ = try f.engine.runStep()
        #expect(f.lines("out.jsonl") == [#"{"url":"/a"}"#])
        try f.put("clicks", #"{"url":"/b","ts":2}"#)
        _ = try f.engine.runStep()
        f.clock.advance(by: 500)
        _ = try f.engine.runStep()
        #expect(f.lines("out.jsonl").count == 1, "within the second, the row may wait")
        f.clock.advance(by: 500)
        _ = try f.engine.runStep()
        #expect(f.lines("out.jsonl") == [#"{"url":"/a"}"#, #"{"url":"/b"}"#], "a second on, it is in the file")
    }

    /// A forest that never saw `output_after` rows scores 0; the end of the run says so, once,
    /// and EXPLAIN shows the warm-up.
    @Test func forestsStillWarmingUpAreReported() throws {
        let f = try EngineFixture()
        var events: [String] = []
        f.engine.onEvent = { events.append($0.message) }
        try f.load("""
            CREATE STREAM m (k VARCHAR, v DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (format = 'json');
            CREATE SINK out WITH (type = 'file', path = '$DIR/out.jsonl');
            INSERT INTO out SELECT k, anomaly_score FROM RANDOM_CUT_FOREST(m, COLUMNS (v), PARTITION BY k, sample_size => 16);
            """)
        for i in 0..<20 { try f.put("m", #"{"k":"\#(i < 10 ? "a" : i < 12 ? "b" : "a")","v":\#(i),"ts":\#(i * 1000)}"#) }
        try f.engine.runUntilEnd()
        let warnings = events.filter { $0.contains("warming") || $0.contains("output_after") }
        #expect(warnings == ["warning: 1 of 2 random cut forest partitions saw fewer than 5 rows (output_after): their anomaly_score stayed 0"], "\(events)")
        let plan = try f.engine.plans(Parser.parse("SELECT k, anomaly_score FROM RANDOM_CUT_FOREST(m, COLUMNS (v), PARTITION BY k, sample_size => 16);").script)
        #expect(plan.first?.physical.contains("warm_up=5 (score 0 before)") == true && plan.first?.logical.contains("warm_up=5") == true)
    }

    @Test func quoteStateAcrossLines() {
        func inside(_ s: String, _ start: Bool = false) -> Bool { Array(s.utf8).withUnsafeBytes { CSVRecordDecoder.endsInsideQuotes($0, startingInside: start) } }
        #expect(!inside("a,b,c") && inside("a,\"b") && !inside("a,\"b\"\"c\"") && inside("a,\"b\"\"c"))
        #expect(!inside("x\",y", true) && inside("still inside", true) && !inside("a,b\"c,d"))  // a quote inside an unquoted field is text
    }
}

import SluiceCodecs
import SluiceSQL
