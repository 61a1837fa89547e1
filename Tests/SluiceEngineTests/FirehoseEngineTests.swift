import Foundation
import Testing
import SluiceCore
import SluiceSQL
import SluiceStreams
@testable import SluiceEngine

@Suite("Firehoses in query files")
struct FirehoseEngineTests {
    /// Rows inserted into a firehose are transformed by its SELECT, partitioned by its keys and
    /// delivered at the end of the run; records the transformation cannot process go to the
    /// error prefix with the reason; a query reads the firehose as a stream.
    @Test func insertTransformPartitionAndRead() throws {
        let f = try EngineFixture()
        try f.load(clicksDDL + """
            CREATE FIREHOSE archive (url VARCHAR, ms DOUBLE) WITH (destination = 'file:$DIR/archive', newline_delimiter = true,
              transform = 'SELECT UPPER(url) AS url, ms / 1000 AS seconds FROM archive WHERE ms >= 0',
              partition_keys = 'SUBSTRING(url, 1, 2) AS site', prefix = 'site=!{partitionKeyFromQuery:site}/', error_prefix = 'failed/');
            INSERT INTO archive SELECT url, ms FROM clicks;
            INSERT INTO out SELECT url FROM archive WHERE ms > 100;
            """)
        try f.put("clicks", #"{"url":"a/1","ms":250,"ts":1704067200000}"#)
        try f.put("clicks", #"{"url":"b/1","ms":50,"ts":1704067200001}"#)
        try f.put("clicks", #"{"url":"a/2","ms":-1,"ts":1704067200002}"#)
        try f.put("clicks", #"{"url":"b/2","ms":1e308,"ts":1704067200003}"#)
        // A record put straight into the firehose that its columns cannot read.
        _ = try f.store.putRecord(stream: "archive", data: Array(#"{"url":"a/3","ms":"slow"}"#.utf8), partitionKey: "p")
        try f.engine.runUntilEnd()
        var files: [String: String] = [:]
        let root = f.dir + "/archive"
        let e = FileManager.default.enumerator(atPath: root)
        while let p = e?.nextObject() as? String {
            var isDir: ObjCBool = false
            if p.hasPrefix(".sluice-staging") || !FileManager.default.fileExists(atPath: root + "/" + p, isDirectory: &isDir) || isDir.boolValue { continue }
            files[p] = try String(contentsOfFile: root + "/" + p, encoding: .utf8)
        }
        func body(_ prefix: String) -> String? { files.first { $0.key.hasPrefix(prefix) }?.value }
        #expect(body("site=a%2F/2024/") == nil, "a prefix with expressions gets no time path")
        #expect(body("site=a%2F/archive-1-2024-01-01-00-00-00-") == #"{"url":"A/1","seconds":0.25}"# + "\n")
        #expect(body("site=b%2F/archive-1-") == #"{"url":"B/1","seconds":0.05}"# + "\n" + #"{"url":"B/2","seconds":1e+305}"# + "\n")
        let failed = try #require(body("failed/2024/01/01/00/archive-1-"), "a plain error prefix gets the time path")
        #expect(failed.contains(#""errorCode":"processing-failed""#) && failed.contains("cannot decode the record"), "\(failed)")
        #expect(files.count == 3, "\(files.keys.sorted())")
        // The query over the firehose saw what was put into it, before the transformation.
        #expect(f.lines("out.jsonl") == [#"{"url":"a/1"}"#, #"{"url":"b/2"}"#])
    }

    @Test func badFirehoseDefinitionsAreReportedAsCheckReportsThem() throws {
        let f = try EngineFixture()
        for (sql, reason) in [
            ("CREATE FIREHOSE h WITH (destination = 'file:x', buffer_size = '0MB');", "between 1MB and 128MB"),
            ("CREATE FIREHOSE h WITH (destination = 'file:x', transform = 'SELECT 1 FROM h');", "declare them"),
            ("CREATE STREAM h (a BIGINT); CREATE FIREHOSE h (a BIGINT) WITH (destination = 'file:x');", "already declared"),
        ] {
            do {
                try f.load(sql)
                Issue.record("accepted: \(sql)")
            } catch {
                #expect("\(error)".contains(reason), "\(error)")
            }
        }
        // A transformation that is not record by record fails when the firehose opens.
        #expect(throws: EngineError.self) {
            try f.load("CREATE FIREHOSE g (a BIGINT) WITH (destination = 'file:$DIR/g', transform = 'SELECT COUNT(*) AS n FROM g');")
        }
    }
}

@Suite("SHOW in query files")
struct ShowTests {
    @Test func showListsWhatWasDeclared() throws {
        let f = try EngineFixture()
        try f.load(clicksDDL + """
            CREATE FIREHOSE archive WITH (destination = 'file:$DIR/archive', compression = 'gzip');
            INSERT INTO out SELECT url FROM clicks;
            SHOW STREAMS; SHOW FIREHOSES; SHOW SINKS; SHOW QUERIES; SHOW TABLES;
            """)
        let out = f.engine.output
        #expect(out.count == 5)
        #expect(out[0].contains("clicks: 3 columns, 1 shards, event time ts - 10s"), "\(out[0])")
        #expect(!out[0].contains("archive:"), "a firehose is listed under FIREHOSES")
        #expect(out[1].hasPrefix("archive: to file:") && out[1].hasSuffix("5 MB / 300 s, GZIP"), "\(out[1])")
        #expect(out[2].hasPrefix("out: file ") && out[2].hasSuffix("(json)"), "\(out[2])")
        #expect(out[3] == "query 1 (INSERT INTO out): RUNNING, 0 records in, 0 rows out, 0 late, 0 bad -- INSERT INTO out SELECT url FROM clicks", "statements take effect in order: \(out[3])")
        #expect(out[4] == "no tables")
        try f.put("clicks", #"{"url":"/a","ms":1,"ts":1704067200000}"#)
        while try f.engine.step() {}
        try f.load("SHOW QUERIES;")
        #expect(f.engine.output.last == "query 1 (INSERT INTO out): RUNNING, 1 records in, 1 rows out, 0 late, 0 bad -- INSERT INTO out SELECT url FROM clicks")
    }

    @Test func showTablesTellsTheVersionAndTheLastFailedRefresh() throws {
        let f = try EngineFixture()
        try FileManager.default.createDirectory(atPath: f.dir, withIntermediateDirectories: true)
        try "url,owner\n/a,x\n/b,y\n".write(toFile: f.dir + "/pages.csv", atomically: true, encoding: .utf8)
        try f.load("CREATE TABLE pages (url VARCHAR PRIMARY KEY, owner VARCHAR) WITH (file = '$DIR/pages.csv', refresh = '1m'); SHOW TABLES;")
        #expect(f.engine.output.last == "pages: 2 rows from \(f.dir)/pages.csv (csv), version 1, refreshed every 1m")
        try "url,owner\n/a,x\n/a,zz\n".write(toFile: f.dir + "/pages.csv", atomically: true, encoding: .utf8)
        f.clock.advance(by: 60_000)
        _ = try f.engine.step()
        try f.load("SHOW TABLES;")
        #expect(f.engine.output.last == "pages: 2 rows from \(f.dir)/pages.csv (csv), version 1, refreshed every 1m; "
                + "the last refresh failed, keeping version 1: table pages: \(f.dir)/pages.csv: row 2 repeats the PRIMARY KEY (/a)")
        try "url,owner\n/a,x\n/b,y\n/c,z\n".write(toFile: f.dir + "/pages.csv", atomically: true, encoding: .utf8)
        f.clock.advance(by: 60_000)
        _ = try f.engine.step()
        try f.load("SHOW TABLES;")
        #expect(f.engine.output.last == "pages: 3 rows from \(f.dir)/pages.csv (csv), version 2, refreshed every 1m")
    }
}
