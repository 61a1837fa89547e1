-- Nexmark q17: auction statistics per day: bids by price band, and the price's minimum, maximum, average and sum.
-- The benchmark's GROUP BY auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd') is an updating aggregate; Sluice groups each day in a 1-day tumbling window and emits its final row (the benchmark's last update of each group).
-- run: sluice run queries/nexmark/q17.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE SINK q17_out WITH (type = 'file', path = 'out/nexmark/q17.jsonl', format = 'json');

INSERT INTO q17_out
SELECT auction, DATE_FORMAT(window_start, 'yyyy-MM-dd') AS "day", COUNT(*) AS total_bids,
  COUNT(*) FILTER (WHERE price < 10000) AS rank1_bids,
  COUNT(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
  COUNT(*) FILTER (WHERE price >= 1000000) AS rank3_bids,
  MIN(price) AS min_price, MAX(price) AS max_price, AVG(price) AS avg_price, SUM(price) AS sum_price
FROM TUMBLE(bid, "dateTime", INTERVAL '1' DAY)
GROUP BY window_start, window_end, auction;
