-- Payment anomalies: declined payments per merchant and 30 seconds, scored by a random cut
-- forest over all merchants (declines are usually 0-2 in 30 s); the alert FIRES above 64 (a
-- quarter of the sample size) for the merchant. On samples/payments.jsonl it fires for m-17 at
-- 00:06:30 (the planted card testing, 00:06:00-00:06:40) and for m-03 at 00:11:30 (the planted
-- processor outage, 00:11:00-00:12:30), and nowhere else. Notifications: out/payment_anomalies.jsonl.
-- run: sluice run queries/payment_anomalies.sql --input payments=samples/payments.jsonl --until-end

CREATE STREAM payments (
  type     VARCHAR,
  merchant VARCHAR,
  amount   DOUBLE,
  status   VARCHAR,
  ts       TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 4, partition_key = 'merchant', format = 'json');

CREATE ALERT payment_anomaly SEVERITY 'critical' AS
  SELECT window_end, merchant, payments, declines, ROUND(anomaly_score, 2) AS score
  FROM RANDOM_CUT_FOREST(
         (SELECT window_end, merchant, COUNT(*) AS payments,
                 SUM(CASE WHEN status = 'declined' THEN 1 ELSE 0 END) AS declines
          FROM TUMBLE(payments, ts, INTERVAL '30' SECOND)
          WHERE type = 'payment'
          GROUP BY window_start, window_end, merchant),
         COLUMNS (declines))
FIRE WHEN score > 64
RESOLVE WHEN score < 16
PER merchant
MESSAGE '{merchant}: {declines} of {payments} payments declined in 30 s (score {score})'
NOTIFY 'file:out/payment_anomalies.jsonl';
