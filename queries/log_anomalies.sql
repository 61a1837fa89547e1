-- Log anomalies: per service and 10 seconds, the 5xx count and the mean latency from the nested
-- http fields, scored by one random cut forest over all services; the alert FIRES above 64 and
-- RESOLVES under 16, per service. On samples/logs.jsonl it fires for auth at 00:09:40 (the
-- planted token-service outage, 00:09:30-00:10:30: errors and latency both HIGH) and nowhere
-- else. Notifications: out/log_anomalies.jsonl.
-- run: sluice run queries/log_anomalies.sql --input logs=samples/logs.jsonl --until-end

CREATE STREAM logs (
  service    VARCHAR,
  status     BIGINT PATH '$.http.status',
  latency_ms DOUBLE PATH '$.http.latency_ms',
  ts         TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 2, partition_key = 'service', format = 'json');

CREATE ALERT log_anomaly SEVERITY 'critical' AS
  SELECT window_end, service, requests, errors, ROUND(avg_ms, 1) AS avg_ms, ROUND(anomaly_score, 2) AS score,
         errors_direction, avg_ms_direction
  FROM RANDOM_CUT_FOREST_WITH_EXPLANATION(
         (SELECT window_end, service, COUNT(*) AS requests,
                 SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS errors, AVG(latency_ms) AS avg_ms
          FROM TUMBLE(logs, ts, INTERVAL '10' SECOND)
          GROUP BY window_start, window_end, service),
         COLUMNS (errors, avg_ms))
FIRE WHEN score > 64
RESOLVE WHEN score < 16
PER service
MESSAGE '{service}: {errors} errors ({errors_direction}) in {requests} requests, {avg_ms} ms on average ({avg_ms_direction}); score {score}'
NOTIFY 'file:out/log_anomalies.jsonl';
