"""Runs of one real `dhmlrun apply` go through the warm run server and stay isolated."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dhmlrun.cli import cli
from tests.conftest import platform_of

pytestmark = pytest.mark.slow

HANDLER = '''\
import json
import os
import sys


def probe(context):
    """Report what this process sees of earlier runs, then leave traces for later ones."""
    context.log_result("env", os.environ.get("DHMLRUN_TEST_LEAK", "absent"))
    context.log_result("module_global", str(hasattr(json, "dhmlrun_test_leak")))
    context.log_result("argv0", os.path.basename(sys.argv[0]))
    context.log_result("pid", os.getpid())
    os.environ["DHMLRUN_TEST_LEAK"] = "leaked"
    json.dhmlrun_test_leak = True
'''


def write_config(root: Path, project: str) -> Path:
    root.mkdir(parents=True)
    (root / "probe.py").write_text(HANDLER)
    runs = "".join(
        f"  {name}:\n    function: functions.probe\n    action: job\n"
        f"    values: [env, module_global, argv0, pid]\n    trigger: always\n"
        for name in ("first", "second", "third")
    )
    (root / "dhmlrun.yaml").write_text(
        f"version: 1\nproject:\n  name: {project}\n"
        "functions:\n  probe:\n    kind: mlrun\n    source: {source: probe.py}\n    handler: probe\n"
        f"runs:\n{runs}"
    )
    return root


def test_runs_of_one_apply_are_forked_from_the_server_and_isolated(core: Any, tmp_path: Path) -> None:
    project = f"perf-{uuid.uuid4().hex[:12]}"
    root = write_config(tmp_path / "config", project)
    result = CliRunner().invoke(cli, ["apply", str(root), "--auto-approve", "--parallelism", "1"])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    runs = platform_of(core).read_state(project).runs
    seen = {address: run.results for address, run in runs.items()}
    assert set(seen) == {"runs.first", "runs.second", "runs.third"}
    for results in seen.values():
        assert results["argv0"] == "fork_server.py"  # a child of the warm server, not a fresh worker
        assert results["env"] == "absent"  # the runs before it set it, in their own processes
        assert results["module_global"] == "False"
    assert len({results["pid"] for results in seen.values()}) == 3
