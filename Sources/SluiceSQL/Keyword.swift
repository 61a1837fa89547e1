/// Every keyword of the dialect. Keywords are case-insensitive. `grammar/keywords/*.list` lists
/// them by class, and a test checks that those files equal these tables.
public enum Keyword: String, Sendable, CaseIterable, Hashable {
    // Reserved: never a name unless double-quoted.
    case ALL, AND, AS, BETWEEN, BY, CASE, CAST, CREATE, CROSS, DISTINCT, DROP, ELSE, EMIT, END, FALSE, FROM,
         FULL, GROUP, HAVING, IN, INNER, INSERT, INTO, IS, JOIN, LEFT, LIKE, LIMIT, NOT, NULL, ON, OR, ORDER,
         OUTER, OVER, RIGHT, SELECT, THEN, TRUE, UNION, WHEN, WHERE, WITH

    // Non-reserved: also usable as names.
    case ADVANCE, ALERT, ALERTS, ASC, BEGINNING, BIGINT, BOOLEAN, BOTH, CHANGES, COLUMNS, COOLDOWN, CURRENT, DAY, DAYS, DEC, DECIMAL, DESC, DESCRIBE,
         DOUBLE, DOW, DOY, EPOCH, ESCAPE, EVERY, EXISTS, EXPLAIN, FILTER, FINAL, FIRE, FIREHOSE, FIREHOSES, FLAT_LINE, FLOAT, FOR, GAP,
         HOP, HOTSPOTS, HOUR, HOURS, IF, INT, INTEGER, INTERVAL, KEY, LEADING, LOGICAL, MESSAGE, MILLISECOND, MILLISECONDS,
         MINUTE, MINUTES, MONTH, NOTIFY, NUMERIC, PARTITION, PATH, PER, PHYSICAL, PRECEDING, PRIMARY, PRINT, QUERIES, QUERY, RANGE,
         RANDOM_CUT_FOREST, RANDOM_CUT_FOREST_WITH_EXPLANATION, REAL, REPLACE, RESOLVE, ROW, ROWS, SECOND,
         SECONDS, SESSION, SET, SEVERITY, SHOW, SILENT, SINK, SINKS, SIZE, STAGGER, STREAM, STREAMS, STRING, TABLE, TABLES, TEXT,
         TIMESTAMP, TO, TRAILING, TUMBLE, VARCHAR, VIEW, WATERMARK, YEAR

    public static let reserved: Set<Keyword> = [
        .ALL, .AND, .AS, .BETWEEN, .BY, .CASE, .CAST, .CREATE, .CROSS, .DISTINCT, .DROP, .ELSE, .EMIT, .END, .FALSE,
        .FROM, .FULL, .GROUP, .HAVING, .IN, .INNER, .INSERT, .INTO, .IS, .JOIN, .LEFT, .LIKE, .LIMIT, .NOT, .NULL,
        .ON, .OR, .ORDER, .OUTER, .OVER, .RIGHT, .SELECT, .THEN, .TRUE, .UNION, .WHEN, .WHERE, .WITH,
    ]

    /// Non-reserved keywords that begin a clause right after a FROM item or a select item, so they
    /// are never taken as an alias without `AS` (`FROM logs MESSAGE '...'` ends the FROM clause).
    public static let noBareAlias: Set<Keyword> = [
        .FIRE, .RESOLVE, .PER, .COOLDOWN, .MESSAGE, .NOTIFY, .SEVERITY, .PARTITION,
    ]

    public var isReserved: Bool { Keyword.reserved.contains(self) }

    static let byName: [String: Keyword] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    /// The keyword spelled by `word` (any case), if it is one.
    public static func lookup(_ word: some StringProtocol) -> Keyword? { byName[word.uppercased()] }
}
