-- User sessions: the clickstream sample cut into sessions per user (a session ends after two
-- minutes without a click), with the entry and exit pages by event time, how many distinct pages
-- were seen (APPROX_COUNT_DISTINCT, exact at this size) and the 95th percentile of latency.
-- Rows go to out/user_sessions.csv once the watermark passes each session's end.
-- run: sluice run queries/user_sessions.sql --input clicks=samples/clicks.jsonl --until-end

CREATE STREAM clicks (
  user_id    VARCHAR,
  url        VARCHAR PATH '$.page.url',
  latency_ms DOUBLE,
  ts         TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (shards = 4, partition_key = 'user_id', format = 'json');

CREATE SINK user_sessions_out WITH (type = 'file', path = 'out/user_sessions.csv', format = 'csv');

INSERT INTO user_sessions_out
SELECT user_id, window_start, window_end, COUNT(*) AS clicks, FIRST_VALUE(url) AS entry_page,
       LAST_VALUE(url) AS exit_page, APPROX_COUNT_DISTINCT(url) AS pages, PERCENTILE(latency_ms, 0.95) AS p95_ms
FROM SESSION(clicks PARTITION BY user_id, ts, GAP INTERVAL '2' MINUTE)
GROUP BY window_start, window_end, user_id;
