/// Conversions between epoch milliseconds and ISO-8601 / calendar fields, in UTC.
/// Written on integers (no Foundation date formatters) so they are exact, fast and thread-safe.
public enum TimeFormat {
    /// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The calendar date of a day number (days since 1970-01-01).
    public static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// UTC calendar fields of an epoch-millisecond instant.
    public static func fields(_ millis: Int64)
        -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int)
    {
        let ms = Int(millis)
        var days = ms / 86_400_000
        var rem = ms % 86_400_000
        if rem < 0 { rem += 86_400_000; days -= 1 }
        let (y, mo, d) = civilFromDays(days)
        return (y, mo, d, rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000)
    }

    /// The day of the week of an epoch-millisecond instant, in UTC: 0 is Sunday (1970-01-01 was a Thursday).
    public static func dayOfWeek(_ millis: Int64) -> Int {
        let days = millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000
        return Int((days % 7 + 11) % 7)
    }

    /// `2024-01-01T00:01:00.000Z`
    public static func iso8601(_ millis: Int64) -> String {
        let f = fields(millis)
        func pad(_ v: Int, _ n: Int) -> String {
            let s = String(v)
            return s.count >= n ? s : String(repeating: "0", count: n - s.count) + s
        }
        return "\(pad(f.year, 4))-\(pad(f.month, 2))-\(pad(f.day, 2))T\(pad(f.hour, 2)):\(pad(f.minute, 2)):"
            + "\(pad(f.second, 2)).\(pad(f.millisecond, 3))Z"
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DD[T| ]hh:mm[:ss[.fff]]` with an optional `Z` or `±hh[:]mm`
    /// offset (UTC when absent). Returns epoch milliseconds, or nil when the text is not such a date.
    public static func parseISO8601(_ text: some StringProtocol) -> Int64? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { parseISO8601(bytes: $0) }
    }

    /// `parseISO8601` on UTF-8 bytes, without making a String.
    public static func parseISO8601(bytes b: UnsafeRawBufferPointer) -> Int64? {
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += n
            return v
        }
        func eat(_ c: UInt8) -> Bool {
            if i < b.count && b[i] == c { i += 1; return true }
            return false
        }
        guard let year = digits(4), eat(45), let month = digits(2), eat(45), let day = digits(2),
              (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        var hour = 0, minute = 0, second = 0, millis = 0
        if i < b.count && (b[i] == 84 || b[i] == 116 || b[i] == 32) {  // T, t, space
            i += 1
            guard let h = digits(2), eat(58), let m = digits(2), h < 24, m < 60 else { return nil }
            hour = h; minute = m
            if eat(58) {
                guard let s = digits(2), s < 60 else { return nil }
                second = s
                if eat(46) || eat(44) {
                    var scale = 100, any = false
                    while i < b.count, b[i] >= 48, b[i] <= 57 {
                        millis += Int(b[i] - 48) * scale
                        scale /= 10
                        i += 1
                        any = true
                    }
                    guard any else { return nil }
                }
            }
        }
        var offsetMinutes = 0
        if i < b.count {
            if b[i] == 90 || b[i] == 122 {  // Z
                i += 1
            } else if b[i] == 43 || b[i] == 45 {  // + -
                let sign = b[i] == 45 ? -1 : 1
                i += 1
                guard let oh = digits(2) else { return nil }
                _ = eat(58)
                let om = digits(2) ?? 0
                offsetMinutes = sign * (oh * 60 + om)
            }
        }
        guard i == b.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let secs = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        return secs * 1000 + Int64(millis)
    }

    /// A length of time for people: `850 ms`, `3.2 s`, `4 min 10 s`, `2 h 5 min`, `3 d 4 h`.
    public static func human(millis: Int64) -> String {
        let ms = max(0, millis)
        if ms < 1000 { return "\(ms) ms" }
        if ms < 60_000 { return ms % 1000 == 0 ? "\(ms / 1000) s" : String(Double(ms / 100) / 10) + " s" }
        let s = ms / 1000
        if s < 3600 { return s % 60 == 0 ? "\(s / 60) min" : "\(s / 60) min \(s % 60) s" }
        if s < 86_400 { return (s % 3600) / 60 == 0 ? "\(s / 3600) h" : "\(s / 3600) h \((s % 3600) / 60) min" }
        return (s % 86_400) / 3600 == 0 ? "\(s / 86_400) d" : "\(s / 86_400) d \((s % 86_400) / 3600) h"
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
