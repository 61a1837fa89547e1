-- Nexmark q19: auction Top-10 price: the ten highest bids of each auction, with their rank. A
-- Top-N without a window is updating: a bid that enters an auction's ten is +I, the one it
-- pushes out -D, and each bid whose rank moves -U then +U (the op field). Differs from the
-- benchmark in EMIT CHANGES, which Sluice asks of a query whose result changes.
-- run: sluice run queries/nexmark/q19.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE SINK q19_out WITH (type = 'file', path = 'out/nexmark/q19.jsonl', format = 'json');

INSERT INTO q19_out
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number FROM bid
) WHERE rank_number <= 10
EMIT CHANGES;
