-- Payment alerts: two anomaly-alert jobs over the card payments sample. card_testing FIRES when an
-- account makes more than 10 payments in a minute (card testing: many tiny charges, most declined);
-- merchant_declines FIRES when more than half of a merchant's payments in a minute are declined
-- (over at least 5) and RESOLVES under 10%. On samples/payments.jsonl card_testing fires once, for
-- acct-0042 at 00:07 (the planted burst of 40 payments at m-17, 00:06:00-00:06:40), and resolves
-- at 00:08; merchant_declines fires for m-17 at 00:07 (the same burst's declines) and for m-03 at
-- 00:12 (the planted processor outage, 00:11:00-00:12:30), resolving at 00:08 and 00:14.
-- Notifications: out/card_testing.jsonl and out/merchant_declines.jsonl.
-- run: sluice run queries/payment_alerts.sql --input payments=samples/payments.jsonl --until-end

CREATE STREAM payments (
  txn_id   VARCHAR,
  type     VARCHAR,
  account  VARCHAR,
  merchant VARCHAR,
  amount   DOUBLE,
  status   VARCHAR,
  country  VARCHAR PATH '$.card.country',
  ts       TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 4, partition_key = 'account', format = 'json');

CREATE ALERT card_testing SEVERITY 'critical' AS
  SELECT window_end, account, COUNT(*) AS payments, ROUND(SUM(amount), 2) AS total,
         COUNT(DISTINCT merchant) AS merchants
  FROM TUMBLE(payments, ts, INTERVAL '1' MINUTE)
  WHERE type = 'payment'
  GROUP BY window_start, window_end, account
FIRE WHEN payments > 10
PER account
COOLDOWN INTERVAL '30' MINUTE
MESSAGE '{account} made {payments} payments totalling {total} at {merchants} merchant(s) in a minute'
NOTIFY 'file:out/card_testing.jsonl';

CREATE ALERT merchant_declines SEVERITY 'warning' AS
  SELECT window_end, merchant, COUNT(*) AS payments,
         ROUND(SUM(CASE WHEN status = 'declined' THEN 1.0 ELSE 0.0 END) / COUNT(*), 2) AS declined_share
  FROM TUMBLE(payments, ts, INTERVAL '1' MINUTE)
  WHERE type = 'payment'
  GROUP BY window_start, window_end, merchant
FIRE WHEN payments >= 5 AND declined_share > 0.5
RESOLVE WHEN declined_share < 0.1
PER merchant
MESSAGE '{merchant} declined {declined_share} of {payments} payments'
NOTIFY 'file:out/merchant_declines.jsonl';
