-- Nexmark q18: find last bid: each bidder's latest bid on each auction (dedup keeping the last
-- row by event time). Updating: a later bid replaces the one kept (-D, then +I; the rank is not
-- output, so a move of rank emits nothing). Differs from the benchmark in EMIT CHANGES.
-- run: sluice run queries/nexmark/q18.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE SINK q18_out WITH (type = 'file', path = 'out/nexmark/q18.jsonl', format = 'json');

INSERT INTO q18_out
SELECT auction, bidder, price, channel, url, "dateTime", extra FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY "dateTime" DESC) AS rank_number FROM bid
) WHERE rank_number <= 1
EMIT CHANGES;
