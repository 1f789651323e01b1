"""Unpack a zip or tar archive (plain or gzip-compressed) safely: inside the target, within limits.

A function's source may be an archive, and a declaration may come from a pull request, so an
archive is judged before anything is written: a member whose name is absolute or climbs with
`..`, a link pointing outside the target, a device or fifo member, more than `members` members,
more than `unpacked_bytes` in all, or an uncompressed total more than `ratio` times the archive's
own size (a zip bomb: 522 KB unpacking to 512 MB) refuse the whole archive, with nothing written.
The sizes judged are those the archive declares; zip never returns more than a member declares
(its reader stops there and checks the CRC), and a tar stream is read through a counter that
stops at the same budget, so an archive lying about its sizes is stopped mid-extraction and what
was written is removed. Tar members are extracted with the standard library's `data` filter,
which checks links again as they are created (a file written through a symlink extracted before).
`check` runs the same judgement without unpacking, for `validate`. Standard library only, and
`gzip`, `tarfile` and `zipfile` are imported on first use: telling an archive by its first bytes
(`archive_format`) is all `validate` needs for a plain source file.
"""

from __future__ import annotations

import contextlib
import io
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import tarfile
    import zipfile

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
GZIP_MAGIC = b"\x1f\x8b"
TAR_MAGIC_OFFSET = 257
"""A POSIX or GNU tar header says `ustar` here."""
ZIP_TAIL_BYTES = 22 + 65_535 + 20 + 56
"""Where a zip's end records are: the last record, its longest comment, the zip64 locator and record."""
ZIP_ENTRY_BYTES = 1024
"""Central-directory bytes allowed per permitted member (46 fixed, then name, extra and comment)."""


@dataclass(frozen=True)
class ArchiveLimits:
    """What one archive may unpack to; see the module docstring."""

    members: int = 10_000
    unpacked_bytes: int = 100 * 1024 * 1024
    ratio: int = 100
    ratio_floor_bytes: int = 1024 * 1024
    """Archives unpacking to less than this are never refused for their ratio."""


LIMITS = ArchiveLimits()


class ArchiveRefused(Exception):
    """The archive is unsafe, over a limit, or not an archive; the message says which."""


def archive_format(head: bytes) -> str | None:
    """`zip` or `tar` (plain or gzip-compressed) from an archive's first bytes, else None."""
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(GZIP_MAGIC) or head[TAR_MAGIC_OFFSET : TAR_MAGIC_OFFSET + 5] == b"ustar":
        return "tar"
    return None


Source = Path | bytes


def check(archive: Source, limits: ArchiveLimits = LIMITS) -> None:
    """Judge `archive` (a file or its bytes) as `unpack` would, without writing anything."""
    _judge(archive, Path("/nonexistent-target"), limits)


def unpack(archive: Source, dest: Path, limits: ArchiveLimits = LIMITS) -> None:
    """Unpack `archive` into `dest` (created; removed again when unpacking fails)."""
    import shutil
    import tarfile
    import zipfile

    kind = _judge(archive, dest, limits)
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "zip":
            with zipfile.ZipFile(_open(archive)) as zf:
                zf.extractall(dest)
        else:
            with _tar_stream(archive, limits) as tf:
                tf.extractall(dest, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, ArchiveRefused) as exc:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        raise ArchiveRefused(_reason(exc)) from exc


def _judge(archive: Source, dest: Path, limits: ArchiveLimits) -> str:
    import tarfile
    import zipfile

    try:
        with _open(archive) as stream:
            kind = archive_format(stream.read(TAR_MAGIC_OFFSET + 8))
        if kind is None:
            raise ArchiveRefused("it is neither a zip nor a tar archive")
        total = _judge_zip(archive, dest, limits) if kind == "zip" else _judge_tar(archive, dest, limits)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveRefused(_reason(exc)) from exc
    size = len(archive) if isinstance(archive, bytes) else archive.stat().st_size
    if total > limits.ratio_floor_bytes and total > limits.ratio * max(size, 1):
        raise ArchiveRefused(
            f"it unpacks to {total:,} bytes, more than {limits.ratio} times its own "
            f"{size:,} (a compression bomb?)"
        )
    return kind


def _judge_zip(archive: Source, dest: Path, limits: ArchiveLimits) -> int:
    import zipfile

    with _open(archive) as stream:
        _check_zip_directory(stream, limits)
    with zipfile.ZipFile(_open(archive)) as zf:
        members = zf.infolist()
        _check_count(len(members), limits)
        total = 0
        for member in members:
            _check_zip_member(zf, member, dest)
            total += member.file_size
            _check_total(total, limits)
        return total


def _check_zip_directory(stream: BinaryIO, limits: ArchiveLimits) -> None:
    """Refuse a central directory too large for `members` entries before `zipfile` reads it:
    it holds every entry in memory (a few hundred bytes each), however many the file lists."""
    size = stream.seek(0, io.SEEK_END)
    stream.seek(max(0, size - ZIP_TAIL_BYTES))
    tail = stream.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0:
        return  # zipfile says what is wrong
    directory = int.from_bytes(tail[end + 12 : end + 16], "little")
    zip64 = tail.rfind(b"PK\x06\x06", 0, end)
    if directory == 0xFFFFFFFF and zip64 >= 0:
        directory = int.from_bytes(tail[zip64 + 40 : zip64 + 48], "little")
    if directory > limits.members * ZIP_ENTRY_BYTES:
        raise ArchiveRefused(
            f"its directory of {directory:,} bytes lists more than {limits.members:,} members"
        )


def _check_zip_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, dest: Path) -> None:
    name = member.filename
    _check_name(name)
    if stat.S_ISLNK(member.external_attr >> 16):
        with zf.open(member) as target:
            link = target.read(4096).decode("utf-8", "replace")
        pure = PurePosixPath(name.replace("\\", "/"))
        resolved = (dest / pure.parent / link).resolve()
        if PurePosixPath(link).is_absolute() or not resolved.is_relative_to(dest.resolve()):
            raise ArchiveRefused(f"symlink {name!r} -> {link!r} points outside the target directory")


def _check_name(name: str) -> None:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or (len(name) > 1 and name[1] == ":") or ".." in pure.parts:
        raise ArchiveRefused(f"member {name!r} escapes the target directory")


def _judge_tar(archive: Source, dest: Path, limits: ArchiveLimits) -> int:
    import tarfile

    total = count = 0
    with _tar_stream(archive, limits) as tf:
        for member in tf:
            count += 1
            _check_count(count, limits)
            _check_name(member.name)
            if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
                raise ArchiveRefused(f"member {member.name!r} is not a file, a directory or a link")
            try:
                tarfile.data_filter(member, str(dest))
            except tarfile.FilterError as exc:
                raise ArchiveRefused(_filter_reason(member, exc)) from exc
            total += member.size if member.isreg() else 0
            _check_total(total, limits)
    return total


def _check_count(count: int, limits: ArchiveLimits) -> None:
    if count > limits.members:
        raise ArchiveRefused(f"it has more than {limits.members:,} members")


def _check_total(total: int, limits: ArchiveLimits) -> None:
    if total > limits.unpacked_bytes:
        raise ArchiveRefused(f"it unpacks to more than {limits.unpacked_bytes:,} bytes")


def _filter_reason(member: tarfile.TarInfo, exc: tarfile.FilterError) -> str:
    import tarfile

    if isinstance(exc, tarfile.LinkOutsideDestinationError | tarfile.AbsoluteLinkError):
        return f"link {member.name!r} -> {member.linkname!r} points outside the target directory"
    if isinstance(exc, tarfile.OutsideDestinationError | tarfile.AbsolutePathError):
        return f"member {member.name!r} escapes the target directory"
    return f"member {member.name!r} is refused: {exc}"


def _reason(exc: BaseException) -> str:
    import gzip
    import tarfile
    import zipfile

    if isinstance(exc, ArchiveRefused):
        return str(exc)
    if isinstance(exc, tarfile.FilterError):
        member = getattr(exc, "tarinfo", None)
        return _filter_reason(member, exc) if member is not None else str(exc)
    if isinstance(exc, zipfile.BadZipFile):
        return f"it is not a valid zip file: {exc}"
    if isinstance(exc, tarfile.TarError | EOFError | gzip.BadGzipFile):
        return f"it is not a valid tar archive: {exc}"
    return f"it cannot be read: {exc}"


def _open(archive: Source) -> BinaryIO:
    return io.BytesIO(archive) if isinstance(archive, bytes) else archive.open("rb")


@contextlib.contextmanager
def _tar_stream(archive: Source, limits: ArchiveLimits) -> Iterator[tarfile.TarFile]:
    """The archive as a tar stream, decompressed here so its bytes can be counted: a tar that
    lies about its members' sizes (or hides data in long-name headers) is stopped at the budget."""
    import gzip
    import tarfile

    with _open(archive) as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        decompressed: BinaryIO = gzip.GzipFile(fileobj=raw) if gzipped else raw
        budget = limits.unpacked_bytes + (limits.members + 16) * 1024
        with tarfile.open(fileobj=_Counted(decompressed, budget, limits), mode="r|") as tf:
            yield tf


class _Counted(io.RawIOBase):
    """A read-only stream that refuses to give more than `budget` bytes in all."""

    def __init__(self, inner: BinaryIO, budget: int, limits: ArchiveLimits) -> None:
        super().__init__()
        self.inner, self.budget, self.limits, self.read_so_far = inner, budget, limits, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size if size is not None and size >= 0 else self.budget - self.read_so_far + 1)
        self.read_so_far += len(data)
        if self.read_so_far > self.budget:
            raise ArchiveRefused(f"it unpacks to more than {self.limits.unpacked_bytes:,} bytes")
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
