-- Nexmark q10: log to the file system: every bid with its day and minute.
-- The benchmark writes to files partitioned by day and hour-minute; Sluice writes one JSON-lines
-- file (a file sink does not partition), the partition values as columns.
-- run: sluice run queries/nexmark/q10.sql --input bid=nexmark/bid.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10s');

CREATE SINK q10_out WITH (type = 'file', path = 'out/nexmark/q10.jsonl', format = 'json');

INSERT INTO q10_out
SELECT auction, bidder, price, "dateTime", extra, DATE_FORMAT("dateTime", 'yyyy-MM-dd') AS dt, DATE_FORMAT("dateTime", 'HH:mm') AS hm
FROM bid;
