"""SigV4 on the server side, checked against botocore's own signer (the SDK's S3 client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from dhmlrun.core import sigv4

SECRETS = {"AKID": "secret"}


def botocore_signed(method: str, url: str, body: bytes = b"") -> tuple[str, str, dict[str, list[str]]]:
    request = AWSRequest(method=method, url=url, data=body)
    S3SigV4Auth(Credentials("AKID", "secret"), "s3", "eu-west-1").add_auth(request)
    parts = urlsplit(request.url)
    headers = {k.lower(): [v] for k, v in request.headers.items()}
    headers["host"] = [parts.netloc]
    return parts.path, parts.query, headers


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/s3/bucket/a%20b%2Bc/%C3%BC.txt",
        "http://127.0.0.1:9/s3/bucket?list-type=2&prefix=a%2Fb&delimiter=%2F&encoding-type=url",
        "http://127.0.0.1:9/s3/bucket/k?uploadId=a~b.c_d-e&partNumber=3",
        "http://127.0.0.1:9/s3/bucket?delete",
    ],
)
def test_requests_signed_by_botocore_verify(url: str) -> None:
    path, query, headers = botocore_signed("PUT", url, b"body")
    signed = sigv4.verify("PUT", path, query, headers, SECRETS)
    assert signed.access_key == "AKID"
    assert signed.payload_hash == headers["x-amz-content-sha256"][0]


def test_a_changed_method_path_query_or_header_breaks_the_signature() -> None:
    path, query, headers = botocore_signed("GET", "http://127.0.0.1:9/s3/b/k?x=1")
    for method, p, q, h in (
        ("PUT", path, query, headers),
        ("GET", path + "x", query, headers),
        ("GET", path, "x=2", headers),
        ("GET", path, query, {**headers, "host": ["127.0.0.1:10"]}),
    ):
        with pytest.raises(sigv4.SignatureError) as refused:
            sigv4.verify(method, p, q, h, SECRETS)
        assert refused.value.code == "SignatureDoesNotMatch"


def test_an_old_request_is_refused_as_skewed() -> None:
    path, query, headers = botocore_signed("GET", "http://127.0.0.1:9/s3/b/k")
    later = datetime.now(UTC) + timedelta(minutes=16)
    with pytest.raises(sigv4.SignatureError) as refused:
        sigv4.verify("GET", path, query, headers, SECRETS, now=later)
    assert refused.value.code == "RequestTimeTooSkewed"


def test_our_presigned_urls_verify_until_they_expire() -> None:
    url = sigv4.presign(
        "GET", "http://127.0.0.1:9", "/s3/b/a%20b.txt", access_key="AKID", secret="secret", expires=60
    )
    parts = urlsplit(url)
    headers = {"host": [parts.netloc]}
    assert (
        sigv4.verify("GET", parts.path, parts.query, headers, SECRETS).payload_hash == sigv4.UNSIGNED_PAYLOAD
    )
    with pytest.raises(sigv4.SignatureError) as expired:
        sigv4.verify(
            "GET", parts.path, parts.query, headers, SECRETS, now=datetime.now(UTC) + timedelta(seconds=61)
        )
    assert expired.value.message == "Request has expired"


def test_presigned_urls_of_botocore_verify() -> None:
    request = AWSRequest(method="GET", url="http://127.0.0.1:9/s3/b/k%20x?versionId=1")
    S3SigV4QueryAuth(Credentials("AKID", "secret"), "s3", "us-east-1", expires=30).add_auth(request)
    parts = urlsplit(request.url)
    assert (
        sigv4.verify("GET", parts.path, parts.query, {"host": [parts.netloc]}, SECRETS).access_key == "AKID"
    )
