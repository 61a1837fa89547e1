-- Latency spikes: each request compared with the average of the 20 requests to the same page
-- before it (an OVER window, ROWS 20 PRECEDING, in event-time order), keeping the requests more
-- than 5 times slower than that. On samples/clicks.jsonl the spikes are the first requests of the
-- planted /checkout slowdown at 00:08 UTC; once the slow requests fill the window, later ones no
-- longer stand out. Output: out/latency_spikes.jsonl.
-- run: sluice run queries/latency_spikes.sql --input clicks=samples/clicks.jsonl --until-end

CREATE STREAM clicks (
  user_id    VARCHAR,
  url        VARCHAR PATH '$.page.url',
  latency_ms DOUBLE,
  status     BIGINT,
  ts         TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (shards = 4, partition_key = 'user_id', format = 'json');

CREATE STREAM scored AS
SELECT ts, url, user_id, latency_ms,
       AVG(latency_ms) OVER (PARTITION BY url ORDER BY ts ROWS 20 PRECEDING) AS avg_21,
       COUNT(*) OVER (PARTITION BY url ORDER BY ts ROWS 20 PRECEDING) AS n
FROM clicks;

CREATE SINK spikes_out WITH (type = 'file', path = 'out/latency_spikes.jsonl', format = 'json');

INSERT INTO spikes_out
SELECT ts, url, user_id, latency_ms, ROUND(avg_21, 1) AS avg_21
FROM scored
WHERE n = 21 AND latency_ms > 5 * (avg_21 * 21 - latency_ms) / 20;
