"""A sensitive variable's value never reaches what dhmlrun prints or writes itself.

It is passed as a run parameter (so it necessarily reaches the run's spec and its handler), and
the handler prints it and fails with it in the message. It must not appear in: plan text, plan
JSON, the saved plan file (which must be 0600), apply's stdout and stderr (run failures and logs
included), `show --json`, `logs`, the run's log kept in `.dhmlrun/logs`, and on the platform
anywhere outside the run's own parameters: the worker masks what the run writes of its message,
results and log (issue 21).
"""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.system.conftest import Truth, cli, cli_env, write_config

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-T0KEN-4f9a"


def outside_the_parameters(type_: str, dto: dict[str, Any]) -> dict[str, Any]:
    """The entity minus the run's parameters (the one place the value must be), logs decoded."""
    dto = json.loads(json.dumps(dto))
    if type_ == "runs":
        (dto.get("spec") or {}).pop("parameters", None)
    if type_ == "logs" and isinstance(dto.get("content"), str):
        dto["content"] = base64.b64decode(dto["content"]).decode(errors="replace")
    return dto


def test_sensitive_values_never_reach_outputs_plan_files_or_dhmlrun_written_entities(
    core: Any, tmp_path: Path
) -> None:
    root, project = write_config(tmp_path)
    base = ("--var", f"project={project}", "--var", f"token={SECRET}", "--endpoint", core.endpoint)
    printed: list[str] = []

    def run(*args: str, **env: str) -> Any:
        result = cli(*args, env=cli_env(**env))
        printed.extend([result.stdout, result.stderr])
        return result

    assert run("plan", root, *base).returncode == 0
    plan_json = run("plan", root, *base, "--json")
    assert plan_json.returncode == 0 and json.loads(plan_json.stdout)["actions"]
    plan_file = tmp_path / "plan.bin"
    assert run("plan", root, *base, "--out", plan_file).returncode == 0
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    assert SECRET.encode() not in plan_file.read_bytes()
    assert SECRET not in base64.b64encode(plan_file.read_bytes()).decode()

    applied = run("apply", plan_file, "--path", root, *base, DHMLRUN_TEST_FAIL="1")
    assert applied.returncode == 1  # runs.total failed, with the token in its message
    assert "runs.total: failed" in applied.stderr and "(sensitive)" in applied.stderr
    logs = run("logs", "runs.total", "--path", root, *base)
    assert "total: got token (sensitive)" in logs.stdout  # printed, masked
    run("show", "--path", root, *base, "--json")
    for text in printed:
        assert SECRET not in text
    kept = list((root / ".dhmlrun" / "logs").rglob("*.log"))
    assert any("total: got token (sensitive)" in log.read_text() for log in kept)
    for log in kept:
        assert SECRET not in log.read_text()

    truth = Truth(core, project)
    stored = []
    for type_ in ("functions", "dataitems", "runs", "logs"):
        stored += [outside_the_parameters(type_, dto) for dto in truth.list(type_, versions="all")]
    assert SECRET not in json.dumps(stored)
    # the run itself has it: that is what passing a parameter means (documented)
    assert SECRET in json.dumps(truth.runs_of("runs.total")[0]["spec"].get("parameters"))
