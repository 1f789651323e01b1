"""Apply through a proxy that drops and fails requests before and after the core handled them:
it converges, and the core holds no duplicate version, no duplicate completed run, no orphan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dhmlrun.platform.lock import lock_id
from tests.system.conftest import Truth, cli, write_config
from tests.system.faultproxy import FaultProxy

pytestmark = pytest.mark.slow

MAX_APPLIES = 4


def assert_no_duplicates_and_no_orphans(truth: Truth) -> None:
    """Each managed name has one version; each run address one COMPLETED run and nothing left
    unfinished; every output version was produced by a completed run."""
    assert truth.versions("functions") == {"load": 1, "total": 1}
    dataitems = truth.list("dataitems", versions="all")
    managed = [d for d in dataitems if "dhmlrun" in d["metadata"].get("labels", [])]
    assert sorted(d["name"] for d in managed) == ["numbers"]
    for address in ("runs.load", "runs.total"):
        states = truth.states(address)
        assert states["COMPLETED"] == 1, (address, states)
        assert set(states) <= {"COMPLETED", "ERROR"}, (address, states)
    completed_outputs = {
        str(value).rsplit(":", 1)[-1]
        for run in truth.runs()
        if run["status"]["state"] == "COMPLETED"
        for value in (run["status"].get("outputs") or {}).values()
    }
    produced = [d for d in truth.list("dataitems", versions="all") if d["name"] == "numbers-clean"]
    assert [d["id"] for d in produced if d["id"] not in completed_outputs] == []
    assert lock_id(truth.project) not in {d["id"] for d in truth.list("dataitems", versions="all")}


def test_apply_through_a_faulty_network_converges_without_duplicates(core: Any, tmp_path: Path) -> None:
    root, project = write_config(tmp_path)
    with FaultProxy(core.endpoint, share=0.2, seed=20261127) as proxy:
        args = ("apply", root, "--var", f"project={project}", "--endpoint", proxy.endpoint, "--auto-approve")
        outcomes = []
        for _ in range(MAX_APPLIES):
            result = cli(*args)
            outcomes.append(result.returncode)
            if result.returncode == 0:
                break
        assert outcomes[-1] == 0, (outcomes, result.stdout[-2000:], result.stderr[-3000:])
        assert sum(proxy.injected.values()) >= 10, proxy.injected  # the faults really happened
        again = cli(*args)
        assert again.returncode == 0, again.stderr[-3000:]
    assert "No changes." in again.stdout, again.stdout  # nothing left to do, nothing to redo
    assert_no_duplicates_and_no_orphans(Truth(core, project))
