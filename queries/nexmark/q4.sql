-- Nexmark q4: average price for a category: the winning (highest) bid of each auction among the
-- bids made while it was open, averaged per category. The inner aggregate is updating (an
-- auction's MAX rises as bids come), and the outer AVG takes its changes: a -U withdraws the old
-- maximum, a +U adds the new one, so each category's average is exact at every change. Differs
-- from the benchmark in the join's form: an interval join needs a bound on the bid's time after
-- the auction's, so the condition adds "dateTime" <= a."dateTime" + 1 minute (an auction runs at
-- most about twice the time 100 more auctions take to come: under a second at 10,000 events/s);
-- and in EMIT CHANGES, which Sluice asks of a query whose result changes.
-- run: sluice run queries/nexmark/q4.sql --input bid=nexmark/bid.jsonl --input auction=nexmark/auction.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');
CREATE STREAM auction (id BIGINT, "itemName" VARCHAR, description VARCHAR, "initialBid" BIGINT, reserve BIGINT,
  "dateTime" TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10m');

CREATE SINK q4_out WITH (type = 'file', path = 'out/nexmark/q4.jsonl', format = 'json');

INSERT INTO q4_out
SELECT q.category, AVG(q.final) AS avg_final
FROM (
  SELECT MAX(b.price) AS final, a.category
  FROM auction AS a
  JOIN bid AS b ON a.id = b.auction AND b."dateTime" BETWEEN a."dateTime" AND a.expires
    AND b."dateTime" <= a."dateTime" + INTERVAL '1' MINUTE
  GROUP BY a.id, a.category
) AS q
GROUP BY q.category
EMIT CHANGES;
