"""The embedded core as the platform of one command: started in this process on a config repo's
database, answered without a socket (and served over HTTP, behind a fresh token, only when a run
worker needs to reach it).

It stands here, above `dhmlrun.platform`, because the core is built on the platform client's
parts (the `Transport` it answers, the environment it gives its workers): the platform layer
never starts a core. `dhmlrun.api.open_platform` falls back to it when no endpoint is configured.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from dhmlrun.platform.dhcore import Platform

if TYPE_CHECKING:
    from dhmlrun.platform.mlrun import MLRunService


def embedded_db_path(root: Path) -> Path:
    """Where the embedded core keeps a config repo's platform state."""
    return Path(root) / ".dhmlrun" / "core.db"


@contextmanager
def embedded_platform(
    root: Path, mlrun: MLRunService | None = None, *, files_store: str | None = None
) -> Iterator[Platform]:
    """The embedded core of the config repo at `root`, in this process, for the block; its
    default files store is its own, or `files_store` (`DHCORE_DEFAULT_FILES_STORE`) when set."""
    from dhmlrun.core.server import EmbeddedCore
    from dhmlrun.platform.rest import RestClient
    from dhmlrun.serving.endpoints import refusals

    db = embedded_db_path(root)
    core = EmbeddedCore(db, files_store=files_store)
    try:
        yield Platform(
            RestClient(core.transport()),
            embedded=True,
            shown=f"the embedded core ({_display(db)})",
            sdk_environment=core.client_environment,
            mlrun=mlrun,
            files_store=core.files_store,
            service_refusals=refusals(),
        )
    finally:
        core.close()


def _display(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative
