-- Sensor health: the two failures a threshold or a forest cannot see. FLAT_LINE counts, per sensor,
-- the readings in a row whose temperature and humidity have not changed at all; the first alert
-- FIRES when a sensor has sent the same pair 12 times running (a minute of readings every 5 s) and
-- RESOLVES when a value moves. The second fires for a sensor that sends nothing for 30 s of event
-- time. On samples/sensors.csv the first fires for sensor-15 at 00:10:55 (the planted stuck sensor,
-- 00:10-00:14) and resolves at 00:14:00; the second fires nowhere: every sensor reports until the
-- end, and the end of the file is not silence.
-- Notifications: out/sensor_stuck.jsonl, out/sensor_silent.jsonl.
-- run: sluice run queries/sensor_health.sql --input readings=samples/sensors.csv --until-end

CREATE STREAM readings (
  sensor_id     VARCHAR,
  site          VARCHAR,
  temperature_c DOUBLE,
  humidity_pct  DOUBLE,
  ts            TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 2, partition_key = 'sensor_id', format = 'csv', header = true);

CREATE ALERT sensor_stuck SEVERITY 'critical' AS
  SELECT sensor_id, ts, temperature_c, humidity_pct, flat_rows
  FROM FLAT_LINE(readings, COLUMNS (temperature_c, humidity_pct), PARTITION BY sensor_id)
FIRE WHEN flat_rows >= 12
RESOLVE WHEN flat_rows = 1
PER sensor_id
NOTIFY 'file:out/sensor_stuck.jsonl';

CREATE ALERT sensor_silent SEVERITY 'critical' AS
  SELECT sensor_id, ts FROM readings
FIRE WHEN SILENT FOR INTERVAL '30' SECOND
PER sensor_id
NOTIFY 'file:out/sensor_silent.jsonl';
