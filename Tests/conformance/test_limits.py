"""Strict throughput (`sluice serve --enforce-limits`): per-shard write and read limits of a
provisioned stream, T31 and T32 of the Kinesis and Firehose reference notes (kinesis-and-firehose.md) section 6
(sluice only: the emulators do not throttle)."""
import os, shutil, tempfile, time

import pytest

from conftest import SLUICE, TARGET, free_port, launch
from test_kinesis import error, make_client, new_stream

pytestmark = pytest.mark.skipif(TARGET == "moto", reason="moto does not throttle")


@pytest.fixture(scope="module")
def strict():
    data = tempfile.mkdtemp(prefix="sluice-strict-")
    port = free_port()
    proc = launch([SLUICE, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--enforce-limits"], port)
    yield make_client(f"http://127.0.0.1:{port}")
    proc.terminate()
    assert proc.wait(timeout=10) == 0
    shutil.rmtree(data, ignore_errors=True)


def test_T31_write_throttling(strict):
    k = strict
    stream = new_stream(k)
    # 500 records of 3 KB twice: 3 MB against the shard's 1 MiB/s.
    first = k.put_records(StreamName=stream, Records=[{"Data": b"x" * 3000, "PartitionKey": "p"}] * 500)
    second = k.put_records(StreamName=stream, Records=[{"Data": b"x" * 3000, "PartitionKey": "p"}] * 500)
    assert first["FailedRecordCount"] + second["FailedRecordCount"] > 0
    assert second["FailedRecordCount"] > 0
    failed = [r for r in second["Records"] if "ErrorCode" in r]
    ok = [r for r in second["Records"] if "ErrorCode" not in r]
    assert all(r["ErrorCode"] == "ProvisionedThroughputExceededException" for r in failed)
    assert all("shardId-000000000000" in r["ErrorMessage"] and stream in r["ErrorMessage"] and "000000000000" in r["ErrorMessage"] for r in failed)
    assert all("SequenceNumber" in r and "ShardId" in r for r in ok)
    # A single put over the limit is refused as a whole.
    code, _, status = error(k.put_record, StreamName=stream, Data=b"x" * 300_000, PartitionKey="p")
    assert (code, status) == ("ProvisionedThroughputExceededException", 400)
    # The budget refills: a second later a put goes through.
    time.sleep(1.1)
    assert k.put_record(StreamName=stream, Data=b"y", PartitionKey="p")["SequenceNumber"]


def test_T32_read_throttling(strict):
    k = strict
    stream = new_stream(k)
    it = k.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    start = time.time()
    for _ in range(5):
        it = k.get_records(ShardIterator=it)["NextShardIterator"]
    code, _, _ = error(k.get_records, ShardIterator=it)
    assert time.time() - start < 1.0, "the six calls must fall within one second for the check to mean anything"
    assert code == "ProvisionedThroughputExceededException"
