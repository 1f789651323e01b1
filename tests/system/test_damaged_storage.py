"""A damaged embedded-core database and a full disk are an `error:` with the remedy, never a raw
sqlite traceback (issue 21, item 7). Real `dhmlrun` processes on a config dir whose core.db is
damaged in the middle (its header intact, so SQLite opens it), or whose disk fills up (a file
size limit, which is how a full disk looks to SQLite: a write that fails)."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.system.conftest import cli_env

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "employees"


def dhmlrun(*args: str, file_size: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    return subprocess.run(
        [sys.executable, "-m", "dhmlrun", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        preexec_fn=limit,
        timeout=300,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    root = tmp_path / "employees"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".dhmlrun"))
    return root


def test_a_database_damaged_in_the_middle_is_an_error_with_the_remedy(config: Path) -> None:
    applied = dhmlrun("apply", str(config), "--auto-approve", "--target", "dataitems.employees")
    assert applied.returncode == 0, applied.stderr
    database = config / ".dhmlrun" / "core.db"
    size = database.stat().st_size
    with database.open("r+b") as handle:  # every page past the first (the header SQLite checks
        handle.seek(4096)  # first and the schema stay whole), whichever tables plan happens to read
        handle.write(os.urandom(size - 4096))
    planned = dhmlrun("plan", str(config))
    assert planned.returncode == 1
    assert "Traceback" not in planned.stderr and "sqlite3." not in planned.stderr
    (last,) = [line for line in planned.stderr.splitlines() if line.startswith("error:")]
    assert f"the embedded core's database {database} is damaged" in last
    assert "move it away (with its -wal and -shm files)" in last


def test_a_full_disk_is_an_error_with_the_remedy_and_nothing_half_written(config: Path) -> None:
    applied = dhmlrun(
        "apply", str(config), "--auto-approve", "--target", "dataitems.employees", file_size=16384
    )
    assert applied.returncode == 1
    assert "Traceback" not in applied.stderr and "sqlite3." not in applied.stderr
    errors = [line for line in applied.stderr.splitlines() if line.startswith("error:")]
    assert errors and "is full" in errors[-1] and "free space" in errors[-1], applied.stderr
    again = dhmlrun("apply", str(config), "--auto-approve", "--target", "dataitems.employees")
    assert again.returncode == 0, again.stderr
