"""Ctrl-C and SIGTERM of a real `dhmlrun apply` in the middle of a run: it stops starting steps,
ends the runs in progress (ERROR "interrupted", log kept), releases its lock, exits 130 within
seconds, leaves no process behind; the next apply runs what was interrupted or never started."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.platform.lock import LOCK_NAME
from tests.reliability.conftest import Truth, cli, cli_env, start_cli, write_config

pytestmark = pytest.mark.slow

EXIT_INTERRUPTED = 130
PROMPT_SECONDS = 20.0
"""How long an interrupted apply may take to end its runs and exit (it takes about a second)."""


def _interrupt(process: subprocess.Popen[bytes], signum: int, whole_group: bool) -> int:
    """Signal the apply (or its whole process group, as a terminal's Ctrl-C does); its exit code."""
    if whole_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    return process.wait(timeout=PROMPT_SECONDS)


def _pids_marked(mark: str) -> list[int]:
    """Processes whose environment carries `DHMLRUN_TEST_MARK=mark` (the apply's children)."""
    entry = f"DHMLRUN_TEST_MARK={mark}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and entry in (proc / "environ").read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.mark.parametrize(
    ("signum", "whole_group"), [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["ctrl-c", "sigterm"]
)
def test_an_interrupted_apply_ends_its_runs_and_the_next_apply_runs_them(
    core: Any, tmp_path: Path, signum: int, whole_group: bool
) -> None:
    root, project = write_config(tmp_path)
    truth = Truth(core.endpoint, project)
    args = ("apply", root, "--var", f"project={project}", "--endpoint", core.endpoint, "--auto-approve")
    mark = uuid.uuid4().hex
    log = tmp_path / "first.log"
    first = start_cli(*args, env=cli_env(DHMLRUN_TEST_SLEEP="300", DHMLRUN_TEST_MARK=mark), log=log)
    try:
        truth.wait_for_state("runs.load", "RUNNING")
        time.sleep(0.5)  # into the handler's sleep
        started = time.monotonic()
        code = _interrupt(first, signum, whole_group)
        took = time.monotonic() - started
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code == EXIT_INTERRUPTED, output
    assert took < PROMPT_SECONDS
    assert "Apply interrupted: 4 done, 1 failed, 1 skipped." in output
    assert "skipped: runs.total (run): apply was interrupted" in output
    assert not _pids_marked(mark), "a run worker outlived the apply"

    [interrupted] = truth.runs_of("runs.load")
    assert interrupted["status"]["state"] == "ERROR"
    assert interrupted["status"]["message"].startswith("interrupted")
    assert truth.runs_of("runs.total") == []
    assert "numbers-clean" not in truth.versions("dataitems")  # the interrupted run registered nothing
    assert [d for d in truth.list("dataitems") if d["name"] == LOCK_NAME] == []  # lock released
    where = ("--path", root, "--var", f"project={project}", "--endpoint", core.endpoint)
    logs = cli("logs", "runs.load", *where)
    assert "load: sleeping 300" in logs.stdout and "interrupted" in logs.stdout, logs.stdout

    second = cli(*args)
    assert second.returncode == 0, (second.stdout[-2000:], second.stderr[-3000:])
    assert "Plan: 0 to create, 0 to update, 0 to delete, 2 to run." in second.stdout
    assert truth.states("runs.load") == {"ERROR": 1, "COMPLETED": 1}
    assert truth.states("runs.total") == {"COMPLETED": 1}


def test_a_second_interrupt_exits_at_once(core: Any, tmp_path: Path) -> None:
    root, project = write_config(tmp_path)
    truth = Truth(core.endpoint, project)
    args = ("apply", root, "--var", f"project={project}", "--endpoint", core.endpoint, "--auto-approve")
    mark = uuid.uuid4().hex
    log = tmp_path / "first.log"
    first = start_cli(*args, env=cli_env(DHMLRUN_TEST_SLEEP="300", DHMLRUN_TEST_MARK=mark), log=log)
    try:
        truth.wait_for_state("runs.load", "RUNNING")
        first.send_signal(signal.SIGINT)
        time.sleep(0.05)
        code = _interrupt(first, signal.SIGINT, whole_group=False)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code == EXIT_INTERRUPTED, output
    assert "Interrupted again" in output
    deadline = time.monotonic() + PROMPT_SECONDS
    while _pids_marked(mark) and time.monotonic() < deadline:  # killed: gone once reaped
        time.sleep(0.2)
    assert not _pids_marked(mark), "a run worker outlived the apply"


def test_an_apply_interrupted_while_waiting_for_the_lock_says_so_and_exits_130(
    core: Any, tmp_path: Path
) -> None:
    root, project = write_config(tmp_path)
    truth = Truth(core.endpoint, project)
    args = ("apply", root, "--var", f"project={project}", "--endpoint", core.endpoint, "--auto-approve")
    holder = start_cli(*args, env=cli_env(DHMLRUN_TEST_SLEEP="300"), log=tmp_path / "holder.log")
    try:
        truth.wait_for_state("runs.load", "RUNNING")
        waiter = start_cli(*args, "--lock-timeout", "300", log=tmp_path / "waiter.log")
        deadline = time.monotonic() + 120
        waiting = lambda: "Waiting for the lock" in (tmp_path / "waiter.log").read_text()  # noqa: E731
        while not waiting() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _interrupt(waiter, signal.SIGTERM, whole_group=False) == EXIT_INTERRUPTED
        assert "Interrupted." in (tmp_path / "waiter.log").read_text()
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()


def test_an_interrupted_apply_stops_its_remote_runs_through_the_platform(core: Any, tmp_path: Path) -> None:
    """`execution: remote`: the platform's executor runs it; apply asks the platform to stop it."""
    project = f"{write_config(tmp_path)[1]}-remote"
    root = tmp_path / "remote"
    root.mkdir()
    (root / "jobs.py").write_text("import time\n\n\ndef nap(context):\n    time.sleep(300)\n")
    (root / "dhmlrun.yaml").write_text(
        f"version: 1\nproject: {{name: {project}}}\n"
        "functions:\n  nap: {kind: mlrun, source: {source: jobs.py}, handler: nap}\n"
        "runs:\n  nap: {function: nap, action: job, execution: remote}\n"
    )
    truth = Truth(core.endpoint, project)
    log = tmp_path / "remote.log"
    first = start_cli("apply", root, "--endpoint", core.endpoint, "--auto-approve", log=log)
    try:
        truth.wait_for_state("runs.nap", "RUNNING")
        code = _interrupt(first, signal.SIGTERM, whole_group=False)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code == EXIT_INTERRUPTED, output
    assert "failed:  runs.nap (run): interrupted" in output
    assert truth.states("runs.nap") == {"STOPPED": 1}
