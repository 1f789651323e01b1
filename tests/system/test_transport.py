"""Every platform request survives dropped connections and 5xx, and never repeats a create.

Through `FaultProxy` (real sockets) in front of the session's embedded core, with dhmlrun's own
platform client, and with the SDK of a run worker behind its relay (`dhmlrun.platform.relay`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.api import open_platform
from dhmlrun.errors import DhmlrunError
from tests.conftest import platform_of, unique_project_name
from tests.system.faultproxy import (
    BAD_GATEWAY_BEFORE,
    ERROR_AFTER,
    RESET_AFTER,
    RESET_BEFORE,
    FaultProxy,
)

pytestmark = pytest.mark.slow  # starts a proxy server


def dataitem(project: str, name: str, entity_id: str) -> dict[str, Any]:
    return {
        "id": entity_id,
        "name": name,
        "kind": "table",
        "project": project,
        "metadata": {"project": project, "name": name},
        "spec": {"path": f"s3://bucket/{name}.csv"},
        "status": {"state": "CREATED"},
    }


@pytest.fixture
def project(core: Any, tmp_path: Path) -> str:
    name = unique_project_name("transport")
    with open_platform(tmp_path, core.endpoint) as platform:
        platform.ensure_project({"name": name, "metadata": {"description": "t"}})
    return name


def test_dropped_connections_and_5xx_are_retried(core: Any, project: str, tmp_path: Path) -> None:
    script = [RESET_BEFORE, BAD_GATEWAY_BEFORE, RESET_AFTER, ERROR_AFTER]
    with (
        FaultProxy(core.endpoint, script=script) as proxy,
        open_platform(tmp_path, proxy.endpoint) as platform,
    ):
        assert platform.project_exists(project)
        assert not proxy.script  # every fault was met, and the read still succeeded
        assert proxy.counts[("GET", "/api/v1/projects")] == 5


def test_4xx_is_not_retried(core: Any, project: str, tmp_path: Path) -> None:
    with FaultProxy(core.endpoint) as proxy, open_platform(tmp_path, proxy.endpoint) as platform:
        assert platform.read_entity(project, "dataitems", "no-such-id") is None
        assert proxy.counts[("GET", f"/api/v1/-/{project}/dataitems/no-such-id")] == 1


def test_a_create_whose_reply_was_lost_is_adopted_not_duplicated(
    core: Any, project: str, tmp_path: Path
) -> None:
    body = dataitem(project, "lost-reply", "0f" * 16)
    with (
        FaultProxy(core.endpoint, script=[ERROR_AFTER, RESET_AFTER]) as proxy,
        open_platform(tmp_path, proxy.endpoint) as platform,
    ):
        created = platform.create_entity("dataitems", body)
        assert created["id"] == body["id"]
        assert proxy.counts[("POST", f"/api/v1/-/{project}/dataitems")] == 3
        assert len(platform.list_versions(project, "dataitems", "lost-reply")) == 1


def test_the_runtime_log_create_through_the_relay_is_idempotent(core: Any, project: str) -> None:
    """A run worker's SDK talks through the relay: a log whose reply was lost is stored once."""
    from dhmlrun.platform.relay import SdkRelay
    from dhmlrun.platform.sdk import configure_sdk
    from dhmlrun.platform.transport import HttpTransport
    from dhmlrun.runtime.logs import store_run_log

    with (
        FaultProxy(core.endpoint, script=[ERROR_AFTER]) as proxy,
        SdkRelay(HttpTransport(proxy.endpoint)) as relay,
    ):
        saved = os.environ["DHCORE_ENDPOINT"]
        os.environ["DHCORE_ENDPOINT"] = relay.endpoint
        configure_sdk()
        try:
            assert store_run_log(project, "r1", "once\n")
        finally:
            os.environ["DHCORE_ENDPOINT"] = saved
            configure_sdk()
        assert proxy.counts[("POST", f"/api/v1/-/{project}/logs")] == 2
    logs = platform_of(core).client.list(f"/api/v1/-/{project}/logs")
    assert len(logs) == 1


def test_a_retried_delete_that_finds_nothing_is_done(core: Any, project: str, tmp_path: Path) -> None:
    body = dataitem(project, "to-delete", "1e" * 16)
    with FaultProxy(core.endpoint) as proxy, open_platform(tmp_path, proxy.endpoint) as platform:
        platform.create_entity("dataitems", body)
        proxy.script = [RESET_AFTER]
        platform.delete_version(project, "dataitems", body["id"])
        assert proxy.counts[("DELETE", f"/api/v1/-/{project}/dataitems/{body['id']}")] == 2
        assert platform.read_entity(project, "dataitems", body["id"]) is None


def test_retries_are_bounded(
    core: Any, project: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DHMLRUN_HTTP_ATTEMPTS", "3")
    with (
        FaultProxy(core.endpoint, share=1.0, applies_to=lambda m, p: True) as proxy,
        open_platform(tmp_path, proxy.endpoint) as platform,
    ):
        proxy.script = [RESET_BEFORE] * 10
        with pytest.raises(DhmlrunError):
            platform.project_exists(project)
        assert proxy.counts[("GET", "/api/v1/projects")] == 3
