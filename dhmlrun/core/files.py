"""DHCore's files API over the core's files store: presigned URLs, file info, deletes.

DHCore answers `/api/v1/-/{project}/files/{stores,info,download,upload,multipart/…,delete}`
(FilesStoreController) and `/{artifacts,dataitems,models}/{id}/files/…` (the context
controllers through BaseFilesService) by resolving a path to the store that handles its prefix
(FilesService.getStore: the S3 store for `s3://`, a read-only HttpStore for `http(s)://` and
`ftp://`) and handing out presigned URLs (S3FilesStore), so a browser or script moves the bytes
itself. The embedded core does the same with its own store: URLs point at its S3 endpoint
(`s3.py`), signed with the files-store key. Refusals are DHCore's: a path no store handles is
404 `No such entity.`, a filename with `/` or an upload path outside the entity's is 400, a
store failure is 500. Only the core's own store is writable here: a path in another bucket is
`No such entity.` too, as on a DHCore whose S3 store is bound to one bucket ("bucket mismatch"
is DHCore's 500 for that; 404 says the same without blaming the server).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from dhmlrun.core import sigv4
from dhmlrun.core.errors import ApiError, bad_request, not_found
from dhmlrun.core.objects import ObjectError, ObjectStore
from dhmlrun.core.s3 import PREFIX

URL_DURATION = 3600 * 8
"""S3FilesStore.URL_DURATION: 8 hours."""
MAX_DURATION = 3600 * 24 * 5
MAX_KEYS = 200
"""S3FilesStore.MAX_KEYS: a folder's info lists at most this many files."""
HTTP_PREFIXES = ("http://", "https://", "ftp://")


@dataclass(frozen=True)
class StorePath:
    """An `s3://bucket/key` path split."""

    bucket: str
    key: str


def split_s3(path: str) -> StorePath | None:
    if not path.startswith("s3://"):
        return None
    bucket, _, key = path[len("s3://") :].partition("/")
    return StorePath(bucket, key) if bucket else None


def _instant(moment: datetime) -> str:
    """Jackson's Instant: ISO-8601 in UTC with `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond:06d}".rstrip("0").rstrip(".")) + "Z"


def _date(epoch_ms: int) -> str:
    """Jackson's java.util.Date under Spring Boot (StdDateFormat): `…T…​.SSS+00:00`."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}+00:00"


class FilesService:
    """Paths → stores → presigned URLs and file info (module docstring)."""

    def __init__(self, objects: ObjectStore, default_store: str, credentials: tuple[str, str]) -> None:
        self.objects = objects
        self.default_store = default_store.rstrip("/")
        self.access_key, self.secret = credentials

    # the store of a path ----------------------------------------------------------------------

    def store_default(self, project_spec: dict[str, Any] | None) -> str:
        """FilesService.getDefaultStore: the project's `config.default_files_store`, else the core's."""
        config = (project_spec or {}).get("config")
        chosen = config.get("default_files_store") if isinstance(config, dict) else None
        if isinstance(chosen, str) and chosen.strip():
            return chosen.rstrip("/")
        return self.default_store

    def _own(self, path: str) -> StorePath:
        """The bucket and key of a path in this core's store; 404 like a path no store handles."""
        target = split_s3(path)
        if target is None or not self.objects.bucket_exists(target.bucket):
            raise not_found("entity")
        return target

    # reads ------------------------------------------------------------------------------------

    def file_info(self, path: str) -> list[dict[str, Any]]:
        """S3FilesStore.fileInfo (not recursive): one file, or a folder's files and subfolders."""
        if path.startswith(HTTP_PREFIXES):
            return []
        target = self._own(path)
        try:
            if not target.key or target.key.endswith("/"):
                return self._folder_info(target)
            info = self.objects.head(target.bucket, target.key)
        except ObjectError as exc:
            raise ApiError(500, f"error with s3: {exc.message}") from exc
        entry: dict[str, Any] = {
            "name": target.key.rsplit("/", 1)[-1],
            "content_type": info.content_type,
            "size": info.size,
            "last_modified": _date(info.modified),
            "hash": f"ETAG:{info.etag}",
        }
        entry.update({f"Metadata.{k}": v for k, v in info.metadata.items()})
        return [entry]

    def _folder_info(self, target: StorePath) -> list[dict[str, Any]]:
        prefix = target.key if target.key != "/" else ""
        listing = self.objects.list(target.bucket, prefix=prefix, delimiter="/", max_keys=MAX_KEYS)
        folders = [{"path": p[len(prefix) :], "name": p[len(prefix) :]} for p in listing.prefixes]
        files = [
            {
                "path": o.key[len(prefix) :],
                "name": o.key.rsplit("/", 1)[-1],
                "size": o.size,
                "last_modified": _date(o.modified),
            }
            for o in listing.objects
        ]
        return folders + files

    def download(self, path: str, origin: str, duration: int | None = None) -> dict[str, Any] | None:
        """A download URL (DownloadInfo), or None for a folder (DHCore answers an empty body)."""
        if path.startswith(HTTP_PREFIXES):
            return {"path": path, "url": path}
        target = self._own(path)
        if target.key.endswith("/") or not target.key:
            return None
        expires = duration if duration is not None and 0 < duration < MAX_DURATION else URL_DURATION
        return {
            "path": path,
            "url": self._presign("GET", origin, target, expires),
            "expiration": _instant(datetime.now(UTC) + timedelta(seconds=expires)),
        }

    # writes -----------------------------------------------------------------------------------

    def upload(self, path: str, origin: str) -> dict[str, Any] | None:
        """A presigned PUT (UploadInfo); None for a folder."""
        target = self._writable(path)
        if target.key.endswith("/"):
            return None
        return {
            "path": path,
            "url": self._presign("PUT", origin, target, URL_DURATION),
            "method": "PUT",
            "expiration": _instant(datetime.now(UTC) + timedelta(seconds=URL_DURATION)),
        }

    def start_multipart(self, path: str) -> dict[str, Any] | None:
        target = self._writable(path)
        if target.key.endswith("/"):
            return None
        upload_id = self._store_call(lambda: self.objects.start_upload(target.bucket, target.key))
        return {"path": path, "uploadId": upload_id, "method": "POST"}

    def multipart_part(self, path: str, upload_id: str, part: int, origin: str) -> dict[str, Any] | None:
        target = self._writable(path)
        if target.key.endswith("/"):
            return None
        extra = {"partNumber": str(part), "uploadId": upload_id}
        return {
            "path": path,
            "url": self._presign("PUT", origin, target, URL_DURATION, extra),
            "method": "PUT",
            "partNumber": part,
            "expiration": _instant(datetime.now(UTC) + timedelta(seconds=URL_DURATION)),
        }

    def complete_multipart(self, path: str, upload_id: str, etags: list[str]) -> dict[str, Any] | None:
        """S3FilesStore.completeMultiPartUpload: part i+1 is the i-th ETag of the list."""
        target = self._writable(path)
        if target.key.endswith("/"):
            return None
        parts = [(index + 1, etag) for index, etag in enumerate(etags)]
        self._store_call(lambda: self.objects.complete_upload(target.bucket, target.key, upload_id, parts))
        return {"path": path, "uploadId": upload_id, "method": "POST"}

    def delete(self, path: str) -> None:
        """S3FilesStore.remove: one object, or every object under a folder path."""
        target = self._own(path)

        def remove() -> None:
            if target.key and not target.key.endswith("/"):
                self.objects.delete(target.bucket, target.key)
                return
            while True:
                listing = self.objects.list(target.bucket, prefix=target.key, max_keys=1000)
                for info in listing.objects:
                    self.objects.delete(target.bucket, info.key)
                if not listing.truncated:
                    return

        self._store_call(remove)

    def entity_upload_path(
        self,
        project: str,
        project_spec: dict[str, Any] | None,
        entity_type: str,
        name: str | None,
        entity_id: str | None,
        filename: str,
    ) -> str:
        """BaseFilesService.uploadFileAsUrl's path: STORE/PROJECT/TYPE/[NAME/]ID/FILENAME."""
        subpath = (f"{name}/" if name else "") + (entity_id or str(uuid.uuid4()))
        base = f"{self.store_default(project_spec)}/{project}/{entity_type}/{subpath}/"
        return base + (filename[1:] if filename.startswith("/") else filename)

    # internals --------------------------------------------------------------------------------

    def _writable(self, path: str) -> StorePath:
        if path.startswith(HTTP_PREFIXES):
            raise ApiError(500, "upload is not supported by the http store")
        return self._own(path)

    def _store_call(self, call: Any) -> Any:
        try:
            return call()
        except ObjectError as exc:
            raise ApiError(500, f"error with s3: {exc.message}") from exc

    def _presign(
        self, method: str, origin: str, target: StorePath, expires: int, extra: dict[str, str] | None = None
    ) -> str:
        raw_path = f"{PREFIX}/{quote(target.bucket, safe='')}/{quote(target.key, safe='/~')}"
        return sigv4.presign(
            method,
            origin,
            raw_path,
            access_key=self.access_key,
            secret=self.secret,
            expires=expires,
            extra_query=extra,
        )


def check_filename(filename: str) -> None:
    """FilesStoreController: `invalid filename` (400) for a name with a slash."""
    if "/" in filename:
        raise bad_request("invalid filename")


def join_filename(path: str, filename: str) -> str:
    return path + filename if path.endswith("/") else f"{path}/{filename}"
