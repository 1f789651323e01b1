"""Fetch every run input to a local path mlrun can read.

An input is an entity key (`store://…` of a dataitem, artifact or model, read through the SDK)
or a plain path/URL. Its data is then taken from its path: a local path is used in place,
http(s) is streamed to the run directory in chunks, and anything else (s3, …) goes through
the SDK's store for that scheme (configured by the SDK's own settings). A table dataitem on a
store that cannot download (sql) is materialised as parquet through the SDK.

A `.parquet` input is checked before the handler runs (its footer is read, which is cheap), so a
truncated or corrupt file fails the run with a message naming the input instead of surfacing
as an anonymous reader error inside the handler.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dhmlrun.runtime.download import download_url, url_file_name
from dhmlrun.runtime.errors import ExecutionError

STORE_PREFIX = "store://"
PARQUET_SUFFIXES = (".parquet", ".pq")


def fetch_inputs(inputs: dict[str, str], dest: Path) -> dict[str, str]:
    """Map each input name to a local path (or a URL mlrun reads itself is never passed on)."""
    return {name: fetch_input(name, ref, dest / name) for name, ref in inputs.items()}


def fetch_input(name: str, ref: str, dest: Path) -> str:
    """The local path of input `name`; every failure names the input and the cause."""
    entity = _read_entity(name, ref) if ref.startswith(STORE_PREFIX) else None
    path = entity.spec.path if entity is not None else ref
    scheme = urlparse(path).scheme.lower()
    if scheme in ("", "file") or len(scheme) == 1:
        local = _local(name, path)
    elif scheme in ("http", "https"):
        local = _download(name, path, dest)
    else:
        local = _through_sdk(name, entity, path, dest)
    check_parquet(name, path, Path(local))
    return local


def _download(name: str, url: str, dest: Path) -> str:
    try:
        return str(download_url(url, dest / url_file_name(url)))
    except ExecutionError as exc:
        raise ExecutionError(f"input {name!r}: {exc}") from exc


def check_parquet(name: str, path: str, local: Path) -> None:
    """Refuse a `.parquet` file whose footer cannot be read (truncated, corrupt, not parquet).

    Only the footer (schema and row groups) is read; a file with a valid footer but damaged
    pages still reaches the handler, whose reader error then becomes the run's message.
    """
    if local.suffix.lower() not in PARQUET_SUFFIXES or not local.is_file():
        return
    try:
        import pyarrow.parquet as pq
    except ImportError:  # no pyarrow here: the handler's own reader decides
        return
    try:
        pq.ParquetFile(local).close()
    except Exception as exc:
        raise ExecutionError(f"input {name!r}: {path} is not a readable parquet file: {exc}") from exc


def _read_entity(name: str, key: str) -> Any:
    from digitalhub.entities._commons.utils import get_entity_type_from_key

    from dhmlrun.runtime.run import read_material_entity

    try:
        get_entity_type_from_key(key)
    except Exception as exc:
        raise ExecutionError(f"input {name!r}: {key!r} is not a valid entity key") from exc
    try:
        return read_material_entity(key)
    except Exception as exc:
        raise ExecutionError(f"input {name!r}: cannot read {key}: {exc}") from exc


def _local(name: str, path: str) -> str:
    local = Path(urlparse(path).path if path.startswith("file://") else path).expanduser().resolve()
    if not local.exists():
        raise ExecutionError(f"input {name!r}: {path} does not exist")
    return str(local)


def _through_sdk(name: str, entity: Any, path: str, dest: Path) -> str:
    """Download through the SDK's store for the path's scheme (s3 with the SDK's credentials)."""
    from digitalhub.stores.data.api import get_store

    try:
        if urlparse(path).scheme.lower() == "sql" and entity is not None:
            dest.mkdir(parents=True, exist_ok=True)
            target = dest / "data.parquet"
            entity.as_df().to_parquet(target)
            return str(target)
        return str(get_store(path).download(path, dest, overwrite=True))
    except Exception as exc:
        raise ExecutionError(f"input {name!r}: cannot fetch {path}: {exc}") from exc
