"""Several processes writing one database at once lose nothing; kill -9 loses nothing committed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dhmlrun.core.listing import Params
from dhmlrun.core.service import Core
from dhmlrun.core.store import Store
from tests.core.conftest import Api
from tests.core.writers import CREATES, create_directly, create_over_http

PROCESSES = 4


def _run_all(target, *args) -> None:
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=target, args=(*args, n)) for n in range(PROCESSES)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
        assert child.exitcode == 0


@pytest.mark.slow
def test_processes_writing_the_same_file_lose_nothing(tmp_path: Path):
    db_path = str(tmp_path / "shared.db")
    core = Core(Store(db_path))
    core.create_project({"name": "shared"})
    _run_all(create_directly, db_path, "shared")
    page = core.list_entities("shared", "dataitem", Params.from_mapping({"size": "1000"})).to_dict()
    assert page["totalElements"] == PROCESSES * CREATES
    assert len({d["id"] for d in page["content"]}) == PROCESSES * CREATES


@pytest.mark.slow
def test_concurrent_http_clients_lose_nothing(core, api: Api, project):
    _run_all(create_over_http, core.endpoint, core.token, project)
    page = api.ok("GET", f"/-/{project}/artifacts", params={"size": 1000})
    assert page["totalElements"] == PROCESSES * CREATES


_WRITER = """
import sys
from dhmlrun.core.service import Core
from dhmlrun.core.store import Store
core = Core(Store(sys.argv[1]))
i = 0
while True:
    item = core.create_entity("killed", "dataitem", {"name": f"k{i}", "kind": "table", "spec": {"path": "s3://x"}})
    print(item["id"], flush=True)
    i += 1
"""


def test_kill_9_of_a_writer_loses_no_committed_entity(tmp_path: Path):
    db_path = str(tmp_path / "killed.db")
    Core(Store(db_path)).create_project({"name": "killed"})
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, db_path], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    committed = [writer.stdout.readline().strip() for _ in range(200)]
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    with sqlite3.connect(db_path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    core = Core(Store(db_path))
    for entity_id in committed:
        assert core.get_entity("killed", "dataitem", entity_id)["id"] == entity_id
