"""`embedded_core`: the core in this process, with the digitalhub SDK pointed at it.

The SDK caches its HTTP client (with the endpoint read at build time) in a module-level factory,
and every project context holds that client too. Setting `DHCORE_ENDPOINT` alone therefore does
nothing once the SDK has talked to another endpoint in this process. So on entry and on exit we
reset the client factory and drop the cached project contexts; the next SDK call builds a client
from the environment again. digitalhub is only touched if something already imported it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dhmlrun.core.executor import DEFAULT_MAX_WORKERS, SDK_CREDENTIAL_ENV
from dhmlrun.core.server import CoreServer

_ENV_KEYS = ("DHCORE_ENDPOINT", *SDK_CREDENTIAL_ENV)


def reset_sdk_client() -> None:
    """Forget the SDK's cached client and project contexts so it re-reads its configuration.

    Safe to call when digitalhub was never imported (then nothing is cached and nothing is imported).
    """
    if "digitalhub" not in sys.modules:
        return
    from digitalhub.context.builder import context_builder
    from digitalhub.stores.client.base.factory import client_factory

    client_factory.reset()
    # ContextBuilder has `remove(name)` but no way to list names; its registry is this dict.
    for name in list(getattr(context_builder, "_instances", {})):
        context_builder.remove(name)


@contextmanager
def embedded_core(
    db_path: Path | str, *, token: str | None = None, max_workers: int = DEFAULT_MAX_WORKERS
) -> Iterator[CoreServer]:
    """Serve a core on `db_path` at `http://127.0.0.1:<free port>` for the duration of the block.

    Sets `DHCORE_ENDPOINT` (and `DHCORE_ACCESS_TOKEN` when a token is given) for this process and
    its children, hides other SDK credential variables (meant for another DHCore) for the
    duration, and restores them all on exit. The yielded server has `.endpoint`, `.core` (the
    service, for direct access) and `.db_path`.
    """
    server = CoreServer(db_path, token=token, max_workers=max_workers)
    saved = {key: os.environ.get(key) for key in _ENV_KEYS}
    server.start()
    try:
        for key in SDK_CREDENTIAL_ENV:
            os.environ.pop(key, None)
        os.environ["DHCORE_ENDPOINT"] = server.endpoint
        if token:
            os.environ["DHCORE_ACCESS_TOKEN"] = token
        reset_sdk_client()
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_sdk_client()
        server.stop()
