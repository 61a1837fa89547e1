"""Kinesis Data Streams conformance: boto3 (retries off) against a real `sluice serve`, or against
moto_server with TARGET=moto (which shows that the tests assert Kinesis behaviour, not ours).
Cases follow the Kinesis and Firehose reference notes (kinesis-and-firehose.md) section 6 (T-numbers in the names).

    SLUICE=.build/debug/sluice python3 -m pytest -q Tests/conformance
    TARGET=moto python3 -m pytest -q Tests/conformance
"""
import base64, datetime, os, re, shutil, socket, subprocess, tempfile, time, uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import SLUICE, TARGET, TOP, free_port, launch, moto_deviates


def make_client(endpoint, validate=True):
    return boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                        aws_secret_access_key="secret", config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate))


@pytest.fixture
def k(endpoint):
    return make_client(endpoint)


@pytest.fixture
def raw(endpoint):
    """A client that does not check `min` constraints, so the server's checks are under test."""
    return make_client(endpoint, validate=False)


def new_stream(k, shards=1):
    name = f"t-{uuid.uuid4().hex[:8]}"
    k.create_stream(StreamName=name, ShardCount=shards)
    k.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    return name


def error(fn, **kw):
    with pytest.raises(ClientError) as e:
        fn(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", ""), e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def even_ranges(n):
    step = 2**128 // n
    return [(i * step, TOP if i == n - 1 else (i + 1) * step - 1) for i in range(n)]


def test_t1_unknown_stream(k):
    with pytest.raises(k.exceptions.ResourceNotFoundException) as e:
        k.describe_stream(StreamName="nope")
    r = e.value.response
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "nope" in r["Error"]["Message"] and "not found" in r["Error"]["Message"]
    assert r["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")


@moto_deviates('StartingSequenceNumber is "0", not a 56-digit number')
def test_t2_create_and_describe(k):
    s = new_stream(k, 3)
    d = k.describe_stream(StreamName=s)["StreamDescription"]
    assert d["StreamStatus"] == "ACTIVE" and d["HasMoreShards"] is False and d["RetentionPeriodHours"] == 24
    assert d["EncryptionType"] == "NONE" and d["StreamARN"].endswith(f":stream/{s}")
    assert [x["ShardId"] for x in d["Shards"]] == [f"shardId-00000000000{i}" for i in range(3)]
    assert [(int(x["HashKeyRange"]["StartingHashKey"]), int(x["HashKeyRange"]["EndingHashKey"])) for x in d["Shards"]] == even_ranges(3)
    for x in d["Shards"]:
        assert re.fullmatch(r"\d{56}", x["SequenceNumberRange"]["StartingSequenceNumber"])
        assert "EndingSequenceNumber" not in x["SequenceNumberRange"]


@moto_deviates("moto splits 2^128-1 for some counts")
@pytest.mark.parametrize("n", [2, 4])
def test_t3_even_split(k, n):
    s = new_stream(k, n)
    shards = k.list_shards(StreamName=s)["Shards"]
    assert [(int(x["HashKeyRange"]["StartingHashKey"]), int(x["HashKeyRange"]["EndingHashKey"])) for x in shards] == even_ranges(n)


def test_t5_duplicate_and_bad_create(k, raw):
    s = new_stream(k)
    code, msg, _ = error(k.create_stream, StreamName=s, ShardCount=1)
    assert code == "ResourceInUseException" and (s in msg or "already exists" in msg)
    if TARGET == "moto":
        return  # moto accepts a name with spaces and zero shards
    assert error(k.create_stream, StreamName="bad name", ShardCount=1)[0] == "ValidationException"
    code, msg, _ = error(raw.create_stream, StreamName=f"z-{uuid.uuid4().hex[:6]}", ShardCount=0)
    assert code in ("ValidationException", "InvalidArgumentException")


def test_t6_summary_and_paging(k):
    names = [new_stream(k, 3 if i == 0 else 1) for i in range(3)]
    summ = k.describe_stream_summary(StreamName=names[0])["StreamDescriptionSummary"]
    assert summ["OpenShardCount"] == 3 and summ.get("ConsumerCount", 0) == 0 and summ["StreamModeDetails"]["StreamMode"] == "PROVISIONED"
    seen, kw = [], {"Limit": 1}
    while True:
        page = k.list_streams(**kw)
        seen += page["StreamNames"]
        if not page["HasMoreStreams"]:
            break
        assert "StreamSummaries" in page
        kw = {"Limit": 1, "NextToken": page["NextToken"]} if "NextToken" in page else {"Limit": 1, "ExclusiveStartStreamName": seen[-1]}
    assert len(seen) == len(set(seen)) and set(names) <= set(seen)


def test_t7_delete(k):
    s = new_stream(k)
    k.delete_stream(StreamName=s)
    k.get_waiter("stream_not_exists").wait(StreamName=s, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    assert error(k.delete_stream, StreamName=s)[0] == "ResourceNotFoundException"


@moto_deviates("an ExplicitHashKey equal to a shard's EndingHashKey gives HTTP 500 (section 5.3)")
def test_t8_routing(k):
    s = new_stream(k, 3)
    shard = lambda **kw: k.put_record(StreamName=s, Data=b"x", **kw)["ShardId"][-1]
    got = [shard(PartitionKey="a"), shard(PartitionKey="b"),
           shard(PartitionKey="p", ExplicitHashKey=str(TOP)),
           shard(PartitionKey="p", ExplicitHashKey="226854911280625642308916404954512140969"),
           shard(PartitionKey="p", ExplicitHashKey="226854911280625642308916404954512140970")]
    assert got == ["0", "1", "2", "1", "2"]


@moto_deviates('sequence numbers are not 56-digit decimals')
def test_t9_sequence_numbers_increase(k):
    s = new_stream(k, 2)
    seqs, prev = [], None
    for i in range(50):
        kw = {"SequenceNumberForOrdering": prev} if prev else {}
        prev = k.put_record(StreamName=s, Data=b"%d" % i, PartitionKey="one", **kw)["SequenceNumber"]
        seqs.append(prev)
    assert all(re.fullmatch(r"\d{56}", x) for x in seqs)
    assert [int(x) for x in seqs] == sorted(int(x) for x in seqs) and len(set(seqs)) == 50
    other = [k.put_record(StreamName=s, Data=b"x", PartitionKey=f"k{i}")["SequenceNumber"] for i in range(20)]
    assert len(set(seqs + other)) == 70


@moto_deviates('a 257-character key gives InvalidArgumentException, an empty one is accepted (section 5.3)')
def test_t10_bad_partition_key(k, raw):
    s = new_stream(k)
    code, msg, _ = error(k.put_record, StreamName=s, Data=b"x", PartitionKey="p" * 257)
    assert code == "ValidationException" and "256" in msg
    assert error(raw.put_record, StreamName=s, Data=b"x", PartitionKey="")[0] == "ValidationException"


@moto_deviates('1 MiB + 1 byte is accepted (section 5.3)')
def test_t11_oversize_record(k):
    s = new_stream(k)
    code, msg, _ = error(k.put_record, StreamName=s, Data=b"x" * 1_048_577, PartitionKey="p")
    assert code == "ValidationException" and "1048576" in msg
    assert k.put_record(StreamName=s, Data=b"x" * 1_000_000, PartitionKey="p")["SequenceNumber"]


@moto_deviates('a non-numeric ExplicitHashKey gives HTTP 500')
def test_t12_bad_explicit_hash_key(k):
    s = new_stream(k)
    code, msg, _ = error(k.put_record, StreamName=s, Data=b"x", PartitionKey="p", ExplicitHashKey=str(2**128))
    assert code == "InvalidArgumentException"
    assert error(k.put_record, StreamName=s, Data=b"x", PartitionKey="p", ExplicitHashKey="abc")[0] in ("ValidationException", "InvalidArgumentException")


def test_t13_unknown_stream_put(k):
    assert error(k.put_record, StreamName="nope", Data=b"x", PartitionKey="p")[0] == "ResourceNotFoundException"
    assert error(k.put_records, StreamName="nope", Records=[{"Data": b"x", "PartitionKey": "p"}])[0] == "ResourceNotFoundException"


def test_t14_put_records(k):
    s = new_stream(k, 3)
    recs = [{"Data": b"r%d" % i, "PartitionKey": f"k{i}"} for i in range(4)] + [{"Data": b"e", "PartitionKey": "z", "ExplicitHashKey": "0"}]
    r = k.put_records(StreamName=s, Records=recs)
    assert r["FailedRecordCount"] == 0 and len(r["Records"]) == 5
    assert all("ShardId" in x and "SequenceNumber" in x and "ErrorCode" not in x for x in r["Records"])
    assert r["Records"][4]["ShardId"] == "shardId-000000000000"


@moto_deviates("moto does not check the PutRecords limits")
def test_t15_put_records_limits(k):
    s = new_stream(k)
    code, msg, _ = error(k.put_records, StreamName=s, Records=[{"Data": b"x", "PartitionKey": "p"}] * 501)
    assert code == "ValidationException" and "500" in msg
    assert error(k.put_records, StreamName=s, Records=[{"Data": b"x" * 1_000_000, "PartitionKey": "p"}] * 6)[0] == "InvalidArgumentException"


def read_all(k, s, shard="shardId-000000000000", **kw):
    it = k.get_shard_iterator(StreamName=s, ShardId=shard, **kw)["ShardIterator"]
    return k.get_records(ShardIterator=it)


def test_t16_trim_horizon(k):
    s = new_stream(k)
    seqs = [k.put_record(StreamName=s, Data=b"r%d" % i, PartitionKey="a")["SequenceNumber"] for i in range(5)]
    r = read_all(k, s, ShardIteratorType="TRIM_HORIZON")
    assert [x["Data"] for x in r["Records"]] == [b"r%d" % i for i in range(5)]
    assert [x["SequenceNumber"] for x in r["Records"]] == seqs and all(x["PartitionKey"] == "a" for x in r["Records"])
    now = datetime.datetime.now(datetime.timezone.utc)
    assert all(abs((x["ApproximateArrivalTimestamp"] - now).total_seconds()) < 5 for x in r["Records"])
    assert r["NextShardIterator"] and r["MillisBehindLatest"] == 0


def test_t17_at_and_after_sequence_number(k):
    s = new_stream(k)
    seqs = [k.put_record(StreamName=s, Data=b"r%d" % i, PartitionKey="a")["SequenceNumber"] for i in range(5)]
    assert read_all(k, s, ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2])["Records"][0]["Data"] == b"r2"
    assert read_all(k, s, ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2])["Records"][0]["Data"] == b"r3"


def test_t18_latest(k):
    s = new_stream(k)
    k.put_record(StreamName=s, Data=b"old", PartitionKey="a")
    it = k.get_shard_iterator(StreamName=s, ShardId="shardId-000000000000", ShardIteratorType="LATEST")["ShardIterator"]
    k.put_record(StreamName=s, Data=b"r5", PartitionKey="a")
    assert [x["Data"] for x in k.get_records(ShardIterator=it)["Records"]] == [b"r5"]


@moto_deviates('a future AT_TIMESTAMP is accepted')
def test_t19_at_timestamp(k):
    s = new_stream(k)
    k.put_record(StreamName=s, Data=b"r0", PartitionKey="a")
    time.sleep(1.1)
    t = datetime.datetime.now(datetime.timezone.utc)
    k.put_record(StreamName=s, Data=b"r1", PartitionKey="a")
    assert [x["Data"] for x in read_all(k, s, ShardIteratorType="AT_TIMESTAMP", Timestamp=t)["Records"]] == [b"r1"]
    assert len(read_all(k, s, ShardIteratorType="AT_TIMESTAMP", Timestamp=datetime.datetime.fromtimestamp(1, datetime.timezone.utc))["Records"]) == 2
    future = t + datetime.timedelta(seconds=60)
    assert error(k.get_shard_iterator, StreamName=s, ShardId="shardId-000000000000", ShardIteratorType="AT_TIMESTAMP", Timestamp=future)[0] == "InvalidArgumentException"


def test_t20_limit_paging(k):
    s = new_stream(k)
    for i in range(5):
        k.put_record(StreamName=s, Data=b"r%d" % i, PartitionKey="a")
    it = k.get_shard_iterator(StreamName=s, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = []
    for want in (2, 2, 1):
        r = k.get_records(ShardIterator=it, Limit=2)
        assert len(r["Records"]) == want
        got += [x["Data"] for x in r["Records"]]
        it = r["NextShardIterator"]
    assert got == [b"r%d" % i for i in range(5)]


@moto_deviates("moto's iterators do not expire")
def test_t21_expired_iterator(k):
    s = new_stream(k)
    it = k.get_shard_iterator(StreamName=s, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    time.sleep(2.5)
    assert error(k.get_records, ShardIterator=it)[0] == "ExpiredIteratorException"


@moto_deviates('a garbage iterator gives a base64 error (section 5.3)')
def test_t22_bad_iterator_and_shard(k):
    s = new_stream(k)
    code, msg, _ = error(k.get_records, ShardIterator="garbage")
    assert code == "InvalidArgumentException" and "Invalid ShardIterator" in msg
    code, msg, _ = error(k.get_shard_iterator, StreamName=s, ShardId="shardId-000000000009", ShardIteratorType="TRIM_HORIZON")
    assert code == "ResourceNotFoundException"


@moto_deviates("moto accepts inconsistent iterator arguments")
def test_t23_iterator_argument_rules(k):
    s = new_stream(k, 2)
    seq1 = k.put_record(StreamName=s, Data=b"x", PartitionKey="p", ExplicitHashKey=str(TOP))["SequenceNumber"]
    g = lambda **kw: error(k.get_shard_iterator, StreamName=s, ShardId="shardId-000000000000", **kw)[0]
    assert g(ShardIteratorType="TRIM_HORIZON", StartingSequenceNumber=seq1) == "InvalidArgumentException"
    assert g(ShardIteratorType="AT_SEQUENCE_NUMBER") == "InvalidArgumentException"
    assert g(ShardIteratorType="AT_TIMESTAMP") == "InvalidArgumentException"
    code, msg, _ = error(k.get_shard_iterator, StreamName=s, ShardId="shardId-000000000000", ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=seq1)
    assert code == "InvalidArgumentException" and "shardId-000000000001" in msg


@moto_deviates("moto does not check GetRecords limits")
def test_t24_get_records_limit_bounds(k, raw):
    s = new_stream(k)
    it = k.get_shard_iterator(StreamName=s, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert error(k.get_records, ShardIterator=it, Limit=10001)[0] == "ValidationException"
    assert error(raw.get_records, ShardIterator=it, Limit=0)[0] == "ValidationException"


def test_t25_retention(k):
    s = new_stream(k)
    k.increase_stream_retention_period(StreamName=s, RetentionPeriodHours=168)
    assert k.describe_stream(StreamName=s)["StreamDescription"]["RetentionPeriodHours"] == 168
    k.decrease_stream_retention_period(StreamName=s, RetentionPeriodHours=48)
    assert k.describe_stream_summary(StreamName=s)["StreamDescriptionSummary"]["RetentionPeriodHours"] == 48
    assert error(k.decrease_stream_retention_period, StreamName=s, RetentionPeriodHours=23)[0] == "InvalidArgumentException"
    assert error(k.increase_stream_retention_period, StreamName=s, RetentionPeriodHours=8761)[0] == "InvalidArgumentException"
    assert error(k.increase_stream_retention_period, StreamName=s, RetentionPeriodHours=24)[0] == "InvalidArgumentException"


def wait_active(k, s):
    k.get_waiter("stream_exists").wait(StreamName=s, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})


@moto_deviates('puts still go to the closed parent after SplitShard (section 5.3)')
def test_t26_t27_split_and_closed_shard_read(k):
    s = new_stream(k)
    r0 = k.put_record(StreamName=s, Data=b"r0", PartitionKey="a")
    k.split_shard(StreamName=s, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127))
    wait_active(k, s)
    shards = {x["ShardId"]: x for x in k.list_shards(StreamName=s)["Shards"]}
    assert set(shards) == {"shardId-000000000000", "shardId-000000000001", "shardId-000000000002"}
    parent = shards["shardId-000000000000"]
    assert int(parent["SequenceNumberRange"]["EndingSequenceNumber"]) >= int(r0["SequenceNumber"])
    assert (int(shards["shardId-000000000001"]["HashKeyRange"]["StartingHashKey"]), int(shards["shardId-000000000001"]["HashKeyRange"]["EndingHashKey"])) == (0, 2**127 - 1)
    assert (int(shards["shardId-000000000002"]["HashKeyRange"]["StartingHashKey"]), int(shards["shardId-000000000002"]["HashKeyRange"]["EndingHashKey"])) == (2**127, TOP)
    assert shards["shardId-000000000001"]["ParentShardId"] == "shardId-000000000000"
    r1 = k.put_record(StreamName=s, Data=b"r1", PartitionKey="a")
    r2 = k.put_record(StreamName=s, Data=b"r2", PartitionKey="pk-0")
    assert (r1["ShardId"], r2["ShardId"]) == ("shardId-000000000001", "shardId-000000000002")
    it = k.get_shard_iterator(StreamName=s, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = []
    while it:
        r = k.get_records(ShardIterator=it)
        got += [x["Data"] for x in r["Records"]]
        it = r.get("NextShardIterator")
        if not it:
            assert sorted(c["ShardId"] for c in r["ChildShards"]) == ["shardId-000000000001", "shardId-000000000002"]
    assert got == [b"r0"]


@moto_deviates("moto's split checks differ")
def test_t28_split_errors(k):
    s = new_stream(k)
    k.split_shard(StreamName=s, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127))
    wait_active(k, s)
    assert error(k.split_shard, StreamName=s, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**126))[0] == "InvalidArgumentException"
    assert error(k.split_shard, StreamName=s, ShardToSplit="shardId-000000000001", NewStartingHashKey="0")[0] == "InvalidArgumentException"
    assert error(k.split_shard, StreamName=s, ShardToSplit="shardId-000000000099", NewStartingHashKey="5")[0] == "ResourceNotFoundException"


def test_t29_merge(k):
    s = new_stream(k, 3)
    k.merge_shards(StreamName=s, ShardToMerge="shardId-000000000000", AdjacentShardToMerge="shardId-000000000001")
    wait_active(k, s)
    shards = {x["ShardId"]: x for x in k.list_shards(StreamName=s)["Shards"]}
    child = shards["shardId-000000000003"]
    assert child["ParentShardId"] == "shardId-000000000000" and child["AdjacentParentShardId"] == "shardId-000000000001"
    assert child["HashKeyRange"]["StartingHashKey"] == "0"
    assert child["HashKeyRange"]["EndingHashKey"] == shards["shardId-000000000001"]["HashKeyRange"]["EndingHashKey"]
    t = new_stream(k, 3)
    assert error(k.merge_shards, StreamName=t, ShardToMerge="shardId-000000000000", AdjacentShardToMerge="shardId-000000000002")[0] == "InvalidArgumentException"


@moto_deviates('ListShards ignores ShardFilter (section 5.3)')
def test_t30_update_shard_count(k):
    s = new_stream(k, 2)
    r = k.update_shard_count(StreamName=s, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    assert (r["CurrentShardCount"], r["TargetShardCount"]) == (2, 4)
    wait_active(k, s)
    open_shards = k.list_shards(StreamName=s, ShardFilter={"Type": "AT_LATEST"})["Shards"]
    ranges = sorted((int(x["HashKeyRange"]["StartingHashKey"]), int(x["HashKeyRange"]["EndingHashKey"])) for x in open_shards)
    assert len(ranges) == 4 and ranges[0][0] == 0 and ranges[-1][1] == TOP
    assert all(a[1] + 1 == b[0] for a, b in zip(ranges, ranges[1:]))
    if TARGET != "moto":
        assert error(k.update_shard_count, StreamName=s, TargetShardCount=9, ScalingType="UNIFORM_SCALING")[0] in ("LimitExceededException", "InvalidArgumentException")


@moto_deviates('a NextToken alone is refused as inconsistent with the page token')
def test_t33_list_shards_paging(k, raw):
    s = new_stream(k, 3)
    page = k.list_shards(StreamName=s, MaxResults=1)
    seen = [x["ShardId"] for x in page["Shards"]]
    while page.get("NextToken"):
        page = k.list_shards(NextToken=page["NextToken"], MaxResults=1)
        seen += [x["ShardId"] for x in page["Shards"]]
    assert seen == [f"shardId-00000000000{i}" for i in range(3)]
    if TARGET != "moto":
        token = k.list_shards(StreamName=s, MaxResults=1)["NextToken"]
        assert error(k.list_shards, StreamName=s, NextToken=token)[0] == "InvalidArgumentException"
        assert error(raw.list_shards)[0] == "InvalidArgumentException"


@moto_deviates('ListTagsForStream ignores ExclusiveStartTagKey')
def test_t35_tags(k):
    s = new_stream(k)
    k.add_tags_to_stream(StreamName=s, Tags={"b": "2", "a": "1"})
    first = k.list_tags_for_stream(StreamName=s, Limit=1)
    assert first["Tags"] == [{"Key": "a", "Value": "1"}] and first["HasMoreTags"] is True
    assert k.list_tags_for_stream(StreamName=s, ExclusiveStartTagKey="a")["Tags"] == [{"Key": "b", "Value": "2"}]
    k.remove_tags_from_stream(StreamName=s, TagKeys=["a", "zzz"])
    assert k.list_tags_for_stream(StreamName=s)["Tags"] == [{"Key": "b", "Value": "2"}]
    if TARGET != "moto":
        assert error(k.add_tags_to_stream, StreamName=s, Tags={f"t{i}": "v" for i in range(50)})[0] == "InvalidArgumentException"
        assert error(k.add_tags_to_stream, StreamName=s, Tags={"bad;key": "v"})[0] == "InvalidArgumentException"


def test_wire_level_errors(endpoint):
    """Framework errors (section 1.2) on raw HTTP: no SDK hides them."""
    import urllib.request
    def post(target, body, auth=True):
        headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
        if auth:
            headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0"
        req = urllib.request.Request(endpoint + "/", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
    if TARGET != "moto":  # moto answers HTML 500 pages here
        status, body = post("Kinesis_20131202.Nope", b"{}")
        assert status == 400 and b"UnknownOperation" in body
        status, body = post("Kinesis_20131202.ListStreams", b"{not json")
        assert status == 400 and b"SerializationException" in body
        status, body = post("Kinesis_20131202.ListStreams", b"{}", auth=False)
        assert status == 400 and b"MissingAuthenticationToken" in body
