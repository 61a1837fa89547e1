-- Nexmark q0: pass-through: every bid as it is (the cost of reading and writing).
-- As the benchmark's, which writes to a blackhole sink; Sluice writes a file.
-- run: sluice run queries/nexmark/q0.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE SINK q0_out WITH (type = 'file', path = 'out/nexmark/q0.jsonl', format = 'json');

INSERT INTO q0_out
SELECT auction, bidder, price, "dateTime", extra FROM bid;
