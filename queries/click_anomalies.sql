-- Click anomalies: per page and 30 seconds, the failed requests (5xx) and the mean latency,
-- scored by one random cut forest over all pages; the alert FIRES above 64 and RESOLVES under
-- 16, per page, at most once in 10 minutes. On samples/clicks.jsonl it fires for /checkout at
-- 00:08:30 (the planted slowdown with 503s, 00:08-00:11) and nowhere else.
-- Notifications: out/click_anomalies.jsonl.
-- run: sluice run queries/click_anomalies.sql --input clicks=samples/clicks.jsonl --until-end

CREATE STREAM clicks (
  url        VARCHAR PATH '$.page.url',
  latency_ms DOUBLE,
  status     BIGINT,
  ts         TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (shards = 4, partition_key = 'url', format = 'json');

CREATE ALERT click_anomaly SEVERITY 'critical' AS
  SELECT window_end, url, hits, errors, ROUND(avg_ms, 1) AS avg_ms, ROUND(anomaly_score, 2) AS score
  FROM RANDOM_CUT_FOREST(
         (SELECT window_end, url, COUNT(*) AS hits,
                 SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS errors, AVG(latency_ms) AS avg_ms
          FROM TUMBLE(clicks, ts, INTERVAL '30' SECOND)
          GROUP BY window_start, window_end, url),
         COLUMNS (errors, avg_ms))
FIRE WHEN score > 64
RESOLVE WHEN score < 16
PER url
COOLDOWN INTERVAL '10' MINUTE
MESSAGE 'unusual traffic on {url}: {errors} of {hits} failed, {avg_ms} ms on average (score {score})'
NOTIFY 'file:out/click_anomalies.jsonl';
