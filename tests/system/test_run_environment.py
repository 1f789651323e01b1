"""Nothing meant for dhmlrun reaches a run (issue 21, item 6): the declaration's variables
(`DHMLRUN_VAR_*`) and the served core's token were in the environment of a remote run that named
no secret. A local run (apply's worker) and a remote one (the core's worker) print what of
dhmlrun's they see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import dhmlrun
from tests.conftest import unique_project_name

pytestmark = pytest.mark.slow

HANDLER = """\
import os


def show(context):
    seen = sorted(k for k in os.environ if k.startswith("DHMLRUN_"))
    values = [os.environ.get(name) for name in ("DHMLRUN_VAR_TOKEN", "DHMLRUN_CORE_TOKEN")]
    print("dhmlrun variables seen:", seen, values)
"""

CONFIG = """version: 1
project: {name: %s}
functions:
  show: {kind: mlrun, source: {source: src/show.py}, handler: show}
runs:
  here: {function: functions.show, action: job, execution: local}
  there: {function: functions.show, action: job, execution: remote}
"""


def test_neither_a_local_nor_a_remote_run_sees_dhmlruns_own_variables(
    core: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DHMLRUN_VAR_TOKEN", "v4r-s3cr3t-value")
    monkeypatch.setenv("DHMLRUN_CORE_TOKEN", "c0re-t0ken-value")
    monkeypatch.setenv("DHMLRUN_RUNS_DIR", str(tmp_path / "runs"))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "show.py").write_text(HANDLER)
    (tmp_path / "dhmlrun.yaml").write_text(CONFIG % unique_project_name("env"))
    applied = dhmlrun("apply", tmp_path, "--auto-approve")
    assert applied.exit_code == 0, (applied.output, applied.exception)
    for run in ("runs.here", "runs.there"):
        logs = dhmlrun("logs", run, "--path", tmp_path)
        assert logs.exit_code == 0, logs.exception
        assert "dhmlrun variables seen:" in logs.stdout
        for leaked in ("DHMLRUN_VAR_TOKEN", "v4r-s3cr3t-value", "DHMLRUN_CORE_TOKEN", "c0re-t0ken-value"):
            assert leaked not in logs.stdout, (run, logs.stdout)
