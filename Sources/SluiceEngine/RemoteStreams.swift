import Foundation
import SluiceAWS
import SluiceCore
import SluiceKinesis
import SluicePlanner
import SluiceSQL
import SluiceStreams

/// Streams that live in a remote Kinesis (`CREATE STREAM ... WITH (connector = 'kinesis', ...)`):
/// their options checked, and the client a query reads them through (and an INSERT INTO writes
/// them through), with credentials and the region found as the AWS CLI finds them.
extension Engine {
    /// What a remote stream's options say, checked.
    struct RemoteStreamOptions {
        var stream: String
        var arn: String?
        var region: String
        var endpoint: String
        var start: RemoteStreamConsumer.Start
        /// The enhanced fan-out consumer to read through (nil: GetRecords polling).
        var consumer: String?
    }

    static func isRemote(_ def: StreamDefinition) -> Bool { text(def.options["connector"]) != nil }

    /// The remote stream `def` declares; an error that says which option to mend. `noun`: what
    /// declares it (a stream, or a `type = 'kinesis'` sink).
    func remoteOptions(_ def: StreamDefinition, noun: String = "stream") -> Result<RemoteStreamOptions, Diagnostic> {
        func bad(_ m: String, _ help: String? = nil) -> Result<RemoteStreamOptions, Diagnostic> {
            .failure(Diagnostic(id: "plan.bad-option", message: "\(noun) \(def.name): " + m, span: def.span, help: help))
        }
        let o = def.options
        let connector = Engine.text(o["connector"]) ?? ""
        guard connector.lowercased() == "kinesis" else {
            return bad("connector must be 'kinesis' (a remote Kinesis data stream), not '\(connector)'",
                       "without connector the stream is the built-in store's")
        }
        var name = Engine.text(o["stream"])
        let arn = Engine.text(o["stream_arn"])
        var arnRegion: String? = nil
        if let a = arn {
            guard let parsed = KinesisClient.parseARN(a) else {
                return bad("stream_arn '\(a)' is not a Kinesis stream ARN", "arn:aws:kinesis:REGION:ACCOUNT:stream/NAME")
            }
            if let n = name, n != parsed.name { return bad("stream '\(n)' and stream_arn '\(a)' name different streams") }
            name = parsed.name
            arnRegion = parsed.region
        }
        guard let stream = name, !stream.isEmpty else {
            return bad((noun == "sink" ? "a kinesis sink" : "a stream with connector = 'kinesis'") + " needs stream = 'NAME' or stream_arn = 'ARN'")
        }
        guard let region = Engine.text(o["region"]) ?? arnRegion ?? aws.region() else {
            return bad("no region: give region = '...', or set AWS_REGION or a region in the profile's ~/.aws/config section")
        }
        if let r = Engine.text(o["region"]), let ar = arnRegion, r != ar {
            return bad("region '\(r)' is not the region of stream_arn (\(ar))")
        }
        let endpoint = Engine.text(o["endpoint"]) ?? "https://kinesis.\(region).amazonaws.com"
        func checkURL(_ option: String, _ url: String) -> Result<RemoteStreamOptions, Diagnostic>? {
            Engine.endpointProblem(option, url, example: "https://kinesis.\(region).amazonaws.com").map { bad($0) }
        }
        if let b = checkURL("endpoint", endpoint) { return b }
        if let l = Engine.text(o["lease_endpoint"]), let b = checkURL("lease_endpoint", l) { return b }
        if let l = Engine.text(o["state_endpoint"]), let b = checkURL("state_endpoint", l) { return b }
        let startText = Engine.text(o["start"]) ?? "TRIM_HORIZON"
        let start: RemoteStreamConsumer.Start
        switch startText.uppercased() {
        case "TRIM_HORIZON": start = .trimHorizon
        case "LATEST": start = .latest
        default:
            let words = startText.split(separator: " ", maxSplits: 1)
            guard words.count == 2, words[0].uppercased() == "AT_TIMESTAMP", let t = TimeFormat.parseISO8601(words[1]) else {
                return bad("start must be 'TRIM_HORIZON', 'LATEST' or 'AT_TIMESTAMP 2026-01-01T00:00:00Z', not '\(startText)'")
            }
            start = .atTimestamp(t)
        }
        let consumer = Engine.text(o["consumer"])
        if let c = consumer {
            let ok = (1...128).contains(c.utf8.count) && c.utf8.allSatisfy { c in (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45 || c == 46 }
            guard ok else { return bad("consumer '\(c)' must be 1 to 128 letters, digits, '_', '-' or '.' (an enhanced fan-out consumer's name)") }
        }
        if let f = Engine.text(o["lease_failover"]), Units.millis(f).map({ $0 < 1000 }) ?? true {
            return bad("lease_failover must be a duration of at least 1s ('10s', '1m'), not '\(f)'")
        }
        if let app = Engine.text(o["application"]) {
            let ok = (3...255).contains(app.utf8.count) && app.utf8.allSatisfy { c in (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45 || c == 46 }
            guard ok else { return bad("application '\(app)' names the lease table: 3 to 255 letters, digits, '_', '-' or '.'") }
        }
        for local in ["shards", "retention"] where o[local] != nil {
            return bad("\(local) is an option of the built-in store's streams; a remote stream's shards and retention are its own")
        }
        return .success(RemoteStreamOptions(stream: stream, arn: arn, region: region, endpoint: endpoint, start: start, consumer: consumer))
    }

    /// A client of the remote stream `def`, with the credentials of the environment or profile.
    func kinesisClient(_ def: StreamDefinition) throws(EngineError) -> KinesisClient {
        let o: RemoteStreamOptions
        switch remoteOptions(def) {
        case .success(let r): o = r
        case .failure(let d): throw EngineError(diagnostics: [d])
        }
        guard let api = AWSJSONClient.kinesis(endpoint: o.endpoint, credentials: try awsCredentials(def), region: o.region, caBundle: aws.caBundle()) else {
            throw EngineError(message: "stream \(def.name): endpoint \(o.endpoint) is not a URL such as https://kinesis.\(o.region).amazonaws.com")
        }
        return KinesisClient(api: api, stream: o.stream, streamARN: o.arn)
    }

    /// The credentials of the environment or profile, for the remote stream `def`.
    func awsCredentials(_ def: StreamDefinition) throws(EngineError) -> AWSCredentials {
        try Engine.credentials(aws, for: "stream \(def.name)")
    }

    /// The credentials `aws` finds, for `what` (named in the error when there are none or they cannot be read).
    static func credentials(_ aws: AWSProfiles, for what: String) throws(EngineError) -> AWSCredentials {
        let found: AWSCredentials?
        do { found = try aws.credentials() } catch {
            throw EngineError(message: "\(what): \(error.message)")
        }
        guard let credentials = found else {
            throw EngineError(message: "\(what): no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile of ~/.aws/credentials")
        }
        return credentials
    }

    /// What is wrong with an endpoint URL given as `option`, or nil: not a URL, or plain http to
    /// another machine (signed requests and records in the clear only on this machine).
    static func endpointProblem(_ option: String, _ url: String, example: String) -> String? {
        let anon = AWSCredentials(accessKeyId: "", secretAccessKey: "", source: "")
        guard let c = AWSJSONClient(endpoint: url, service: "", targetPrefix: "", credentials: anon, region: "") else {
            return "\(option) '\(url)' must be a URL such as '\(example)' or 'http://127.0.0.1:4567'"
        }
        if !c.tls && !c.isLoopback {
            return "\(option) '\(url)' is plain http to another machine: use https (plain http is for endpoints on this machine)"
        }
        return nil
    }

    /// The reader of a remote stream for a query, after checking that the stream is there and
    /// the credentials are taken (one clear error naming which is wrong).
    func remoteReader(_ def: StreamDefinition, lane: Lane? = nil) throws(EngineError) -> RemoteStreamConsumer {
        let client = try kinesisClient(def)
        guard case .success(let o) = remoteOptions(def) else { preconditionFailure("checked by kinesisClient") }
        do {
            let status = try client.status()
            guard status == "ACTIVE" || status == "UPDATING" else {
                throw EngineError(message: "stream \(def.name): \(client.place) is \(status), not ACTIVE")
            }
        } catch let e as EngineError {
            throw e
        } catch {
            throw EngineError(message: "stream \(def.name): \(Engine.remoteProblem(error))")
        }
        var consumerARN: String? = nil
        if let name = o.consumer {
            // Registered now unless it is already, and waited for until ACTIVE.
            do { consumerARN = try client.registeredConsumer(name) } catch {
                throw EngineError(message: "stream \(def.name): consumer \(name): \(Engine.remoteProblem(error))")
            }
        }
        let reader = RemoteStreamConsumer(client: client, start: lane?.start ?? o.start, nowMillis: clock.nowMillis(), onlyShard: lane?.shard,
                                          consumerARN: consumerARN)
        if let l = lane, let after = l.startAfter { reader.seek(to: [l.shard: .sequenceNumber(after)]) }
        return reader
    }

    /// A `type = 'kinesis'` sink's options as a remote stream's (what it writes), checked: the
    /// stream, region, endpoint and format; options of reading are refused.
    func kinesisSinkStream(_ name: String, _ opts: [String: OptionValue], span: SourceSpan?) throws(EngineError) -> StreamDefinition {
        var o = opts
        o["connector"] = .string("kinesis")
        o["type"] = nil
        let def = StreamDefinition(name: name, columns: [], options: o, span: span)
        for reading in ["consumer", "application", "start", "lease_endpoint", "state", "state_endpoint", "lease_failover"] where opts[reading] != nil {
            throw EngineError(diagnostics: [Diagnostic(id: "plan.bad-option", message: "sink \(name): \(reading) is an option of reading a remote stream, not of a sink writing one",
                                                       span: span)])
        }
        if case .failure(let d) = remoteOptions(def, noun: "sink") { throw EngineError(diagnostics: [d]) }
        return def
    }

    /// The partition key of the records a Kinesis sink puts: an output column named by
    /// `partition_key`, else (a `type = 'kinesis'` sink, `expressions`) the expression it holds
    /// over the output columns; a NULL or failed key, or none: a counter. (A remote stream's
    /// `partition_key` is one of its columns; an INSERT that does not output it spreads its records.)
    func kinesisSinkKey(_ text: String?, _ plan: LogicalPlan, expressions: Bool, sink: String, span: SourceSpan?) throws(EngineError) -> RemoteStreamSink.Key {
        guard let text else { return .counter }
        let columns = plan.schema.map(\.name)
        if let i = columns.firstIndex(where: { $0.lowercased() == text.lowercased() }) { return .column(i) }
        guard expressions else { return .counter }
        let schema = plan.schema.map { (name: $0.name, type: $0.type) }
        let keyPlan = try RowExpressions.plan([(text, "partition_key")], over: schema, context: "sink \(sink): partition_key", span: span)
        return .expression(RowExpressions(keyPlan, rowColumns: columns, clock: clock))
    }

    /// A remote failure as a user reads it: which of endpoint, credentials or stream is wrong.
    static func remoteProblem(_ e: any Error) -> String {
        guard let s = e as? StreamError else { return "\(e)" }
        switch s.code {
        case .resourceNotFound: return "no such stream: \(s.message)"
        case .accessDenied: return "bad credentials: \(s.message)"
        default: return s.message
        }
    }

    /// What is wrong with a firehose sink's options, or nil.
    func firehoseSinkProblem(_ o: [String: OptionValue]) -> String? {
        guard let name = Engine.text(o["delivery_stream"]), !name.isEmpty else {
            return "a firehose sink needs delivery_stream = 'NAME' (a Firehose delivery stream, in AWS or at endpoint)"
        }
        guard let region = Engine.text(o["region"]) ?? aws.region() else {
            return "no region: give region = '...', or set AWS_REGION or a region in the profile's ~/.aws/config section"
        }
        if let url = Engine.text(o["endpoint"]), let why = Engine.endpointProblem("endpoint", url, example: "https://firehose.\(region).amazonaws.com") { return why }
        return nil
    }

    /// A client of a firehose sink's delivery stream, checked to be there.
    func firehoseClient(_ def: SinkDefinition) throws(EngineError) -> FirehoseClient {
        let o = def.options
        if let why = firehoseSinkProblem(o) { throw EngineError(message: "sink \(def.name): \(why)") }
        let region = Engine.text(o["region"]) ?? aws.region() ?? ""
        let endpoint = Engine.text(o["endpoint"]) ?? "https://firehose.\(region).amazonaws.com"
        let credentials = try Engine.credentials(aws, for: "sink \(def.name)")
        guard let api = AWSJSONClient.firehose(endpoint: endpoint, credentials: credentials, region: region, caBundle: aws.caBundle()) else {
            throw EngineError(message: "sink \(def.name): endpoint \(endpoint) is not a URL")
        }
        let client = FirehoseClient(api: api, deliveryStream: Engine.text(o["delivery_stream"]) ?? "")
        do { _ = try client.status() } catch { throw EngineError(message: "sink \(def.name): \(Engine.remoteProblem(error))") }
        return client
    }

    /// What is wrong with an S3 sink's path and options, or nil.
    func s3SinkProblem(_ path: String, _ o: [String: OptionValue]) -> String? {
        let bucket = path.dropFirst("s3://".count).prefix { $0 != "/" }
        guard (3...63).contains(bucket.count), bucket.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }) else {
            return "'\(path)' does not name an S3 bucket (s3://BUCKET/PREFIX, the bucket 3 to 63 of a-z, 0-9, '.' and '-')"
        }
        guard Engine.text(o["region"]) ?? aws.region() != nil else {
            return "no region: give region = '...', or set AWS_REGION or a region in the profile's ~/.aws/config section"
        }
        if let url = Engine.text(o["endpoint"]), let why = Engine.endpointProblem("endpoint", url, example: "https://s3.eu-west-1.amazonaws.com") { return why }
        return nil
    }

    /// The S3 client of a sink writing `s3://` (its `endpoint` and `region`, else AWS's S3 of the region).
    func s3Client(_ def: SinkDefinition) throws(EngineError) -> S3Client {
        let o = def.options
        let region = Engine.text(o["region"]) ?? aws.region() ?? ""
        let credentials = try Engine.credentials(aws, for: "sink \(def.name)")
        guard let c = S3Client(endpoint: Engine.text(o["endpoint"]), region: region, credentials: credentials, caBundle: aws.caBundle()) else {
            throw EngineError(message: "sink \(def.name): endpoint \(Engine.text(o["endpoint"]) ?? "") is not a URL")
        }
        return c
    }
}
