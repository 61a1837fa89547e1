"""Behaviours a peer's Kinesis/Firehose test suite checks (issue 20): malformed shard ids,
ARNs in the client's region, one destination per firehose, versions and update times, recorded
encryption, monitoring, resource policies and tags, and DescribeLimits."""
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import TARGET, moto_deviates
from test_kinesis import error, new_stream

ROLE = "arn:aws:iam::000000000000:role/r"


def client(endpoint, service, region="us-east-1", validate=True):
    return boto3.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id="AKIDEXAMPLE",
                        aws_secret_access_key="secret", config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate))


@pytest.fixture
def k(endpoint):
    return client(endpoint, "kinesis")


@pytest.fixture
def raw(endpoint):
    return client(endpoint, "kinesis", validate=False)


@pytest.fixture
def fh(endpoint):
    return client(endpoint, "firehose")


def s3(bucket="b"):
    return {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}"}


@moto_deviates("moto answers ResourceNotFoundException for a malformed shard id")
def test_a_malformed_shard_id_is_a_validation_error(k, raw):
    name = new_stream(k, 2)
    for fn, kw in [(raw.split_shard, dict(StreamName=name, ShardToSplit="?", NewStartingHashKey="1")),
                   (raw.get_shard_iterator, dict(StreamName=name, ShardId="?", ShardIteratorType="TRIM_HORIZON")),
                   (raw.merge_shards, dict(StreamName=name, ShardToMerge="shardId-000000000000", AdjacentShardToMerge="bad id")),
                   (raw.list_shards, dict(StreamName=name, ExclusiveStartShardId="?")),
                   (raw.describe_stream, dict(StreamName=name, ExclusiveStartShardId="a/b"))]:
        code, message, status = error(fn, **kw)
        assert code == "ValidationException" and status == 400, (fn, message)
    # A well-formed id of no shard is still ResourceNotFound.
    assert error(k.get_shard_iterator, StreamName=name, ShardId="shardId-000000000009", ShardIteratorType="TRIM_HORIZON")[0] == "ResourceNotFoundException"


@moto_deviates("moto's ARNs follow the client's region already, but not its consumer ARNs' shape")
def test_arns_are_in_the_region_the_client_signed_for(endpoint):
    kw = client(endpoint, "kinesis", region="eu-west-2")
    name = new_stream(kw)
    arn = kw.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    assert arn.startswith("arn:aws:kinesis:eu-west-2:000000000000:stream/")
    consumer = kw.register_stream_consumer(StreamARN=arn, ConsumerName="c")["Consumer"]["ConsumerARN"]
    assert consumer.startswith("arn:aws:kinesis:eu-west-2:")
    assert kw.describe_stream_consumer(ConsumerARN=consumer)["ConsumerDescription"]["ConsumerName"] == "c"
    assert all(s["StreamARN"].startswith("arn:aws:kinesis:eu-west-2:") for s in kw.list_streams()["StreamSummaries"])
    # Data that looks like an ARN is data; a policy put under the client's ARN is found under it.
    pk = "arn:aws:kinesis:us-east-1:000000000000:stream/looks-like-one"
    kw.put_record(StreamName=name, Data=b"d", PartitionKey=pk)
    it = kw.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert kw.get_records(ShardIterator=it)["Records"][0]["PartitionKey"] == pk
    policy = '{"Version":"2012-10-17","Statement":[]}'
    kw.put_resource_policy(ResourceARN=arn, Policy=policy)
    assert kw.get_resource_policy(ResourceARN=arn)["Policy"] == policy
    fw = client(endpoint, "firehose", region="ap-south-1")
    f = f"f-{uuid.uuid4().hex[:8]}"
    assert fw.create_delivery_stream(DeliveryStreamName=f, ExtendedS3DestinationConfiguration=s3())["DeliveryStreamARN"].startswith(
        "arn:aws:firehose:ap-south-1:")
    kw.deregister_stream_consumer(ConsumerARN=consumer)


@moto_deviates("moto takes two destination configurations")
def test_exactly_one_destination(fh):
    f = f"f-{uuid.uuid4().hex[:8]}"
    code, message, _ = error(fh.create_delivery_stream, DeliveryStreamName=f, ExtendedS3DestinationConfiguration=s3(),
                             S3DestinationConfiguration=s3())
    assert code == "InvalidArgumentException" and "Exactly one destination" in message
    fh.create_delivery_stream(DeliveryStreamName=f, ExtendedS3DestinationConfiguration=s3())
    d = fh.describe_delivery_stream(DeliveryStreamName=f)["DeliveryStreamDescription"]
    code, message, _ = error(fh.update_destination, DeliveryStreamName=f, CurrentDeliveryStreamVersionId=d["VersionId"],
                             DestinationId=d["Destinations"][0]["DestinationId"], S3DestinationUpdate={"Prefix": "a/"},
                             ExtendedS3DestinationUpdate={"Prefix": "b/"})
    assert code == "InvalidArgumentException" and "Exactly one" in message


@moto_deviates("moto keeps the version of an update that changes nothing")
def test_every_update_bumps_the_version_and_sets_the_update_time(fh):
    f = f"f-{uuid.uuid4().hex[:8]}"
    fh.create_delivery_stream(DeliveryStreamName=f, ExtendedS3DestinationConfiguration=s3())
    d = fh.describe_delivery_stream(DeliveryStreamName=f)["DeliveryStreamDescription"]
    assert d["VersionId"] == "1" and "LastUpdateTimestamp" not in d
    for expected in ["2", "3"]:
        current = fh.describe_delivery_stream(DeliveryStreamName=f)["DeliveryStreamDescription"]
        fh.update_destination(DeliveryStreamName=f, CurrentDeliveryStreamVersionId=current["VersionId"],
                              DestinationId=current["Destinations"][0]["DestinationId"], ExtendedS3DestinationUpdate={})
        after = fh.describe_delivery_stream(DeliveryStreamName=f)["DeliveryStreamDescription"]
        assert after["VersionId"] == expected and "LastUpdateTimestamp" in after


@moto_deviates("moto does not record encryption or tags given on create")
def test_encryption_and_tags_are_recorded(fh):
    f = f"f-{uuid.uuid4().hex[:8]}"
    key = "arn:aws:kms:us-east-1:000000000000:key/k1"
    fh.create_delivery_stream(DeliveryStreamName=f, ExtendedS3DestinationConfiguration=s3(),
                              DeliveryStreamEncryptionConfigurationInput={"KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": key},
                              Tags=[{"Key": "team", "Value": "web"}, {"Key": "env", "Value": "dev"}])
    enc = fh.describe_delivery_stream(DeliveryStreamName=f)["DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"]
    assert enc == {"KeyARN": key, "KeyType": "CUSTOMER_MANAGED_CMK", "Status": "ENABLED"}
    fh.stop_delivery_stream_encryption(DeliveryStreamName=f)
    assert fh.describe_delivery_stream(DeliveryStreamName=f)["DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"]["Status"] == "DISABLED"
    fh.start_delivery_stream_encryption(DeliveryStreamName=f, DeliveryStreamEncryptionConfigurationInput={"KeyType": "AWS_OWNED_CMK"})
    enc = fh.describe_delivery_stream(DeliveryStreamName=f)["DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"]
    assert enc["KeyType"] == "AWS_OWNED_CMK" and enc["Status"] == "ENABLED"
    assert fh.list_tags_for_delivery_stream(DeliveryStreamName=f)["Tags"] == [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "web"}]
    fh.tag_delivery_stream(DeliveryStreamName=f, Tags=[{"Key": "owner", "Value": "ana"}])
    fh.untag_delivery_stream(DeliveryStreamName=f, TagKeys=["env"])
    tags = fh.list_tags_for_delivery_stream(DeliveryStreamName=f, Limit=1)
    assert tags["Tags"] == [{"Key": "owner", "Value": "ana"}] and tags["HasMoreTags"]
    # Settings are not the destination: the version stays.
    assert fh.describe_delivery_stream(DeliveryStreamName=f)["DeliveryStreamDescription"]["VersionId"] == "1"


@moto_deviates("moto lacks some of these operations")
def test_stream_encryption_monitoring_policies_and_limits(k):
    name = new_stream(k)
    arn = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    k.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    d = k.describe_stream(StreamName=name)["StreamDescription"]
    assert d["EncryptionType"] == "KMS" and d["KeyId"] == "alias/aws/kinesis"
    k.stop_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    assert k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["EncryptionType"] == "NONE"
    r = k.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["IncomingBytes", "OutgoingRecords"])
    assert r["CurrentShardLevelMetrics"] == [] and sorted(r["DesiredShardLevelMetrics"]) == ["IncomingBytes", "OutgoingRecords"]
    r = k.disable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["IncomingBytes"])
    assert r["DesiredShardLevelMetrics"] == ["OutgoingRecords"]
    assert k.describe_stream(StreamName=name)["StreamDescription"]["EnhancedMonitoring"] == [{"ShardLevelMetrics": ["OutgoingRecords"]}]
    policy = '{"Version":"2012-10-17","Statement":[]}'
    k.put_resource_policy(ResourceARN=arn, Policy=policy)
    assert k.get_resource_policy(ResourceARN=arn)["Policy"] == policy
    k.delete_resource_policy(ResourceARN=arn)
    assert k.get_resource_policy(ResourceARN=arn)["Policy"] == "{}"
    assert error(k.delete_resource_policy, ResourceARN=arn)[0] == "ResourceNotFoundException"
    limits = k.describe_limits()
    assert limits["ShardLimit"] >= limits["OpenShardCount"] >= 1 and "OnDemandStreamCountLimit" in limits
