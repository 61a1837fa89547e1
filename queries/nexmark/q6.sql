-- Nexmark q6: average selling price per seller: the average final price of each seller's last 10
-- auctions (the current one and the 10 before it). Differs from the benchmark in how an auction's
-- final price is found: the benchmark's inner query is an updating MAX per auction, over which an
-- OVER window cannot run (Flink refuses q6 for that reason). Here the MAX per auction is a window
-- aggregate over the join, grouped on the auction's time: an auction's bids all carry its time (a
-- join's rows carry the left row's), and the join's watermark holds back until no bid can still
-- join them, so each auction's maximum is emitted once, final, and the OVER window takes rows that
-- stay. The join's form is q9's (a bound on the bid's time: "dateTime" <= the auction's + 1
-- minute); auctions are ordered by their time (window_time, ties in id order).
-- run: sluice run queries/nexmark/q6.sql --input bid=nexmark/bid.jsonl --input auction=nexmark/auction.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');
CREATE STREAM auction (id BIGINT, "itemName" VARCHAR, description VARCHAR, "initialBid" BIGINT, reserve BIGINT,
  "dateTime" TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10m');

CREATE SINK q6_out WITH (type = 'file', path = 'out/nexmark/q6.jsonl', format = 'json');

INSERT INTO q6_out
SELECT seller, AVG(final) OVER (PARTITION BY seller ORDER BY window_time ROWS BETWEEN 10 PRECEDING AND CURRENT ROW) AS avg_price
FROM (
  SELECT id, seller, MAX(price) AS final, window_time
  FROM TUMBLE((SELECT a.id, a.seller, a."dateTime", b.price
               FROM auction AS a
               JOIN bid AS b ON a.id = b.auction AND b."dateTime" BETWEEN a."dateTime" AND a.expires
                 AND b."dateTime" <= a."dateTime" + INTERVAL '1' MINUTE), "dateTime", INTERVAL '10' SECOND)
  GROUP BY window_start, window_end, window_time, id, seller
);
