"""Shared fixtures: the embedded core (one per test session, on a temp database).

Tests share one server, so each test makes its own project with `unique_project_name()` (or the
`project_name` fixture) and never depends on what other tests created.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dhmlrun.core.embedded import embedded_core
from dhmlrun.core.server import CoreServer


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


@pytest.fixture(scope="session")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreServer]:
    """The embedded core for the whole session; `DHCORE_ENDPOINT` points at it while it runs."""
    db_path = tmp_path_factory.mktemp("core") / "core.db"
    with embedded_core(db_path) as server:
        yield server


@pytest.fixture
def project_name(request: pytest.FixtureRequest) -> str:
    """A unique project name derived from the test's name."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")
    return unique_project_name(base[:20].strip("-") or "t")
