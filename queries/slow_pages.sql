-- Slow pages: one-minute tumbling windows over the web clickstream sample, keeping each page
-- whose average latency in the minute is above 500 ms, with its hit count and worst status.
-- On samples/clicks.jsonl this finds the planted /checkout slowdown (00:08 to 00:11 UTC) as three
-- rows in out/slow_pages.jsonl, and nothing else.
-- run: sluice run queries/slow_pages.sql --input clicks=samples/clicks.jsonl --until-end

CREATE STREAM clicks (
  user_id    VARCHAR,
  url        VARCHAR PATH '$.page.url',
  latency_ms DOUBLE,
  status     BIGINT,
  ts         TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (shards = 4, partition_key = 'user_id', format = 'json');

CREATE SINK slow_pages_out WITH (type = 'file', path = 'out/slow_pages.jsonl', format = 'json');

INSERT INTO slow_pages_out
SELECT window_start, window_end, url, COUNT(*) AS hits, AVG(latency_ms) AS avg_ms, MAX(status) AS worst_status
FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE)
WHERE latency_ms >= 0
GROUP BY window_start, window_end, url
HAVING AVG(latency_ms) > 500;
