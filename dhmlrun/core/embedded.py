"""`embedded_core`: the core in this process, with the digitalhub SDK pointed at it.

The SDK caches its HTTP client (with the endpoint read at build time), so setting
`DHCORE_ENDPOINT` alone does nothing once it has talked to another endpoint in this process: on
entry and on exit the cached client is dropped (`dhmlrun.platform.sdk_client`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dhmlrun.core.executor import DEFAULT_MAX_WORKERS, SDK_CREDENTIAL_ENV
from dhmlrun.core.server import CoreServer
from dhmlrun.platform.sdk_client import reset_sdk_client

_ENV_KEYS = ("DHCORE_ENDPOINT", *SDK_CREDENTIAL_ENV)


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
