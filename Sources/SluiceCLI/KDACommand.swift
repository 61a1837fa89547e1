import Foundation
import SluiceCore
import SluiceEngine
import SluiceSQL

/// `sluice kda convert APP.json`: a Kinesis Data Analytics application as the same application in
/// Sluice's own SQL, to read and to run with `sluice run FILE.sql` (each input a declared stream,
/// the code with KDA's forms written as Sluice writes them, each output a stream, firehose or sink).
struct KDACommand {
    let out: OutputStream
    let err: OutputStream

    static let usage = """
        usage: sluice kda convert APP.json [--s3-dir DIR] [--lambda FUNCTION=COMMAND ...]
          Prints the Kinesis Data Analytics application APP.json (describe-application output, a
          CreateApplication request or a CloudFormation template) as a query file in Sluice's own SQL that
          gives the same rows: run it with `sluice run FILE.sql --input STREAM=FILE ...`, STREAM the one its first lines
          name for each input (the stream the input's ARN names, or SOURCE_SQL_STREAM_001 and the like).
          Pumps become INSERT INTO with their columns named (and CAST where KDA converted them) and their
          ROWTIME carried; STEP and FLOOR groups become TUMBLE windows; WINDOWED BY STAGGER becomes STAGGER;
          RANDOM_CUT_FOREST over a CURSOR becomes RANDOM_CUT_FOREST with its columns and score => 'depth'.
          --s3-dir (default s3) and --lambda are as for `sluice run APP.json`.
        """

    func run(_ argv: ArraySlice<String>) throws -> Int32 {
        guard argv.first == "convert" else {
            throw UsageError(argv.isEmpty ? "missing the subcommand\n" + Self.usage : "unknown kda subcommand '\(argv.first!)' (sluice kda convert APP.json)")
        }
        let a = try Arguments(argv.dropFirst(), valued: ["s3-dir", "lambda"], booleans: [])
        guard a.positionals.count == 1 else { throw UsageError("sluice kda convert takes one application description (APP.json)") }
        let path = a.positionals[0]
        guard let data = FileManager.default.contents(atPath: path) else {
            err.line("error: cannot read \(path)")
            return 1
        }
        let kda = try KDARun.read(path, [UInt8](data))
        var options = KDARun.Options(s3Dir: a.value("s3-dir") ?? "s3")
        for spec in a.values("lambda") {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else { throw UsageError("--lambda takes FUNCTION=COMMAND, not '\(spec)'") }
            options.lambdas[String(spec[..<eq])] = String(spec[spec.index(after: eq)...])
        }
        let (source, parsed) = try kda.script(options)
        if parsed.hasErrors {
            for d in parsed.diagnostics { err.write(DiagnosticRenderer.render(d, in: source)) }
            return 1
        }
        let converted: Script
        do {
            converted = try planOnScratchStore { try $0.sluiceForm(parsed.script) }
        } catch let e as EngineError {
            for d in e.diagnostics { err.write(DiagnosticRenderer.render(d, in: source)) }
            if let m = e.message { err.line("error: \(m)") }
            return 1
        }
        out.line("-- \(path): the Kinesis Data Analytics application \(kda.app.name), in Sluice's SQL (sluice kda convert).")
        // An input read from the stream its ARN names takes its records there.
        out.line("-- Feed its inputs with: sluice run FILE.sql " + kda.recordStreams(options).map { "--input \($0)=FILE" }.joined(separator: " ") + " --until-end")
        out.line("")
        out.write(Printer.print(converted))
        return 0
    }
}
