import Testing
@testable import SluiceCore

@Suite("Time")
struct TimeTests {
    @Test func formatsISO8601WithMilliseconds() {
        #expect(TimeFormat.iso8601(0) == "1970-01-01T00:00:00.000Z")
        #expect(TimeFormat.iso8601(1_704_067_260_000) == "2024-01-01T00:01:00.000Z")
        #expect(TimeFormat.iso8601(951_782_400_123) == "2000-02-29T00:00:00.123Z")
        #expect(TimeFormat.iso8601(-1) == "1969-12-31T23:59:59.999Z")
    }

    @Test(arguments: [
        ("2024-01-01T00:01:00Z", Int64(1_704_067_260_000)),
        ("2024-01-01 00:01:00", 1_704_067_260_000),
        ("2024-01-01T00:01:00.5Z", 1_704_067_260_500),
        ("2024-01-01T01:01:00+01:00", 1_704_067_260_000),
        ("2024-01-01T00:01:00.123-0030", 1_704_069_060_123),
        ("2024-01-01", 1_704_067_200_000),
        ("2000-02-29T12:00", 951_825_600_000),
    ])
    func parsesISO8601(_ text: String, _ millis: Int64) {
        #expect(TimeFormat.parseISO8601(text) == millis)
    }

    @Test(arguments: ["2024-13-01", "2023-02-29", "2024-01-01T25:00", "2024-1-1", "yesterday", "2024-01-01T00:00:00Zjunk", ""])
    func rejectsBadDates(_ text: String) {
        #expect(TimeFormat.parseISO8601(text) == nil)
    }

    @Test func formatAndParseAgreeAcrossCenturies() {
        var t: Int64 = -2_208_988_800_000  // 1900
        while t < 4_102_444_800_000 {  // 2100
            #expect(TimeFormat.parseISO8601(TimeFormat.iso8601(t)) == t)
            t += 86_399_999 * 37
        }
    }

    @Test func manualClockMovesOnlyWhenTold() {
        let c = ManualClock(millis: 1000)
        #expect(c.nowMillis() == 1000)
        c.advance(by: 500)
        #expect(c.nowMillis() == 1500)
        c.set(42)
        #expect(c.nowMillis() == 42)
    }
}

@Suite("Units in option values")
struct UnitsTests {
    @Test func sizesAndDurations() {
        #expect(Units.bytes("64MB") == 64 << 20 && Units.bytes("512 KB") == 512 << 10 && Units.bytes("1GiB") == 1 << 30)
        #expect(Units.bytes("5m") == 5 << 20 && Units.bytes("100") == 100 && Units.bytes("2B") == 2)
        #expect(Units.bytes("lots") == nil && Units.bytes("1.5MB") == nil)
        #expect(Units.millis("250ms") == 250 && Units.millis("1.5s") == 1500 && Units.millis(" 5m ") == 300_000)
        #expect(Units.millis("2h") == 7_200_000 && Units.millis("1d") == 86_400_000 && Units.millis("42") == 42)
        #expect(Units.millis("soon") == nil)
        #expect("  a b ".trimmingSpaces == "a b")
    }

    @Test func humanDurations() {
        #expect(TimeFormat.human(millis: 850) == "850 ms" && TimeFormat.human(millis: 3_250) == "3.2 s" && TimeFormat.human(millis: 5_000) == "5 s")
        #expect(TimeFormat.human(millis: 250_000) == "4 min 10 s" && TimeFormat.human(millis: 7_500_000) == "2 h 5 min")
        #expect(TimeFormat.human(millis: 273_600_000) == "3 d 4 h" && TimeFormat.human(millis: 92_255_160_000) == "1067 d 18 h" && TimeFormat.human(millis: -5) == "0 ms")
    }
}
