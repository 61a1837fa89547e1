-- Nexmark q2: selection: the bids on every 123rd auction.
-- As the benchmark's.
-- run: sluice run queries/nexmark/q2.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE SINK q2_out WITH (type = 'file', path = 'out/nexmark/q2.jsonl', format = 'json');

INSERT INTO q2_out
SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;
