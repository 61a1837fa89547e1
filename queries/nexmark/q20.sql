-- Nexmark q20: expand bid with auction: each bid on a category-10 auction, with the auction's columns.
-- The benchmark's regular join keeps both sides forever; Sluice keeps each stream's rows for its
-- state_ttl of event time (bids 10 s, auctions 10 min: a bid names one of the last 100 auctions
-- or one up to 10 ahead, well inside both), and the join meets rows within those bounds.
-- run: sluice run queries/nexmark/q20.sql --input bid=nexmark/bid.jsonl --input auction=nexmark/auction.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');
CREATE STREAM auction (id BIGINT, "itemName" VARCHAR, description VARCHAR, "initialBid" BIGINT, reserve BIGINT,
  "dateTime" TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10m');

CREATE SINK q20_out WITH (type = 'file', path = 'out/nexmark/q20.jsonl', format = 'json');

INSERT INTO q20_out
SELECT b.auction, b.bidder, b.price, b.channel, b.url, b."dateTime" AS bid_time, b.extra AS bid_extra,
  a."itemName", a.description, a."initialBid", a.reserve, a."dateTime" AS auction_time, a.expires, a.seller, a.category,
  a.extra AS auction_extra
FROM bid AS b
JOIN auction AS a ON b.auction = a.id
WHERE a.category = 10;
