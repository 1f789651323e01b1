"""The embedded core's files store: buckets and objects, bytes in a directory, index in SQLite.

Why a store of its own: the digitalhub SDK 0.15 writes and reads every file (`log_artifact`,
`log_table`, `upload()`, `download()`, `as_df()`) through its S3 store, and DHCore hands its
pods a default files store (`DHCORE_DEFAULT_FILES_STORE`, FilesService.getDefaultStore) backed
by S3. Without one, every python job whose handler returns a DataFrame fails on the embedded
core. So the core keeps the objects itself, next to its database (`files/` beside `core.db`),
and speaks enough S3 for the SDK (`s3.py`).

Layout: each object's bytes are one file, `files/blobs/XX/<random id>`, written whole before the
index row naming it is committed (a crashed upload leaves at most an unnamed blob, never a
half-written object); the index (`objects`, `uploads`, `upload_parts` tables of the core's
database) maps bucket and key to the blob, its size, ETag (MD5, or S3's multipart form), content
type, user metadata and time. Keys are any S3 key: they never become paths. Several processes
may share one store (the database serialises writers; a replaced blob is removed after the
commit, and a reader already holding it open keeps reading it). The facts this relies on, with
their sources: docs/files-store.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dhmlrun.core.store import Store, Tx
from dhmlrun.private import private_dir

DEFAULT_BUCKET = "dhcore"
"""The bucket of the core's default store, `s3://dhcore`: DHCore's own default
(`files.default-store: s3://${application.name}`, component-files.yml; the name is `dhcore`)."""
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
"""S3's bucket naming rules (lower case, 3-63 characters, no leading or trailing dot or dash)."""
MAX_KEY_BYTES = 1024
MAX_PARTS = 10_000
MIN_PART_BYTES = 5 * 1024 * 1024
"""S3 refuses parts smaller than this, except the last (EntityTooSmall)."""
COPY_CHUNK = 1024 * 1024


class ObjectError(Exception):
    """A refusal in S3's words: `code` is the S3 error code, `status` its HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def no_such_bucket(bucket: str) -> ObjectError:
    return ObjectError(404, "NoSuchBucket", f"The specified bucket does not exist: {bucket}")


def no_such_key(key: str) -> ObjectError:
    return ObjectError(404, "NoSuchKey", f"The specified key does not exist: {key}")


def no_such_upload() -> ObjectError:
    return ObjectError(404, "NoSuchUpload", "The specified multipart upload does not exist.")


@dataclass(frozen=True)
class ObjectInfo:
    """One object as S3 describes it."""

    key: str
    size: int
    etag: str
    """Quoted, as S3 sends it: `"<md5 hex>"` or `"<md5 of the parts' md5s>-N"`."""
    modified: int
    """Epoch milliseconds."""
    content_type: str = "binary/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)
    blob: str = ""


@dataclass(frozen=True)
class Listing:
    """One page of ListObjects: objects, common prefixes, and where the next page starts."""

    objects: list[ObjectInfo]
    prefixes: list[str]
    truncated: bool
    next_after: str | None


@dataclass
class Received:
    """A body written to a temporary file next to the blobs, with its digests."""

    path: Path
    size: int
    md5: str
    sha256: str


class ObjectStore:
    """Buckets and objects of one core (see the module docstring)."""

    def __init__(self, store: Store, root: Path, *, default_bucket: str = DEFAULT_BUCKET) -> None:
        self.store = store
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.incoming = self.root / "incoming"
        self.default_bucket = default_bucket
        """Always there (never stored, never deleted): the bucket of the core's default store."""

    # buckets ----------------------------------------------------------------------------------

    def create_bucket(self, name: str) -> None:
        if not BUCKET_NAME.match(name) or ".." in name:
            raise ObjectError(400, "InvalidBucketName", f"The specified bucket is not valid: {name}")
        with self.store.write() as tx:
            if name == self.default_bucket or not tx.add_bucket(name, _now()):
                raise ObjectError(409, "BucketAlreadyOwnedByYou", f"Bucket {name} already exists")

    def delete_bucket(self, name: str) -> None:
        with self.store.write() as tx:
            if not self._exists(tx, name):
                raise no_such_bucket(name)
            if tx.count_objects(name):
                raise ObjectError(409, "BucketNotEmpty", "The bucket you tried to delete is not empty")
            if name == self.default_bucket:
                raise ObjectError(409, "BucketNotEmpty", "The core's default bucket is never deleted")
            tx.delete_bucket(name)

    def bucket_exists(self, name: str) -> bool:
        with self.store.read() as tx:
            return self._exists(tx, name)

    def _exists(self, tx: Tx, name: str) -> bool:
        return name == self.default_bucket or tx.bucket_exists(name)

    def buckets(self) -> list[tuple[str, int]]:
        with self.store.read() as tx:
            stored = tx.buckets()
        return sorted([*stored, (self.default_bucket, 0)])

    # objects ----------------------------------------------------------------------------------

    def receive(self, chunks: Iterator[bytes] | IO[bytes]) -> Received:
        """Write a body to a temporary file in this store, hashing it on the way."""
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
        self._folders()
        fd, name = tempfile.mkstemp(dir=self.incoming)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                source = iter(lambda: chunks.read(COPY_CHUNK), b"") if hasattr(chunks, "read") else chunks
                for chunk in source:
                    md5.update(chunk)
                    sha.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        except BaseException:
            _unlink(Path(name))
            raise
        return Received(Path(name), size, md5.hexdigest(), sha.hexdigest())

    def discard(self, received: Received) -> None:
        _unlink(received.path)

    def put(
        self,
        bucket: str,
        key: str,
        received: Received,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        etag: str | None = None,
    ) -> ObjectInfo:
        """Store a received body as `bucket/key` (replacing any object there)."""
        _check_key(key)
        blob = self._adopt(received.path)
        info = ObjectInfo(
            key,
            received.size,
            etag or f'"{received.md5}"',
            _now(),
            content_type or "binary/octet-stream",
            dict(metadata or {}),
            blob,
        )
        try:
            with self.store.write() as tx:
                if not self._exists(tx, bucket):
                    raise no_such_bucket(bucket)
                replaced = tx.put_object_row(bucket, key, _row(info))
        except BaseException:
            self._remove_blob(blob)
            raise
        if replaced:
            self._remove_blob(replaced)
        return info

    def head(self, bucket: str, key: str) -> ObjectInfo:
        with self.store.read() as tx:
            if not self._exists(tx, bucket):
                raise no_such_bucket(bucket)
            row = tx.object_row(bucket, key)
        if row is None:
            raise no_such_key(key)
        blob, size, etag, content_type, modified, metadata = row
        return ObjectInfo(key, size, etag, modified, content_type, json.loads(metadata), blob)

    @contextlib.contextmanager
    def open(self, bucket: str, key: str) -> Iterator[tuple[ObjectInfo, IO[bytes]]]:
        """The object's description and its bytes, open for reading (a concurrent replace
        removes the old blob only after this read's file is open, or the read looks again)."""
        for _ in range(3):
            info = self.head(bucket, key)
            try:
                handle = open(self._blob_path(info.blob), "rb")  # noqa: SIM115 (closed below)
            except FileNotFoundError:
                continue  # replaced between the lookup and the open: look again
            try:
                yield info, handle
            finally:
                handle.close()
            return
        raise ObjectError(503, "SlowDown", f"{key} is being replaced; try again")

    def delete(self, bucket: str, key: str) -> None:
        """Remove an object (absent is fine, as S3 answers 204 either way)."""
        with self.store.write() as tx:
            if not self._exists(tx, bucket):
                raise no_such_bucket(bucket)
            blob = tx.delete_object_row(bucket, key)
        if blob:
            self._remove_blob(blob)

    def copy(self, bucket: str, key: str, source_bucket: str, source_key: str) -> ObjectInfo:
        """Copy an object (CopyObject), bytes included."""
        with self.open(source_bucket, source_key) as (info, handle):
            received = self.receive(handle)
        return self.put(
            bucket, key, received, content_type=info.content_type, metadata=info.metadata, etag=info.etag
        )

    def list(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        max_keys: int = 1000,
    ) -> Listing:
        """ListObjects: keys under `prefix` sorting after `after`, grouped at `delimiter`;
        `max_keys` counts objects and common prefixes together, as S3 does."""
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        cursor = after
        with self.store.read() as tx:
            if not self._exists(tx, bucket):
                raise no_such_bucket(bucket)
            while len(objects) + len(prefixes) < max_keys:
                rows = tx.object_keys(bucket, prefix, cursor, 256)
                if not rows:
                    return Listing(objects, prefixes, False, None)
                for key, size, etag, modified in rows:
                    if len(objects) + len(prefixes) >= max_keys:
                        return Listing(objects, prefixes, True, cursor)
                    rest = key[len(prefix) :]
                    if delimiter and delimiter in rest:
                        common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                        if not prefixes or prefixes[-1] != common:
                            prefixes.append(common)
                        cursor = common + "\U0010ffff"  # every key of this group sorts before it
                        break
                    objects.append(ObjectInfo(key, size, etag, modified))
                    cursor = key
            more = tx.object_keys(bucket, prefix, cursor, 1)
        return Listing(objects, prefixes, bool(more), cursor if more else None)

    # multipart --------------------------------------------------------------------------------

    def start_upload(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        _check_key(key)
        upload_id = secrets.token_urlsafe(24)
        with self.store.write() as tx:
            if not self._exists(tx, bucket):
                raise no_such_bucket(bucket)
            tx.add_upload(
                upload_id,
                bucket,
                key,
                content_type or "binary/octet-stream",
                json.dumps(metadata or {}),
                _now(),
            )
        return upload_id

    def put_part(self, bucket: str, key: str, upload_id: str, number: int, received: Received) -> str:
        """Keep one part; its ETag."""
        if not 1 <= number <= MAX_PARTS:
            raise ObjectError(
                400, "InvalidArgument", f"Part number must be an integer between 1 and {MAX_PARTS}"
            )
        blob = self._adopt(received.path)
        etag = f'"{received.md5}"'
        try:
            with self.store.write() as tx:
                upload = tx.upload_row(upload_id)
                if upload is None or upload[0] != bucket or upload[1] != key:
                    raise no_such_upload()
                replaced = tx.put_part_row(upload_id, number, blob, received.size, etag)
        except BaseException:
            self._remove_blob(blob)
            raise
        if replaced:
            self._remove_blob(replaced)
        return etag

    def complete_upload(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> ObjectInfo:
        """Join the named parts (number, ETag), in order, into the object."""
        with self.store.read() as tx:
            upload = tx.upload_row(upload_id)
            stored = {row[0]: row for row in tx.part_rows(upload_id)}
        if upload is None or upload[0] != bucket or upload[1] != key:
            raise no_such_upload()
        if not parts:
            raise ObjectError(400, "MalformedXML", "You must specify at least one part")
        numbers = [number for number, _ in parts]
        if numbers != sorted(set(numbers)):
            raise ObjectError(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
        chosen = []
        for index, (number, etag) in enumerate(parts):
            row = stored.get(number)
            if row is None or row[3].strip('"') != etag.strip('"'):
                raise ObjectError(
                    400, "InvalidPart", f"One or more of the specified parts could not be found: {number}"
                )
            if row[2] < MIN_PART_BYTES and index < len(parts) - 1:
                raise ObjectError(
                    400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
                )
            chosen.append(row)
        received = self.receive(self._concatenated([row[1] for row in chosen]))
        digest = hashlib.md5(
            b"".join(bytes.fromhex(row[3].strip('"')) for row in chosen), usedforsecurity=False
        )
        info = self.put(
            bucket,
            key,
            received,
            content_type=upload[2],
            metadata=json.loads(upload[3]),
            etag=f'"{digest.hexdigest()}-{len(chosen)}"',
        )
        self.abort_upload(bucket, key, upload_id)
        return info

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        with self.store.write() as tx:
            upload = tx.upload_row(upload_id)
            if upload is None or upload[0] != bucket or upload[1] != key:
                raise no_such_upload()
            blobs = tx.delete_upload(upload_id)
        for blob in blobs:
            self._remove_blob(blob)

    # blobs ------------------------------------------------------------------------------------

    def _concatenated(self, blobs: list[str]) -> Iterator[bytes]:
        for blob in blobs:
            with open(self._blob_path(blob), "rb") as handle:
                yield from iter(lambda h=handle: h.read(COPY_CHUNK), b"")

    def _folders(self) -> None:
        """The store's folders, owner-only: made when first written to, never by reads."""
        for folder in (self.root, self.blobs, self.incoming):
            private_dir(folder)

    def _blob_path(self, blob: str) -> Path:
        return self.blobs / blob[:2] / blob

    def _adopt(self, path: Path) -> str:
        """Move a received file among the blobs under a new name; the name."""
        blob = secrets.token_hex(16)
        target = self._blob_path(blob)
        self._folders()
        private_dir(target.parent)
        os.replace(path, target)
        return blob

    def _remove_blob(self, blob: str) -> None:
        _unlink(self._blob_path(blob))


def _check_key(key: str) -> None:
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise ObjectError(400, "KeyTooLongError", "Your key is too long" if key else "A key is required")


def _row(info: ObjectInfo) -> tuple[object, ...]:
    return (info.blob, info.size, info.etag, info.content_type, info.modified, json.dumps(info.metadata))


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _now() -> int:
    return time.time_ns() // 1_000_000
