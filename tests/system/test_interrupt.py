"""Ctrl-C and SIGTERM of a real `dhmlrun apply` in the middle of a run: it stops starting steps,
ends the runs in progress (ERROR "interrupted", log kept), releases its lock, exits 130 within
seconds, leaves no process behind; the next apply runs what was interrupted or never started."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.platform.lock import LOCK_NAME
from dhmlrun.vocabulary.settings import run_logs_dir
from tests.conftest import pids_with_environ, wait_for
from tests.system.conftest import Truth, cli, cli_env, start_cli, write_config

pytestmark = pytest.mark.slow

EXIT_INTERRUPTED = 130
PROMPT_SECONDS = 20.0
"""How long an interrupted apply may take to end its runs and exit (it takes about a second)."""
MARK = "DHMLRUN_TEST_MARK"


@dataclass
class Apply:
    """An apply started in the background, its first run executing (its handler sleeping)."""

    process: subprocess.Popen[bytes]
    log: Path
    args: tuple[str, ...]
    truth: Truth
    root: Path
    project: str
    mark: str
    load_run: str
    """The id of `runs.load`, executing."""

    def interrupt(self, signum: int, whole_group: bool = False) -> int:
        """Signal the apply (or its process group, as a terminal's Ctrl-C does); its exit code."""
        if whole_group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)
        return self.process.wait(timeout=PROMPT_SECONDS)

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def load_log(self) -> str:
        """What `runs.load`'s worker printed so far (apply's log of it)."""
        log = run_logs_dir(self.root, self.project) / f"{self.load_run}.log"
        return log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""

    def children(self) -> list[int]:
        """The processes it started that are still alive (its environment's marker)."""
        return pids_with_environ(MARK, self.mark)


@contextmanager
def running_apply(core: Any, tmp_path: Path, name: str = "apply") -> Iterator[Apply]:
    """`dhmlrun apply` of the reliability config with a slow first run; killed if still alive."""
    root, project = write_config(tmp_path / name)
    truth = Truth(core, project)
    args = ("apply", root, "--var", f"project={project}", "--endpoint", core.endpoint, "--auto-approve")
    mark = uuid.uuid4().hex
    log = tmp_path / f"{name}.log"
    process = start_cli(*args, env=cli_env(DHMLRUN_TEST_SLEEP="300", **{MARK: mark}), log=log)
    try:
        running = truth.wait_for_state("runs.load", "RUNNING")
        yield Apply(process, log, args, truth, root, project, mark, running["id"])
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.parametrize(
    ("signum", "whole_group"), [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["ctrl-c", "sigterm"]
)
def test_an_interrupted_apply_ends_its_runs_and_the_next_apply_runs_them(
    core: Any, tmp_path: Path, signum: int, whole_group: bool
) -> None:
    with running_apply(core, tmp_path) as first:
        wait_for(lambda: "load: sleeping" in first.load_log(), "runs.load's handler to start")
        started = time.monotonic()
        code = first.interrupt(signum, whole_group)
        took = time.monotonic() - started
    assert code == EXIT_INTERRUPTED, first.output
    assert took < PROMPT_SECONDS
    assert "Apply interrupted: 4 done, 1 failed, 1 skipped." in first.output
    assert "skipped: runs.total (run): apply was interrupted" in first.output
    assert not first.children(), "a run worker outlived the apply"

    truth = first.truth
    [interrupted] = truth.runs_of("runs.load")
    assert interrupted["status"]["state"] == "ERROR"
    assert interrupted["status"]["message"].startswith("interrupted")
    assert truth.runs_of("runs.total") == []
    assert "numbers-clean" not in truth.versions("dataitems")  # the interrupted run registered nothing
    assert [d for d in truth.list("dataitems") if d["name"] == LOCK_NAME] == []  # lock released
    where = ("--path", first.root, "--var", f"project={first.project}", "--endpoint", core.endpoint)
    logs = cli("logs", "runs.load", *where)
    assert "load: sleeping 300" in logs.stdout and "interrupted" in logs.stdout, logs.stdout

    second = cli(*first.args)
    assert second.returncode == 0, (second.stdout[-2000:], second.stderr[-3000:])
    assert "Plan: 0 to create, 0 to update, 0 to delete, 2 to run." in second.stdout
    assert "runs.load  (last run was interrupted)" in second.stdout
    assert truth.states("runs.load") == {"ERROR": 1, "COMPLETED": 1}
    assert truth.states("runs.total") == {"COMPLETED": 1}


def test_a_second_interrupt_exits_at_once(core: Any, tmp_path: Path) -> None:
    with running_apply(core, tmp_path) as first:
        first.process.send_signal(signal.SIGINT)
        wait_for(lambda: "Interrupt again to exit at once" in first.output, "the first interrupt to be taken")
        code = first.interrupt(signal.SIGINT)
    assert code == EXIT_INTERRUPTED, first.output
    assert "Interrupted again" in first.output
    deadline = time.monotonic() + PROMPT_SECONDS
    while first.children() and time.monotonic() < deadline:  # killed: gone once reaped
        time.sleep(0.2)
    assert not first.children(), "a run worker outlived the apply"


def test_an_apply_interrupted_while_waiting_for_the_lock_says_so_and_exits_130(
    core: Any, tmp_path: Path
) -> None:
    with running_apply(core, tmp_path) as holder:
        waiter = start_cli(*holder.args, "--lock-timeout", "300", log=tmp_path / "waiter.log")
        deadline = time.monotonic() + 120
        waiting = lambda: "Waiting for the lock" in (tmp_path / "waiter.log").read_text()  # noqa: E731
        while not waiting() and time.monotonic() < deadline:
            time.sleep(0.2)
        waiter.send_signal(signal.SIGTERM)
        assert waiter.wait(timeout=PROMPT_SECONDS) == EXIT_INTERRUPTED
        assert "Interrupted." in (tmp_path / "waiter.log").read_text()


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
    truth = Truth(core, project)
    log = tmp_path / "remote.log"
    first = start_cli("apply", root, "--endpoint", core.endpoint, "--auto-approve", log=log)
    try:
        truth.wait_for_state("runs.nap", "RUNNING")
        first.send_signal(signal.SIGTERM)
        code = first.wait(timeout=PROMPT_SECONDS)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code == EXIT_INTERRUPTED, output
    assert "failed:  runs.nap (run): interrupted" in output
    assert truth.states("runs.nap") == {"STOPPED": 1}
