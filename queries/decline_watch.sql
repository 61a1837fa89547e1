-- Decline watch: declined payments counted per merchant and minute with EMIT CHANGES (a change each
-- time a count changes, before the minute ends) into a derived stream, decline_counts, whose op
-- field says +I (a first count), -U (the count replaced) or +U (the new count); a second query
-- reads that stream and keeps the counts that reach 5 declines, as a live dashboard would.
-- On samples/payments.jsonl they are m-17 at 00:06 (the planted card-testing burst) and m-03 at
-- 00:11-00:12 (the planted processor outage). Output: out/decline_watch.jsonl.
-- run: sluice run queries/decline_watch.sql --input payments=samples/payments.jsonl --until-end

CREATE STREAM payments (
  type     VARCHAR,
  merchant VARCHAR,
  status   VARCHAR,
  ts       TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 4, partition_key = 'merchant', format = 'json');

CREATE STREAM decline_counts AS
SELECT window_start, window_end, merchant, COUNT(*) AS declines
FROM TUMBLE(payments, ts, INTERVAL '1' MINUTE)
WHERE type = 'payment' AND status = 'declined'
GROUP BY window_start, window_end, merchant
EMIT CHANGES;

CREATE SINK watch_out WITH (type = 'file', path = 'out/decline_watch.jsonl', format = 'json');

INSERT INTO watch_out
SELECT window_start, merchant, declines FROM decline_counts WHERE declines >= 5 AND op <> '-U';
