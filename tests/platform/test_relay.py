"""The run worker's relay: every write of the leased run carries the current lease (so the
SDK's whole-run PUTs never drop it), the heartbeat renews it until the run is final, and other
requests pass through untouched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dhmlrun.core.server import EmbeddedCore
from dhmlrun.platform.lease import RunLease, lease_expired
from dhmlrun.platform.relay import SdkRelay
from dhmlrun.platform.rest import RestClient, context_path, project_path

PROJECT = "relayed"


@pytest.fixture
def core(tmp_path: Path) -> Iterator[EmbeddedCore]:
    core = EmbeddedCore(tmp_path / "core.db")
    try:
        yield core
    finally:
        core.close()


def task_of(client: RestClient) -> str:
    client.post(project_path(), {"name": PROJECT})
    function = client.post(
        context_path(PROJECT, "functions"),
        {"id": "f1", "name": "f", "kind": "mlrun", "spec": {"source": {"code": "x"}}},
    )
    task = client.post(
        context_path(PROJECT, "tasks"),
        {"kind": "mlrun+job", "spec": {"function": f"mlrun://{PROJECT}/f:{function['id']}"}},
    )
    return f"mlrun+job://{PROJECT}/{task['id']}"


def run_body(run_id: str, task: str, state: str) -> dict[str, Any]:
    return {
        "id": run_id,
        "kind": "mlrun+job:run",
        "spec": {"task": task, "local_execution": True},
        "status": {"state": state},
    }


def test_writes_of_the_leased_run_carry_the_lease_and_renewal_stops_when_final(core: EmbeddedCore) -> None:
    client = RestClient(core.transport())
    task = task_of(client)
    lease = RunLease(client, PROJECT, "run1", seconds=60)
    path = context_path(PROJECT, "runs", "run1")
    with SdkRelay(core.transport(), lease) as relay:
        created = requests.post(
            relay.endpoint + context_path(PROJECT, "runs"), json=run_body("run1", task, "CREATED"), timeout=10
        )
        assert created.status_code == 200
        assert client.get(path)["status"]["lease"]["holder"] == lease.holder
        # the SDK PUTs the whole run from memory, without any lease: the relay puts it back in
        built = requests.put(relay.endpoint + path, json=run_body("run1", task, "BUILT"), timeout=10)
        assert built.json()["status"]["lease"]["holder"] == lease.holder
        before = client.get(path)["status"]["lease"]["renewed"]
        assert lease.renew() is True
        status = client.get(path)["status"]
        assert status["state"] == "BUILT" and status["lease"]["renewed"] >= before
        assert not lease_expired(status)
        for state in ("READY", "RUNNING", "COMPLETED"):
            requests.put(relay.endpoint + path, json=run_body("run1", task, state), timeout=10)
        assert lease.renew() is False  # nothing left to keep alive


def test_other_requests_pass_through_untouched(core: EmbeddedCore) -> None:
    client = RestClient(core.transport())
    task = task_of(client)
    lease = RunLease(client, PROJECT, "mine", seconds=60)
    with SdkRelay(core.transport(), lease) as relay:
        other = requests.post(
            relay.endpoint + context_path(PROJECT, "runs"),
            json=run_body("other", task, "CREATED"),
            timeout=10,
        )
        assert "lease" not in other.json()["status"]
        assert requests.get(relay.endpoint + "/api/v1/-/relayed/runs/nope", timeout=10).status_code == 404


def test_a_platform_that_does_not_answer_is_a_gateway_error(tmp_path: Path) -> None:
    from dhmlrun.platform.transport import HttpTransport

    with SdkRelay(HttpTransport("http://127.0.0.1:9", {"DHMLRUN_HTTP_ATTEMPTS": "1"})) as relay:
        answer = requests.get(relay.endpoint + "/api/v1/projects", timeout=30)
    assert answer.status_code == 502
    assert "cannot reach the platform" in answer.json()["message"]
