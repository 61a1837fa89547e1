-- Nexmark q7: highest bid: the bids at the highest price of their 10 s window.
-- The benchmark joins bid with the windows' maxima on price, with B.dateTime between the window's
-- end - 10 s and its end in WHERE; Sluice puts the time bounds in ON, on the window's window_time
-- (end - 1 ms): window_time - dateTime between -1 ms and 9,999 ms is the same range.
-- run: sluice run queries/nexmark/q7.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE SINK q7_out WITH (type = 'file', path = 'out/nexmark/q7.jsonl', format = 'json');

INSERT INTO q7_out
SELECT b.auction, b.price, b.bidder, b."dateTime", b.extra
FROM bid AS b
JOIN (SELECT MAX(price) AS maxprice, window_time
      FROM TUMBLE(bid, "dateTime", INTERVAL '10' SECOND)
      GROUP BY window_start, window_end, window_time) AS b1
ON b.price = b1.maxprice
   AND b1.window_time BETWEEN b."dateTime" - INTERVAL '1' MILLISECOND AND b."dateTime" + INTERVAL '9999' MILLISECOND;
