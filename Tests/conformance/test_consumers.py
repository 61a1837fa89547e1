"""Enhanced fan-out and stream modes: RegisterStreamConsumer and friends, SubscribeToShard as an
event stream over HTTP/1.1 (T36 of the Kinesis and Firehose reference notes (kinesis-and-firehose.md) section 6), and
UpdateStreamMode; against `sluice serve`, or moto_server with TARGET=moto."""
import re, threading, time, uuid

import pytest
from botocore.exceptions import ClientError

from conftest import TARGET, moto_deviates
from test_kinesis import error, make_client, new_stream


@pytest.fixture
def k(endpoint):
    return make_client(endpoint)


def arn_of(k, stream):
    return k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]


def active_consumer(k, stream_arn, name="c1"):
    c = k.register_stream_consumer(StreamARN=stream_arn, ConsumerName=name)["Consumer"]
    for _ in range(50):
        d = k.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]
        if d["ConsumerStatus"] == "ACTIVE":
            return c
        time.sleep(0.1)
    raise AssertionError("the consumer never became ACTIVE")


def test_register_describe_list_deregister(k):
    stream = new_stream(k)
    sarn = arn_of(k, stream)
    c = k.register_stream_consumer(StreamARN=sarn, ConsumerName="c1")["Consumer"]
    assert c["ConsumerARN"].startswith(sarn + "/consumer/c1")
    assert c["ConsumerName"] == "c1" and c["ConsumerStatus"] in ("CREATING", "ACTIVE")
    c2 = k.register_stream_consumer(StreamARN=sarn, ConsumerName="c2")["Consumer"]
    by_name = k.describe_stream_consumer(StreamARN=sarn, ConsumerName="c1")["ConsumerDescription"]
    by_arn = k.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]
    assert by_name["ConsumerARN"] == by_arn["ConsumerARN"] == c["ConsumerARN"] and by_arn["StreamARN"] == sarn
    assert sorted(x["ConsumerName"] for x in k.list_stream_consumers(StreamARN=sarn)["Consumers"]) == ["c1", "c2"]
    if TARGET != "moto":  # moto leaves ConsumerCount out
        assert k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["ConsumerCount"] == 2
    k.deregister_stream_consumer(ConsumerARN=c["ConsumerARN"])
    k.deregister_stream_consumer(ConsumerARN=c2["ConsumerARN"])
    for _ in range(50):  # AWS and moto may show DELETING for a while
        if not k.list_stream_consumers(StreamARN=sarn)["Consumers"]:
            break
        time.sleep(0.1)
    assert k.list_stream_consumers(StreamARN=sarn)["Consumers"] == []
    code, _, _ = error(k.describe_stream_consumer, StreamARN=sarn, ConsumerName="c1")
    assert code == "ResourceNotFoundException"


@moto_deviates("consumer ARNs lack the ':<creation time>' suffix")
def test_consumer_arn_carries_its_creation_time(k):
    sarn = arn_of(k, new_stream(k))
    c = k.register_stream_consumer(StreamARN=sarn, ConsumerName="c1")["Consumer"]
    assert re.match(re.escape(sarn) + r"/consumer/c1:\d+$", c["ConsumerARN"])


@moto_deviates("moto registers a consumer name twice, ignores deregistration by StreamARN and ConsumerName, and answers HTTP 500 for an unknown stream")
def test_consumer_paging_and_errors(k):
    stream = new_stream(k)
    sarn = arn_of(k, stream)
    for n in ("a", "b", "c"):
        k.register_stream_consumer(StreamARN=sarn, ConsumerName=n)
    code, _, _ = error(k.register_stream_consumer, StreamARN=sarn, ConsumerName="a")
    assert code == "ResourceInUseException"
    names, token = [], None
    while True:
        page = k.list_stream_consumers(StreamARN=sarn, MaxResults=1, **({"NextToken": token} if token else {}))
        names += [x["ConsumerName"] for x in page["Consumers"]]
        token = page.get("NextToken")
        if not token:
            break
    assert names == ["a", "b", "c"]
    code, _, _ = error(k.list_stream_consumers, StreamARN=sarn.replace(stream, "nope"))
    assert code == "ResourceNotFoundException"
    code, _, _ = error(k.register_stream_consumer, StreamARN=sarn, ConsumerName="bad name")
    assert code == "ValidationException"
    k.deregister_stream_consumer(StreamARN=sarn, ConsumerName="c")
    assert [x["ConsumerName"] for x in k.list_stream_consumers(StreamARN=sarn)["Consumers"]] == ["a", "b"]
    code, _, _ = error(k.describe_stream_consumer, ConsumerARN=sarn + "/consumer/a:1")  # another registration's ARN
    assert code == "ResourceNotFoundException"
    code, _, _ = error(k.delete_stream, StreamName=stream)
    assert code == "ResourceInUseException"
    k.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)
    code, _, _ = error(k.describe_stream_summary, StreamName=stream)
    assert code == "ResourceNotFoundException"


@moto_deviates("moto does not implement SubscribeToShard (HTTP 500)")
def test_T36_subscribe_to_shard(k, endpoint):
    stream = new_stream(k)
    sarn = arn_of(k, stream)
    c = active_consumer(k, sarn)
    put = [k.put_record(StreamName=stream, Data=d, PartitionKey="p")["SequenceNumber"] for d in (b"r0", b"r1")]
    r = k.subscribe_to_shard(ConsumerARN=c["ConsumerARN"], ShardId="shardId-000000000000", StartingPosition={"Type": "TRIM_HORIZON"})
    events = r["EventStream"]
    first = next(iter(events))["SubscribeToShardEvent"]
    assert [x["Data"] for x in first["Records"]] == [b"r0", b"r1"]
    assert [x["SequenceNumber"] for x in first["Records"]] == put
    cont = first["ContinuationSequenceNumber"]
    assert re.match(r"^\d{56}$", cont) and int(cont) >= int(put[-1])
    events.close()
    # The same consumer and shard again within 5 s: refused.
    code, _, _ = error(k.subscribe_to_shard, ConsumerARN=c["ConsumerARN"], ShardId="shardId-000000000000", StartingPosition={"Type": "LATEST"})
    assert code == "ResourceInUseException"
    # Resuming after the continuation on another consumer gives what came next, and no duplicates.
    c2 = active_consumer(k, sarn, "c2")
    k.put_record(StreamName=stream, Data=b"r2", PartitionKey="p")
    r = k.subscribe_to_shard(ConsumerARN=c2["ConsumerARN"], ShardId="shardId-000000000000",
                             StartingPosition={"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": cont})
    got = next(iter(r["EventStream"]))["SubscribeToShardEvent"]
    assert [x["Data"] for x in got["Records"]] == [b"r2"]
    r["EventStream"].close()
    code, _, _ = error(k.delete_stream, StreamName=stream)
    assert code == "ResourceInUseException"


@moto_deviates("moto does not implement SubscribeToShard (HTTP 500)")
def test_subscription_pushes_records_as_they_arrive(k):
    stream = new_stream(k)
    c = active_consumer(k, arn_of(k, stream))
    r = k.subscribe_to_shard(ConsumerARN=c["ConsumerARN"], ShardId="shardId-000000000000", StartingPosition={"Type": "LATEST"})

    def produce():
        time.sleep(0.3)
        for i in range(3):
            k.put_record(StreamName=stream, Data=f"live{i}".encode(), PartitionKey="p")

    t = threading.Thread(target=produce)
    t.start()
    seen = []
    deadline = time.time() + 10
    for event in r["EventStream"]:
        seen += [x["Data"] for x in event["SubscribeToShardEvent"]["Records"]]
        if len(seen) >= 3 or time.time() > deadline:
            break
    r["EventStream"].close()
    t.join()
    assert seen == [b"live0", b"live1", b"live2"]


@moto_deviates("moto does not implement SubscribeToShard (HTTP 500)")
def test_an_empty_shard_says_at_once_that_it_is_caught_up(k):
    # A reader needs to know where the shard stands without waiting for records: the first
    # event comes at once; before any record of the shard it has no continuation.
    stream = new_stream(k)
    c = active_consumer(k, arn_of(k, stream))
    started = time.time()
    r = k.subscribe_to_shard(ConsumerARN=c["ConsumerARN"], ShardId="shardId-000000000000", StartingPosition={"Type": "TRIM_HORIZON"})
    first = next(iter(r["EventStream"]))["SubscribeToShardEvent"]
    r["EventStream"].close()
    assert time.time() - started < 2
    assert first["Records"] == [] and first["MillisBehindLatest"] == 0
    assert "ContinuationSequenceNumber" not in first


@moto_deviates("moto does not implement SubscribeToShard (HTTP 500)")
def test_subscribe_errors(k):
    stream = new_stream(k)
    sarn = arn_of(k, stream)
    c = active_consumer(k, sarn)
    code, _, _ = error(k.subscribe_to_shard, ConsumerARN=sarn + "/consumer/nope:1", ShardId="shardId-000000000000", StartingPosition={"Type": "LATEST"})
    assert code == "ResourceNotFoundException"
    code, _, _ = error(k.subscribe_to_shard, ConsumerARN=c["ConsumerARN"], ShardId="shardId-000000000009", StartingPosition={"Type": "LATEST"})
    assert code == "ResourceNotFoundException"
    code, _, _ = error(k.subscribe_to_shard, ConsumerARN=c["ConsumerARN"], ShardId="shardId-000000000000", StartingPosition={"Type": "AT_SEQUENCE_NUMBER"})
    assert code == "InvalidArgumentException"


def test_update_stream_mode(k):
    stream = new_stream(k, shards=2)
    sarn = arn_of(k, stream)
    for mode in ("ON_DEMAND", "PROVISIONED"):
        k.update_stream_mode(StreamARN=sarn, StreamModeDetails={"StreamMode": mode})
        for _ in range(50):
            s = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
            if s["StreamStatus"] == "ACTIVE" and s["StreamModeDetails"]["StreamMode"] == mode:
                break
            time.sleep(0.1)
        assert s["StreamModeDetails"]["StreamMode"] == mode


def test_on_demand_refuses_resharding(k):
    stream = new_stream(k, shards=2)
    k.update_stream_mode(StreamARN=arn_of(k, stream), StreamModeDetails={"StreamMode": "ON_DEMAND"})
    code, _, _ = error(k.update_shard_count, StreamName=stream, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    assert code == "ValidationException"
