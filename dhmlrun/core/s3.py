"""The S3 protocol of the core's files store: what boto3 sends, answered from `objects.py`.

The SDK's S3 store (digitalhub.stores.data.s3.store, boto3 1.x) calls HeadBucket, PutObject,
CreateMultipartUpload/UploadPart/CompleteMultipartUpload (files over 100 MiB), HeadObject,
GetObject (ranged, for large downloads), ListObjectsV2 (partitions) and DeleteObject; DHCore's
files API hands out presigned GET and PUT URLs (S3FilesStore). Those, plus the few calls around
them (ListBuckets, CreateBucket, DeleteObjects, CopyObject, AbortMultipartUpload, ListObjects v1,
GetBucketLocation), are served here, path-style under `/s3/` of the core's port, with S3's
status codes, XML bodies and error codes. Every request is signed (SigV4, `sigv4.py`) with the
core's files-store key, derived from its bearer token (`files_credentials`).

Framework-free like `api.py`: an `Exchange` carries one request in (headers, a body read
piecewise) and the reply out (a body written piecewise, so a 5 GiB object is never in memory).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from typing import IO, Protocol
from urllib.parse import parse_qsl, quote, quote_plus, unquote
from xml.sax.saxutils import escape

from dhmlrun.core import sigv4
from dhmlrun.core.objects import COPY_CHUNK, ObjectError, ObjectInfo, ObjectStore, Received

PREFIX = "/s3"
"""Where the files store listens on the core's port (`AWS_ENDPOINT_URL` = endpoint + this)."""
ACCESS_KEY = "dhmlrun"
NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_OBJECT_BYTES = 5 * 1024**3
"""S3's largest single PUT (and part): 5 GiB (EntityTooLarge beyond)."""
MAX_XML_BYTES = 2 * 1024 * 1024
"""Request documents (DeleteObjects, CompleteMultipartUpload with 10,000 parts) stay under this."""
STREAMING = "STREAMING-"
"""x-amz-content-sha256 values of aws-chunked bodies (signed chunks, or unsigned with a trailer)."""

Headers = dict[str, list[str]]


def files_credentials(token: str) -> tuple[str, str]:
    """(access key id, secret) of the files store of a core started with `token`: the secret is
    derived from the token, so a run's AWS secret is not the core's bearer token."""
    secret = hmac.new(token.encode(), b"dhmlrun files store", hashlib.sha256).hexdigest()
    return ACCESS_KEY, secret


class Exchange(Protocol):
    """One S3 request and its reply (the HTTP edge implements it)."""

    method: str
    raw_path: str
    """The path as sent (percent-encoded), the files store prefix included."""
    raw_query: str
    headers: Headers
    """Lower-case names → every value sent."""

    def body(self) -> Iterator[bytes]:
        """The request body, piece by piece."""
        ...

    def reply(self, status: int, headers: list[tuple[str, str]], body: bytes | Iterator[bytes] = b"") -> None:
        """Send the reply (once)."""
        ...


@dataclass(frozen=True)
class Target:
    """What a path names: the service, a bucket, or an object."""

    bucket: str | None
    key: str | None


def parse_target(raw_path: str) -> Target:
    rest = raw_path[len(PREFIX) :].lstrip("/")
    if not rest:
        return Target(None, None)
    bucket, _, key = rest.partition("/")
    return Target(unquote(bucket), unquote(key) if key else None)


class S3Service:
    """The S3 operations over one `ObjectStore`, for one key pair."""

    def __init__(self, objects: ObjectStore, credentials: tuple[str, str]) -> None:
        self.objects = objects
        self.secret_of = {credentials[0]: credentials[1]}

    def handle(self, exchange: Exchange) -> None:
        """Authenticate, dispatch, reply; every refusal is S3's error document."""
        target = parse_target(exchange.raw_path)
        try:
            signed = sigv4.verify(
                exchange.method, exchange.raw_path, exchange.raw_query, exchange.headers, self.secret_of
            )
            Operation(self.objects, exchange, target, signed).run()
        except sigv4.SignatureError as exc:
            status = 400 if exc.code in ("AuthorizationHeaderMalformed", "InvalidRequest") else 403
            _error(exchange, ObjectError(status, exc.code, exc.message), target)
        except ObjectError as exc:
            _error(exchange, exc, target)


class Operation:
    """One authenticated request: which S3 operation it is, and doing it."""

    def __init__(
        self, objects: ObjectStore, exchange: Exchange, target: Target, signed: sigv4.Signed
    ) -> None:
        self.objects = objects
        self.exchange = exchange
        self.target = target
        self.signed = signed
        self.query = dict(parse_qsl(exchange.raw_query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        values = self.exchange.headers.get(name)
        return values[0] if values else None

    def run(self) -> None:
        method, bucket, key = self.exchange.method, self.target.bucket, self.target.key
        if bucket is None:
            if method in ("GET", "HEAD"):
                return self.list_buckets()
            raise _not_allowed(method)
        if key is None:
            return self._bucket_operation(method, bucket)
        return self._object_operation(method, bucket, key)

    def _bucket_operation(self, method: str, bucket: str) -> None:
        if method == "HEAD":
            if not self.objects.bucket_exists(bucket):
                raise ObjectError(404, "NoSuchBucket", "")
            return self.exchange.reply(200, [])
        if method == "GET":
            if "location" in self.query:
                self._require_bucket(bucket)
                return self._xml(200, '<LocationConstraint xmlns="' + NAMESPACE + '"></LocationConstraint>')
            if "uploads" in self.query:
                self._require_bucket(bucket)
                return self._xml(200, _element("ListMultipartUploadsResult", _text("Bucket", bucket)))
            if self.query.get("list-type") == "2":
                return self.list_objects(bucket, v2=True)
            return self.list_objects(bucket, v2=False)
        if method == "PUT":
            self._drain()
            self.objects.create_bucket(bucket)
            return self.exchange.reply(200, [("location", "/" + bucket)])
        if method == "DELETE":
            self.objects.delete_bucket(bucket)
            return self.exchange.reply(204, [])
        if method == "POST" and "delete" in self.query:
            return self.delete_objects(bucket)
        raise _not_allowed(method)

    def _object_operation(self, method: str, bucket: str, key: str) -> None:
        upload_id = self.query.get("uploadId")
        if method in ("GET", "HEAD"):
            if upload_id is not None:
                raise ObjectError(501, "NotImplemented", "ListParts is not implemented by this files store")
            return self.get_object(bucket, key, head=method == "HEAD")
        if method == "PUT":
            if upload_id is not None:
                return self.upload_part(bucket, key, upload_id)
            if self.header("x-amz-copy-source"):
                return self.copy_object(bucket, key)
            return self.put_object(bucket, key)
        if method == "DELETE":
            if upload_id is not None:
                self.objects.abort_upload(bucket, key, upload_id)
            else:
                self.objects.delete(bucket, key)
            return self.exchange.reply(204, [])
        if method == "POST":
            if "uploads" in self.query:
                return self.start_upload(bucket, key)
            if upload_id is not None:
                return self.complete_upload(bucket, key, upload_id)
        raise _not_allowed(method)

    # buckets ----------------------------------------------------------------------------------

    def list_buckets(self) -> None:
        entries = "".join(
            _element("Bucket", _text("Name", name) + _text("CreationDate", _iso(created)))
            for name, created in self.objects.buckets()
        )
        owner = _element("Owner", _text("ID", ACCESS_KEY) + _text("DisplayName", ACCESS_KEY))
        self._xml(200, _element("ListAllMyBucketsResult", owner + _element("Buckets", entries)))

    def list_objects(self, bucket: str, *, v2: bool) -> None:
        prefix = self.query.get("prefix", "")
        delimiter = self.query.get("delimiter", "")
        url = self.query.get("encoding-type") == "url"
        max_keys = _int(self.query.get("max-keys", "1000"), "max-keys", 0, 1000)
        if v2:
            token = self.query.get("continuation-token")
            after = _decode_token(token) if token else self.query.get("start-after", "")
        else:
            after = self.query.get("marker", "")
        listing = self.objects.list(
            bucket, prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys
        )

        def enc(text: str) -> str:
            return quote_plus(text, safe="/") if url else text

        parts = [_text("Name", bucket), _text("Prefix", enc(prefix)), _text("MaxKeys", str(max_keys))]
        if delimiter:
            parts.append(_text("Delimiter", enc(delimiter)))
        if url:
            parts.append(_text("EncodingType", "url"))
        parts.append(_text("IsTruncated", "true" if listing.truncated else "false"))
        if v2:
            parts.append(_text("KeyCount", str(len(listing.objects) + len(listing.prefixes))))
            if self.query.get("continuation-token"):
                parts.append(_text("ContinuationToken", self.query["continuation-token"]))
            if self.query.get("start-after"):
                parts.append(_text("StartAfter", enc(self.query["start-after"])))
            if listing.truncated and listing.next_after is not None:
                parts.append(_text("NextContinuationToken", _encode_token(listing.next_after)))
        else:
            parts.append(_text("Marker", enc(after)))
            if listing.truncated and delimiter and listing.next_after is not None:
                parts.append(_text("NextMarker", enc(listing.next_after)))
        for info in listing.objects:
            parts.append(
                _element(
                    "Contents",
                    _text("Key", enc(info.key))
                    + _text("LastModified", _iso(info.modified))
                    + _text("ETag", info.etag)
                    + _text("Size", str(info.size))
                    + _text("StorageClass", "STANDARD"),
                )
            )
        for common in listing.prefixes:
            parts.append(_element("CommonPrefixes", _text("Prefix", enc(common))))
        self._xml(200, _element("ListBucketResult", "".join(parts)))

    def delete_objects(self, bucket: str) -> None:
        document = self._document()
        quiet = (document.findtext("Quiet") or "").strip().lower() == "true"
        results = []
        for entry in document.findall("Object"):
            key = entry.findtext("Key") or ""
            try:
                self.objects.delete(bucket, key)
                if not quiet:
                    results.append(_element("Deleted", _text("Key", key)))
            except ObjectError as exc:
                results.append(
                    _element(
                        "Error", _text("Key", key) + _text("Code", exc.code) + _text("Message", exc.message)
                    )
                )
        self._xml(200, _element("DeleteResult", "".join(results)))

    # objects ----------------------------------------------------------------------------------

    def get_object(self, bucket: str, key: str, *, head: bool) -> None:
        with self.objects.open(bucket, key) as (info, handle):
            conditional = self._preconditions(info)
            if conditional is not None:
                return self.exchange.reply(conditional, [("etag", info.etag)])
            window = _range(self.header("range"), info.size)
            headers = _object_headers(info)
            if window is None:
                headers.append(("content-length", str(info.size)))
                body = b"" if head else _read(handle, 0, info.size)
                return self.exchange.reply(200, headers, body)
            start, end = window
            headers += [
                ("content-length", str(end - start + 1)),
                ("content-range", f"bytes {start}-{end}/{info.size}"),
            ]
            return self.exchange.reply(206, headers, b"" if head else _read(handle, start, end - start + 1))

    def _preconditions(self, info: ObjectInfo) -> int | None:
        """412 or 304 when an `If-*` header says so (s3transfer's ranged reads send If-Match)."""
        if_match = self.header("if-match")
        if if_match is not None and if_match.strip() not in ("*", info.etag):
            raise ObjectError(
                412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"
            )
        if_none = self.header("if-none-match")
        if if_none is not None and if_none.strip() in ("*", info.etag):
            return 304
        since = _http_date(self.header("if-unmodified-since"))
        if since is not None and info.modified // 1000 > since:
            raise ObjectError(
                412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"
            )
        modified_since = _http_date(self.header("if-modified-since"))
        if modified_since is not None and info.modified // 1000 <= modified_since:
            return 304
        return None

    def put_object(self, bucket: str, key: str) -> None:
        if not self.objects.bucket_exists(bucket):
            self._drain()
            raise ObjectError(404, "NoSuchBucket", f"The specified bucket does not exist: {bucket}")
        received = self._receive()
        info = self.objects.put(
            bucket, key, received, content_type=self.header("content-type"), metadata=self._user_metadata()
        )
        self.exchange.reply(200, [("etag", info.etag)])

    def copy_object(self, bucket: str, key: str) -> None:
        self._drain()
        source = unquote(self.header("x-amz-copy-source") or "").split("?", 1)[0].lstrip("/")
        source_bucket, _, source_key = source.partition("/")
        if not source_key:
            raise ObjectError(400, "InvalidArgument", "Copy Source must mention the source bucket and key")
        info = self.objects.copy(bucket, key, source_bucket, source_key)
        body = _text("LastModified", _iso(info.modified)) + _text("ETag", info.etag)
        self._xml(200, _element("CopyObjectResult", body))

    def start_upload(self, bucket: str, key: str) -> None:
        self._drain()
        upload_id = self.objects.start_upload(
            bucket, key, content_type=self.header("content-type"), metadata=self._user_metadata()
        )
        body = _text("Bucket", bucket) + _text("Key", key) + _text("UploadId", upload_id)
        self._xml(200, _element("InitiateMultipartUploadResult", body))

    def upload_part(self, bucket: str, key: str, upload_id: str) -> None:
        number = _int(self.query.get("partNumber", ""), "partNumber", 1, 10_000)
        received = self._receive()
        etag = self.objects.put_part(bucket, key, upload_id, number, received)
        self.exchange.reply(200, [("etag", etag)])

    def complete_upload(self, bucket: str, key: str, upload_id: str) -> None:
        document = self._document()
        parts = []
        for part in document.findall("Part"):
            number = _int((part.findtext("PartNumber") or "").strip(), "PartNumber", 1, 10_000)
            parts.append((number, (part.findtext("ETag") or "").strip()))
        info = self.objects.complete_upload(bucket, key, upload_id, parts)
        origin = "http://" + (self.header("host") or "localhost")
        body = (
            _text("Location", f"{origin}{PREFIX}/{quote(bucket)}/{quote(key)}")
            + _text("Bucket", bucket)
            + _text("Key", key)
            + _text("ETag", info.etag)
        )
        self._xml(200, _element("CompleteMultipartUploadResult", body))

    # bodies -----------------------------------------------------------------------------------

    def _receive(self) -> Received:
        """The body into the store's incoming folder: decoded from aws-chunked when so sent,
        bounded, and checked against the SHA-256 the signature covers."""
        declared = self.header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_OBJECT_BYTES + 1024 * 1024:
            raise ObjectError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        chunks = _bounded(self.exchange.body(), MAX_OBJECT_BYTES * 2)
        if self.signed.payload_hash.startswith(STREAMING):
            chunks = _aws_chunked(chunks)
        received = self.objects.receive(_bounded(chunks, MAX_OBJECT_BYTES))
        expected = self.signed.payload_hash
        if (
            not expected.startswith(STREAMING)
            and expected != sigv4.UNSIGNED_PAYLOAD
            and expected != received.sha256
        ):
            self.objects.discard(received)
            raise ObjectError(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        decoded = self.header("x-amz-decoded-content-length")
        if decoded is not None and decoded.isdigit() and int(decoded) != received.size:
            self.objects.discard(received)
            raise ObjectError(400, "IncompleteBody", "You did not provide the number of bytes specified")
        return received

    def _document(self) -> ElementTree.Element:
        """A small XML request document, namespaces dropped; no DTD (no entity expansion)."""
        raw = b"".join(_bounded(self.exchange.body(), MAX_XML_BYTES))
        if (
            _hash_checked(self.signed.payload_hash)
            and hashlib.sha256(raw).hexdigest() != self.signed.payload_hash
        ):
            raise _sha_mismatch()
        if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
            raise ObjectError(400, "MalformedXML", "Document type declarations are not accepted")
        try:
            root = ElementTree.fromstring(raw)
        except ElementTree.ParseError as exc:
            raise ObjectError(
                400, "MalformedXML", f"The XML you provided was not well-formed: {exc}"
            ) from exc
        for element in root.iter():
            element.tag = element.tag.rsplit("}", 1)[-1]
        return root

    def _drain(self) -> None:
        for _ in _bounded(self.exchange.body(), MAX_XML_BYTES):
            pass

    def _user_metadata(self) -> dict[str, str]:
        return {
            name.removeprefix("x-amz-meta-"): values[0]
            for name, values in self.exchange.headers.items()
            if name.startswith("x-amz-meta-")
        }

    def _require_bucket(self, bucket: str) -> None:
        if not self.objects.bucket_exists(bucket):
            raise ObjectError(404, "NoSuchBucket", f"The specified bucket does not exist: {bucket}")

    def _xml(self, status: int, document: str) -> None:
        _send_xml(self.exchange, status, document)


# ------------------------------------------------------------------------------------ helpers


def _send_xml(exchange: Exchange, status: int, document: str) -> None:
    if document.startswith("<") and 'xmlns="' not in document.split(">", 1)[0]:
        name = document[1:].split(">", 1)[0]
        document = f'<{name} xmlns="{NAMESPACE}">' + document.split(">", 1)[1]
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + document).encode()
    exchange.reply(status, [("content-type", "application/xml"), ("content-length", str(len(body)))], body)


def _error(exchange: Exchange, error: ObjectError, target: Target) -> None:
    resource = "/" + "/".join(p for p in (target.bucket, target.key) if p)
    headers = [("x-amz-request-id", secrets.token_hex(8))]
    if exchange.method == "HEAD":
        exchange.reply(error.status, headers)
        return
    document = _element(
        "Error",
        _text("Code", error.code)
        + _text("Message", error.message)
        + _text("Resource", resource)
        + _text("RequestId", headers[0][1]),
    )
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + document).encode()
    exchange.reply(
        error.status,
        [*headers, ("content-type", "application/xml"), ("content-length", str(len(body)))],
        body,
    )


def _hash_checked(payload_hash: str) -> bool:
    """Whether the signature covers the body's SHA-256 (not unsigned, not aws-chunked)."""
    return payload_hash != sigv4.UNSIGNED_PAYLOAD and not payload_hash.startswith(STREAMING)


def _sha_mismatch() -> ObjectError:
    return ObjectError(
        400,
        "XAmzContentSHA256Mismatch",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )


def _not_allowed(method: str) -> ObjectError:
    return ObjectError(
        405, "MethodNotAllowed", f"The specified method is not allowed against this resource: {method}"
    )


def _element(name: str, inner: str) -> str:
    return f"<{name}>{inner}</{name}>"


def _text(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"


def _iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def _object_headers(info: ObjectInfo) -> list[tuple[str, str]]:
    headers = [
        ("content-type", info.content_type),
        ("etag", info.etag),
        ("last-modified", formatdate(info.modified / 1000, usegmt=True)),
        ("accept-ranges", "bytes"),
    ]
    headers += [(f"x-amz-meta-{name}", value) for name, value in info.metadata.items()]
    return headers


def _int(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise ObjectError(400, "InvalidArgument", f"{name} must be an integer") from exc
    if not low <= value <= high:
        raise ObjectError(400, "InvalidArgument", f"{name} must be between {low} and {high}")
    return value


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a `Range: bytes=…` header; None for the whole object (no header,
    or one S3 ignores); 416 when nothing of the object is in it."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:
        length = int(last)
        if length == 0:
            raise _unsatisfiable()
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable()
    return start, end


def _unsatisfiable() -> ObjectError:
    return ObjectError(416, "InvalidRange", "The requested range is not satisfiable")


def _http_date(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        return int(parsedate_to_datetime(raw).timestamp())
    except (TypeError, ValueError):
        return None


def _read(handle: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    handle.seek(start)
    while length > 0:
        chunk = handle.read(min(COPY_CHUNK, length))
        if not chunk:
            return
        length -= len(chunk)
        yield chunk


def _bounded(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise ObjectError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        yield chunk


def _aws_chunked(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Decode an `aws-chunked` body: `hex-size[;chunk-signature=…]\\r\\n data \\r\\n`, ending in a
    0-size chunk and optional trailer lines (checksums)."""
    buffer = bytearray()
    source = iter(chunks)

    def fill() -> bool:
        piece = next(source, None)
        if piece is None:
            return False
        buffer.extend(piece)
        return True

    while True:
        while b"\r\n" not in buffer:
            if len(buffer) > 4096 or not fill():
                raise ObjectError(400, "IncompleteBody", "malformed aws-chunked body")
        line, _, rest = bytes(buffer).partition(b"\r\n")
        buffer[:] = rest
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise ObjectError(400, "IncompleteBody", "malformed aws-chunked body") from exc
        if size == 0:
            for _ in chunks:  # the trailer (checksums): read and ignore
                pass
            return
        while len(buffer) < size + 2:
            if not fill():
                raise ObjectError(400, "IncompleteBody", "the aws-chunked body ended early")
        yield bytes(buffer[:size])
        buffer[:] = buffer[size + 2 :]


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ObjectError(400, "InvalidArgument", "The continuation token provided is incorrect") from exc
