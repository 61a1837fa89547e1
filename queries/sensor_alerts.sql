-- Sensor alerts: two anomaly-alert jobs over the IoT telemetry sample. overheating FIRES when a
-- sensor's hottest reading in 30 seconds passes 35 C and RESOLVES under 30 C; stuck_sensor FIRES
-- when a sensor sends the very same temperature and humidity for a whole minute (no variation
-- over at least 10 readings) and RESOLVES when they move again. On samples/sensors.csv
-- overheating fires for sensor-07 at 00:05:30 and resolves at 00:07:30, and stuck_sensor fires
-- for sensor-15 at 00:11 and resolves at 00:15 (the planted anomalies); nothing else fires.
-- Notifications: out/sensor_alerts.jsonl.
-- run: sluice run queries/sensor_alerts.sql --input readings=samples/sensors.csv --until-end

CREATE STREAM readings (
  sensor_id     VARCHAR,
  site          VARCHAR,
  temperature_c DOUBLE,
  humidity_pct  DOUBLE,
  ts            TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 2, partition_key = 'sensor_id', format = 'csv', header = true);

CREATE ALERT overheating SEVERITY 'critical' AS
  SELECT window_end, sensor_id, site, MAX(temperature_c) AS max_c
  FROM TUMBLE(readings, ts, INTERVAL '30' SECOND)
  GROUP BY window_start, window_end, sensor_id, site
FIRE WHEN max_c > 35
RESOLVE WHEN max_c < 30
PER sensor_id
MESSAGE '{sensor_id} at {site} reached {max_c} C'
NOTIFY 'file:out/overheating.jsonl';

CREATE ALERT stuck_sensor SEVERITY 'warning' AS
  SELECT window_end, sensor_id, COUNT(*) AS readings,
         STDDEV_POP(temperature_c) AS temp_sd, STDDEV_POP(humidity_pct) AS humidity_sd
  FROM TUMBLE(readings, ts, INTERVAL '1' MINUTE)
  GROUP BY window_start, window_end, sensor_id
FIRE WHEN readings >= 10 AND temp_sd = 0 AND humidity_sd = 0
RESOLVE WHEN temp_sd > 0
PER sensor_id
MESSAGE '{sensor_id} repeated the same reading {readings} times in a minute'
NOTIFY 'file:out/stuck_sensor.jsonl';
