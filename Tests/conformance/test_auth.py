"""`sluice serve --require-auth`: boto3's SigV4 signatures are verified (sluice only)."""
import shutil, tempfile

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from test_kinesis import SLUICE, TARGET, free_port, launch


@pytest.fixture(scope="module")
def secured():
    data = tempfile.mkdtemp(prefix="sluice-auth-")
    port = free_port()
    proc = launch([SLUICE, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--require-auth",
                   "--access-key", "AKIDGOOD:goodsecret"], port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(data, ignore_errors=True)


def client(endpoint, key, secret):
    return boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1}))


@pytest.mark.skipif(TARGET == "moto", reason="sluice's --require-auth")
def test_signatures_are_verified(secured):
    good = client(secured, "AKIDGOOD", "goodsecret")
    good.create_stream(StreamName="auth", ShardCount=1)
    assert good.put_record(StreamName="auth", Data=b"x" * 3000, PartitionKey="p")["SequenceNumber"]
    assert good.list_shards(StreamName="auth")["Shards"]
    for key, secret, code in [("AKIDGOOD", "wrong", "InvalidSignatureException"), ("AKIDOTHER", "goodsecret", "UnrecognizedClientException")]:
        with pytest.raises(ClientError) as e:
            client(secured, key, secret).describe_stream_summary(StreamName="auth")
        assert e.value.response["Error"]["Code"] == code
