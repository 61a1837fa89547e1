-- Nexmark q11: user sessions: how many bids each bidder made in each session (bids less than 10 s apart).
-- The benchmark groups by SESSION(dateTime, ...) with SESSION_START/END; Sluice puts the session window in FROM.
-- run: sluice run queries/nexmark/q11.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE SINK q11_out WITH (type = 'file', path = 'out/nexmark/q11.jsonl', format = 'json');

INSERT INTO q11_out
SELECT bidder, COUNT(*) AS bid_count, window_start AS starttime, window_end AS endtime
FROM SESSION(bid PARTITION BY bidder, "dateTime", GAP INTERVAL '10' SECOND)
GROUP BY window_start, window_end, bidder;
