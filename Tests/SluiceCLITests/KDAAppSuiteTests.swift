import Foundation
import SluiceCore
import Testing
@testable import SluiceCLI

/// The KDA application suite (`Tests/SluiceCLITests/KDAApps/NAME/`): applications written for
/// Sluice's tests from the KDA SQL Reference, each with an input (`input.jsonl`, ROWTIME from its
/// `rt` field) and the rows of DESTINATION_SQL_STREAM worked out by hand (`expected.jsonl`, each
/// with its ROWTIME). Each runs through `sluice run APP.json` and must give those rows, and its
/// `sluice kda convert` form must give them too.
@Suite("KDA application suite")
struct KDAAppSuiteTests {
    static let suite = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("KDAApps")
    static var apps: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: suite.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// A file's rows, in the order of their ROWTIME (rows of one ROWTIME in the order written).
    static func rows(_ path: String) throws -> [String] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        let times = try lines.map { try JSONValue.parse(bytes: Array($0.utf8))["ROWTIME"]?.stringValue ?? "" }
        return lines.indices.sorted { (times[$0], $0) < (times[$1], $1) }.map { lines[$0] }
    }

    @Test func theSuiteIsThere() {
        #expect(Self.apps.count >= 5, "\(Self.apps)")
    }

    @Test(arguments: apps)
    func anApplicationGivesItsExpectedRows(_ name: String) throws {
        let dir = TempDir()
        let app = Self.suite.appendingPathComponent(name)
        for f in ["app.json", "input.jsonl"] {
            try FileManager.default.copyItem(atPath: app.appendingPathComponent(f).path, toPath: dir.path + "/" + f)
        }
        let expected = try Self.rows(app.appendingPathComponent("expected.jsonl").path)
        let r = try CLI.run(["run", "app.json", "--input", "SOURCE_SQL_STREAM=input.jsonl", "--arrival-field", "rt",
                             "--output", "DESTINATION_SQL_STREAM=out.jsonl", "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Self.rows(dir.path + "/out.jsonl") == expected, "\(name)")
        // Its Sluice form gives the same rows.
        let converted = try CLI.run(["kda", "convert", "app.json"], cwd: dir.path)
        #expect(converted.status == 0, "\(converted.stderr)")
        let sql = converted.stdout + "CREATE SINK out WITH (type = 'file', path = 'converted.jsonl');\n"
            + "INSERT INTO out SELECT ROWTIME, * FROM \"DESTINATION_SQL_STREAM\";\n"
        try sql.write(toFile: dir.path + "/app.sql", atomically: true, encoding: .utf8)
        // Fed as its first lines say: the in-application stream, or the input's record stream.
        let feed = converted.stdout.range(of: #"--input (\S+)=FILE"#, options: .regularExpression).map { String(converted.stdout[$0].dropFirst(8).dropLast(5)) }
        #expect(feed != nil, "\(converted.stdout.prefix(300))")
        let c = try CLI.run(["run", "app.sql", "--input", (feed ?? "SOURCE_SQL_STREAM_001") + "=input.jsonl", "--arrival-field", "rt", "--until-end"], cwd: dir.path)
        #expect(c.status == 0, "\(c.stderr)\n\(sql)")
        #expect(try Self.rows(dir.path + "/converted.jsonl") == expected, "\(name), converted:\n\(sql)")
    }

    /// The README's migration example: samples/kda-payments.json (a describe-application output)
    /// over samples/payments.jsonl finds the planted anomalies: m-03's declines (00:11:00 to
    /// 00:12:30), and acct-0042's card testing at m-17 (00:06:00 to 00:06:40).
    @Test func theSampleApplicationFindsThePlantedAnomalies() throws {
        let root = SamplesTests.root.path
        let dir = TempDir()
        let r = try CLI.run(["run", root + "/samples/kda-payments.json", "--input", "SOURCE_SQL_STREAM=" + root + "/samples/payments.jsonl", "--arrival-field", "ts",
                             "--output", "DESTINATION_SQL_STREAM=alerts.jsonl", "--output", "CARD_TESTING=cards.jsonl", "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        let alerts = try String(contentsOfFile: dir.path + "/alerts.jsonl", encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        #expect(alerts.map { "\($0["ROWTIME"]?.stringValue ?? "?") \($0["MERCHANT"]?.stringValue ?? "?")" } == [
            "2024-01-01T00:07:00.000Z m-17", "2024-01-01T00:12:00.000Z m-03", "2024-01-01T00:13:00.000Z m-03",
        ], "\(alerts)")
        let cards = try String(contentsOfFile: dir.path + "/cards.jsonl", encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        #expect(cards.count == 1 && cards.first?["ACCOUNT"] == "acct-0042" && cards.first?["SMALL_PAYMENTS"] == .int(40), "\(cards)")
    }

    /// The sample's conversion, fed as its first lines say (the input's own stream, `payments`,
    /// which its ARN names), gives the same alerts as the application.
    @Test func theSampleApplicationsConversionGivesTheSameAlerts() throws {
        let root = SamplesTests.root.path
        let dir = TempDir()
        let converted = try CLI.run(["kda", "convert", root + "/samples/kda-payments.json"], cwd: dir.path)
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(converted.stdout.contains("--input payments=FILE"), "\(converted.stdout.prefix(300))")
        let sql = converted.stdout + "CREATE SINK alerts WITH (type = 'file', path = 'alerts.jsonl');\n"
            + "INSERT INTO alerts SELECT ROWTIME, * FROM \"DESTINATION_SQL_STREAM\";\n"
        try sql.write(toFile: dir.path + "/payments.sql", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "payments.sql", "--input", "payments=" + root + "/samples/payments.jsonl", "--arrival-field", "ts", "--until-end"], cwd: dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        let alerts = try String(contentsOfFile: dir.path + "/alerts.jsonl", encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(bytes: Array($0.utf8)) }
        #expect(alerts.map { "\($0["ROWTIME"]?.stringValue ?? "?") \($0["MERCHANT"]?.stringValue ?? "?")" } == [
            "2024-01-01T00:07:00.000Z m-17", "2024-01-01T00:12:00.000Z m-03", "2024-01-01T00:13:00.000Z m-03",
        ], "\(alerts)")
    }
}
