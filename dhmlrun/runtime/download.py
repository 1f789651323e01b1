"""Stream an http(s) URL to a file in fixed-size chunks, so memory stays bounded for any size.

A download is complete only when every byte the server announced arrived: `http.client` returns
a short body without complaint when a server sends a `Content-Length` larger than the body and
closes the connection, so the bytes are counted here and compared. A chunked response cut off
mid-stream raises `IncompleteRead`, which is reported the same way. The data goes to a `.part`
file that replaces the destination only when complete, so a failed download never leaves a
file that looks like data.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from dhmlrun.runtime.errors import ExecutionError

CHUNK_BYTES = 1024 * 1024
TIMEOUT_SECONDS = 60


def url_file_name(url: str, default: str = "data") -> str:
    """The last path segment of `url` (what a browser would save it as), else `default`."""
    name = unquote(urlparse(url).path.rstrip("/").rsplit("/", 1)[-1])
    return name or default


def download_url(url: str, dest: Path, max_bytes: int | None = None) -> Path:
    """Download `url` to `dest`; every failure is an `ExecutionError` naming the URL and the cause.
    With `max_bytes`, a longer body is refused as it arrives (and nothing is kept)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "dhmlrun"})
    partial = dest.with_name(dest.name + ".part")
    complete = False
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response, partial.open("wb") as out:
            _stream(url, response, out, max_bytes)
        complete = True
    except urllib.error.HTTPError as exc:
        raise ExecutionError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ExecutionError(f"cannot download {url}: {reason}") from exc
    finally:
        if not complete:
            partial.unlink(missing_ok=True)
    partial.replace(dest)
    return dest


def _stream(url: str, response: http.client.HTTPResponse, out: BinaryIO, max_bytes: int | None = None) -> int:
    """Copy the body chunk by chunk; raise when fewer bytes arrive than the server announced, or
    more than `max_bytes`."""
    expected = _content_length(response)
    received = 0
    try:
        while chunk := response.read(CHUNK_BYTES):
            received += len(chunk)
            if max_bytes is not None and received > max_bytes:
                raise ExecutionError(f"cannot download {url}: it is larger than {max_bytes:,} bytes")
            out.write(chunk)
    except http.client.IncompleteRead as exc:
        raise ExecutionError(
            f"cannot download {url}: truncated: the connection closed in the middle of the response "
            f"after {received + len(exc.partial)} bytes"
        ) from exc
    if expected is not None and received < expected:
        raise ExecutionError(
            f"cannot download {url}: truncated: received {received} of the {expected} bytes "
            "announced by Content-Length before the connection closed"
        )
    return received


def _content_length(response: http.client.HTTPResponse) -> int | None:
    """The announced body size, or None when the server did not say (chunked, or no header)."""
    if (response.headers.get("Transfer-Encoding") or "").lower() == "chunked":
        return None
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
