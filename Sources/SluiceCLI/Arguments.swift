import SluiceCore

/// A small command-line parser: positionals, `--name value`, `--name=value` and boolean `--flag`s.
/// Unknown options are errors, so a typo never silently changes what a command does.
struct Arguments {
    private(set) var positionals: [String] = []
    private var options: [String: [String]] = [:]
    private var flags: Set<String> = []

    /// `valued` lists the options that take a value; `booleans` those that do not.
    init(_ args: ArraySlice<String>, valued: Set<String>, booleans: Set<String> = []) throws(UsageError) {
        var it = args.makeIterator()
        var onlyPositionals = false
        while let a = it.next() {
            if onlyPositionals || !a.hasPrefix("--") || a == "-" {
                positionals.append(a)
                continue
            }
            if a == "--" { onlyPositionals = true; continue }
            var name = String(a.dropFirst(2))
            var value: String? = nil
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if valued.contains(name) {
                if value == nil {
                    guard let v = it.next() else { throw UsageError("option --\(name) needs a value") }
                    value = v
                }
                options[name, default: []].append(value!)
            } else if booleans.contains(name) {
                if value != nil { throw UsageError("option --\(name) takes no value") }
                flags.insert(name)
            } else {
                let known = (valued.union(booleans)).sorted()
                let hint = closest(name, in: known).map { " (did you mean --\($0)?)" } ?? ""
                throw UsageError("unknown option --\(name)\(hint)")
            }
        }
    }

    func value(_ name: String) -> String? { options[name]?.last }
    func values(_ name: String) -> [String] { options[name] ?? [] }
    func flag(_ name: String) -> Bool { flags.contains(name) }

    func int(_ name: String) throws(UsageError) -> Int? {
        guard let v = value(name) else { return nil }
        guard let i = Int(v) else { throw UsageError("option --\(name) needs a whole number, not '\(v)'") }
        return i
    }

    func required(_ name: String) throws(UsageError) -> String {
        guard let v = value(name) else { throw UsageError("missing --\(name)") }
        return v
    }
}

/// Wrong use of the command line: printed with the command's usage, exit status 2.
struct UsageError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

func closest(_ word: String, in candidates: [String]) -> String? { closestMatch(word, in: candidates) }
