-- Nexmark q14: calculation: expensive bids in euros, by time of day, with the c's of extra counted.
-- The benchmark counts the c's with a UDF (count_char); Sluice with LENGTH and REPLACE. Prices as in q1.
-- run: sluice run queries/nexmark/q14.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE SINK q14_out WITH (type = 'file', path = 'out/nexmark/q14.jsonl', format = 'json');

INSERT INTO q14_out
SELECT auction, bidder, 0.908 * price AS price,
  CASE WHEN HOUR("dateTime") >= 8 AND HOUR("dateTime") <= 18 THEN 'dayTime'
       WHEN HOUR("dateTime") <= 6 OR HOUR("dateTime") >= 20 THEN 'nightTime'
       ELSE 'otherTime' END AS "bidTimeType",
  "dateTime", extra, LENGTH(extra) - LENGTH(REPLACE(extra, 'c', '')) AS c_counts
FROM bid
WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000;
