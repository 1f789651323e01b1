"""The apply lock on the embedded core: a held lock refuses or waits, a dead holder's is taken over."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.api import open_platform
from dhmlrun.platform.lock import LOCK_TYPE, lock_body, lock_id
from tests.plan.conftest import copy_example, dhmlrun, unique_env

pytestmark = pytest.mark.slow


@pytest.fixture
def deployed(core: Any, tmp_path: Path) -> tuple[Path, str, str]:
    """A project holding one dataitem (no runs): (config dir, env var, project name)."""
    root = copy_example(tmp_path)
    env = unique_env()
    result = dhmlrun(
        "apply", root, "--var", f"env={env}", "--auto-approve", "--target", "dataitems.employees"
    )
    assert result.exit_code == 0, (result.stdout, result.exception)
    return root, env, f"employees-{env}"


def hold_lock(root: Path, project: str, host: str, pid: int) -> None:
    with open_platform(root) as platform:
        body = lock_body(project, {"host": host, "pid": pid, "since": "2026-01-01T00:00:00Z"})
        assert platform.create_only(LOCK_TYPE, body) is not None


def lock_exists(root: Path, project: str) -> bool:
    with open_platform(root) as platform:
        return platform.read_entity(project, LOCK_TYPE, lock_id(project)) is not None


def test_apply_releases_its_lock(deployed: tuple[Path, str, str]) -> None:
    root, _, project = deployed
    assert not lock_exists(root, project)


def test_a_held_lock_refuses_another_apply(deployed: tuple[Path, str, str]) -> None:
    root, env, project = deployed
    hold_lock(root, project, "ci-runner-7", 4242)
    result = dhmlrun(
        "apply", root, "--var", f"env={env}", "--auto-approve", "--target", "functions.downloader"
    )
    assert result.exit_code == 1
    assert "is locked by another apply" in str(result.exception)
    assert "ci-runner-7" in str(result.exception)
    assert lock_exists(root, project)


def test_apply_waits_for_the_lock_up_to_the_timeout(deployed: tuple[Path, str, str]) -> None:
    root, env, project = deployed
    hold_lock(root, project, "ci-runner-8", 4343)

    def release() -> None:
        with open_platform(root) as platform:
            platform.delete_version(project, LOCK_TYPE, lock_id(project))

    timer = threading.Timer(1.5, release)
    timer.start()
    try:
        result = dhmlrun(
            "apply",
            root,
            "--var",
            f"env={env}",
            "--auto-approve",
            "--lock-timeout",
            "60",
            "--target",
            "functions.downloader",
        )
    finally:
        timer.join()
    assert result.exit_code == 0, (result.stdout, result.exception)
    assert "Waiting for the lock" in result.stderr


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over(deployed: tuple[Path, str, str]) -> None:
    root, env, project = deployed
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    hold_lock(root, project, socket.gethostname(), int(gone.stdout))
    result = dhmlrun(
        "apply", root, "--var", f"env={env}", "--auto-approve", "--target", "functions.downloader"
    )
    assert result.exit_code == 0, (result.stdout, result.exception)
    assert "Removing a stale lock" in result.stderr
    assert not lock_exists(root, project)
