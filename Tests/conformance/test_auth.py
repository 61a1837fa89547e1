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


def signed_request(endpoint, body, target="Kinesis_20131202.PutRecord", method="POST", path="/"):
    """A request botocore signs as the SDK would, with X-Amz-Content-Sha256 among the signed headers."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import hashlib
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1",
               "X-Amz-Content-Sha256": hashlib.sha256(body).hexdigest()} if method == "POST" else {}
    req = AWSRequest(method=method, url=endpoint + path, data=body if method == "POST" else None, headers=headers)
    SigV4Auth(Credentials("AKIDGOOD", "goodsecret"), "kinesis", "us-east-1").add_auth(req)
    return req


def send(endpoint, req, body):
    import urllib.request, urllib.error
    r = urllib.request.Request(req.url, data=body, method=req.method, headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.skipif(TARGET == "moto", reason="sluice's --require-auth")
def test_a_captured_request_cannot_carry_another_body(secured):
    import base64, json
    good = client(secured, "AKIDGOOD", "goodsecret")
    good.create_stream(StreamName="replay", ShardCount=1)
    body = json.dumps({"StreamName": "replay", "Data": base64.b64encode(b"genuine").decode(), "PartitionKey": "p"}).encode()
    req = signed_request(secured, body)
    assert send(secured, req, body)[0] == 200
    forged = json.dumps({"StreamName": "replay", "Data": base64.b64encode(b"forged!").decode(), "PartitionKey": "p"}).encode()
    status, answer = send(secured, req, forged)
    assert status == 400 and b"InvalidSignatureException" in answer
    it = good.get_shard_iterator(StreamName="replay", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert [r["Data"] for r in good.get_records(ShardIterator=it)["Records"]] == [b"genuine"]


@pytest.mark.skipif(TARGET == "moto", reason="sluice's --require-auth")
def test_metrics_need_a_signature(secured):
    import urllib.request, urllib.error
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(secured + "/metrics", timeout=10)
    assert e.value.code == 403
    status, text = send(secured, signed_request(secured, b"", method="GET", path="/metrics"), None)
    assert status == 200 and b"sluice_http_requests_total" in text
    # /health says nothing about the streams and stays open.
    with urllib.request.urlopen(secured + "/health", timeout=10) as r:
        assert r.status == 200
