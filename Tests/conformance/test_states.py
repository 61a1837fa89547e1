"""Stream and consumer states over time (`sluice serve --create-delay 1 --update-delay 1
--consumer-delay 1`): T4 and the UPDATING case of T28 of the Kinesis and Firehose reference notes (kinesis-and-firehose.md)
section 6 (sluice only: moto makes every change at once)."""
import shutil, tempfile, time, uuid

import pytest

from conftest import SLUICE, TARGET, free_port, launch
from test_kinesis import error, make_client

pytestmark = pytest.mark.skipif(TARGET == "moto", reason="moto has no CREATING or UPDATING period")


@pytest.fixture(scope="module")
def slow():
    data = tempfile.mkdtemp(prefix="sluice-states-")
    port = free_port()
    proc = launch([SLUICE, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--create-delay", "1", "--update-delay", "1",
                   "--consumer-delay", "1"], port)
    yield make_client(f"http://127.0.0.1:{port}")
    proc.terminate()
    assert proc.wait(timeout=10) == 0
    shutil.rmtree(data, ignore_errors=True)


def wait_active(k, name):
    k.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})


def test_T4_creating(slow):
    k = slow
    name = f"t-{uuid.uuid4().hex[:8]}"
    k.create_stream(StreamName=name, ShardCount=2)
    d = k.describe_stream(StreamName=name)["StreamDescription"]
    assert d["StreamStatus"] == "CREATING" and d["Shards"] == []
    code, _, _ = error(k.put_record, StreamName=name, Data=b"x", PartitionKey="p")
    assert code == "ResourceNotFoundException"
    code, msg, _ = error(k.split_shard, StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**126))
    assert code == "ResourceInUseException" and "not ACTIVE" in msg
    code, _, _ = error(k.get_shard_iterator, StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")
    assert code == "ResourceNotFoundException"
    wait_active(k, name)
    d = k.describe_stream(StreamName=name)["StreamDescription"]
    assert d["StreamStatus"] == "ACTIVE" and len(d["Shards"]) == 2
    assert k.put_record(StreamName=name, Data=b"x", PartitionKey="p")["SequenceNumber"]


def test_T28_updating(slow):
    k = slow
    name = f"t-{uuid.uuid4().hex[:8]}"
    k.create_stream(StreamName=name, ShardCount=2)
    wait_active(k, name)
    k.split_shard(StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**126))
    assert k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] == "UPDATING"
    code, _, _ = error(k.split_shard, StreamName=name, ShardToSplit="shardId-000000000001", NewStartingHashKey=str(3 * 2**126))
    assert code == "ResourceInUseException"
    code, _, _ = error(k.update_shard_count, StreamName=name, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    assert code == "ResourceInUseException"
    # Records still flow while the stream is UPDATING.
    assert k.put_record(StreamName=name, Data=b"x", PartitionKey="p")["SequenceNumber"]
    wait_active(k, name)
    k.split_shard(StreamName=name, ShardToSplit="shardId-000000000001", NewStartingHashKey=str(3 * 2**126))


def test_consumer_creating(slow):
    k = slow
    name = f"t-{uuid.uuid4().hex[:8]}"
    k.create_stream(StreamName=name, ShardCount=1)
    wait_active(k, name)
    arn = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    c = k.register_stream_consumer(StreamARN=arn, ConsumerName="c")["Consumer"]
    assert c["ConsumerStatus"] == "CREATING"
    code, _, _ = error(k.subscribe_to_shard, ConsumerARN=c["ConsumerARN"], ShardId="shardId-000000000000", StartingPosition={"Type": "LATEST"})
    assert code == "ResourceInUseException"
    time.sleep(1.1)
    assert k.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE"
