-- The SQL examples of the design's dialect sketch (DIALECT.md of the design notes), kept here so that
-- the parser test needs nothing beside the repository. grammar/ is the dialect's definition and
-- wins where the two differ; these must keep parsing. `SELECT ...` stands for any query.

-- example
CREATE STREAM clicks (
  user_id    VARCHAR,
  url        VARCHAR PATH '$.page.url',          -- nested JSON field (KDA JSONPath mapping)
  latency_ms DOUBLE,
  ts         TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND    -- event time (Flink / RisingWave)
) WITH (shards = 4, partition_key = 'user_id', format = 'json', retention = '24h',
        bad_records = 'error_stream', late_records = 'drop', idle_timeout = '30s');

-- example
CREATE SINK slow_pages_out WITH (type = 'file', path = 'out/slow_pages.jsonl', format = 'json');
INSERT INTO slow_pages_out                         -- KDA pump; any stream, firehose or sink is a target
SELECT window_start, window_end, url, COUNT(*) AS hits, AVG(latency_ms) AS avg_ms
FROM TUMBLE(clicks, ts, INTERVAL '1' MINUTE)
WHERE latency_ms >= 0
GROUP BY window_start, window_end, url
HAVING AVG(latency_ms) > 500;

CREATE STREAM page_minutes AS SELECT * FROM clicks;           -- derived built-in stream (ksqlDB CSAS)

-- example
CREATE ALERT slow_page
SEVERITY 'critical'
AS SELECT window_end, url, AVG(latency_ms) AS avg_ms
   FROM HOP(clicks, ts, SIZE INTERVAL '5' MINUTE, ADVANCE INTERVAL '1' MINUTE)
   GROUP BY window_start, window_end, url
FIRE WHEN avg_ms > 1000
RESOLVE WHEN avg_ms < 800            -- optional; default: NOT (fire condition)
PER url                              -- alert identity; default: the non-window GROUP BY columns
COOLDOWN INTERVAL '10' MINUTE        -- at most one FIRING per key per cooldown
MESSAGE 'Average latency on {url} is {avg_ms} ms'
NOTIFY 'file:out/alerts.jsonl';       -- also 'stream:NAME', 'stderr', 'webhook:http://...'

-- example
SELECT * FROM RANDOM_CUT_FOREST(page_minutes, COLUMNS (hits, avg_ms),
                                PARTITION BY url, trees => 100, sample_size => 256,
                                shingle => 4, time_decay => 0.001);
