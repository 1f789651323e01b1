"""The run worker's relay: every write of the leased run carries the current lease (so the
SDK's whole-run PUTs never drop it), the heartbeat renews it until the run is final, and other
requests pass through untouched."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dhmlrun.core.server import EmbeddedCore
from dhmlrun.platform.lease import RunLease, lease_expired
from dhmlrun.platform.relay import MAX_CONNECTIONS, SdkRelay
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
        {"id": "f1", "name": "f", "kind": "mlrun", "project": PROJECT, "spec": {"source": {"code": "x"}}},
    )
    task = client.post(
        context_path(PROJECT, "tasks"),
        {
            "kind": "mlrun+job",
            "project": PROJECT,
            "spec": {"function": f"mlrun://{PROJECT}/f:{function['id']}"},
        },
    )
    return f"mlrun+job://{PROJECT}/{task['id']}"


def run_body(run_id: str, task: str, state: str) -> dict[str, Any]:
    return {
        "id": run_id,
        "kind": "mlrun+job:run",
        "project": PROJECT,
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


# ---------------------------------------------------------------- strangers and secrets (issue 21)


def _raw_request(endpoint: str, head: str, body: bytes = b"") -> int:
    """Send a request by hand (a body shorter than it says); the status the relay answered."""
    import contextlib
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(endpoint)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode())
        with contextlib.suppress(OSError):  # the relay closes the connection without reading
            sock.sendall(body)
        answer = sock.recv(200).decode(errors="replace")
    return int(answer.split()[1])


def test_a_request_without_the_relays_token_is_refused_before_its_body_is_read(core: EmbeddedCore) -> None:
    """Another user of the machine sent a 2 GiB body to the relay's port: the worker grew by as much."""
    with SdkRelay(core.transport()) as relay:
        port = relay.endpoint.split(":")[2].split("/")[0]
        stranger = f"http://127.0.0.1:{port}"
        assert requests.get(stranger + "/api/v1/projects", timeout=10).status_code == 403
        assert requests.get(relay.endpoint[:-1] + "/api/v1/projects", timeout=10).status_code == 403
        head = f"POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: {2**31}\r\n\r\n"
        assert _raw_request(stranger, head, b"x" * 2**20) == 403
        assert requests.get(relay.endpoint + "/api/v1/projects", timeout=10).status_code == 200


def test_a_body_over_16_mib_is_refused_before_it_is_read(core: EmbeddedCore) -> None:
    with SdkRelay(core.transport()) as relay:
        path = relay.endpoint.split(":", 2)[2].split("/", 1)[1]
        head = f"POST /{path}/api/v1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: {2**31}\r\n\r\n"
        assert _raw_request(relay.endpoint, head, b"x" * 2**20) == 413


SECRET = "tok-77d1-s3cr3t"


def test_what_the_run_writes_of_its_handler_is_masked_its_spec_is_not(core: EmbeddedCore) -> None:
    import base64

    client = RestClient(core.transport())
    task = task_of(client)
    lease = RunLease(client, PROJECT, "run1", seconds=60)
    mask: set[str] = set()
    with SdkRelay(core.transport(), lease, mask) as relay:
        mask.add(SECRET)  # the worker adds the secrets it reads once the relay runs
        body = run_body("run1", task, "CREATED")
        body["spec"]["parameters"] = {"token": SECRET}
        requests.post(relay.endpoint + context_path(PROJECT, "runs"), json=body, timeout=10)
        body["status"] = {"state": "ERROR", "message": f"refused {SECRET}", "results": {"echo": [SECRET, 1]}}
        requests.put(relay.endpoint + context_path(PROJECT, "runs", "run1"), json=body, timeout=10)
        content = base64.b64encode(f"got {SECRET}\n".encode()).decode()
        log = {"kind": "log", "spec": {"run": "run1"}, "content": content}
        requests.post(relay.endpoint + context_path(PROJECT, "logs"), json=log, timeout=10)
    run = client.get(context_path(PROJECT, "runs", "run1"))
    assert run["spec"]["parameters"] == {"token": SECRET}
    assert run["status"]["message"] == "refused (sensitive)"
    assert run["status"]["results"] == {"echo": ["(sensitive)", 1]}
    logs = client.get(context_path(PROJECT, "logs"), {"run": "run1"})
    stored = [base64.b64decode(item["content"]).decode() for item in logs["content"]]
    assert stored == ["got (sensitive)\n"]


def _half_sent(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET / HTTP/1.1\r\nX-Slow: ")
    return sock


def test_strangers_holding_connections_leave_the_runs_own_requests_served(core: EmbeddedCore) -> None:
    """A stranger held a thousand half-sent requests, a byte every 15 s each: the worker's file
    descriptors ran out and the run's own requests failed with "Too many open files"."""
    with SdkRelay(core.transport()) as relay, requests.Session() as sdk:
        port = int(relay.endpoint.split(":")[2].split("/")[0])
        assert sdk.get(relay.endpoint + "/api/v1/projects", timeout=10).status_code == 200  # kept alive
        held = [_half_sent(port) for _ in range(MAX_CONNECTIONS - 1)]
        try:
            with _half_sent(port) as extra:
                extra.settimeout(10)
                assert extra.recv(100).startswith(b"HTTP/1.1 503 ")  # refused as it is accepted
            assert sdk.get(relay.endpoint + "/api/v1/projects", timeout=10).status_code == 200
        finally:
            for sock in held:
                sock.close()
        for _ in range(200):  # the relay sees them close, then takes new connections again
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(relay.endpoint + "/api/v1/projects", timeout=10).status_code == 200:
                    break
            time.sleep(0.05)
        else:
            pytest.fail("the relay took no new connection once the strangers' closed")
