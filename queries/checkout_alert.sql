-- Checkout alert: a threshold alert over one-minute windows of the clickstream sample. A page
-- FIRES when its average latency in a minute passes 1000 ms and RESOLVES when it falls under
-- 300 ms again; a page may fire at most once per 10 minutes of event time.
-- On samples/clicks.jsonl the planted /checkout slowdown (00:08 to 00:11 UTC) fires once at 00:09
-- and resolves at 00:12; the notifications go to out/alerts.jsonl (and nothing else fires).
-- run: sluice run queries/checkout_alert.sql --input clicks=samples/clicks.jsonl --until-end

CREATE STREAM clicks (
  user_id    VARCHAR,
  url        VARCHAR PATH '$.page.url',
  latency_ms DOUBLE,
  status     BIGINT,
  ts         TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (shards = 4, partition_key = 'user_id', format = 'json');

CREATE ALERT slow_page SEVERITY 'critical' AS
  SELECT window_end, url, AVG(latency_ms) AS avg_ms, COUNT(*) AS hits
  FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE)
  GROUP BY window_start, window_end, url
FIRE WHEN avg_ms > 1000
RESOLVE WHEN avg_ms < 300
PER url
COOLDOWN INTERVAL '10' MINUTE
MESSAGE 'Average latency on {url} is {avg_ms} ms over {hits} requests'
NOTIFY 'file:out/alerts.jsonl';
