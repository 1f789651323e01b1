"""What a function's code can be: one table, read by `validate` and by the runtime alike.

`source.source` is one of:

| written                                                     | the runtime                        |
|-------------------------------------------------------------|------------------------------------|
| a local file, `src/job.py`                                  | gets its content embedded, below   |
| a local archive, `src/code.zip` (`.tar`, `.tar.gz`, `.tgz`) | gets its content embedded, below   |
| `git+https://host/repo.git#ref` (branch, tag or commit)     | clones it with the git CLI         |
| `https://host/path/job.py`                                  | downloads the file                 |
| `https://host/code.zip` (`.tar`, ...), `zip+https://host/x` | downloads and unpacks the archive  |
| `s3://bucket/job.py`                                        | downloads it (the SDK's S3 store)  |
| `s3://bucket/code.zip` (`.tar`, ...), `zip+s3://bucket/x`   | downloads and unpacks the archive  |

A local file is shipped inside the function's spec, as `source.base64` (by `plan`, or by the
SDK's builder when a function is created from Python), so any worker runs exactly the code that
was declared; it may therefore hold at most `MAX_EMBEDDED_BYTES`. `code:` is inline Python text,
`base64:` is base64 of Python text or of an archive. Whether embedded bytes are an archive is
told from their first bytes (`archive.archive_format`), never from a name, so an archive shipped
as base64 is unpacked, and text that is not UTF-8 (nor an archive) is refused by `validate`.
Archives are unpacked by `dhmlrun.archive`, within its limits.

A declaration accepts the forms above only; the runtime also takes plain `http://`,
`zip+http://`, `git+http://`, `git://` and `file://`, which the SDK's users may give it directly
(and which tests serve on loopback). Standard library only: `validate` must stay light.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlparse

from dhmlrun.archive import archive_format

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
MAX_EMBEDDED_BYTES = 8 * 1024 * 1024
"""A local source's size: embedded as base64 (a third larger) in a spec the platform must accept."""


class Fetch(StrEnum):
    """Where the runtime gets the code from."""

    LOCAL = "local"
    GIT = "git"
    HTTP = "http"
    S3 = "s3"


@dataclass(frozen=True)
class SourceForm:
    """How to fetch a `source.source`: from where, and whether it is an archive (None: a local
    file, told by its content)."""

    fetch: Fetch
    location: str
    archive: bool | None


class UnsupportedSource(ValueError):
    """A `source.source` no form accepts; the message lists the forms."""


DECLARED_SCHEMES: dict[str, tuple[Fetch, bool | None]] = {
    "git+https": (Fetch.GIT, None),
    "https": (Fetch.HTTP, None),
    "zip+https": (Fetch.HTTP, True),
    "s3": (Fetch.S3, None),
    "zip+s3": (Fetch.S3, True),
}
"""URL schemes a declaration may use, with how each is fetched (None: told by the URL's suffix)."""
RUNTIME_SCHEMES: dict[str, tuple[Fetch, bool | None]] = {
    **DECLARED_SCHEMES,
    "git+http": (Fetch.GIT, None),
    "git": (Fetch.GIT, None),
    "http": (Fetch.HTTP, None),
    "zip+http": (Fetch.HTTP, True),
}
FORMS = (
    "a local file or .zip/.tar/.tar.gz/.tgz archive, git+https://HOST/REPO.git#REF, "
    "https:// or s3:// naming a .py file or an archive, zip+https://, zip+s3://"
)


def classify_source(uri: str, *, declared: bool = False) -> SourceForm:
    """How `uri` is fetched; `declared` applies the declaration's stricter list of schemes."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme == "" or len(scheme) == 1:  # one letter: a Windows drive
        return SourceForm(Fetch.LOCAL, uri, None)
    if scheme == "file" and not declared:
        return SourceForm(Fetch.LOCAL, parsed.path, None)
    schemes = DECLARED_SCHEMES if declared else RUNTIME_SCHEMES
    if scheme not in schemes:
        raise UnsupportedSource(f"unsupported source {uri!r}: dhmlrun cannot fetch {scheme}:// code")
    fetch, archive = schemes[scheme]
    location = uri.split("+", 1)[1] if scheme.startswith("zip+") else uri
    if fetch is Fetch.GIT or archive is not None:
        return SourceForm(fetch, location, archive)
    path = parsed.path.lower()
    if path.endswith(ARCHIVE_SUFFIXES):
        return SourceForm(fetch, location, True)
    if path.endswith(".py"):
        return SourceForm(fetch, location, False)
    raise UnsupportedSource(
        f"unsupported source {uri!r}: an {scheme}:// source must name a .py file or an "
        f"archive ({', '.join(ARCHIVE_SUFFIXES)}), or be written zip+{scheme}://"
    )


def size_problem(size: int) -> str | None:
    """Why code of `size` bytes cannot be shipped in a function's spec, or None."""
    if size <= MAX_EMBEDDED_BYTES:
        return None
    return (
        f"it is {size:,} bytes; code shipped in the function's spec may be at most "
        f"{MAX_EMBEDDED_BYTES:,} (publish it as an https, s3 or git source instead)"
    )


def embedded_problem(content: bytes) -> str | None:
    """Why embedded code (a local file's or `base64`'s bytes) cannot run, or None: it must be an
    archive or UTF-8 text, and small enough to ship."""
    too_big = size_problem(len(content))
    if too_big:
        return too_big
    if archive_format(content[:512]) is not None:
        return None
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return "it is neither UTF-8 text nor a zip or tar archive"
    return None
