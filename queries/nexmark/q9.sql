-- Nexmark q9: winning bids: each auction with its highest bid among those made while it was open
-- (ties: the earlier bid). A Top-1 per auction over the join of auctions and bids: updating, a
-- better bid replaces the one kept (-D, then +I). Differs from the benchmark in the join's form
-- (an interval join needs a bound on the bid's time after the auction's: "dateTime" <= the
-- auction's + 1 minute, longer than any generated auction runs at 10,000 events/s) and in EMIT
-- CHANGES, which Sluice asks of a query whose result changes.
-- run: sluice run queries/nexmark/q9.sql --input bid=nexmark/bid.jsonl --input auction=nexmark/auction.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');
CREATE STREAM auction (id BIGINT, "itemName" VARCHAR, description VARCHAR, "initialBid" BIGINT, reserve BIGINT,
  "dateTime" TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10m');

CREATE SINK q9_out WITH (type = 'file', path = 'out/nexmark/q9.jsonl', format = 'json');

INSERT INTO q9_out
SELECT id, "itemName", description, "initialBid", reserve, "dateTime", expires, seller, category, extra,
  auction, bidder, price, bid_time, bid_extra
FROM (
  SELECT a.*, b.auction, b.bidder, b.price, b."dateTime" AS bid_time, b.extra AS bid_extra,
    ROW_NUMBER() OVER (PARTITION BY a.id ORDER BY b.price DESC, b."dateTime" ASC) AS rownum
  FROM auction AS a
  JOIN bid AS b ON a.id = b.auction AND b."dateTime" BETWEEN a."dateTime" AND a.expires
    AND b."dateTime" <= a."dateTime" + INTERVAL '1' MINUTE
) WHERE rownum <= 1
EMIT CHANGES;
