"""The files store's S3 protocol as boto3 (the SDK's S3 client) and plain HTTP meet it.

The operations are S3's (API reference, 2006-03-01), those the SDK's S3Store and DHCore's
S3FilesStore call: HeadBucket, PutObject, multipart uploads, HeadObject, ranged GetObject,
ListObjectsV2 with delimiters and pages, DeleteObject(s), CopyObject; every request is signed
with SigV4 (`sigv4.py`) and every refusal is S3's XML error with S3's code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from dhmlrun.core.server import EmbeddedCore

SMALL_PARTS = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)


def client(core: EmbeddedCore, **overrides: Any) -> Any:
    environment = core.client_environment()
    settings = {
        "endpoint_url": environment["AWS_ENDPOINT_URL"],
        "aws_access_key_id": environment["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": environment["AWS_SECRET_ACCESS_KEY"],
        "config": Config(region_name="us-east-1", retries={"max_attempts": 1}),
        **overrides,
    }
    return boto3.client("s3", **settings)


@pytest.fixture
def s3(core: EmbeddedCore) -> Any:
    return client(core)


@pytest.fixture
def bucket(s3: Any, project_name: str) -> str:
    """A fresh bucket per test (S3 bucket names: lower case, dashes)."""
    name = project_name[:60]
    s3.create_bucket(Bucket=name)
    return name


def error_code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def test_put_get_head_and_delete_round_trip_any_key(s3: Any, bucket: str) -> None:
    key = "dir/a file+with ü & ?.txt"
    put = s3.put_object(
        Bucket=bucket, Key=key, Body=b"hello", ContentType="text/plain", Metadata={"who": "me"}
    )
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ETag"] == put["ETag"] == '"5d41402abc4b2a76b9719d911017c592"'  # MD5, as S3
    assert (head["ContentLength"], head["ContentType"], head["Metadata"]) == (5, "text/plain", {"who": "me"})
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"hello"
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key=key)
    assert error_code(missing.value) == "NoSuchKey"
    s3.delete_object(Bucket=bucket, Key=key)  # deleting what is gone is fine, as on S3


def test_a_multipart_upload_and_a_ranged_download_move_large_files(
    s3: Any, bucket: str, tmp_path: Path
) -> None:
    """boto3 splits a file over its threshold into parts and downloads it in ranges."""
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(11 * 1024 * 1024))
    s3.upload_file(str(source), bucket, "big.bin", Config=SMALL_PARTS)
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"].endswith('-3"')  # S3's multipart ETag
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(target), Config=SMALL_PARTS)
    assert target.read_bytes() == source.read_bytes()
    part = s3.get_object(Bucket=bucket, Key="big.bin", Range="bytes=10-19")
    assert (part["ContentRange"], part["Body"].read()) == (
        f"bytes 10-19/{source.stat().st_size}",
        source.read_bytes()[10:20],
    )


def test_listing_groups_by_delimiter_and_pages_through_every_key(s3: Any, bucket: str) -> None:
    keys = [f"p/{i:02d}.csv" for i in range(7)] + ["p/sub/x.csv", "p/sub/y.csv", "q/z.csv"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    grouped = s3.list_objects_v2(Bucket=bucket, Prefix="p/", Delimiter="/")
    assert [o["Key"] for o in grouped["Contents"]] == keys[:7]
    assert grouped["CommonPrefixes"] == [{"Prefix": "p/sub/"}]
    paged = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 3}
        )
        for o in page.get("Contents", [])
    ]
    assert paged == sorted(keys)
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket, Prefix="q/")["Contents"]] == ["q/z.csv"]


def test_copy_and_batch_delete(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"one")
    s3.copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": bucket, "Key": "a"})
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == b"one"
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b"]
    assert s3.list_objects_v2(Bucket=bucket).get("Contents") is None


def test_buckets_are_listed_created_and_refused_as_s3_refuses_them(s3: Any, bucket: str) -> None:
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert {"dhcore", bucket} <= set(names)
    with pytest.raises(ClientError) as taken:
        s3.create_bucket(Bucket=bucket)
    assert error_code(taken.value) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as missing:
        s3.head_bucket(Bucket="no-such-bucket")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as full:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(full.value) == "BucketNotEmpty"


def test_a_wrong_key_an_unsigned_request_and_a_tampered_body_are_refused(
    core: EmbeddedCore, bucket: str
) -> None:
    with pytest.raises(ClientError) as wrong:
        client(core, aws_secret_access_key="not-the-key").put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_code(wrong.value) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as unknown:
        client(core, aws_access_key_id="someone").list_buckets()
    assert error_code(unknown.value) == "InvalidAccessKeyId"
    plain = requests.get(f"{core.endpoint}/s3/{bucket}/k", timeout=10)
    bearer = requests.get(
        f"{core.endpoint}/s3/{bucket}/k", headers={"Authorization": f"Bearer {core.token}"}, timeout=10
    )
    assert (plain.status_code, bearer.status_code) == (403, 403)
    assert "<Code>AccessDenied</Code>" in plain.text


def test_a_body_that_does_not_match_its_signed_hash_is_refused_and_not_stored(s3: Any, bucket: str) -> None:
    def swap_body(request: Any, **_: Any) -> None:
        request.body = b"tampered"

    s3.meta.events.register_first("before-send.s3.PutObject", swap_body)
    try:
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    finally:
        s3.meta.events.unregister("before-send.s3.PutObject", swap_body)
    assert error_code(refused.value) == "XAmzContentSHA256Mismatch"
    assert s3.list_objects_v2(Bucket=bucket).get("Contents") is None


def test_presigned_urls_of_the_sdk_work_and_expire(core: EmbeddedCore, bucket: str) -> None:
    """Presigned by boto3 with SigV4 (what DHCore's S3FilesStore hands out)."""
    s3 = client(core, config=Config(region_name="us-east-1", signature_version="s3v4"))
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p.txt"}, ExpiresIn=60)
    assert requests.put(put_url, data=b"presigned", timeout=10).status_code == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.txt"}, ExpiresIn=60)
    assert requests.get(get_url, timeout=10).content == b"presigned"
    assert requests.get(get_url.replace("p.txt", "q.txt"), timeout=10).status_code == 403
    assert requests.put(get_url, data=b"x", timeout=10).status_code == 403  # signed for GET only


def signed(core: EmbeddedCore, method: str, path: str, body: bytes) -> requests.Response:
    """A request signed by botocore's own SigV4 signer, whatever its body."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    environment = core.client_environment()
    request = AWSRequest(method=method, url=f"{core.endpoint}{path}", data=body)
    credentials = Credentials(environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"])
    S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    return requests.request(method, request.url, headers=dict(request.headers), data=body, timeout=10)


def test_the_xml_of_a_request_may_not_declare_entities(core: EmbeddedCore, bucket: str) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]>'
        b"<Delete><Object><Key>&a;</Key></Object></Delete>"
    )
    refused = signed(core, "POST", f"/s3/{bucket}?delete", bomb)
    assert refused.status_code == 400
    assert "<Code>MalformedXML</Code>" in refused.text


def test_unknown_query_operations_and_methods_answer_in_s3_words(core: EmbeddedCore, bucket: str) -> None:
    assert "<Code>MethodNotAllowed</Code>" in signed(core, "POST", f"/s3/{bucket}/k", b"").text
    assert signed(core, "GET", f"/s3/{bucket}?location", b"").status_code == 200
