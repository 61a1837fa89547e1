-- Alert feed: an alert's notifications written into a stream (NOTIFY 'stream:...') as well as a
-- file and stderr, and a push query (a bare SELECT) that reads that stream and prints each notification on
-- standard output, as a dashboard or a pager bridge would consume them. On samples/clicks.jsonl
-- /checkout's error share passes 30% at 00:09 and falls back at 00:12 (the planted failures).
-- Output: standard output, and out/error_rate.jsonl.
-- run: sluice run queries/alert_feed.sql --input clicks=samples/clicks.jsonl --until-end

CREATE STREAM clicks (
  url    VARCHAR PATH '$.page.url',
  status BIGINT,
  ts     TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (shards = 4, partition_key = 'user_id', format = 'json');

CREATE STREAM alert_feed (alert VARCHAR, state VARCHAR, url VARCHAR, error_share DOUBLE, at TIMESTAMP)
  WITH (shards = 1, format = 'json');

CREATE ALERT error_rate SEVERITY 'critical' AS
  SELECT window_end, url, COUNT(*) AS requests,
         ROUND(SUM(CASE WHEN status >= 500 THEN 1.0 ELSE 0.0 END) / COUNT(*), 2) AS error_share
  FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE)
  GROUP BY window_start, window_end, url
FIRE WHEN requests >= 10 AND error_share > 0.3
RESOLVE WHEN error_share < 0.05
PER url
MESSAGE '{url}: {error_share} of {requests} requests failed'
NOTIFY 'stream:alert_feed', 'file:out/error_rate.jsonl', 'stderr';

SELECT at, alert, state, url, error_share FROM alert_feed;
