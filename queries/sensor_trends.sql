-- Sensor trends: hopping one-minute windows every 15 seconds per site over the IoT telemetry
-- sample (CSV with a header), with the average, lowest and highest temperature and how many
-- sensors reported. plant-b's maximum jumps from about 25 to over 40 C from 00:05 to 00:07 UTC
-- (the planted overheating of sensor-07). Output: out/sensor_trends.csv.
-- run: sluice run queries/sensor_trends.sql --input readings=samples/sensors.csv --until-end

CREATE STREAM readings (
  sensor_id     VARCHAR,
  site          VARCHAR,
  temperature_c DOUBLE,
  humidity_pct  DOUBLE,
  battery_v     DOUBLE,
  ts            TIMESTAMP,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (shards = 2, partition_key = 'sensor_id', format = 'csv', header = true);

CREATE SINK trends_out WITH (type = 'file', path = 'out/sensor_trends.csv', format = 'csv');

INSERT INTO trends_out
SELECT window_end, site, ROUND(AVG(temperature_c), 2) AS avg_c, MIN(temperature_c) AS min_c,
       MAX(temperature_c) AS max_c, COUNT(DISTINCT sensor_id) AS sensors
FROM HOP(readings, ts, SIZE INTERVAL '1' MINUTE, ADVANCE INTERVAL '15' SECOND)
GROUP BY window_start, window_end, site;
