-- Nexmark q8: monitor new users: the people who created an auction in the 10 s window they joined in.
-- The benchmark joins the two windows' rows on id = seller and equal window bounds; Sluice joins
-- them on equal window_time (a window join), with GROUP BY in place of the benchmark's.
-- run: sluice run queries/nexmark/q8.sql --input person=nexmark/person.jsonl --input auction=nexmark/auction.jsonl --until-end
-- (make the events first: sluice gen nexmark --dir nexmark)

CREATE STREAM person (id BIGINT, name VARCHAR, "emailAddress" VARCHAR, "creditCard" VARCHAR, city VARCHAR, state VARCHAR,
  "dateTime" TIMESTAMP, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10m');
CREATE STREAM auction (id BIGINT, "itemName" VARCHAR, description VARCHAR, "initialBid" BIGINT, reserve BIGINT,
  "dateTime" TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR,
  WATERMARK FOR "dateTime" AS "dateTime" - INTERVAL '4' SECOND) WITH (format = 'json', state_ttl = '10m');

CREATE SINK q8_out WITH (type = 'file', path = 'out/nexmark/q8.jsonl', format = 'json');

INSERT INTO q8_out
SELECT p.id, p.name, p.starttime
FROM (SELECT id, name, window_start AS starttime, window_time
      FROM TUMBLE(person, "dateTime", INTERVAL '10' SECOND)
      GROUP BY window_start, window_end, window_time, id, name) AS p
JOIN (SELECT seller, window_time
      FROM TUMBLE(auction, "dateTime", INTERVAL '10' SECOND)
      GROUP BY window_start, window_end, window_time, seller) AS a
ON p.id = a.seller AND p.window_time = a.window_time;
