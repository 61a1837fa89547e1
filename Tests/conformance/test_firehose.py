"""Firehose conformance (API 2015-08-04): boto3 (retries off) against `sluice serve`, whose S3
destinations are directories (`--s3-dir DIR`: arn:aws:s3:::B is DIR/B), or against moto_server
(TARGET=moto), whose S3 objects are read back through its S3 API. Cases T37-T40 of
the Kinesis and Firehose reference notes (kinesis-and-firehose.md) section 6, and more bad input.
"""
import base64, datetime, gzip, os, re, time, uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import TARGET, moto_deviates

ROLE = "arn:aws:iam::000000000000:role/r"


def client(endpoint, service, validate=True):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                        aws_secret_access_key="secret", config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate))


@pytest.fixture
def fh(endpoint):
    return client(endpoint, "firehose")


@pytest.fixture
def raw(endpoint):
    return client(endpoint, "firehose", validate=False)


@pytest.fixture
def k(endpoint):
    return client(endpoint, "kinesis")


class Bucket:
    """A bucket of the S3 sink: a directory under sluice's --s3-dir, or a moto S3 bucket."""

    def __init__(self, server):
        self.name = f"b-{uuid.uuid4().hex[:8]}"
        self.arn = f"arn:aws:s3:::{self.name}"
        if TARGET == "moto":
            self.s3 = client(server["url"], "s3")
            self.s3.create_bucket(Bucket=self.name)
        else:
            self.dir = os.path.join(server["data"], "s3", self.name)

    def objects(self):
        """Key -> bytes of every object delivered."""
        out = {}
        if TARGET == "moto":
            for o in self.s3.list_objects_v2(Bucket=self.name).get("Contents", []):
                out[o["Key"]] = self.s3.get_object(Bucket=self.name, Key=o["Key"])["Body"].read()
            return out
        for root, dirs, files in os.walk(self.dir):
            dirs[:] = [d for d in dirs if not d.startswith(".sluice")]
            for f in files:
                path = os.path.join(root, f)
                with open(path, "rb") as h:
                    out[os.path.relpath(path, self.dir)] = h.read()
        return out

    def wait(self, count, timeout=5.0):
        deadline = time.time() + timeout
        while True:
            objs = self.objects()
            if len(objs) >= count or time.time() > deadline:
                return objs
            time.sleep(0.1)


@pytest.fixture
def bucket(server):
    return Bucket(server)


def new_firehose(fh, bucket, **s3):
    name = f"fh-{uuid.uuid4().hex[:8]}"
    dest = {"RoleARN": ROLE, "BucketARN": bucket.arn, "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1}}
    dest.update(s3)
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=dest)
    return name


def stream_firehose(fh, bucket, stream):
    """A firehose reading the Kinesis stream `stream`, a line per record, delivered within a second."""
    name = f"fh-{uuid.uuid4().hex[:8]}"
    fh.create_delivery_stream(DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
                              KinesisStreamSourceConfiguration={"KinesisStreamARN": f"arn:aws:kinesis:us-east-1:000000000000:stream/{stream}", "RoleARN": ROLE},
                              ExtendedS3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": bucket.arn,
                                                                  "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
                                                                  "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}})
    return name


def error(fn, **kw):
    with pytest.raises(ClientError) as e:
        fn(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", ""), e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def key_pattern(prefix, name, version):
    return re.compile("^" + prefix + rf"{name}-{version}-(\d{{4}})-(\d{{2}})-(\d{{2}})-(\d{{2}})-\d{{2}}-\d{{2}}-[0-9a-f-]{{36}}(\.gz)?$")


def test_T37_direct_put_to_s3(fh, bucket):
    name = new_firehose(fh, bucket, Prefix="p/")
    r = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x\n"}, {"Data": b"y\n"}, {"Data": b"z\n"}])
    assert r["FailedPutCount"] == 0
    ids = [e["RecordId"] for e in r["RequestResponses"]]
    assert len(ids) == 3 and len(set(ids)) == 3
    objs = bucket.wait(1)
    assert len(objs) == 1
    key, body = next(iter(objs.items()))
    m = re.match(r"^p/(\d{4})/(\d{2})/(\d{2})/(\d{2})/", key)
    assert m, key
    suffix = key_pattern("", name, 1).match(key[len(m.group(0)):])
    assert suffix, key
    assert m.groups() == suffix.groups()[:4]  # the same UTC hour in the path and the name
    assert body == b"x\ny\nz\n"
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert d["DeliveryStreamStatus"] == "ACTIVE" and d["VersionId"] == "1" and d["DeliveryStreamType"] == "DirectPut"
    assert re.match(rf"^arn:aws:firehose:us-east-1:\d{{12}}:deliverystream/{name}$", d["DeliveryStreamARN"])
    s3 = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert s3["BucketARN"] == bucket.arn and s3["Prefix"] == "p/" and s3["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 1}


@moto_deviates("moto does not evaluate !{...} prefix expressions")
def test_T37_expression_prefix(fh, bucket):
    name = new_firehose(fh, bucket, Prefix="d=!{timestamp:yyyy-MM-dd}/", ErrorOutputPrefix="err/!{firehose:error-output-type}/")
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"hello"})
    objs = bucket.wait(1)
    assert len(objs) == 1
    key = next(iter(objs))
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    assert key_pattern(f"d={today}/", name, 1).match(key), key  # no time path after an expression prefix
    assert objs[key] == b"hello"


def test_put_record_and_list(fh, bucket):
    name = new_firehose(fh, bucket)
    r = fh.put_record(DeliveryStreamName=name, Record={"Data": b"one"})
    assert r["RecordId"] and r["Encrypted"] is False
    names = []
    start = None
    while True:
        kw = {"Limit": 1}
        if start:
            kw["ExclusiveStartDeliveryStreamName"] = start
        page = fh.list_delivery_streams(**kw)
        names += page["DeliveryStreamNames"]
        if not page["HasMoreDeliveryStreams"]:
            break
        start = page["DeliveryStreamNames"][-1]
    assert name in names and names == sorted(names) and len(names) == len(set(names))
    assert bucket.wait(1) and list(bucket.objects().values()) == [b"one"]


@moto_deviates("moto does not check the PutRecord(Batch) limits")
def test_T38_limits(fh, raw, bucket):
    name = new_firehose(fh, bucket)
    code, msg, status = error(raw.put_record_batch, DeliveryStreamName=name, Records=[{"Data": b"a"}] * 501)
    assert (code, status) == ("ValidationException", 400) and "less than or equal to 500" in msg
    code, msg, _ = error(fh.put_record_batch, DeliveryStreamName=name, Records=[{"Data": b"a" * 1_024_001}])
    assert code == "ValidationException" and "1024000" in msg
    code, msg, _ = error(fh.put_record, DeliveryStreamName=name, Record={"Data": b"a" * 1_024_001})
    assert code == "ValidationException" and "1024000" in msg
    code, _, _ = error(fh.put_record_batch, DeliveryStreamName=name, Records=[{"Data": b"a" * 1_000_000}] * 5)
    assert code == "InvalidArgumentException"
    assert bucket.objects() == {}  # nothing refused was delivered


def test_T38_unknown_firehose(fh):
    code, msg, _ = error(fh.put_record, DeliveryStreamName="nope", Record={"Data": b"a"})
    assert code == "ResourceNotFoundException" and re.search(r"Firehose nope under account \d{12} not found\.", msg)
    code, _, _ = error(fh.put_record_batch, DeliveryStreamName="nope", Records=[{"Data": b"a"}])
    assert code == "ResourceNotFoundException"
    code, _, _ = error(fh.describe_delivery_stream, DeliveryStreamName="nope")
    assert code == "ResourceNotFoundException"
    code, _, _ = error(fh.delete_delivery_stream, DeliveryStreamName="nope")
    assert code == "ResourceNotFoundException"


@moto_deviates("moto accepts half-specified BufferingHints and bad names")
def test_T38_bad_definitions(fh, bucket):
    code, _, _ = error(fh.create_delivery_stream, DeliveryStreamName=f"fh-{uuid.uuid4().hex[:8]}",
                       ExtendedS3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": bucket.arn, "BufferingHints": {"SizeInMBs": 1}})
    assert code == "InvalidArgumentException"
    code, msg, _ = error(fh.create_delivery_stream, DeliveryStreamName="bad name",
                         ExtendedS3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": bucket.arn})
    assert code == "ValidationException" and "[a-zA-Z0-9_.-]+" in msg
    code, _, _ = error(fh.create_delivery_stream, DeliveryStreamName=f"fh-{uuid.uuid4().hex[:8]}",
                       ExtendedS3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::../up"})
    assert code == "ValidationException"
    code, _, _ = error(fh.create_delivery_stream, DeliveryStreamName=f"fh-{uuid.uuid4().hex[:8]}",
                       ExtendedS3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": bucket.arn,
                                                           "BufferingHints": {"SizeInMBs": 129, "IntervalInSeconds": 60}})
    assert code == "ValidationException"
    name = new_firehose(fh, bucket)
    code, msg, _ = error(fh.create_delivery_stream, DeliveryStreamName=name,
                         ExtendedS3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": bucket.arn})
    assert code == "ResourceInUseException" and "already exists" in msg


def test_T38_stale_version(fh, bucket):
    name = new_firehose(fh, bucket)
    fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1", DestinationId="destinationId-000000000001",
                          ExtendedS3DestinationUpdate={"Prefix": "q/"})
    code, _, _ = error(fh.update_destination, DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
                       DestinationId="destinationId-000000000001", ExtendedS3DestinationUpdate={"Prefix": "r/"})
    assert code == "ConcurrentModificationException"
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert d["VersionId"] == "2" and d["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"] == "q/"


@moto_deviates("moto ignores CompressionFormat")
def test_T39_gzip_then_version_bump(fh, bucket):
    name = new_firehose(fh, bucket, CompressionFormat="GZIP")
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"first\n"})
    objs = bucket.wait(1)
    assert len(objs) == 1
    key, body = next(iter(objs.items()))
    assert key.endswith(".gz") and gzip.decompress(body) == b"first\n"
    fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1", DestinationId="destinationId-000000000001",
                          ExtendedS3DestinationUpdate={"CompressionFormat": "UNCOMPRESSED"})
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"second\n"})
    objs = bucket.wait(2)
    second = [kk for kk in objs if kk != key]
    assert len(second) == 1
    assert key_pattern(r"\d{4}/\d{2}/\d{2}/\d{2}/", name, 2).match(second[0]), second[0]
    assert objs[second[0]] == b"second\n"


@moto_deviates("moto does not deliver from a Kinesis source")
def test_T40_kinesis_source(fh, k, bucket):
    stream = f"k-{uuid.uuid4().hex[:8]}"
    k.create_stream(StreamName=stream, ShardCount=1)
    k.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    name = stream_firehose(fh, bucket, stream)
    k.put_record(StreamName=stream, Data=b'{"a":1}', PartitionKey="p")
    k.put_record(StreamName=stream, Data=b'{"a":2}', PartitionKey="p")
    objs = bucket.wait(1)
    assert b"".join(objs[kk] for kk in sorted(objs)) == b'{"a":1}\n{"a":2}\n'
    code, _, _ = error(fh.put_record, DeliveryStreamName=name, Record={"Data": b"direct"})
    assert code == "InvalidArgumentException"
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert d["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert d["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"].endswith(f":stream/{stream}")


def test_delete(fh, bucket):
    name = new_firehose(fh, bucket, BufferingHints={"SizeInMBs": 5, "IntervalInSeconds": 300})
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"kept"})
    fh.delete_delivery_stream(DeliveryStreamName=name)
    code, _, _ = error(fh.describe_delivery_stream, DeliveryStreamName=name)
    assert code == "ResourceNotFoundException"
    assert name not in fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]
    assert list(bucket.objects().values()) == [b"kept"]  # what was buffered is delivered, not lost
