// swift-tools-version:6.0
// Sluice: a streaming SQL analytics engine with a built-in Kinesis-style sharded stream.
// Toolchain only: no package dependencies (see README.md, "Fixed choices").
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// Hot-path modules, release builds: exclusivity is proven statically where Swift can; the dynamic
/// checks it adds for class properties and captured variables cost per record in operator loops.
let hot: [SwiftSetting] = strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

/// The checksum module may use SSE 4.2's `crc32` instruction on x86-64 (chosen at run time: the
/// module checks the processor before it uses it); other architectures use tables only.
#if arch(x86_64)
let checksum: [SwiftSetting] = strict + [.unsafeFlags(["-Xcc", "-msse4.2"])]
#else
let checksum: [SwiftSetting] = strict
#endif

let package = Package(
    name: "Sluice",
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
    ],
    targets: [
        // Layer 0: shared vocabulary (clock, JSON values, errors).
        .target(name: "SluiceCore", swiftSettings: strict),
        // Layer 1: record decoders and encoders (JSON lines, CSV) on bytes, into columns; gzip.
        .target(name: "SluiceCodecs", dependencies: ["SluiceCore", "CZlib"], swiftSettings: hot),
        // Layer 1: physical operators without SQL (watermarks, aggregates, windows).
        .target(name: "SluiceDataflow", dependencies: ["SluiceCore"], swiftSettings: hot),
        // Layer 1: the SQL front end (lexer, parser, AST, printer).
        .target(name: "SluiceSQL", dependencies: ["SluiceCore"], swiftSettings: strict),
        // Layer 2: names, types and streaming validity; logical plans and EXPLAIN.
        .target(name: "SluicePlanner", dependencies: ["SluiceCore", "SluiceSQL"], swiftSettings: strict),
        // Layer 0: CRC-32C, in hardware where the processor has it.
        .target(name: "SluiceChecksum", swiftSettings: checksum),
        // Layer 1: the sharded stream store (Kinesis Data Streams semantics, on disk).
        .target(name: "SluiceStreams", dependencies: ["SluiceCore", "SluiceChecksum"], swiftSettings: strict),
        // Layer 2: Firehose-style delivery streams: buffers, S3-style object keys, gzip, exactly once.
        .target(name: "SluiceDelivery", dependencies: ["SluiceCore", "SluiceCodecs", "SluiceStreams", "SluiceAWS"], swiftSettings: strict),
        // Layer 3: where SQL and execution meet: statements, physical plans, the driver, sinks.
        .target(name: "SluiceEngine",
                dependencies: ["SluiceCore", "SluiceCodecs", "SluiceSQL", "SluicePlanner", "SluiceDataflow", "SluiceStreams", "SluiceDelivery",
                               "SluiceAWS", "SluiceKinesis"],
                swiftSettings: hot),
        // Layer 2: Kinesis Data Analytics applications as users have them (describe-application,
        // CreateApplication, CloudFormation), read into one model.
        .target(name: "SluiceKDA", dependencies: ["SluiceCore"], swiftSettings: strict),
        // Layer 1: AWS as its clients see it: credentials and the region from the environment and
        // the CLI's profiles, HTTP requests, SHA-256 and Signature Version 4 (the server's
        // verifier and the clients' signer share it).
        .target(name: "SluiceAWS", dependencies: ["SluiceCore", "SluiceChecksum", "COpenSSL"], swiftSettings: strict),
        // Layer 2: remote Kinesis data streams through their API: typed calls with retries and
        // backoff, a polling reader with the store's consumer contract, shard leases.
        .target(name: "SluiceKinesis", dependencies: ["SluiceCore", "SluiceStreams", "SluiceAWS"], swiftSettings: strict),
        // Layer 4: HTTP/1.1 on sockets; the Kinesis and Firehose JSON APIs over the store and delivery streams.
        .target(name: "SluiceServer", dependencies: ["SluiceCore", "SluiceStreams", "SluiceDelivery", "SluiceAWS"], swiftSettings: strict),
        // Layer 5: command line (argument parsing, terminal output).
        .target(name: "SluiceCLI", dependencies: ["SluiceCore", "SluiceCodecs", "SluiceStreams", "SluiceSQL", "SluiceEngine", "SluiceDelivery", "SluiceServer", "SluiceKDA"], swiftSettings: strict),
        // The executable: main.swift only.
        .executableTarget(name: "sluice", dependencies: ["SluiceCLI"], swiftSettings: strict),

        // Test only: SQLite from the base image, the reference for the differential window tests.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        // The system's OpenSSL, for HTTPS to remote AWS endpoints (certificates verified).
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),
        // zlib from the base image, for gzip.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),

        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceCore"]),
        .testTarget(name: "SluiceCodecsTests", dependencies: ["SluiceCodecs", "SluiceCore"]),
        .testTarget(name: "SluiceDataflowTests", dependencies: ["SluiceDataflow", "SluiceCore"]),
        .testTarget(name: "SluicePlannerTests", dependencies: ["SluicePlanner", "SluiceSQL", "SluiceCore"]),
        .testTarget(name: "SluiceEngineTests", dependencies: ["SluiceEngine", "SluiceStreams", "SluiceSQL", "SluiceCodecs", "SluiceCore", "CSQLite", "SluiceTestSupport", "SluiceCLI", "SluiceAWS", "SluiceKinesis"], exclude: ["slt"]),
        .testTarget(name: "SluiceSQLTests", dependencies: ["SluiceSQL", "SluiceCore"], exclude: ["Fixtures"]),
        .testTarget(name: "SluiceStreamsTests", dependencies: ["SluiceStreams", "SluiceCore"]),
        .testTarget(name: "SluiceChecksumTests", dependencies: ["SluiceChecksum"]),
        .testTarget(name: "SluiceKDATests", dependencies: ["SluiceKDA", "SluiceCore"]),
        // Test only: helpers shared by test targets (a local HTTP listener).
        .target(name: "SluiceTestSupport", dependencies: ["SluiceServer", "SluiceKinesis", "SluiceAWS", "SluiceStreams", "SluiceCore"],
                path: "Tests/SluiceTestSupport", swiftSettings: strict),
        .testTarget(name: "SluiceDeliveryTests", dependencies: ["SluiceDelivery", "SluiceStreams", "SluiceCodecs", "SluiceCore", "SluiceTestSupport", "SluiceAWS"]),
        .testTarget(name: "SluiceServerTests", dependencies: ["SluiceServer", "SluiceStreams", "SluiceDelivery", "SluiceCore", "SluiceAWS", "SluiceTestSupport"]),
        .testTarget(name: "SluiceAWSTests", dependencies: ["SluiceAWS", "SluiceCore", "SluiceChecksum", "SluiceTestSupport"]),
        .testTarget(name: "SluiceKinesisTests", dependencies: ["SluiceKinesis", "SluiceAWS", "SluiceStreams", "SluiceCore", "SluiceServer", "SluiceTestSupport"]),
        .testTarget(name: "SluiceCLITests", dependencies: ["SluiceCLI", "SluiceStreams", "SluiceCodecs", "SluiceCore", "SluiceAWS", "SluiceKinesis", "SluiceServer", "SluiceTestSupport"], exclude: ["Snapshots", "KDAApps"]),
    ],
    swiftLanguageModes: [.v6]
)
