"""The training example (examples/training) end to end, as a user runs it: real `dhmlrun` processes
on the embedded core, an mlrun run beside a python run reading a declared secret, a declared base
model and a declared artifact; locally and on the platform's executor; and a secret's value found
in nothing dhmlrun prints or writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "training"
VALUE = "tok-3f1b9c-never-shown"
CHANGED = "tok-77aa01-also-never-shown"


class Session:
    """`dhmlrun` commands in fresh processes, everything they print kept."""

    def __init__(self, root: Path, value: str) -> None:
        self.root = root
        self.env = {**os.environ, "TRAINING_REGISTRY_TOKEN": value, "NO_COLOR": "1"}
        self.printed: list[str] = []

    def __call__(self, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "dhmlrun", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        self.printed += [done.stdout, done.stderr]
        if check is not None:
            assert done.returncode == check, f"dhmlrun {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done


def states(session: Session, *args: str) -> dict[str, str]:
    shown = json.loads(session("show", "--json", *args).stdout)
    return {e["address"]: e["state"] for e in shown["entities"]}


def written_anywhere(root: Path, value: str) -> list[str]:
    """Files under `root` (the database, its WAL, logs, runs, saved plans...) holding `value`."""
    needle = value.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.fixture
def example(tmp_path: Path) -> Path:
    root = tmp_path / "training"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".dhmlrun"))
    return root


def test_the_example_applies_locally_replans_nothing_and_never_shows_the_secret(example: Path) -> None:
    dhmlrun = Session(example, VALUE)
    dhmlrun("validate")
    planned = dhmlrun("plan", "--out", "plan.json").stdout
    assert "+ secrets.REGISTRY_TOKEN  (not on the platform)" in planned
    dhmlrun("plan", "--json")
    applied = dhmlrun("apply", "plan.json")  # the saved plan: the value is read again at apply
    assert "Apply complete" in applied.stdout + applied.stderr
    found = states(dhmlrun)
    assert found["runs.prepare"] == found["runs.train"] == "COMPLETED"
    assert {"secrets.REGISTRY_TOKEN", "models.base", "artifacts.thresholds"} <= set(found)
    outputs = json.loads(dhmlrun("outputs", "runs.train", "--json").stdout)
    assert outputs["results"]["r2"] > 0.9, outputs
    assert dhmlrun("plan", "--detailed-exitcode").returncode == 0  # re-plan: nothing to do
    dhmlrun("logs", "runs.train")

    dhmlrun.env["TRAINING_REGISTRY_TOKEN"] = CHANGED
    changed = dhmlrun("plan", "--detailed-exitcode", check=2).stdout
    assert "~ secrets.REGISTRY_TOKEN  (value changed)" in changed
    assert "Plan: 0 to create, 1 to update, 0 to delete, 0 to run." in changed
    dhmlrun("apply", "--auto-approve")
    assert dhmlrun("plan", "--detailed-exitcode").returncode == 0

    printed = "\n".join(dhmlrun.printed)
    for value in (VALUE, CHANGED):
        assert value not in printed
        assert written_anywhere(example, value) == []

    dhmlrun("destroy", "--auto-approve")
    assert "secrets.REGISTRY_TOKEN" not in states(dhmlrun)


def test_the_example_runs_both_kinds_on_the_platforms_executor(example: Path) -> None:
    dhmlrun = Session(example, VALUE)
    dhmlrun("apply", "-e", "remote", "--auto-approve")
    found = states(dhmlrun, "-e", "remote")
    assert found["runs.prepare"] == found["runs.train"] == "COMPLETED"
    outputs = json.loads(dhmlrun("outputs", "runs.train", "-e", "remote", "--json").stdout)
    assert outputs["outputs"]["model"]["name"] == "trained", outputs
    assert dhmlrun("plan", "-e", "remote", "--detailed-exitcode").returncode == 0
    assert VALUE not in "\n".join(dhmlrun.printed)
    assert written_anywhere(example, VALUE) == []
