"""KPL aggregated records (T34 of the Kinesis and Firehose reference notes (kinesis-and-firehose.md) section 6, and the
aggregated half of T40): Kinesis keeps them byte for byte; a Firehose reading the stream delivers
their user records. Payloads are built with aws_kinesis_agg, the KPL's Python port."""
import base64

import pytest

from conftest import moto_deviates
from test_firehose import Bucket, client, stream_firehose
from test_kinesis import make_client, new_stream

agg = pytest.importorskip("aws_kinesis_agg.aggregator")
deagg = pytest.importorskip("aws_kinesis_agg.deaggregator")


def aggregated(users):
    a = agg.RecordAggregator()
    for pk, data in users:
        a.add_user_record(pk, data)
    pk, ehk, data = a.clear_and_get().get_contents()
    return pk, ehk, data


USERS = [("pk0", b'{"n":0}'), ("pk1", b'{"n":1}'), ("pk2", b'{"n":2}')]


def test_T34_aggregated_record_is_kept_byte_for_byte(endpoint):
    k = make_client(endpoint)
    stream = new_stream(k)
    pk, ehk, data = aggregated(USERS)
    assert data[:4] == bytes.fromhex("f3899ac2")
    k.put_record(StreamName=stream, Data=data, PartitionKey=pk, **({"ExplicitHashKey": ehk} if ehk else {}))
    it = k.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = k.get_records(ShardIterator=it)["Records"]
    assert len(records) == 1 and records[0]["Data"] == data
    # The Lambda event shape the deaggregator reads.
    event = [{"kinesis": {"data": base64.b64encode(r["Data"]).decode(), "partitionKey": r["PartitionKey"],
                          "sequenceNumber": r["SequenceNumber"], "kinesisSchemaVersion": "1.0",
                          "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp()}} for r in records]
    users = deagg.deaggregate_records(event)
    assert [base64.b64decode(u["kinesis"]["data"]) for u in users] == [d for _, d in USERS]
    assert [u["kinesis"]["partitionKey"] for u in users] == ["pk0", "pk1", "pk2"]
    assert [u["kinesis"]["subSequenceNumber"] for u in users] == [0, 1, 2]


@moto_deviates("moto does not deliver from a Kinesis source")
def test_T40_firehose_delivers_user_records(endpoint, server):
    k = make_client(endpoint)
    fh = client(endpoint, "firehose")
    bucket = Bucket(server)
    stream = new_stream(k)
    stream_firehose(fh, bucket, stream)
    k.put_record(StreamName=stream, Data=b'{"plain":true}', PartitionKey="p")
    pk, _, data = aggregated(USERS)
    k.put_record(StreamName=stream, Data=data, PartitionKey=pk)
    objs = bucket.wait(1)
    assert b"".join(objs[key] for key in sorted(objs)) == b'{"plain":true}\n{"n":0}\n{"n":1}\n{"n":2}\n'
