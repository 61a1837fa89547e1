-- Errors by minute: counts every request per one-minute window and status class (2xx, 5xx),
-- with the share of the minute's users affected, over the web clickstream sample. The planted
-- /checkout failures raise the 5xx counts from 00:08 to 00:11 UTC.
-- run: sluice run queries/status_by_minute.sql --input clicks=samples/clicks.jsonl --until-end

CREATE STREAM clicks (
  user_id VARCHAR,
  status  BIGINT,
  ts      TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (shards = 4, partition_key = 'user_id', format = 'json');

CREATE SINK status_out WITH (type = 'file', path = 'out/status_by_minute.csv', format = 'csv');

INSERT INTO status_out
SELECT window_end, status / 100 AS class, COUNT(*) AS requests, COUNT(DISTINCT user_id) AS users
FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE)
GROUP BY window_start, window_end, status / 100;
