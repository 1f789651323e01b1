"""`dhmlrun.Project`: a Python script plans, applies and destroys without the CLI (click is never
imported), and the caller reviews every plan before anything changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dhmlrun import ApplyOptions, Project
from dhmlrun.errors import DhmlrunError
from dhmlrun.plan.model import Plan
from tests.conftest import unique_project_name
from tests.system.faultproxy import FaultProxy

CONFIG = """version: 1
project: {name: api-example, description: the Python API}
dataitems:
  numbers: {kind: table, path: "s3://bucket/numbers.csv"}
functions:
  f: {kind: mlrun, source: {code: "def h(context):\\n    pass\\n"}, handler: h}
"""

SCRIPT = """
import json, sys
from dhmlrun import Project
project = Project(sys.argv[1])
plan = project.plan()
first = project.apply(plan)
again = project.plan()
print(json.dumps({"counts": plan.counts(), "exit": first.exit_code, "after": again.has_changes,
                  "click": "click" in sys.modules}))
"""


def write(root: Path, name: str = "api-example") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dhmlrun.yaml").write_text(CONFIG.replace("api-example", name))
    return root


def own_environment() -> dict[str, str]:
    """The config's embedded core, whatever the test session points at."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DHCORE_", "DH_"))}
    env["DH_CONFIG"] = os.devnull
    return env


def test_a_script_plans_and_applies_without_the_cli(tmp_path: Path) -> None:
    root = write(tmp_path / "repo")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root)],
        capture_output=True,
        text=True,
        env=own_environment(),
        check=True,
        timeout=120,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "counts": {"create": 3, "update": 0, "delete": 0, "run": 0},
        "exit": 0,
        "after": False,
        "click": False,
    }


def test_review_sees_the_plan_and_can_cancel_before_anything_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith(("DHCORE_", "DH_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DH_CONFIG", os.devnull)
    project = Project(write(tmp_path / "repo"))
    seen: list[Plan] = []

    def refuse(plan: Plan) -> None:
        seen.append(plan)
        raise DhmlrunError.single("not today")

    with pytest.raises(DhmlrunError, match="not today"):
        project.apply(options=ApplyOptions(review=refuse))
    assert [a.address for a in seen[0].changes()] == ["project", "dataitems.numbers", "functions.f"]
    assert project.plan().counts()["create"] == 3  # nothing was created
    outcome = project.apply(options=ApplyOptions(review=seen.append))
    assert outcome.exit_code == 0 and not project.plan().has_changes
    destroyed = project.destroy()
    assert destroyed.destroy and destroyed.exit_code == 0
    assert {a.address for a in project.plan().changes()} == {"dataitems.numbers", "functions.f"}


def test_one_command_asks_the_platform_once_whether_it_has_the_mlrun_runtime(
    core: Any, tmp_path: Path
) -> None:
    """A first deploy reads the platform twice (to review, then under the lock), as does a saved
    plan's apply (before and under the lock): the answer travels in the state read first, and
    the `Platform` remembers nothing."""
    root = write(tmp_path / "repo", unique_project_name("mlrun-runtime"))
    asked = ("GET", "/api/v1/schemas/function")
    with FaultProxy(core.endpoint) as proxy:
        project = Project(root, endpoint=proxy.endpoint)
        assert project.apply().exit_code == 0
        assert proxy.counts[asked] == 1
        plan = project.plan()
        assert proxy.counts[asked] == 2
        assert project.apply(plan).exit_code == 0
        assert proxy.counts[asked] == 3
