import Testing
import SluiceCore
@testable import SluiceSQL

@Suite("Formatter")
struct FormatterTests {
    let source = """
        -- header comment

        create stream clicks (user_id varchar,   -- who
          /* the time */ ts timestamp, watermark for ts as ts - interval '5' second)
          with (shards=4);
        select a,b from t where a>1; -- trailing
        /* between */
        insert into out select count(*) from tumble(clicks, ts, interval '1' minute) group by window_end;
        -- the end
        """

    @Test func canonicalFormKeepsEveryComment() throws {
        let out = try Formatter.format(source).get()
        #expect(out == """
            -- header comment
            CREATE STREAM clicks (
              user_id VARCHAR, -- who
              /* the time */
              ts TIMESTAMP,
              WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
            ) WITH (
              shards = 4
            );

            SELECT a, b
            FROM t
            WHERE a > 1; -- trailing

            /* between */
            INSERT INTO out
            SELECT count(*)
            FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE)
            GROUP BY window_end;

            -- the end

            """)
    }

    @Test func formattingIsIdempotentAndKeepsTheMeaning() throws {
        let once = try Formatter.format(source).get()
        #expect(try Formatter.format(once).get() == once)
        #expect(Parser.parse(once).script == Parser.parse(source).script)
    }

    @Test func filesWithErrorsAreNotFormatted() {
        guard case .failure(let f) = Formatter.format("SELECT FROM;") else { Issue.record("formatted"); return }
        #expect(!f.diagnostics.isEmpty)
    }
}
