"""End to end: a boto3 producer sends JSON events to a running `sluice serve` that runs an alert
query file, and the alerts appear in the alarm file (sluice only)."""
import json, os, tempfile, time, shutil

import boto3
import pytest
from botocore.config import Config

from test_kinesis import SLUICE, TARGET, free_port, launch

QUERY = """
CREATE STREAM readings (sensor VARCHAR, temp DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH (shards = 2, partition_key = 'sensor', format = 'json', idle_timeout = '1s');
CREATE ALERT hot SEVERITY 'critical'
AS SELECT window_end, sensor, AVG(temp) AS avg_temp FROM TUMBLE(readings, ts, INTERVAL '10' SECOND)
   GROUP BY window_start, window_end, sensor
FIRE WHEN avg_temp > 80 RESOLVE WHEN avg_temp < 60
MESSAGE 'sensor {sensor} averages {avg_temp}'
NOTIFY 'file:alarms.jsonl';
"""


@pytest.mark.skipif(TARGET == "moto", reason="runs sluice's own query engine")
def test_producer_to_alarm_file():
    work = tempfile.mkdtemp(prefix="sluice-e2e-")
    with open(os.path.join(work, "hot.sql"), "w") as f:
        f.write(QUERY)
    port = free_port()
    proc = launch([os.path.abspath(SLUICE), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", "data", "hot.sql"], port, cwd=work)
    try:
        k = boto3.client("kinesis", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", aws_access_key_id="a",
                         aws_secret_access_key="b", config=Config(retries={"total_max_attempts": 1}))
        base = 1704067200
        # s1 runs hot in the window [00:00, 00:10), cools in [00:20, 00:30); s2 stays cool.
        events = [("s1", 90.0, 1), ("s1", 85.0, 5), ("s2", 20.0, 3), ("s1", 50.0, 21), ("s2", 21.0, 22), ("s1", 40.0, 45), ("s2", 20.0, 45)]
        records = [{"Data": json.dumps({"sensor": s, "temp": t, "ts": (base + sec) * 1000}).encode(), "PartitionKey": s} for s, t, sec in events]
        assert k.put_records(StreamName="readings", Records=records)["FailedRecordCount"] == 0
        path = os.path.join(work, "alarms.jsonl")
        lines = []
        for _ in range(100):
            if os.path.exists(path):
                lines = [json.loads(l) for l in open(path) if l.strip()]
                if len(lines) >= 2:
                    break
            time.sleep(0.1)
        assert [(a["state"], a["sensor"]) for a in lines] == [("FIRING", "s1"), ("RESOLVED", "s1")], lines
        assert lines[0]["alert"] == "hot" and lines[0]["severity"] == "critical" and lines[0]["message"] == "sensor s1 averages 87.5"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        shutil.rmtree(work, ignore_errors=True)
