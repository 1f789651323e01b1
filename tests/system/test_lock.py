"""Two real applies on the same project, on a first deploy: one holds the lock (and keeps its
lease alive), the other waits, a third with --lock-timeout 0 is refused with the holder named;
`dhmlrun force-unlock LOCK_ID` removes a lock; an expired lease is taken over."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from dhmlrun.platform.lock import LOCK_TYPE, lock_body, lock_id
from dhmlrun.vocabulary.times import parse as parse_time
from tests.conftest import auth_headers, wait_for
from tests.system.conftest import Truth, cli, cli_env, start_cli, write_config

pytestmark = pytest.mark.slow


def read_lock(core: Any, project: str) -> dict[str, Any] | None:
    reply = requests.get(
        f"{core.endpoint}/api/v1/-/{project}/{LOCK_TYPE}/{lock_id(project)}",
        headers=auth_headers(core),
        timeout=30,
    )
    if reply.status_code == 404:
        return None
    reply.raise_for_status()
    return json.loads(reply.json()["metadata"]["description"])


def plant_lock(core: Any, project: str, who: dict[str, Any]) -> None:
    """A lock as another apply (elsewhere) would have left it, written straight to the core."""
    requests.post(
        f"{core.endpoint}/api/v1/projects",
        json={"name": project, "metadata": {}, "spec": {}},
        headers=auth_headers(core),
        timeout=30,
    )
    reply = requests.post(
        f"{core.endpoint}/api/v1/-/{project}/{LOCK_TYPE}",
        json=lock_body(project, who),
        headers=auth_headers(core),
        timeout=30,
    )
    reply.raise_for_status()


def test_two_first_deploys_one_waits_a_third_is_refused_nothing_is_done_twice(
    core: Any, tmp_path: Path
) -> None:
    root, project = write_config(tmp_path)
    truth = Truth(core, project)
    args = ("apply", root, "--var", f"project={project}", "--endpoint", core.endpoint, "--auto-approve")
    gate = tmp_path / "gate"  # the holder's run waits for it: the lock stays held until then
    env = cli_env(DHMLRUN_TEST_GATE=str(gate), DHMLRUN_LOCK_LEASE_SECONDS="2")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    applies = [start_cli(*args, "--lock-timeout", "120", env=env, log=log, signalled=False) for log in logs]
    try:
        truth.wait_for_state("runs.load", "RUNNING")
        holder = read_lock(core, project)
        assert holder is not None
        taken_until = parse_time(holder["expires"])
        assert taken_until is not None

        def held_by_renewals() -> bool:  # past the lease it was taken with, the lock still held
            current = read_lock(core, project)
            now = datetime.now(UTC)
            return now > taken_until and current is not None and parse_time(current["expires"]) > now

        wait_for(held_by_renewals, "the lock's lease to be renewed past the one it was taken with", 60)
        refused = cli(*args, "--lock-timeout", "0", env=cli_env(DHMLRUN_LOCK_LEASE_SECONDS="2"))
        gate.touch()
        assert [p.wait(timeout=180) for p in applies] == [0, 0], [log.read_text()[-3000:] for log in logs]
    finally:
        for p in applies:
            p.kill()
    assert refused.returncode == 1
    message = refused.stderr
    assert f"project {project} is locked by another apply" in message
    assert f"lock id {holder['id']}" in message and f"pid {holder['pid']}" in message
    assert f"dhmlrun force-unlock {holder['id']}" in message
    outputs = [log.read_text() for log in logs]
    assert sum("Waiting for the lock" in text for text in outputs) == 1, outputs
    assert truth.versions("functions") == {"load": 1, "total": 1}
    assert truth.states("runs.load") == {"COMPLETED": 1}
    assert truth.states("runs.total") == {"COMPLETED": 1}
    assert read_lock(core, project) is None


def test_force_unlock_removes_only_the_named_lock(core: Any, tmp_path: Path) -> None:
    root, project = write_config(tmp_path)
    since, until = "2026-01-01T00:00:00Z", "2999-01-01T00:00:00Z"
    who = {"id": "feedc0ffee123456", "user": "ci", "host": "runner-9", "pid": 77}
    who.update(since=since, expires=until)
    plant_lock(core, project, who)
    base = ("--var", f"project={project}", "--endpoint", core.endpoint)
    refused = cli("apply", root, *base, "--auto-approve", "--target", "dataitems.numbers")
    assert refused.returncode == 1
    assert "runner-9" in refused.stderr and "dhmlrun force-unlock feedc0ffee123456" in refused.stderr
    wrong = cli("force-unlock", "0000000000000000", root, *base)
    assert wrong.returncode == 1 and "another lock id" in wrong.stderr
    assert read_lock(core, project) is not None
    removed = cli("force-unlock", "feedc0ffee123456", root, *base)
    assert removed.returncode == 0, removed.stderr
    assert read_lock(core, project) is None
    applied = cli("apply", root, *base, "--auto-approve", "--target", "dataitems.numbers")
    assert applied.returncode == 0, applied.stderr


def test_a_lock_whose_lease_expired_is_taken_over_from_any_host(core: Any, tmp_path: Path) -> None:
    root, project = write_config(tmp_path)
    assert socket.gethostname() != "another-host"
    past = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    plant_lock(core, project, {"id": "abc", "host": "another-host", "pid": 1, "since": past, "expires": past})
    result = cli(
        "apply",
        root,
        "--var",
        f"project={project}",
        "--endpoint",
        core.endpoint,
        "--auto-approve",
        "--target",
        "dataitems.numbers",
    )
    assert result.returncode == 0, result.stderr
    assert "Removing a stale lock" in result.stderr and "lease expired" in result.stderr
    assert read_lock(core, project) is None
