CREATE STREAM payments (
  type VARCHAR, merchant VARCHAR, status VARCHAR, amount DOUBLE, ts TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 2, partition_key = 'merchant', format = 'json');
.load samples/payments.jsonl INTO payments
DESCRIBE payments;
SELECT window_end, merchant, COUNT(*) AS declines
FROM TUMBLE(payments, ts, INTERVAL '1' MINUTE)
WHERE status = 'declined'
GROUP BY window_start, window_end, merchant
HAVING COUNT(*) >= 5;
SET result_mode = 'changelog';
SELECT status, COUNT(*) AS n FROM payments WHERE merchant = 'm-03' AND status = 'declined' GROUP BY status EMIT CHANGES LIMIT 3;
SET start = 'LATEST';
SELECT merchant FROM payments;
SET start = 'EARLIEST';
SET result_mode = 'json';
SELECT merchant, amount FROM payments WHERE amount > 900 LIMIT 3;
SELECT nope FROM payments;
.sample payments 2
.infer samples/logs.jsonl
.infer samples/sensors.csv
SET colour = 'blue';
.bogus
.sample paymnts
.load samples/payments.jsonl INTO nope
.infer samples
.explain SELECT merchant, COUNT(*) AS n FROM TUMBLE(payments, ts, INTERVAL '1' MINUTE) WHERE amount > 5 GROUP BY window_start, merchant
SHOW STREAMS;
