"""Shared fixtures: the embedded core (one per test session, on a temp database).

Tests share one server, so each test makes its own project with `unique_project_name()` (or the
`project_name` fixture) and never depends on what other tests created.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dhmlrun.core.server import EmbeddedCore
from dhmlrun.platform import Platform
from dhmlrun.platform.rest import RestClient


def pids_with_environ(name: str, value: str) -> list[int]:
    """Live processes whose environment has `name=value`: how a test finds the children a
    command left behind (give the command a unique marker variable; children inherit it)."""
    entry = f"{name}={value}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and entry in (proc / "environ").read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def unique_project_name(prefix: str = "t") -> str:
    """A fresh, valid project name (lowercase, `[a-z0-9-]`, at most 38 characters)."""
    return f"{prefix[:24]}-{uuid.uuid4().hex[:12]}"


SDK_CONNECTION = (
    "DHCORE_ENDPOINT",
    "DHCORE_ACCESS_TOKEN",
    "DH_CONFIG",
    "DHCORE_DEFAULT_FILES_STORE",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
)


@contextmanager
def served_core(db_path: Path, **kwargs: object) -> Iterator[EmbeddedCore]:
    """An embedded core served over HTTP on loopback (behind its token) for the block, with the
    digitalhub SDK of this process pointed at it (tests use the SDK as a user would)."""
    core = EmbeddedCore(db_path, **kwargs)  # type: ignore[arg-type]
    saved = {key: os.environ.get(key) for key in SDK_CONNECTION}
    try:
        os.environ.update(core.client_environment())
        _forget_sdk_client()
        yield core
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _forget_sdk_client()
        core.close()


def _forget_sdk_client() -> None:
    """The SDK builds its client once per process: have it read the environment again."""
    from dhmlrun.platform.sdk import configure_sdk

    configure_sdk()


def platform_of(core: EmbeddedCore) -> Platform:
    """dhmlrun's own view of a core (in-process), to check what a command left on it."""
    return Platform(RestClient(core.transport()), embedded=True)


def auth_headers(core: EmbeddedCore) -> dict[str, str]:
    """What a client of the served core must send."""
    return {"Authorization": f"Bearer {core.token}"}


@pytest.fixture(scope="session", autouse=True)
def core_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The key sealing secret values at rest: one of the session's, never the user's own."""
    key = tmp_path_factory.mktemp("key") / "core.key"
    saved = os.environ.get("DHMLRUN_CORE_KEY_FILE")
    os.environ["DHMLRUN_CORE_KEY_FILE"] = str(key)
    yield key
    if saved is None:
        os.environ.pop("DHMLRUN_CORE_KEY_FILE", None)
    else:
        os.environ["DHMLRUN_CORE_KEY_FILE"] = saved


@pytest.fixture(scope="session")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCore]:
    """The embedded core for the whole session, served over HTTP; the SDK points at it."""
    db_path = tmp_path_factory.mktemp("core") / "core.db"
    with served_core(db_path) as served:
        yield served


@pytest.fixture
def project_name(request: pytest.FixtureRequest) -> str:
    """A unique project name derived from the test's name."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")
    return unique_project_name(base[:20].strip("-") or "t")
