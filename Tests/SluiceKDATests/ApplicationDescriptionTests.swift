import Foundation
import SluiceCore
import Testing
@testable import SluiceKDA

/// One application, a ticker feed with reference data, in the three forms users have it.
@Suite("KDA application descriptions")
struct ApplicationDescriptionTests {
    static let code = """
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), avg_price DOUBLE);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
        SELECT STREAM ticker, AVG(price) OVER W1 FROM "SOURCE_SQL_STREAM_001"
        WINDOW W1 AS (PARTITION BY ticker RANGE INTERVAL '1' MINUTE PRECEDING);
        """

    static let inputSchema = """
        {"RecordFormat": {"RecordFormatType": "JSON", "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
         "RecordEncoding": "UTF-8",
         "RecordColumns": [{"Name": "TICKER", "Mapping": "$.ticker", "SqlType": "VARCHAR(4)"},
                           {"Name": "PRICE", "Mapping": "$.trade.price", "SqlType": "REAL"}]}
        """
    static let referenceSchema = """
        {"RecordFormat": {"RecordFormatType": "CSV", "MappingParameters": {"CSVMappingParameters": {"RecordRowDelimiter": "\\n", "RecordColumnDelimiter": ","}}},
         "RecordEncoding": "UTF-8",
         "RecordColumns": [{"Name": "TICKER", "SqlType": "VARCHAR(4)"}, {"Name": "COMPANY", "SqlType": "VARCHAR(64)"}]}
        """

    static let describe = """
        {"ApplicationDetail": {
          "ApplicationName": "tickers", "ApplicationARN": "arn:aws:kinesisanalytics:us-east-1:123456789012:application/tickers",
          "ApplicationStatus": "READY", "ApplicationVersionId": 7,
          "InputDescriptions": [{"InputId": "1.1", "NamePrefix": "SOURCE_SQL_STREAM", "InAppStreamNames": ["SOURCE_SQL_STREAM_001", "SOURCE_SQL_STREAM_002"],
            "KinesisStreamsInputDescription": {"ResourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/trades", "RoleARN": "arn:aws:iam::123456789012:role/r"},
            "InputSchema": \(inputSchema), "InputParallelism": {"Count": 2},
            "InputStartingPositionConfiguration": {"InputStartingPosition": "NOW"}}],
          "OutputDescriptions": [{"OutputId": "1.1", "Name": "DESTINATION_SQL_STREAM",
            "KinesisFirehoseOutputDescription": {"ResourceARN": "arn:aws:firehose:us-east-1:123456789012:deliverystream/averages", "RoleARN": "r"},
            "DestinationSchema": {"RecordFormatType": "CSV"}},
            {"OutputId": "1.2", "Name": "ALERTS", "LambdaOutputDescription": {"ResourceARN": "arn:aws:lambda:us-east-1:123456789012:function:notify:LIVE", "RoleARN": "r"},
            "DestinationSchema": {"RecordFormatType": "JSON"}}],
          "ReferenceDataSourceDescriptions": [{"ReferenceId": "1.1", "TableName": "COMPANIES",
            "S3ReferenceDataSourceDescription": {"BucketARN": "arn:aws:s3:::ref-data", "FileKey": "tickers/companies.csv", "ReferenceRoleARN": "r"},
            "ReferenceSchema": \(referenceSchema)}],
          "ApplicationCode": \(JSONValue.string(code).serialized())}}
        """

    static let create = """
        {"ApplicationName": "tickers", "ApplicationCode": \(JSONValue.string(code).serialized()),
         "Inputs": [{"NamePrefix": "SOURCE_SQL_STREAM", "InputParallelism": {"Count": 2}, "InputSchema": \(inputSchema),
                     "KinesisStreamsInput": {"ResourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/trades", "RoleARN": "r"}}],
         "Outputs": [{"Name": "DESTINATION_SQL_STREAM", "DestinationSchema": {"RecordFormatType": "CSV"},
                      "KinesisFirehoseOutput": {"ResourceARN": "arn:aws:firehose:us-east-1:123456789012:deliverystream/averages", "RoleARN": "r"}},
                     {"Name": "ALERTS", "DestinationSchema": {"RecordFormatType": "JSON"},
                      "LambdaOutput": {"ResourceARN": "arn:aws:lambda:us-east-1:123456789012:function:notify:LIVE", "RoleARN": "r"}}]}
        """

    /// The stream's ARN by Fn::GetAtt, the bucket's by Fn::Sub, the code by Fn::Join, the
    /// application's name from a parameter; a second output for another application is not ours.
    static let template = """
        {"AWSTemplateFormatVersion": "2010-09-09",
         "Parameters": {"AppName": {"Type": "String", "Default": "tickers"}},
         "Resources": {
           "Trades": {"Type": "AWS::Kinesis::Stream", "Properties": {"Name": "trades", "ShardCount": 2}},
           "App": {"Type": "AWS::KinesisAnalytics::Application", "Properties": {
             "ApplicationName": {"Ref": "AppName"},
             "ApplicationCode": {"Fn::Join": ["\\n", \(JSONValue.array(code.split(separator: "\n", omittingEmptySubsequences: false).map { .string(String($0)) }).serialized())]},
             "Inputs": [{"NamePrefix": "SOURCE_SQL_STREAM", "InputParallelism": {"Count": 2}, "InputSchema": \(inputSchema),
                         "KinesisStreamsInput": {"ResourceARN": {"Fn::GetAtt": ["Trades", "Arn"]}, "RoleARN": "r"}}]}},
           "Out1": {"Type": "AWS::KinesisAnalytics::ApplicationOutput", "Properties": {"ApplicationName": {"Ref": "App"}, "Output": {
             "Name": "DESTINATION_SQL_STREAM", "DestinationSchema": {"RecordFormatType": "CSV"},
             "KinesisFirehoseOutput": {"ResourceARN": {"Fn::Sub": "arn:aws:firehose:${AWS::Region}:${AWS::AccountId}:deliverystream/averages"}, "RoleARN": "r"}}}},
           "Out2": {"Type": "AWS::KinesisAnalytics::ApplicationOutput", "Properties": {"ApplicationName": "tickers", "Output": {
             "Name": "ALERTS", "DestinationSchema": {"RecordFormatType": "JSON"},
             "LambdaOutput": {"ResourceARN": "arn:aws:lambda:us-east-1:123456789012:function:notify:LIVE", "RoleARN": "r"}}}},
           "Other": {"Type": "AWS::KinesisAnalytics::ApplicationOutput", "Properties": {"ApplicationName": "someone-else", "Output": {
             "Name": "X", "DestinationSchema": {"RecordFormatType": "JSON"}}}},
           "Ref1": {"Type": "AWS::KinesisAnalytics::ApplicationReferenceDataSource", "Properties": {"ApplicationName": {"Ref": "App"},
             "ReferenceDataSource": {"TableName": "COMPANIES", "ReferenceSchema": \(referenceSchema),
               "S3ReferenceDataSource": {"BucketARN": {"Fn::Sub": "arn:aws:s3:::${Bucket}"}, "FileKey": "tickers/companies.csv", "ReferenceRoleARN": "r"}}}},
           "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "ref-data"}}}}
        """

    static func parse(_ text: String) throws(KDADescriptionError) -> KDAApplication { try ApplicationDescription.parse(Array(text.utf8)) }

    @Test func theThreeFormsReadAsOneApplication() throws {
        let d = try Self.parse(Self.describe)
        #expect(d.name == "tickers" && d.code == Self.code)
        #expect(d.sourceStreamNames == ["SOURCE_SQL_STREAM_001", "SOURCE_SQL_STREAM_002"])
        #expect(d.inputs[0].source == .kinesisStream("trades"))
        #expect(d.inputs[0].schema.columns.map(\.name) == ["TICKER", "PRICE"] && d.inputs[0].schema.columns[1].mapping == "$.trade.price")
        #expect(d.inputs[0].schema.format == KDAApplication.RecordFormat(kind: .json, rowPath: "$"))
        #expect(d.outputs.map(\.name) == ["DESTINATION_SQL_STREAM", "ALERTS"] && d.outputs.map(\.format) == [.csv, .json])
        #expect(d.outputs[0].destination == .firehose("averages"))
        #expect(d.outputs[1].destination == .lambda(arn: "arn:aws:lambda:us-east-1:123456789012:function:notify:LIVE", name: "notify"))
        #expect(d.referenceSources.count == 1 && d.referenceSources[0].bucket == "ref-data" && d.referenceSources[0].fileKey == "tickers/companies.csv")
        #expect(d.referenceSources[0].schema.format.columnDelimiter == "," && d.referenceSources[0].schema.format.rowDelimiter == "\n")

        // CreateApplication has no reference data (AddApplicationReferenceDataSource adds it).
        var c = try Self.parse(Self.create)
        #expect(c.referenceSources.isEmpty)
        c.referenceSources = d.referenceSources
        #expect(c == d)

        let t = try Self.parse(Self.template)
        #expect(t == d, "the template reads as the description: \(t)")
    }

    @Test(arguments: [
        ("[1, 2]", "", "not a Kinesis Data Analytics application"),
        ("{not json", "", "not JSON"),
        (#"{"ApplicationDetail": {"ApplicationCode": ""}}"#, "ApplicationDetail", "ApplicationName is missing"),
        (#"{"ApplicationName": "a", "Inputs": [{"InputSchema": {}}]}"#, "Inputs[0]", "NamePrefix is missing"),
        (#"{"ApplicationName": "a", "Inputs": [{"NamePrefix": "S", "InputParallelism": {"Count": 65}, "InputSchema": {}}]}"#,
         "Inputs[0].InputParallelism.Count", "1 to 64"),
        (#"{"ApplicationName": "a", "Inputs": [{"NamePrefix": "S", "InputSchema": {"RecordFormat": {"RecordFormatType": "XML"}, "RecordColumns": []}}]}"#,
         "Inputs[0].InputSchema.RecordFormat.RecordFormatType", "JSON or CSV"),
        (#"{"ApplicationName": "a", "Inputs": [{"NamePrefix": "S", "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON"}, "RecordColumns": []}}]}"#,
         "Inputs[0].InputSchema.RecordColumns", "at least one column"),
        (#"{"ApplicationName": "a", "Inputs": [{"NamePrefix": "S", "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON"}, "RecordEncoding": "UTF-16", "RecordColumns": [{"Name": "A", "SqlType": "INT"}]}}]}"#,
         "Inputs[0].InputSchema.RecordEncoding", "UTF-8"),
        (#"{"ApplicationName": "a", "Inputs": [{"NamePrefix": "S", "KinesisStreamsInput": {"ResourceARN": "trades"}, "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON"}, "RecordColumns": [{"Name": "A", "SqlType": "INT"}]}}]}"#,
         "Inputs[0].KinesisStreamsInput.ResourceARN", "'trades' is not an ARN"),
        (#"{"ApplicationName": "a", "Outputs": [{"Name": "O", "DestinationSchema": {"RecordFormatType": "JSON"}, "LambdaOutput": {"ResourceARN": "arn:aws:sqs:us-east-1:1:q"}}]}"#,
         "Outputs[0].LambdaOutput.ResourceARN", "not a Kinesis stream, Firehose delivery stream or Lambda function ARN"),
        (#"{"ApplicationName": "a", "Inputs": [{"NamePrefix": "S", "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON"}, "RecordColumns": [{"Name": "A", "SqlType": "INT"}]}}, {"NamePrefix": "S", "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON"}, "RecordColumns": [{"Name": "A", "SqlType": "INT"}]}}]}"#,
         "", "two inputs or reference tables make 'S_001'"),
        (#"{"Resources": {"A": {"Type": "AWS::KinesisAnalytics::Application", "Properties": {}}, "B": {"Type": "AWS::KinesisAnalytics::Application", "Properties": {}}}}"#,
         "Resources", "2 applications"),
        (#"{"Resources": {"A": {"Type": "AWS::KinesisAnalytics::Application", "Properties": {"ApplicationName": {"Ref": "Nope"}}}}}"#,
         "Resources.A.Properties.ApplicationName.Ref", "neither a parameter nor a resource"),
        (#"{"Resources": {"A": {"Type": "AWS::KinesisAnalytics::Application", "Properties": {"ApplicationName": {"Fn::ImportValue": "x"}}}}}"#,
         "Resources.A.Properties.ApplicationName.Fn::ImportValue", "not supported"),
    ])
    func badDescriptionsSayWhere(_ text: String, _ path: String, _ message: String) {
        do {
            _ = try Self.parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.path == path, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
    }

    /// Damaged descriptions (bytes changed, cut short) are refused with a reason or read, never a crash.
    @Test func damagedDescriptionsNeverCrash() {
        var rng = SplitMix64(seed: 12)
        var refused = 0
        for text in [Self.describe, Self.create, Self.template] {
            let bytes = Array(text.utf8)
            for k in 0..<400 {
                var b = bytes
                if k % 4 == 0 {
                    b = Array(b.prefix(rng.below(b.count)))
                } else {
                    for _ in 0..<(1 + rng.below(3)) { b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next()) }
                }
                do { _ = try ApplicationDescription.parse(b) } catch {
                    refused += 1
                    #expect(!error.message.isEmpty)
                }
            }
        }
        #expect(refused > 600, "most damage is caught: \(refused) of 1200")
    }
}
