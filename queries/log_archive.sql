-- Log archive: the warnings and errors of the application logs sample, trimmed to a few fields,
-- delivered through a firehose as JSON-lines objects laid out as S3 keys under
-- out/log_archive/YYYY/MM/dd/HH/ (one object here: the buffers flush when the input ends).
-- A firehose is a sink like any other: INSERT INTO it.
-- run: sluice run queries/log_archive.sql --input logs=samples/logs.jsonl --until-end

CREATE STREAM logs (
  service VARCHAR,
  level   VARCHAR,
  message VARCHAR,
  path    VARCHAR PATH '$.http.path',
  ts      TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 2, partition_key = 'service', format = 'json');

CREATE FIREHOSE log_archive (ts TIMESTAMP, service VARCHAR, level VARCHAR, path VARCHAR, message VARCHAR)
  WITH (destination = 'file:out/log_archive', buffer_size = '64MB', buffer_interval = '900s',
        newline_delimiter = true, format = 'json');

INSERT INTO log_archive
SELECT ts, service, level, path, message FROM logs WHERE level IN ('WARN', 'ERROR');
