-- Nexmark q12: processing-time windows: how many bids each bidder made in each 10 s of processing time.
-- The benchmark windows on PROCTIME(); Sluice on ROWTIME, when each bid reached the stream
-- (a query that windows on ROWTIME runs on arrival time, whatever event time the stream declares).
-- run: sluice run queries/nexmark/q12.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE SINK q12_out WITH (type = 'file', path = 'out/nexmark/q12.jsonl', format = 'json');

INSERT INTO q12_out
SELECT bidder, COUNT(*) AS bid_count, window_start AS starttime, window_end AS endtime
FROM TUMBLE(bid, ROWTIME, INTERVAL '10' SECOND)
GROUP BY window_start, window_end, bidder;
