"""`EmbeddedCore`: answered in-process without a socket, served over HTTP only behind a fresh
token, private files, a damaged database is a clean error."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import digitalhub as dh
import pytest
import requests
from digitalhub.utils.exceptions import ForbiddenError

from dhmlrun.core.server import EmbeddedCore
from dhmlrun.platform.rest import RestClient, project_path
from tests.conftest import served_core, unique_project_name


def test_in_process_requests_need_no_server(tmp_path: Path) -> None:
    core = EmbeddedCore(tmp_path / "core.db")
    try:
        client = RestClient(core.transport())
        name = unique_project_name("inproc")
        client.post(project_path(), {"name": name, "kind": "project"})
        assert [p["name"] for p in client.list(project_path())] == [name]
        assert core.endpoint is None  # nothing listens
    finally:
        core.close()


def test_serving_requires_the_token_it_made(tmp_path: Path) -> None:
    core = EmbeddedCore(tmp_path / "tok.db")
    try:
        endpoint, token = core.serve()
        assert len(token) >= 32
        plain = requests.get(endpoint + "/api/v1/projects", timeout=10)
        wrong = requests.get(endpoint + "/api/auth", headers={"Authorization": "Bearer nope"}, timeout=10)
        right = requests.get(endpoint + "/api/auth", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert (plain.status_code, wrong.status_code, right.status_code) == (403, 403, 200)
        assert token not in plain.text + wrong.text
        assert core.serve() == (endpoint, token)  # served once
    finally:
        core.close()


def test_a_request_without_the_token_creates_and_runs_nothing(tmp_path: Path) -> None:
    core = EmbeddedCore(tmp_path / "attack.db")
    try:
        endpoint, _ = core.serve()
        name = unique_project_name("attack")
        refused = requests.post(endpoint + "/api/v1/projects", json={"name": name}, timeout=10)
        assert refused.status_code == 403
        assert RestClient(core.transport()).list(project_path()) == []
    finally:
        core.close()


def test_the_sdk_with_the_token_works_and_without_it_is_forbidden(tmp_path: Path) -> None:
    with served_core(tmp_path / "sdk.db"):
        name = unique_project_name("sdk")
        dh.new_project(name)
        assert dh.get_project(name).name == name
        token = os.environ.pop("DHCORE_ACCESS_TOKEN")
        try:
            from dhmlrun.platform.sdk import configure_sdk

            configure_sdk()
            with pytest.raises(ForbiddenError):
                dh.list_projects()
        finally:
            os.environ["DHCORE_ACCESS_TOKEN"] = token


def test_close_stops_the_server(tmp_path: Path) -> None:
    core = EmbeddedCore(tmp_path / "stop.db")
    endpoint, token = core.serve()
    core.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(endpoint + "/api/auth", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_database_folder_and_files_are_private(tmp_path: Path) -> None:
    db = tmp_path / "private" / "core.db"
    core = EmbeddedCore(db)
    try:
        RestClient(core.transport()).post(project_path(), {"name": unique_project_name("p")})
    finally:
        core.close()
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    for path in db.parent.glob("core.db*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_file_that_is_not_a_database_is_a_clean_error(tmp_path: Path) -> None:
    from dhmlrun.core.store import Store
    from dhmlrun.errors import DhmlrunError

    bad = tmp_path / "core.db"
    bad.write_text("not sqlite at all\n" * 100)
    with pytest.raises(DhmlrunError, match=r"is damaged \(file is not a database\); move it away"):
        Store(bad)
