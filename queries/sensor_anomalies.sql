-- Sensor anomalies: an anomaly-alert job with no thresholds on the readings themselves. Each
-- sensor's readings are summarised per minute (how much temperature and humidity moved), a random
-- cut forest over all sensors scores each summary with an explanation, and the alert FIRES on a
-- score above 64 (a quarter of the sample size) for that sensor. On samples/sensors.csv it fires
-- for sensor-07 at 00:06 (temperature spread HIGH: the planted overheating, 00:05-00:07) and for
-- sensor-15 at 00:11 (spreads LOW, zero: the planted stuck sensor, 00:10-00:14), and nowhere else.
-- Notifications: out/sensor_anomalies.jsonl.
-- run: sluice run queries/sensor_anomalies.sql --input readings=samples/sensors.csv --until-end

CREATE STREAM readings (
  sensor_id     VARCHAR,
  site          VARCHAR,
  temperature_c DOUBLE,
  humidity_pct  DOUBLE,
  ts            TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 2, partition_key = 'sensor_id', format = 'csv', header = true);

CREATE ALERT sensor_anomaly SEVERITY 'warning' AS
  SELECT window_end, sensor_id, ROUND(anomaly_score, 2) AS score,
         ROUND(temp_sd, 2) AS temp_sd, temp_sd_direction, ROUND(humidity_sd, 2) AS humidity_sd, humidity_sd_direction
  FROM RANDOM_CUT_FOREST_WITH_EXPLANATION(
         (SELECT window_end, sensor_id,
                 STDDEV_POP(temperature_c) AS temp_sd, STDDEV_POP(humidity_pct) AS humidity_sd
          FROM TUMBLE(readings, ts, INTERVAL '1' MINUTE)
          GROUP BY window_start, window_end, sensor_id),
         COLUMNS (temp_sd, humidity_sd), trees => 100, sample_size => 256)
FIRE WHEN score > 64
RESOLVE WHEN score < 16
PER sensor_id
MESSAGE '{sensor_id}: unusual minute (score {score}; temperature spread {temp_sd} {temp_sd_direction}, humidity spread {humidity_sd} {humidity_sd_direction})'
NOTIFY 'file:out/sensor_anomalies.jsonl';
