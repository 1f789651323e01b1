"""Platform access: which DHCore to talk to, and the narrow `Platform` interface to it.

Endpoint resolution (`connection.resolve_connection`; the precedence, for users: docs/reference.md,
"Connecting to DigitalHub"): `--endpoint`, a profile, `DHCORE_ENDPOINT`, the SDK's current ini
profile. When none resolves, the caller falls back to the embedded core (`dhmlrun.api.open_platform`,
`dhmlrun.core.embedded`): the core is built on this package, so this package never starts one.
Nothing here imports the digitalhub SDK or mlrun; HTTP code is imported only for a remote endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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
    "mlrun_service",
    "recorded_endpoint",
    "remote_platform",
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


def mlrun_service(
    explicit: str | None, connection: object, environ: Mapping[str, str]
) -> MLRunService | None:
    """The MLRun API configured beside the platform, or None: first found, `explicit` (the
    environment's `mlrun:`), the connection's profile's `mlrun_dbpath`, `MLRUN_DBPATH`."""
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
