-- Nexmark q5: hot items: the auctions with the most bids in each 10 s window, every 2 s.
-- The benchmark joins the counts with their maximum on window_start and window_end, the maximum
-- being an updating aggregate; Sluice takes the maximum in a 2 s tumbling window over the counts'
-- window_time (each hopping window's rows share it) and joins on window_time (a window join).
-- run: sluice run queries/nexmark/q5.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE SINK q5_out WITH (type = 'file', path = 'out/nexmark/q5.jsonl', format = 'json');

INSERT INTO q5_out
SELECT auction_bids.auction, auction_bids.num, auction_bids.window_time
FROM (SELECT auction, COUNT(*) AS num, window_time
      FROM HOP(bid, "dateTime", SIZE INTERVAL '10' SECOND, ADVANCE INTERVAL '2' SECOND)
      GROUP BY window_start, window_end, window_time, auction) AS auction_bids
JOIN (SELECT MAX(num) AS maxn, window_time
      FROM TUMBLE((SELECT COUNT(*) AS num, window_time
                   FROM HOP(bid, "dateTime", SIZE INTERVAL '10' SECOND, ADVANCE INTERVAL '2' SECOND)
                   GROUP BY window_start, window_end, window_time, auction),
                  window_time, INTERVAL '2' SECOND)
      GROUP BY window_start, window_end, window_time) AS max_bids
ON auction_bids.window_time = max_bids.window_time AND auction_bids.num >= max_bids.maxn;
