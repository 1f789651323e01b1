"""Fixtures of the plan/apply tests: the CLI invoked in-process against the session's embedded core."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dhmlrun.cli import cli
from tests.conftest import one_worker

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "employees"


def dhmlrun(*args: str) -> Result:
    """Run one dhmlrun command in this process (stdin is not a TTY, as in CI)."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def plan_json(path: Path, *extra: str) -> dict[str, Any]:
    result = dhmlrun("plan", path, "--json", *extra)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def by_address(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["address"]: a for a in plan["actions"]}


def unique_env() -> str:
    return uuid.uuid4().hex[:12]


def copy_example(tmp: Path) -> Path:
    target = tmp / "employees"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".dhmlrun"))
    return target


@pytest.fixture(scope="module")
@one_worker
def applied(core: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The example applied once per test module (two real mlrun runs): (config dir, env var)."""
    root = copy_example(tmp_path_factory.mktemp("applied"))
    env = unique_env()
    result = dhmlrun("apply", root, "--auto-approve", "--var", f"env={env}")
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return root, env
