"""Runs created without local execution are built by the core in their create (READY, as DHCore
does) and executed by its worker processes."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from dhmlrun.worker.job import EXIT_INFRASTRUCTURE, EXIT_USAGE, execute_run, main
from tests.runtime.conftest import seed_downloader

FINAL = ("COMPLETED", "ERROR", "STOPPED")
LIFECYCLE = ["READY", "RUNNING", "COMPLETED"]
DEADLINE_SECONDS = 120


def follow(run: Any) -> list[str]:
    """Refresh until the run is final; the distinct states seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        state = run.refresh().status.state
        if not seen or seen[-1] != state:
            seen.append(state)
        if state in FINAL:
            return seen
        time.sleep(0.05)
    pytest.fail(f"run {run.id} still {seen[-1]} after {DEADLINE_SECONDS}s")


@pytest.mark.slow
def test_the_seed_snippet_without_local_execution_completes_remotely(project: Any) -> None:
    dataitem, function = seed_downloader(project, "url-dataitem")
    run = function.run("job", inputs=[{"url": dataitem.key}], outputs=[{"dataset": "dataset"}])
    assert run.status.state == "READY"
    assert run.spec.handler == "downloader"  # built at create: the function's spec is merged in
    seen = follow(run)
    assert seen[-1] == "COMPLETED", run.status.message
    assert [s for s in LIFECYCLE if s in seen] == seen, seen  # only forward moves, in order
    assert run.output("dataset").as_df().shape == (60, 6)
    assert "Run execution finished" in "".join(entry.text or "" for entry in run.logs())


@pytest.mark.slow
def test_concurrent_remote_runs_are_isolated_and_a_failing_handler_is_an_error_run(project: Any) -> None:
    failing = {"code": "def h(context):\n    raise RuntimeError('boom from the handler')\n"}
    passing = {"code": "import os\n\ndef h(context):\n    context.log_result('pid', os.getpid())\n"}
    bad = project.new_function(name="remote-fails", kind="mlrun", source=failing, handler="h").run("job")
    good = project.new_function(name="remote-works", kind="mlrun", source=passing, handler="h").run("job")
    assert follow(bad)[-1] == "ERROR"
    assert bad.status.message == "RuntimeError: boom from the handler (main.py:2)"  # not a worker exit
    assert follow(good)[-1] == "COMPLETED", good.status.message
    assert good.result("pid") != os.getpid()


def test_worker_usage_error() -> None:
    assert main([]) == EXIT_USAGE


def test_worker_reports_a_run_it_cannot_read(project: Any) -> None:
    assert execute_run(project.name, "0123456789abcdef0123456789abcdef") == EXIT_INFRASTRUCTURE
