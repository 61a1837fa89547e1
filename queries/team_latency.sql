-- Team latency: the clickstream joined with a reference table of page owners (samples/pages.csv,
-- re-read every 10 minutes), then one-minute tumbling windows per team with the request count,
-- average latency and server errors. Pages the table does not list (the product pages) belong to
-- the catalog team (LEFT JOIN and COALESCE). On samples/clicks.jsonl the payments team's average
-- jumps from 00:08 to 00:11 UTC (the planted /checkout slowdown). Output: out/team_latency.csv.
-- run: sluice run queries/team_latency.sql --input clicks=samples/clicks.jsonl --until-end

CREATE STREAM clicks (
  user_id    VARCHAR,
  url        VARCHAR PATH '$.page.url',
  latency_ms DOUBLE,
  status     BIGINT,
  ts         TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (shards = 4, partition_key = 'user_id', format = 'json');

CREATE TABLE pages (url VARCHAR PRIMARY KEY, team VARCHAR, tier BIGINT)
  WITH (file = 'samples/pages.csv', format = 'csv', header = true, refresh = '10m');

CREATE SINK team_latency_out WITH (type = 'file', path = 'out/team_latency.csv', format = 'csv');

INSERT INTO team_latency_out
SELECT window_start, COALESCE(p.team, 'catalog') AS team, COUNT(*) AS requests,
       ROUND(AVG(c.latency_ms), 1) AS avg_ms, COUNT(CASE WHEN c.status >= 500 THEN 1 END) AS errors
FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE) c LEFT JOIN pages p ON c.url = p.url
GROUP BY window_start, window_end, COALESCE(p.team, 'catalog');
