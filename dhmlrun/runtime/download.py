"""Stream an http(s) URL to a file in fixed-size chunks, so memory stays bounded for any size."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

from dhmlrun.runtime.errors import ExecutionError

CHUNK_BYTES = 1024 * 1024
TIMEOUT_SECONDS = 60


def url_file_name(url: str, default: str = "data") -> str:
    """The last path segment of `url` (what a browser would save it as), else `default`."""
    name = unquote(urlparse(url).path.rstrip("/").rsplit("/", 1)[-1])
    return name or default


def download_url(url: str, dest: Path) -> Path:
    """Download `url` to `dest`; every failure is an `ExecutionError` naming the URL and the cause."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "dhmlrun"})
    partial = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out, CHUNK_BYTES)
    except urllib.error.HTTPError as exc:
        partial.unlink(missing_ok=True)
        raise ExecutionError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise ExecutionError(f"cannot download {url}: {reason}") from exc
    partial.replace(dest)
    return dest
