-- Nexmark q1: currency conversion: each bid's price in euros.
-- As in the benchmark, 0.908 is a DECIMAL and the product exact: DECIMAL(18, 3) (90.800 for 100).
-- run: sluice run queries/nexmark/q1.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE SINK q1_out WITH (type = 'file', path = 'out/nexmark/q1.jsonl', format = 'json');

INSERT INTO q1_out
SELECT auction, bidder, 0.908 * price AS price, "dateTime", extra FROM bid;
