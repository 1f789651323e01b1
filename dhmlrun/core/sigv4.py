"""AWS Signature Version 4, server side: check a signed S3 request, and presign URLs.

The embedded core's files store speaks S3 (`s3.py`) because that is the protocol the digitalhub
SDK 0.15 writes and reads files with (`digitalhub.stores.data.s3.store.S3Store`, boto3); boto3
signs every request with SigV4, either in the `Authorization` header or, for presigned URLs
(what DHCore's files API hands out, `S3FilesStore.uploadAsUrl`), in the query string. The
algorithm is AWS's ("Authenticating Requests: AWS Signature Version 4", S3 flavour: the
canonical URI is the path as sent, never normalised or encoded twice). Pure functions of the
request's raw parts: no HTTP framework, no boto3 (the core never imports the SDK).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_CLOCK_SKEW = timedelta(minutes=15)
"""How far a request's `X-Amz-Date` may be from the server clock (S3's RequestTimeTooSkewed)."""
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
"""The longest validity S3 accepts for a presigned URL (`X-Amz-Expires`)."""


class SignatureError(Exception):
    """A request whose signature does not hold; `code` is S3's error code for it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Signed:
    """What a valid signature vouches for: who signed, and the payload hash it covers."""

    access_key: str
    payload_hash: str
    """A hex SHA-256 the body must match, `UNSIGNED-PAYLOAD`, or a `STREAMING-…` mode."""


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """`kSigning` of the scope `date/region/service/aws4_request`."""
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _encode(text: str) -> str:
    """RFC 3986 encoding of a query key or value (unreserved characters kept)."""
    return quote(text, safe="-_.~")


def canonical_query(raw_query: str, *, skip: str | None = None) -> str:
    """Each `key=value` of the raw query decoded, then encoded strictly and sorted by key (a
    client that encodes differently from boto3 still verifies)."""
    pairs = []
    for part in raw_query.split("&") if raw_query else ():
        key, _, value = part.partition("=")
        key, value = unquote(key.replace("+", "%20")), unquote(value.replace("+", "%20"))
        if key == skip:
            continue
        pairs.append((_encode(key), _encode(value)))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _canonical_headers(headers: Mapping[str, Sequence[str]], signed: Sequence[str]) -> str:
    lines = []
    for name in signed:
        values = headers.get(name)
        if values is None:
            raise SignatureError("AccessDenied", f"signed header {name} is missing from the request")
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    return "".join(lines)


def string_to_sign(
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, Sequence[str]],
    signed: Sequence[str],
    payload_hash: str,
    amz_date: str,
    scope: str,
) -> str:
    """The string a SigV4 signature is the HMAC of."""
    canonical = "\n".join(
        (method, raw_path, query, _canonical_headers(headers, signed), ";".join(signed), payload_hash)
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def _parse_date(amz_date: str) -> datetime:
    try:
        return datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise SignatureError("AccessDenied", f"invalid X-Amz-Date {amz_date!r}") from exc


def _scope_parts(credential: str) -> tuple[str, str, str, str, str]:
    """`AKID/date/region/service/aws4_request` → its five parts."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise SignatureError("AuthorizationHeaderMalformed", f"invalid credential scope {credential!r}")
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, Sequence[str]],
    secret_of: Mapping[str, str],
    now: datetime | None = None,
) -> Signed:
    """Check the signature of a request (header or presigned); `headers` lower-case names.

    `secret_of` maps access key ids to secrets. Raises `SignatureError` with S3's code
    (`AccessDenied`, `SignatureDoesNotMatch`, `InvalidAccessKeyId`, `RequestTimeTooSkewed`).
    """
    now = now or datetime.now(UTC)
    query_keys = {unquote(p.partition("=")[0]) for p in raw_query.split("&") if p}
    if "X-Amz-Signature" in query_keys:
        return _verify_presigned(method, raw_path, raw_query, headers, secret_of, now)
    authorization = (headers.get("authorization") or [""])[0]
    if not authorization.startswith(ALGORITHM + " "):
        raise SignatureError("AccessDenied", "Access Denied: a SigV4 signature is required")
    fields = {}
    for item in authorization[len(ALGORITHM) + 1 :].split(","):
        key, _, value = item.strip().partition("=")
        fields[key] = value
    try:
        credential, signed_names, signature = (
            fields["Credential"],
            fields["SignedHeaders"],
            fields["Signature"],
        )
    except KeyError as exc:
        raise SignatureError("AuthorizationHeaderMalformed", f"the Authorization header lacks {exc}") from exc
    access_key, date, region, service, terminal = _scope_parts(credential)
    amz_date = (headers.get("x-amz-date") or [""])[0]
    moment = _parse_date(amz_date)
    if abs(now - moment) > MAX_CLOCK_SKEW:
        raise SignatureError("RequestTimeTooSkewed", "the request time is too far from the server time")
    payload_hash = (headers.get("x-amz-content-sha256") or [""])[0]
    if not payload_hash:
        raise SignatureError("InvalidRequest", "missing x-amz-content-sha256")
    signed = signed_names.split(";")
    text = string_to_sign(
        method,
        raw_path,
        canonical_query(raw_query),
        headers,
        signed,
        payload_hash,
        amz_date,
        f"{date}/{region}/{service}/{terminal}",
    )
    _check_signature(secret_of, access_key, date, region, service, text, signature)
    return Signed(access_key, payload_hash)


def _verify_presigned(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, Sequence[str]],
    secret_of: Mapping[str, str],
    now: datetime,
) -> Signed:
    params = {}
    for part in raw_query.split("&"):
        key, _, value = part.partition("=")
        params[unquote(key)] = unquote(value)
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        raise SignatureError("AuthorizationQueryParametersError", "X-Amz-Algorithm must be " + ALGORITHM)
    access_key, date, region, service, terminal = _scope_parts(params.get("X-Amz-Credential", ""))
    amz_date = params.get("X-Amz-Date", "")
    moment = _parse_date(amz_date)
    try:
        expires = int(params.get("X-Amz-Expires", ""))
    except ValueError as exc:
        raise SignatureError("AuthorizationQueryParametersError", "X-Amz-Expires must be a number") from exc
    if not 0 < expires <= MAX_PRESIGN_SECONDS:
        raise SignatureError("AuthorizationQueryParametersError", "X-Amz-Expires out of range")
    if now > moment + timedelta(seconds=expires):
        raise SignatureError("AccessDenied", "Request has expired")
    if moment - now > MAX_CLOCK_SKEW:
        raise SignatureError("AccessDenied", "Request is not valid yet")
    signed = params.get("X-Amz-SignedHeaders", "host").split(";")
    text = string_to_sign(
        method,
        raw_path,
        canonical_query(raw_query, skip="X-Amz-Signature"),
        headers,
        signed,
        UNSIGNED_PAYLOAD,
        amz_date,
        f"{date}/{region}/{service}/{terminal}",
    )
    _check_signature(secret_of, access_key, date, region, service, text, params.get("X-Amz-Signature", ""))
    return Signed(access_key, UNSIGNED_PAYLOAD)


def _check_signature(
    secret_of: Mapping[str, str], access_key: str, date: str, region: str, service: str, text: str, given: str
) -> None:
    secret = secret_of.get(access_key)
    if secret is None:
        raise SignatureError(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        )
    expected = hmac.new(signing_key(secret, date, region, service), text.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise SignatureError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )


def presign(
    method: str,
    origin: str,
    raw_path: str,
    *,
    access_key: str,
    secret: str,
    expires: int,
    region: str = "us-east-1",
    extra_query: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """A presigned URL for `method` on `origin` (`http://host:port`) + `raw_path` (already
    percent-encoded), signing only the `host` header, as S3's presigners do."""
    now = now or datetime.now(UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    scope = f"{date}/{region}/s3/aws4_request"
    params = {
        **(extra_query or {}),
        "X-Amz-Algorithm": ALGORITHM,
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    }
    query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in params.items())
    host = origin.split("://", 1)[1]
    text = string_to_sign(
        method,
        raw_path,
        canonical_query(query),
        {"host": [host]},
        ["host"],
        UNSIGNED_PAYLOAD,
        amz_date,
        scope,
    )
    signature = hmac.new(signing_key(secret, date, region, "s3"), text.encode(), hashlib.sha256).hexdigest()
    return f"{origin}{raw_path}?{query}&X-Amz-Signature={signature}"
