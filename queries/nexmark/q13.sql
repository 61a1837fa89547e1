-- Nexmark q13: bounded side input join: each bid with the side input's value for its auction mod 10,000.
-- The benchmark joins a file table FOR SYSTEM_TIME AS OF the bid's processing time; Sluice joins
-- a reference table read from a file (its current version, as of each bid).
-- run: sluice run queries/nexmark/q13.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark; it writes nexmark/side_input.csv)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE TABLE side_input (key BIGINT PRIMARY KEY, value VARCHAR)
  WITH (file = 'nexmark/side_input.csv', format = 'csv', header = true);

CREATE SINK q13_out WITH (type = 'file', path = 'out/nexmark/q13.jsonl', format = 'json');

INSERT INTO q13_out
SELECT b.auction, b.bidder, b.price, b."dateTime", s.value
FROM bid AS b
JOIN side_input AS s ON MOD(b.auction, 10000) = s.key;
