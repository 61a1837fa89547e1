import SluiceCodecs
public import SluiceCore
public import SluiceDelivery
public import SluiceAWS
import SluicePlanner
import SluiceDataflow
public import SluiceSQL
public import SluiceStreams

extension Engine {
    /// The definition a `CREATE FIREHOSE` statement declares: its delivery configuration (the
    /// columns kept for transformations in later processes) and, for direct puts, the stream
    /// queries read it as.
    static func firehose(_ c: CreateFirehose, _ span: SourceSpan) throws(EngineError) -> (FirehoseConfig, StreamDefinition) {
        let def: StreamDefinition
        do { def = try Planner.firehoseDefinition(c, span: span) } catch { throw EngineError(diagnostics: error.diagnostics) }
        var options: [String: String] = [:]
        for (k, v) in def.options { options[k] = Engine.text(v) }
        var config: FirehoseConfig
        do {
            config = try FirehoseConfig.parse(name: c.name.name, options: options)
        } catch {
            throw EngineError(diagnostics: [Diagnostic(id: "plan.bad-firehose", message: error.message, span: span)])
        }
        config.columns = def.columns.map { FirehoseConfig.Column(name: $0.name, type: $0.type.rawValue, path: $0.path) }
        if (config.transform != nil || config.partitionKeys != nil) && config.columns.isEmpty {
            throw EngineError(diagnostics: [Diagnostic(id: "plan.bad-firehose", message: "a transformation or partition keys read the firehose's columns; declare them: CREATE FIREHOSE \(c.name.name) (col TYPE, ...)", span: span)])
        }
        return (config, def)
    }

    /// The stream definition of a firehose saved on disk (its declared columns and format).
    static func streamDefinition(_ config: FirehoseConfig) -> StreamDefinition {
        var options: [String: OptionValue] = ["format": .string(config.format)]
        for (k, v) in config.extra { options[k] = .string(v) }
        return StreamDefinition(name: config.name, columns: config.columns.map {
            ColumnDefinition(name: $0.name, type: ColumnType(rawValue: $0.type) ?? .varchar, path: $0.path)
        }, options: options)
    }

    /// Opens a firehose's delivery, with its transformation and partition keys compiled.
    public func openFirehose(_ config: FirehoseConfig) throws(EngineError) -> DeliveryStream {
        try Engine.openFirehose(config, store: store, clock: clock, aws: aws)
    }

    /// Opens a firehose's delivery outside an engine (a server delivering the firehoses its API
    /// defined, or ones saved by earlier runs), with its transformation and partition keys compiled.
    /// A firehose delivering to S3 (`destination = 's3://BUCKET'`) signs with the credentials of `aws`.
    public static func openFirehose(_ config: FirehoseConfig, store: StreamStore, clock: any SluiceClock,
                                    aws: AWSProfiles = AWSProfiles()) throws(EngineError) -> DeliveryStream {
        var s3: S3Client? = nil
        if let bucket = config.s3Bucket {
            let credentials = try Engine.credentials(aws, for: "firehose \(config.name) (s3://\(bucket))")
            guard let region = config.s3Region ?? aws.region() else {
                throw EngineError(message: "firehose \(config.name) delivers to s3://\(bucket): no region: give region = '...', or set AWS_REGION")
            }
            guard let c = S3Client(endpoint: config.s3Endpoint, region: region, credentials: credentials, caBundle: aws.caBundle()) else {
                throw EngineError(message: "firehose \(config.name): s3_endpoint \(config.s3Endpoint ?? "") is not a URL")
            }
            if let url = config.s3Endpoint, let why = Engine.endpointProblem("s3_endpoint", url, example: "https://s3.\(region).amazonaws.com") {
                throw EngineError(message: "firehose \(config.name): \(why)")
            }
            s3 = c
        }
        let delivery: DeliveryStream
        do { delivery = try DeliveryStream(config: config, store: store, clock: clock, s3: s3) } catch { throw EngineError(message: error.description) }
        if config.transform != nil || config.partitionKeys != nil {
            delivery.processor = try FirehoseProcessor(config, clock: clock).process
        }
        return delivery
    }

    /// Opens a firehose by name from its saved definition.
    public func openFirehose(named name: String) throws(EngineError) -> DeliveryStream {
        let config: FirehoseConfig
        do { config = try DeliveryStream.load(name: name, store: store) } catch { throw EngineError(message: error.description) }
        return try openFirehose(config)
    }
}

/// A firehose's transformation (a SELECT over its records, in place of a Lambda) and partition
/// keys (SQL expressions), record by record: a record that does not decode, or whose expressions
/// fail, is `failed` with the reason; one the WHERE clause filters out is `dropped`.
final class FirehoseProcessor {
    struct Compiled {
        let plan: LogicalPlan
        let source: SourceNode
        let pipeline: Pipeline
        var decoder: SourceDecoder
        let predicate: PhysicalExpr?
    }
    private var transform: Compiled?
    private var keys: Compiled?
    private let encoder: RecordEncoder?
    private let clock: any SluiceClock

    init(_ config: FirehoseConfig, clock: any SluiceClock) throws(EngineError) {
        self.clock = clock
        let def = Engine.streamDefinition(config)
        let catalog = MemoryCatalog([def])
        func compile(_ sql: String, _ what: String) throws(EngineError) -> Compiled {
            let (stmt, diags) = Parser.parseStatement(sql)
            guard diags.isEmpty, case .query(let q)? = stmt?.kind else {
                throw EngineError(message: "the firehose's \(what) is not a SELECT: \(diags.first?.message ?? sql)")
            }
            let plan: LogicalPlan
            do {
                plan = Optimizer(fold: Lowering.fold).optimize(try Planner(catalog: catalog).plan(q))
            } catch {
                throw EngineError(message: "the firehose's \(what): " + error.diagnostics.map(\.message).joined(separator: "; "))
            }
            guard FirehoseProcessor.isStateless(plan), let source = Engine.sourceNode(plan) else {
                throw EngineError(message: "the firehose's \(what) must work record by record: no GROUP BY, windows or LIMIT")
            }
            var decoder = SourceDecoder(source: source)
            if decoder.needsCSV {
                let delimiter = (Engine.text(source.stream.options["delimiter"]) ?? ",").utf8.first ?? 44
                decoder.use(csv: Job.positional(decoder.fieldSpecs, source.stream, delimiter))
            }
            return Compiled(plan: plan, source: source, pipeline: Pipeline(plan), decoder: decoder, predicate: source.predicate.map(Lowering.expr))
        }
        if let t = config.transform {
            let c = try compile(t, "transform")
            transform = c
            encoder = RecordEncoder(format: config.format == "csv" ? .csv : .json, columns: c.plan.schema.map(\.name))
        } else {
            encoder = nil
        }
        if let k = config.partitionKeys {
            keys = try compile("SELECT \(k) FROM \(Printer.name(Identifier(config.name, quoted: true)))", "partition_keys")
        }
    }

    static func isStateless(_ p: LogicalPlan) -> Bool {
        switch p {
        case .source: return true
        case .filter(let c, _), .project(let c, _, _): return isStateless(c)
        default: return false
        }
    }

    /// The rows a compiled query makes of one record, or why it failed.
    private func run(_ c: inout Compiled, _ record: [UInt8], _ now: Int64) -> Result<[[Value]], FirehoseFailure> {
        let failure = record.withUnsafeBytes { c.decoder.add($0, arrival: now) }
        if let f = failure { return .failure(FirehoseFailure(message: "cannot decode the record: \(f.description)")) }
        let (batch, _) = c.decoder.finish()
        let before = c.pipeline.failures.count
        let rows = c.pipeline.push(c.pipeline.sourceFilter(c.predicate, batch, now: now), now: now)
        if c.pipeline.failures.count > before {
            let m = c.pipeline.failures[before].message
            c.pipeline.failures.removeAll()
            return .failure(FirehoseFailure(message: m))
        }
        return .success(rows)
    }

    func process(_ records: [[UInt8]]) -> [ProcessedRecord] {
        let now = clock.nowMillis()
        return records.map { record in
            var out = record
            if var t = transform {
                defer { transform = t }
                switch run(&t, record, now) {
                case .failure(let f): return .failed(f.message)
                case .success(let rows):
                    guard let row = rows.first else { return .dropped }
                    out = []
                    encoder!.append(row, to: &out)
                    if out.last == 10 { out.removeLast() }
                }
            }
            var values: [String: String] = [:]
            if var k = keys {
                defer { keys = k }
                switch run(&k, record, now) {
                case .failure(let f): return .failed("partition keys: " + f.message)
                case .success(let rows):
                    guard let row = rows.first else { return .failed("partition keys: no row") }
                    for (i, field) in k.plan.schema.enumerated() {
                        if row[i].isNull { return .failed("partition key '\(field.name)' is NULL") }
                        values[field.name] = row[i].description
                    }
                }
            }
            return .ok(out, keys: values)
        }
    }
}

struct FirehoseFailure: Error {
    var message: String
}
