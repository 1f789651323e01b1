"""A run apply executes in its own workers gets the environment a DHCore pod gets: its project and
run id, its task's envs (docs/dhcore-runs.md §1), as the embedded core gives its own workers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dhmlrun import Project
from tests.api.test_project import own_environment

pytestmark = pytest.mark.slow

HANDLER = """
import json
import os


def report(out: str):
    names = ("PROJECT_NAME", "RUN_ID", "GREETING")
    with open(out, "w") as handle:
        json.dump({name: os.environ.get(name) for name in names}, handle)
"""

CONFIG = """version: 1
project: {name: env-example}
functions:
  report: {kind: python, python_version: PYTHON3_11, source: {source: src/report.py}, handler: report}
runs:
  report:
    function: functions.report
    action: job
    parameters: {out: "OUT"}
    env: [{name: GREETING, value: hello}]
"""


def test_a_local_run_knows_its_project_run_id_and_task_envs(tmp_path: Path, monkeypatch) -> None:
    for key in os.environ.keys() - own_environment().keys():  # the config's own embedded core
        monkeypatch.delenv(key)
    monkeypatch.setenv("DH_CONFIG", os.devnull)
    out = tmp_path / "seen.json"
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "report.py").write_text(HANDLER)
    (root / "dhmlrun.yaml").write_text(CONFIG.replace("OUT", str(out)))
    result = Project(root).apply()
    assert result.exit_code == 0, [(r.address, r.status, r.message) for r in result.results]
    run = next(r for r in result.results if r.address == "runs.report")
    seen = json.loads(out.read_text())
    assert seen == {"PROJECT_NAME": "env-example", "RUN_ID": run.entity_id, "GREETING": "hello"}
