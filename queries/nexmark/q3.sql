-- Nexmark q3: local item suggestion: sellers in Oregon, Idaho or California of category-10 auctions.
-- The benchmark's regular join keeps both sides forever; Sluice keeps each stream's rows for its
-- state_ttl of event time (10 min for persons and auctions: a seller is one of the last 1,000
-- people or up to 10 ahead, 5 s of events at the default rate), and the join meets rows within it.
-- run: sluice run queries/nexmark/q3.sql --input auction=nexmark/auction.jsonl --input person=nexmark/person.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM person (id BIGINT, name VARCHAR, "emailAddress" VARCHAR, "creditCard" VARCHAR, city VARCHAR, state VARCHAR,
  "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10m');
CREATE STREAM auction (id BIGINT, "itemName" VARCHAR, description VARCHAR, "initialBid" BIGINT, reserve BIGINT,
  "dateTime" TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10m');

CREATE SINK q3_out WITH (type = 'file', path = 'out/nexmark/q3.jsonl', format = 'json');

INSERT INTO q3_out
SELECT p.name, p.city, p.state, a.id
FROM auction AS a
JOIN person AS p ON a.seller = p.id
WHERE a.category = 10 AND (p.state = 'OR' OR p.state = 'ID' OR p.state = 'CA');
