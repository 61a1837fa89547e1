-- Refunds: an interval join of the payments stream with itself, matching each refund to the
-- payment it refunds when it comes within two minutes of it, with the delay and the amount.
-- On samples/payments.jsonl every refund (2 to 40 seconds after its payment) finds its payment.
-- Output: out/refunds.jsonl.
-- run: sluice run queries/refunds.sql --input payments=samples/payments.jsonl --until-end

CREATE STREAM payments (
  txn_id   VARCHAR,
  type     VARCHAR,
  ref_txn  VARCHAR,
  account  VARCHAR,
  merchant VARCHAR,
  amount   DOUBLE,
  ts       TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 4, partition_key = 'account', format = 'json');

CREATE SINK refunds_out WITH (type = 'file', path = 'out/refunds.jsonl', format = 'json');

INSERT INTO refunds_out
SELECT r.ts AS refunded_at, p.txn_id AS payment, r.txn_id AS refund, p.merchant, p.amount,
       (r.ts - p.ts) AS delay_ms
FROM payments p
JOIN payments r ON r.ref_txn = p.txn_id AND r.ts BETWEEN p.ts AND p.ts + INTERVAL '2' MINUTE
WHERE p.type = 'payment' AND r.type = 'refund';
