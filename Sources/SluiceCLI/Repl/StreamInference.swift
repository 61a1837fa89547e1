import Foundation
import SluiceCore
import SluiceSQL

/// `.infer FILE`: a `CREATE STREAM` proposed from the first 1,000 records of a JSON-lines or CSV
/// file: column names (nested JSON fields flattened with `PATH '$.a.b'`), types (BIGINT, DOUBLE,
/// BOOLEAN, TIMESTAMP for ISO-8601 text, else VARCHAR; a field with mixed numbers is DOUBLE, one
/// with mixed kinds VARCHAR), and a watermark on the first timestamp column.
enum StreamInference {
    struct InferenceError: Error, CustomStringConvertible {
        var description: String
    }

    enum Kind: Int, Comparable {
        case bool, bigint, double, timestamp, varchar
        static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
        var sql: String { ["BOOLEAN", "BIGINT", "DOUBLE", "TIMESTAMP", "VARCHAR"][rawValue] }

        /// Two kinds seen in one field.
        func merged(_ o: Kind) -> Kind {
            if self == o { return self }
            if Set([self, o]) == [.bigint, .double] { return .double }
            return .varchar
        }
    }

    static func propose(path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw InferenceError(description: "cannot read \(path)") }
        guard !data.prefix(4096).contains(0), String(data: data.prefix(4096), encoding: .utf8) != nil || data.count > 4096 else {
            throw InferenceError(description: "\(path) is not text: .infer reads JSON lines or CSV")
        }
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).prefix(1001).map(String.init)
        guard let first = lines.first else { throw InferenceError(description: "\(path) is empty") }
        let name = sanitize(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)
        var fields: [(path: [String], kind: Kind)] = []
        var index: [[String]: Int] = [:]
        func see(_ p: [String], _ k: Kind?) {
            guard let k else { return }
            if let i = index[p] { fields[i].kind = fields[i].kind.merged(k) } else {
                index[p] = fields.count
                fields.append((p, k))
            }
        }
        let isJSON = first.trimmingCharacters(in: .whitespaces).hasPrefix("{")
        if isJSON {
            for line in lines where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                guard let v = try? JSONValue.parse(line), case .object(let o) = v else {
                    throw InferenceError(description: "\(path): a line is not a JSON object: \(line.prefix(80))")
                }
                walk(o, [], see)
            }
        } else {
            let header = splitCSV(first)
            for line in lines.dropFirst() {
                for (i, cell) in splitCSV(line).enumerated() where i < header.count { see([header[i]], kind(text: cell)) }
            }
            for h in header where index[[h]] == nil { see([h], .varchar) }
        }
        var columns: [String] = []
        var used = Set<String>()
        var watermark: String? = nil
        for f in fields {
            var col = sanitize(f.path.last!)
            if used.contains(col) { col = sanitize(f.path.joined(separator: "_")) }
            used.insert(col)
            let pathClause = f.path.count > 1 || col != f.path[0] ? " PATH '$." + f.path.joined(separator: ".") + "'" : ""
            let shown = Printer.name(Identifier(col, quoted: false))
            columns.append("  \(shown) \(f.kind.sql)\(pathClause)")
            if watermark == nil && f.kind == .timestamp { watermark = shown }
        }
        if let w = watermark { columns.append("  WATERMARK FOR \(w) AS \(w) - INTERVAL '5' SECOND") }
        let format = isJSON ? "format = 'json'" : "format = 'csv', header = true"
        return "CREATE STREAM \(Printer.name(Identifier(name, quoted: false))) (\n" + columns.joined(separator: ",\n") + "\n) WITH (\(format));"
    }

    private static func walk(_ o: JSONObject, _ prefix: [String], _ see: ([String], Kind?) -> Void) {
        for (k, v) in o.entries {
            switch v {
            case .object(let inner): walk(inner, prefix + [k], see)
            case .null: break
            case .bool: see(prefix + [k], .bool)
            case .string(let s): see(prefix + [k], TimeFormat.parseISO8601(s) != nil ? .timestamp : .varchar)
            case .array: see(prefix + [k], .varchar)
            default: see(prefix + [k], v.int64Value != nil && !(v.serialized().contains(".") || v.serialized().contains("e")) ? .bigint : .double)
            }
        }
    }

    private static func kind(text s: String) -> Kind? {
        if s.isEmpty { return nil }
        if Int64(s) != nil { return .bigint }
        if Double(s) != nil { return .double }
        if s == "true" || s == "false" { return .bool }
        if TimeFormat.parseISO8601(s) != nil { return .timestamp }
        return .varchar
    }

    /// One CSV line's fields (RFC 4180 quotes).
    static func splitCSV(_ line: String) -> [String] {
        var out: [String] = []
        var cur = ""
        var quoted = false
        var chars = Array(line)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { cur.append("\""); chars = chars.dropFirst() } else { quoted = false }
                } else { cur.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                out.append(cur)
                cur = ""
            } else {
                cur.append(c)
            }
        }
        out.append(cur)
        return out
    }

    /// A name usable unquoted: letters, digits and underscores, not starting with a digit.
    static func sanitize(_ s: String) -> String {
        var out = String(s.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
        if out.first?.isNumber ?? true { out = "_" + out }
        return out.lowercased()
    }
}
