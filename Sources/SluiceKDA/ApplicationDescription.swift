public import SluiceCore

/// Reads a KDA application from the forms users have it in:
/// - what `aws kinesisanalytics describe-application` prints (`ApplicationDetail` with
///   `ApplicationCode`, `InputDescriptions`, `OutputDescriptions`, `ReferenceDataSourceDescriptions`);
/// - a `CreateApplication` request (`ApplicationName`, `ApplicationCode`, `Inputs`, `Outputs`);
/// - a CloudFormation JSON template with an `AWS::KinesisAnalytics::Application` and its
///   `::ApplicationOutput` and `::ApplicationReferenceDataSource` resources (`Ref`, `Fn::GetAtt`,
///   `Fn::Join` and `Fn::Sub` are resolved against the template; parameters take their defaults).
/// Every problem names the field it is in.
public enum ApplicationDescription {
    public static func parse(_ bytes: [UInt8]) throws(KDADescriptionError) -> KDAApplication {
        let root: JSONValue
        do { root = try JSONValue.parse(bytes: bytes) } catch {
            throw KDADescriptionError("", "the application description is not JSON: \(error)")
        }
        let top = Field(root, "", Template(root))
        if let detail = top["ApplicationDetail"] { return try application(detail, describe: true) }
        if let resources = top["Resources"] { return try fromTemplate(resources) }
        if top["ApplicationName"] != nil, ["Inputs", "Outputs", "ApplicationCode"].contains(where: { top[$0] != nil }) { return try application(top, describe: false) }
        throw KDADescriptionError("", "not a Kinesis Data Analytics application: expected ApplicationDetail (from aws kinesisanalytics describe-application), "
                                      + "a CreateApplication request (ApplicationName, ApplicationCode, Inputs) or a CloudFormation template (Resources)")
    }

    /// The describe-application and CreateApplication forms (their fields differ by name only).
    static func application(_ a: Field, describe: Bool) throws(KDADescriptionError) -> KDAApplication {
        let name = try a.required("ApplicationName").string()
        let code = try a["ApplicationCode"]?.string() ?? ""
        var inputs: [KDAApplication.Input] = []
        for i in try a[describe ? "InputDescriptions" : "Inputs"]?.array() ?? [] { inputs.append(try input(i, describe: describe)) }
        var outputs: [KDAApplication.Output] = []
        for o in try a[describe ? "OutputDescriptions" : "Outputs"]?.array() ?? [] { outputs.append(try output(o, describe: describe)) }
        var references: [KDAApplication.ReferenceSource] = []
        for r in try a["ReferenceDataSourceDescriptions"]?.array() ?? [] { references.append(try reference(r, describe: true)) }
        return try checked(KDAApplication(name: name, code: code, inputs: inputs, outputs: outputs, referenceSources: references), a.path)
    }

    static func input(_ i: Field, describe: Bool) throws(KDADescriptionError) -> KDAApplication.Input {
        let prefix = try i.required("NamePrefix").string()
        guard !prefix.isEmpty, prefix.count <= 32 else { throw KDADescriptionError(i.path + ".NamePrefix", "a name prefix has 1 to 32 characters") }
        var parallelism = 1
        if let p = i["InputParallelism"]?["Count"] {
            parallelism = try p.int()
            guard (1...64).contains(parallelism) else { throw KDADescriptionError(p.path, "InputParallelism.Count is 1 to 64, not \(parallelism)") }
        }
        let suffix = describe ? "Description" : ""
        var source: KDAApplication.Resource? = nil
        if let s = i["KinesisStreamsInput" + suffix] { source = try resource(s.required("ResourceARN")) }
        if let f = i["KinesisFirehoseInput" + suffix] {
            guard source == nil else { throw KDADescriptionError(i.path, "an input reads one source: a Kinesis stream or a Firehose delivery stream, not both") }
            source = try resource(f.required("ResourceARN"))
        }
        return KDAApplication.Input(namePrefix: prefix, parallelism: parallelism, source: source, schema: try schema(i.required("InputSchema")))
    }

    static func output(_ o: Field, describe: Bool) throws(KDADescriptionError) -> KDAApplication.Output {
        let name = try o.required("Name").string()
        let format = try o.required("DestinationSchema").required("RecordFormatType")
        guard let kind = KDAApplication.RecordFormat.Kind(rawValue: try format.string()) else {
            throw KDADescriptionError(format.path, "RecordFormatType is JSON or CSV")
        }
        let suffix = describe ? "Description" : ""
        var destinations: [KDAApplication.Resource] = []
        for key in ["KinesisStreamsOutput", "KinesisFirehoseOutput", "LambdaOutput"] {
            if let d = o[key + suffix] { destinations.append(try resource(d.required("ResourceARN"))) }
        }
        guard destinations.count <= 1 else { throw KDADescriptionError(o.path, "an output has one destination: a Kinesis stream, a Firehose delivery stream or a Lambda function") }
        return KDAApplication.Output(name: name, destination: destinations.first, format: kind)
    }

    static func reference(_ r: Field, describe: Bool) throws(KDADescriptionError) -> KDAApplication.ReferenceSource {
        let s3 = try r.required(describe ? "S3ReferenceDataSourceDescription" : "S3ReferenceDataSource")
        let bucketARN = try s3.required("BucketARN")
        let arn = try bucketARN.string()
        let bucket = arn.hasPrefix("arn:") ? String(arn.split(separator: ":", omittingEmptySubsequences: false).last ?? "") : arn
        guard !bucket.isEmpty else { throw KDADescriptionError(bucketARN.path, "'\(arn)' names no bucket (arn:aws:s3:::BUCKET)") }
        return KDAApplication.ReferenceSource(tableName: try r.required("TableName").string(), bucket: bucket,
                                              fileKey: try s3.required("FileKey").string(), schema: try schema(r.required("ReferenceSchema")))
    }

    static func schema(_ s: Field) throws(KDADescriptionError) -> KDAApplication.RecordSchema {
        let f = try s.required("RecordFormat")
        let typeField = try f.required("RecordFormatType")
        guard let kind = KDAApplication.RecordFormat.Kind(rawValue: try typeField.string()) else {
            throw KDADescriptionError(typeField.path, "RecordFormatType is JSON or CSV, not '\(try typeField.string())'")
        }
        var format = KDAApplication.RecordFormat(kind: kind)
        let mapping = f["MappingParameters"]
        switch kind {
        case .json:
            format.rowPath = try mapping?["JSONMappingParameters"]?["RecordRowPath"]?.string() ?? "$"
        case .csv:
            let csv = mapping?["CSVMappingParameters"]
            format.rowDelimiter = try csv?["RecordRowDelimiter"]?.string() ?? "\n"
            format.columnDelimiter = try csv?["RecordColumnDelimiter"]?.string() ?? ","
            guard !(format.rowDelimiter ?? "").isEmpty, !(format.columnDelimiter ?? "").isEmpty else {
                throw KDADescriptionError(f.path + ".MappingParameters.CSVMappingParameters", "the row and column delimiters cannot be empty")
            }
        }
        let encoding = try s["RecordEncoding"]?.string() ?? "UTF-8"
        guard encoding.uppercased() == "UTF-8" else { throw KDADescriptionError(s.path + ".RecordEncoding", "the record encoding is UTF-8 (as in KDA), not \(encoding)") }
        var columns: [KDAApplication.RecordColumn] = []
        for c in try s.required("RecordColumns").array() {
            columns.append(KDAApplication.RecordColumn(name: try c.required("Name").string(), sqlType: try c.required("SqlType").string(),
                                                       mapping: try c["Mapping"]?.string()))
        }
        guard !columns.isEmpty else { throw KDADescriptionError(s.path + ".RecordColumns", "a schema has at least one column") }
        return KDAApplication.RecordSchema(format: format, encoding: "UTF-8", columns: columns)
    }

    /// What an ARN (or, from a template, a bare name) names.
    static func resource(_ f: Field) throws(KDADescriptionError) -> KDAApplication.Resource {
        let arn = try f.string()
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6, parts[0] == "arn" else { throw KDADescriptionError(f.path, "'\(arn)' is not an ARN") }
        switch parts[2] {
        case "kinesis" where parts[5].hasPrefix("stream/"): return .kinesisStream(String(parts[5].dropFirst(7)))
        case "firehose" where parts[5].hasPrefix("deliverystream/"): return .firehose(String(parts[5].dropFirst(15)))
        case "lambda" where parts[5].hasPrefix("function:"):
            return .lambda(arn: arn, name: String(parts[5].dropFirst(9).split(separator: ":").first ?? ""))
        default:
            throw KDADescriptionError(f.path, "'\(arn)' is not a Kinesis stream, Firehose delivery stream or Lambda function ARN")
        }
    }

    /// Names used twice, and outputs or references that cannot be told apart.
    static func checked(_ app: KDAApplication, _ path: String) throws(KDADescriptionError) -> KDAApplication {
        var seen = Set<String>()
        for n in app.sourceStreamNames + app.referenceSources.map(\.tableName) where !seen.insert(n.uppercased()).inserted {
            throw KDADescriptionError(path, "two inputs or reference tables make '\(n)'")
        }
        return app
    }

    // MARK: - CloudFormation

    static func fromTemplate(_ resources: Field) throws(KDADescriptionError) -> KDAApplication {
        guard let all = resources.value.objectValue else { throw KDADescriptionError(resources.path, "Resources is an object") }
        let apps = all.keys.filter { all[$0]?["Type"]?.stringValue == "AWS::KinesisAnalytics::Application" }
        guard apps.count == 1, let logical = apps.first else {
            throw KDADescriptionError(resources.path, apps.isEmpty ? "the template has no AWS::KinesisAnalytics::Application"
                                                                    : "the template has \(apps.count) applications (\(apps.joined(separator: ", "))); give one per file")
        }
        let props = try resources.required(logical).required("Properties")
        let name = try props["ApplicationName"]?.string() ?? logical
        var inputs: [KDAApplication.Input] = []
        for i in try props["Inputs"]?.array() ?? [] { inputs.append(try input(i, describe: false)) }
        var outputs: [KDAApplication.Output] = [], references: [KDAApplication.ReferenceSource] = []
        // The outputs and reference sources of this application: their ApplicationName is a Ref
        // to it, or its name.
        func belongs(_ p: Field) -> Bool {
            if let r = p["ApplicationName"]?.value["Ref"]?.stringValue { return r == logical }
            return (try? p["ApplicationName"]?.string()) == name
        }
        for key in all.keys.sorted() {
            let type = all[key]?["Type"]?.stringValue
            guard type == "AWS::KinesisAnalytics::ApplicationOutput" || type == "AWS::KinesisAnalytics::ApplicationReferenceDataSource" else { continue }
            let p = try resources.required(key).required("Properties")
            guard belongs(p) else { continue }
            if type == "AWS::KinesisAnalytics::ApplicationOutput" {
                outputs.append(try output(p.required("Output"), describe: false))
            } else {
                references.append(try reference(p.required("ReferenceDataSource"), describe: false))
            }
        }
        return try checked(KDAApplication(name: name, code: try props["ApplicationCode"]?.string() ?? "", inputs: inputs, outputs: outputs,
                                          referenceSources: references), props.path)
    }
}

/// A template's resources and parameters, for resolving intrinsic functions.
struct Template: Sendable {
    let resources: JSONObject
    let parameters: JSONObject

    init(_ root: JSONValue) {
        resources = root["Resources"]?.objectValue ?? JSONObject()
        parameters = root["Parameters"]?.objectValue ?? JSONObject()
    }

    static let pseudo = ["AWS::Region": "us-east-1", "AWS::AccountId": "000000000000", "AWS::Partition": "aws", "AWS::StackName": "sluice",
                         "AWS::URLSuffix": "amazonaws.com"]

    /// What `Ref` gives: a parameter's default, a pseudo parameter, or a resource's name.
    func ref(_ name: String, _ path: String) throws(KDADescriptionError) -> String {
        if let p = Template.pseudo[name] { return p }
        if let p = parameters[name] {
            guard let d = p["Default"] else { throw KDADescriptionError(path, "parameter \(name) has no Default: give the template a default for it") }
            if let s = d.stringValue { return s }
            if let i = d.int64Value { return String(i) }
            throw KDADescriptionError(path, "parameter \(name)'s Default is not a string or a number")
        }
        guard let r = resources[name] else { throw KDADescriptionError(path, "Ref to '\(name)', which is neither a parameter nor a resource of the template") }
        return try resourceName(name, r, path)
    }

    /// A resource's physical name: its name property, or its logical id.
    func resourceName(_ logical: String, _ r: JSONValue, _ path: String) throws(KDADescriptionError) -> String {
        let props = r["Properties"]
        for key in ["Name", "DeliveryStreamName", "FunctionName", "BucketName", "ApplicationName"] {
            if let v = props?[key] { return try Field(v, path, self).string() }
        }
        return logical
    }

    /// `Fn::GetAtt [logical, Arn]`: the ARN a resource would have.
    func arn(_ logical: String, _ path: String) throws(KDADescriptionError) -> String {
        guard let r = resources[logical] else { throw KDADescriptionError(path, "Fn::GetAtt of '\(logical)', which is not a resource of the template") }
        let name = try resourceName(logical, r, path)
        switch r["Type"]?.stringValue {
        case "AWS::Kinesis::Stream": return "arn:aws:kinesis:us-east-1:000000000000:stream/\(name)"
        case "AWS::KinesisFirehose::DeliveryStream": return "arn:aws:firehose:us-east-1:000000000000:deliverystream/\(name)"
        case "AWS::Lambda::Function": return "arn:aws:lambda:us-east-1:000000000000:function:\(name)"
        case "AWS::S3::Bucket": return "arn:aws:s3:::\(name)"
        case "AWS::IAM::Role": return "arn:aws:iam::000000000000:role/\(name)"
        default: throw KDADescriptionError(path, "Fn::GetAtt of '\(logical)' (\(r["Type"]?.stringValue ?? "no Type")): only streams, delivery streams, functions, buckets and roles are known")
        }
    }
}

/// A value of the description with its path, for errors that say where.
struct Field {
    let value: JSONValue
    let path: String
    let template: Template

    init(_ value: JSONValue, _ path: String, _ template: Template) {
        self.value = value
        self.path = path
        self.template = template
    }

    subscript(key: String) -> Field? {
        value[key].map { Field($0, path.isEmpty ? key : path + "." + key, template) }
    }

    func required(_ key: String) throws(KDADescriptionError) -> Field {
        guard let f = self[key] else { throw KDADescriptionError(path, "\(key) is missing") }
        return f
    }

    func array() throws(KDADescriptionError) -> [Field] {
        guard let a = value.arrayValue else { throw KDADescriptionError(path, "expected a list") }
        return a.indices.map { Field(a[$0], "\(path)[\($0)]", template) }
    }

    func int() throws(KDADescriptionError) -> Int {
        if let i = value.int64Value, let n = Int(exactly: i) { return n }
        if let s = try? string(), let n = Int(s) { return n }
        throw KDADescriptionError(path, "expected a whole number")
    }

    /// A string, or a template's intrinsic function that makes one.
    func string() throws(KDADescriptionError) -> String {
        if let s = value.stringValue { return s }
        guard let o = value.objectValue, o.keys.count == 1, let fn = o.keys.first, let arg = o[fn] else {
            throw KDADescriptionError(path, "expected a string")
        }
        let at = path + "." + fn
        switch fn {
        case "Ref":
            guard let name = arg.stringValue else { throw KDADescriptionError(at, "Ref takes a name") }
            return try template.ref(name, at)
        case "Fn::GetAtt":
            let parts = arg.arrayValue?.compactMap(\.stringValue) ?? arg.stringValue.map { $0.split(separator: ".").map(String.init) } ?? []
            guard parts.count == 2 else { throw KDADescriptionError(at, "Fn::GetAtt takes [resource, attribute]") }
            guard parts[1] == "Arn" else { throw KDADescriptionError(at, "Fn::GetAtt of \(parts[1]): only Arn is known") }
            return try template.arn(parts[0], at)
        case "Fn::Join":
            guard let a = arg.arrayValue, a.count == 2, let sep = a[0].stringValue, let list = a[1].arrayValue else {
                throw KDADescriptionError(at, "Fn::Join takes [separator, [values]]")
            }
            var parts: [String] = []
            for (k, v) in list.enumerated() { parts.append(try Field(v, "\(at)[1][\(k)]", template).string()) }
            return parts.joined(separator: sep)
        case "Fn::Sub":
            guard let text = arg.stringValue else { throw KDADescriptionError(at, "Fn::Sub with a variable map is not supported; write the string") }
            var out = "", rest = Substring(text)
            while let open = rest.range(of: "${") {
                out += rest[..<open.lowerBound]
                guard let close = rest[open.upperBound...].firstIndex(of: "}") else { break }
                let name = String(rest[open.upperBound..<close])
                if name.hasPrefix("!") {
                    out += "${" + name.dropFirst() + "}"
                } else if name.hasSuffix(".Arn") {
                    out += try template.arn(String(name.dropLast(4)), at)
                } else {
                    out += try template.ref(name, at)
                }
                rest = rest[rest.index(after: close)...]
            }
            return out + rest
        default:
            throw KDADescriptionError(at, "\(fn) is not supported here; Ref, Fn::GetAtt, Fn::Join and Fn::Sub are")
        }
    }
}
