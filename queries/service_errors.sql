-- Service errors: an anomaly-alert job over the application logs sample. A service FIRES when
-- more than 20% of its requests in 30 seconds fail (5xx, over at least 20) and RESOLVES under 5%;
-- the p95 latency from the nested http fields goes with the notification. On samples/logs.jsonl
-- only auth fires, at 00:10:00, and resolves at 00:11:00 (the planted token-service outage,
-- 00:09:30-00:10:30). Notifications: out/service_errors.jsonl.
-- run: sluice run queries/service_errors.sql --input logs=samples/logs.jsonl --until-end

CREATE STREAM logs (
  service    VARCHAR,
  level      VARCHAR,
  status     BIGINT PATH '$.http.status',
  latency_ms DOUBLE PATH '$.http.latency_ms',
  ts         TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 2, partition_key = 'service', format = 'json');

CREATE ALERT service_errors SEVERITY 'critical' AS
  SELECT window_end, service, COUNT(*) AS requests,
         ROUND(SUM(CASE WHEN status >= 500 THEN 1.0 ELSE 0.0 END) / COUNT(*), 3) AS error_share,
         ROUND(PERCENTILE(latency_ms, 0.95), 1) AS p95_ms
  FROM TUMBLE(logs, ts, INTERVAL '30' SECOND)
  GROUP BY window_start, window_end, service
FIRE WHEN requests >= 20 AND error_share > 0.2
RESOLVE WHEN error_share < 0.05
PER service
MESSAGE '{service}: {error_share} of {requests} requests failed (p95 {p95_ms} ms)'
NOTIFY 'file:out/service_errors.jsonl';
