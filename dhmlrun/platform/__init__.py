"""Platform access: which DHCore to talk to, and the narrow `Platform` interface to it.

Endpoint resolution (`connection.resolve_connection`; the precedence, for users: docs/reference.md,
"Connecting to DigitalHub"): `--endpoint`, a profile,
`DHCORE_ENDPOINT`, the SDK's current ini profile; else the embedded core on
`<config dir>/.dhmlrun/core.db`, answered in this process without a socket (and served over
HTTP, behind a fresh token, only when a run worker needs to reach it). Nothing here imports the
digitalhub SDK or mlrun; HTTP code is imported only for a remote endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from dhmlrun.errors import DhmlrunError
from dhmlrun.platform.dhcore import Platform
from dhmlrun.platform.state import PlatformState, RemoteEntity, RemoteRun
from dhmlrun.vocabulary.settings import FILES_STORE_ENV

if TYPE_CHECKING:
    from dhmlrun.platform.mlrun import MLRunService
    from dhmlrun.platform.transport import HttpTransport

__all__ = [
    "EMBEDDED",
    "Platform",
    "PlatformState",
    "RemoteEntity",
    "RemoteRun",
    "check_same_platform",
    "embedded_db_path",
    "open_platform",
    "recorded_endpoint",
]

EMBEDDED = "embedded"
"""What a saved plan records as its endpoint when it was made against the embedded core."""


def recorded_endpoint(platform: Platform) -> str:
    """The endpoint to record in a saved plan (the embedded core has no lasting URL)."""
    return EMBEDDED if platform.embedded else platform.endpoint


def check_same_platform(recorded: str | None, platform: Platform) -> None:
    """Refuse to apply a saved plan to another platform than the one it was made against."""
    if recorded is None or recorded_endpoint(platform).rstrip("/") == recorded.rstrip("/"):
        return
    if recorded == EMBEDDED:
        raise DhmlrunError.single(
            f"the saved plan was made against the embedded core; it cannot be applied to {platform.shown}"
        )
    raise DhmlrunError.single(
        f"the saved plan was made against {recorded}, but this apply would go to {platform.shown}; "
        f"apply it where it was made (--endpoint {recorded})"
    )


def embedded_db_path(root: Path) -> Path:
    """Where the embedded core keeps a config repo's platform state."""
    return Path(root) / ".dhmlrun" / "core.db"


@contextmanager
def open_platform(
    root: Path,
    endpoint: str | None = None,
    profile: str | None = None,
    environment_profile: str | None = None,
    *,
    embedded_only: bool = False,
    fallback_endpoint: str | None = None,
    environ: Mapping[str, str] = os.environ,
    mlrun: str | None = None,
) -> Iterator[Platform]:
    """Yield the Platform for the resolved connection (module docstring).

    `embedded_only` skips resolution (a saved plan made on the embedded core is applied there);
    `fallback_endpoint` replaces the embedded core when nothing else resolves (a saved plan goes
    back to the platform it was made against). The MLRun service beside it (used when DHCore has
    no `mlrun` runtime) is, first found: `mlrun` (the environment's `mlrun:`), the chosen
    profile's `mlrun_dbpath`, `MLRUN_DBPATH`.
    """
    from dhmlrun.platform.connection import resolve_connection

    connection = None
    if not embedded_only:
        connection = resolve_connection(
            endpoint=endpoint or None,
            profile=profile,
            environment_profile=environment_profile,
            environ=environ,
        )
        if connection is None and fallback_endpoint:
            connection = resolve_connection(
                endpoint=fallback_endpoint, profile=None, environment_profile=None, environ=environ
            )
    service = mlrun_service(mlrun, connection, environ)
    if connection is not None:
        yield remote_platform(connection, environ, service)
        return
    with embedded_platform(root, service, files_store=environ.get(FILES_STORE_ENV)) as platform:
        yield platform


def mlrun_service(
    explicit: str | None, connection: object, environ: Mapping[str, str]
) -> MLRunService | None:
    """The MLRun API configured beside the platform (see `open_platform`), or None."""
    from dhmlrun.platform.connection import Connection
    from dhmlrun.platform.mlrun import MLRunService

    profile = connection.variables.get("MLRUN_DBPATH") if isinstance(connection, Connection) else None
    url = explicit or profile or environ.get("MLRUN_DBPATH") or ""
    return MLRunService(url, _http(url, environ)) if "://" in url else None


def remote_platform(
    connection: object, environ: Mapping[str, str] = os.environ, mlrun: MLRunService | None = None
) -> Platform:
    """A DHCore reached over HTTP with the connection's credentials."""
    from dhmlrun.platform.auth import Credentials
    from dhmlrun.platform.connection import Connection
    from dhmlrun.platform.rest import RestClient

    assert isinstance(connection, Connection)
    client = RestClient(_http(connection.endpoint, environ), Credentials(connection.variables))
    return Platform(
        client,
        shown=connection.endpoint,
        sdk_environment=connection.sdk_environ,
        mlrun=mlrun,
        files_store=connection.variables.get(FILES_STORE_ENV),
    )


def _http(endpoint: str, environ: Mapping[str, str]) -> HttpTransport:
    from dhmlrun.platform.transport import HttpTransport

    return HttpTransport(endpoint, environ)


@contextmanager
def embedded_platform(
    root: Path, mlrun: MLRunService | None = None, *, files_store: str | None = None
) -> Iterator[Platform]:
    """The embedded core of the config repo at `root`, in this process, for the block; its
    default files store is its own, or `files_store` (`DHCORE_DEFAULT_FILES_STORE`) when set."""
    from dhmlrun.core.server import EmbeddedCore
    from dhmlrun.platform.rest import RestClient

    db = embedded_db_path(root)
    core = EmbeddedCore(db, files_store=files_store)
    try:
        shown = f"the embedded core ({_display(db)})"
        yield Platform(
            RestClient(core.transport()),
            embedded=True,
            shown=shown,
            sdk_environment=core.client_environment,
            mlrun=mlrun,
            files_store=core.files_store,
        )
    finally:
        core.close()


def _display(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative
