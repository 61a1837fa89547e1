-- Log levels: a running count of log lines per service and level, without a window, emitted at
-- most once per minute of processing time per group (EMIT CHANGES EVERY), as a status board
-- refreshes. Each row is a change (the op column): +I a group's first count, -U the count it
-- replaces and +U the count now; the last +U of each group, written when the input ends, holds
-- its totals. On
-- samples/logs.jsonl the auth service's ERROR count stands out (the planted outage at 00:09:30).
-- Output: out/log_levels.csv.
-- run: sluice run queries/log_levels.sql --input logs=samples/logs.jsonl --until-end

CREATE STREAM logs (
  service VARCHAR,
  level   VARCHAR,
  ts      TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 2, partition_key = 'service', format = 'json');

CREATE SINK levels_out WITH (type = 'file', path = 'out/log_levels.csv', format = 'csv');

INSERT INTO levels_out
SELECT service, level, COUNT(*) AS lines
FROM logs
GROUP BY service, level
EMIT CHANGES EVERY INTERVAL '1' MINUTE;
