"""`kill -9` of a real `dhmlrun apply` (and its run worker) in the middle of a run: the next apply
marks the orphaned run ERROR "executor lost", re-runs it, runs what the first never reached,
and creates nothing twice."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.vocabulary.times import parse as parse_time
from tests.conftest import wait_for
from tests.system.conftest import Truth, cli, cli_env, start_cli, write_config
from tests.system.faultproxy import FaultProxy

pytestmark = pytest.mark.slow

LEASE = "2"


def test_a_killed_apply_is_finished_by_the_next_one(core: Any, tmp_path: Path) -> None:
    root, project = write_config(tmp_path)
    truth = Truth(core, project)
    args = ("apply", root, "--var", f"project={project}", "--endpoint", core.endpoint, "--auto-approve")
    env = cli_env(DHMLRUN_RUN_LEASE_SECONDS=LEASE, DHMLRUN_TEST_SLEEP="120")
    first = start_cli(*args, env=env, log=tmp_path / "first.log")
    try:
        orphan = truth.wait_for_state("runs.load", "RUNNING")
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the apply and its run worker, as a CI runner would
        first.wait()
    assert truth.versions("functions") == {"load": 1, "total": 1}
    assert truth.runs_of("runs.total") == []
    # what the next apply sees once the dead executor's lease ran out
    expires = parse_time(truth.runs_of("runs.load")[0]["status"]["lease"]["expires"])
    assert expires is not None
    wait_for(lambda: datetime.now(UTC) > expires, "the killed run's lease to run out", timeout=30)

    second = cli(*args, env=cli_env(DHMLRUN_RUN_LEASE_SECONDS=LEASE))
    assert second.returncode == 0, (second.stdout[-2000:], second.stderr[-3000:])
    assert "Plan: 0 to create, 0 to update, 0 to delete, 2 to run." in second.stdout
    assert "executor lost" in second.stdout

    runs = {r["id"]: r for r in truth.runs_of("runs.load")}
    assert runs[orphan["id"]]["status"]["state"] == "ERROR"
    assert "executor lost" in runs[orphan["id"]]["status"]["message"]
    assert truth.states("runs.load") == {"ERROR": 1, "COMPLETED": 1}
    assert truth.states("runs.total") == {"COMPLETED": 1}
    assert truth.versions("functions") == {"load": 1, "total": 1}
    assert truth.versions("dataitems")["numbers"] == 1
    assert truth.versions("dataitems")["numbers-clean"] == 1  # the killed run registered nothing


def test_an_apply_killed_between_creates_is_completed_without_redoing_anything(
    core: Any, tmp_path: Path
) -> None:
    """Killed while its first function create was done by the core but not yet answered: the
    next apply creates only what is missing and runs both runs, once."""
    root, project = write_config(tmp_path)
    truth = Truth(core, project)
    stall = lambda method, path: method == "POST" and path.endswith("/functions")  # noqa: E731
    with FaultProxy(core.endpoint, stall_after=stall) as proxy:
        args = ("apply", root, "--var", f"project={project}", "--auto-approve", "--parallelism", "1")
        first = start_cli(*args, "--endpoint", proxy.endpoint, log=tmp_path / "first.log")
        try:
            assert proxy.stalled.wait(timeout=120), (tmp_path / "first.log").read_text()
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    before = truth.versions("functions") + truth.versions("dataitems")
    assert sum(before.values()) in (1, 2)  # the stalled function, maybe the dataitem
    missing = 3 - sum(before.values())

    second = cli(*args, "--endpoint", core.endpoint)
    assert second.returncode == 0, (second.stdout[-2000:], second.stderr[-3000:])
    assert f"Plan: {missing} to create, 0 to update, 0 to delete, 2 to run." in second.stdout
    assert truth.versions("functions") == {"load": 1, "total": 1}
    assert truth.versions("dataitems") == {"numbers": 1, "numbers-clean": 1}
    assert truth.states("runs.load") == {"COMPLETED": 1}
    assert truth.states("runs.total") == {"COMPLETED": 1}
