"""Platform access: which DHCore to talk to, and the narrow `Platform` interface to it.

Endpoint resolution (design §3): `--endpoint`, else `DHCORE_ENDPOINT`, else the SDK's own
`~/.dhcore.ini` profile, else the embedded core on `<config dir>/.dhmlrun/core.db`, started in
this process. The SDK and the core are imported only when a platform is actually opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dhmlrun.platform.client import Platform
from dhmlrun.platform.sdk_client import reset_sdk_client
from dhmlrun.platform.state import PlatformState, RemoteEntity, RemoteRun

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

RUNS_DIR_ENV = "DHMLRUN_RUNS_DIR"
"""Where the mlrun runtime keeps run directories (outputs registered by local path live there)."""

EMBEDDED = "embedded"
"""What a saved plan records as its endpoint when it was made against the embedded core."""


def recorded_endpoint(platform: Platform) -> str:
    """The endpoint to record in a saved plan (the embedded core's port changes every time)."""
    return EMBEDDED if platform.embedded else platform.endpoint


def check_same_platform(recorded: str | None, platform: Platform) -> None:
    """Refuse to apply a saved plan to another platform than the one it was made against."""
    from dhmlrun.errors import DhmlrunError

    if recorded is None or recorded_endpoint(platform).rstrip("/") == recorded.rstrip("/"):
        return
    if recorded == EMBEDDED:
        raise DhmlrunError.single(
            f"the saved plan was made against the embedded core; it cannot be applied to {platform.endpoint}"
        )
    raise DhmlrunError.single(
        f"the saved plan was made against {recorded}, but this apply would go to {platform.endpoint}; "
        f"apply it where it was made (--endpoint {recorded})"
    )


def embedded_db_path(root: Path) -> Path:
    """Where the embedded core keeps a config repo's platform state."""
    return Path(root) / ".dhmlrun" / "core.db"


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block (the SDK and run workers read them), then restore."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def open_platform(
    root: Path,
    endpoint: str | None = None,
    profile: str | None = None,
    environment_profile: str | None = None,
    *,
    embedded_only: bool = False,
    fallback_endpoint: str | None = None,
) -> Iterator[Platform]:
    """Yield a Platform for the resolved endpoint; starts (and stops) the embedded core if needed.

    Resolution is `dhmlrun.connection.resolve_connection` (--endpoint, --profile or the
    environment's profile, DHCORE_ENDPOINT, the SDK's current ini profile), else the embedded
    core. The chosen connection's variables are set for the block, so the SDK in this process
    and the run workers apply starts all talk to the same platform with the same credentials.
    `embedded_only` skips resolution: a saved plan made on the embedded core is applied there;
    `fallback_endpoint` replaces the embedded core when nothing else resolves (a saved plan
    goes back to the platform it was made against).
    """
    from dhmlrun.connection import resolve_connection

    connection = None
    if not embedded_only:
        connection = resolve_connection(
            endpoint=endpoint or None,
            profile=profile,
            environment_profile=environment_profile,
            environ=os.environ,
        )
        if connection is None and fallback_endpoint:
            connection = resolve_connection(
                endpoint=fallback_endpoint, profile=None, environment_profile=None, environ=os.environ
            )
    if connection is not None:
        with _environment(connection.sdk_environ()):
            reset_sdk_client()
            try:
                yield Platform(connection.endpoint.rstrip("/"))
            finally:
                reset_sdk_client()
        return
    from dhmlrun.core.embedded import embedded_core

    db = embedded_db_path(root)
    db.parent.mkdir(parents=True, exist_ok=True)
    # the embedded core's own workers (execution: remote) keep outputs next to its db
    runs_dir = os.environ.get(RUNS_DIR_ENV) or str(db.parent.resolve() / "runs")
    with _environment({RUNS_DIR_ENV: runs_dir}), embedded_core(db) as core:
        yield Platform(core.endpoint, embedded=True)
