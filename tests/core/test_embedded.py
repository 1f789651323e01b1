"""`embedded_core`: endpoint switching inside one process, environment restore, bearer token."""

from __future__ import annotations

import os
from pathlib import Path

import digitalhub as dh
import pytest
import requests
from digitalhub.utils.exceptions import ForbiddenError

from dhmlrun.core.embedded import embedded_core
from dhmlrun.platform.sdk_client import reset_sdk_client
from tests.conftest import unique_project_name


def test_sdk_follows_a_second_embedded_core_and_back(core, tmp_path: Path):
    outer = unique_project_name("outer")
    dh.new_project(outer)
    inner = unique_project_name("inner")
    with embedded_core(tmp_path / "other.db") as other:
        assert os.environ["DHCORE_ENDPOINT"] == other.endpoint != core.endpoint
        dh.new_project(inner)
        names = [p.name for p in dh.list_projects()]
        assert inner in names and outer not in names
    assert os.environ["DHCORE_ENDPOINT"] == core.endpoint
    names = [p.name for p in dh.list_projects()]
    assert outer in names and inner not in names


def test_cached_project_context_is_dropped_when_switching(core, tmp_path: Path):
    name = unique_project_name("ctx")
    dh.new_project(name).new_dataitem("d", kind="table", path="s3://x/outer")
    with embedded_core(tmp_path / "ctx.db"):
        dh.new_project(name).new_dataitem("d", kind="table", path="s3://x/inner")
        assert dh.get_dataitem("d", project=name).spec.path == "s3://x/inner"
    assert dh.get_dataitem("d", project=name).spec.path == "s3://x/outer"


def test_token_is_required_when_set(core, tmp_path: Path):
    with embedded_core(tmp_path / "tok.db", token="t0ken") as secured:
        plain = requests.get(secured.endpoint + "/api/v1/projects", timeout=10)
        assert plain.status_code == 403
        assert "t0ken" not in plain.text
        wrong = requests.get(
            secured.endpoint + "/api/auth", headers={"Authorization": "Bearer nope"}, timeout=10
        )
        assert wrong.status_code == 403
        name = unique_project_name("tok")
        dh.new_project(name)  # the SDK picked up DHCORE_ACCESS_TOKEN
        assert dh.get_project(name).name == name
    assert "DHCORE_ACCESS_TOKEN" not in os.environ


def test_sdk_without_token_is_forbidden(core, tmp_path: Path):
    with embedded_core(tmp_path / "tok2.db", token="t0ken"):
        del os.environ["DHCORE_ACCESS_TOKEN"]  # embedded_core restores the environment on exit
        reset_sdk_client()
        with pytest.raises(ForbiddenError):
            dh.list_projects()


def test_foreign_credentials_are_hidden_and_restored(core, tmp_path: Path):
    os.environ["DHCORE_PERSONAL_ACCESS_TOKEN"] = "pat-for-another-core"
    try:
        with embedded_core(tmp_path / "pat.db"):
            assert "DHCORE_PERSONAL_ACCESS_TOKEN" not in os.environ
            name = unique_project_name("pat")
            assert dh.new_project(name).name == name  # no PAT exchange attempted against this core
        assert os.environ["DHCORE_PERSONAL_ACCESS_TOKEN"] == "pat-for-another-core"
    finally:
        del os.environ["DHCORE_PERSONAL_ACCESS_TOKEN"]
        reset_sdk_client()


def test_exit_stops_the_server(core, tmp_path: Path):
    with embedded_core(tmp_path / "stop.db") as stopped:
        endpoint = stopped.endpoint
        assert requests.get(endpoint + "/api/auth", timeout=10).ok
    with pytest.raises(requests.ConnectionError):
        requests.get(endpoint + "/api/auth", timeout=10)


def test_a_file_that_is_not_a_database_is_a_clean_error(tmp_path: Path) -> None:
    from dhmlrun.core.store import Store
    from dhmlrun.errors import DhmlrunError

    bad = tmp_path / "core.db"
    bad.write_text("not sqlite at all\n" * 100)
    with pytest.raises(DhmlrunError, match="not a usable embedded-core database"):
        Store(bad)
