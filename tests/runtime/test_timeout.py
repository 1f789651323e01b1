"""Run timeouts: a worker-executed run still running after `timeout` seconds is marked ERROR
("timed out after N s") and its worker process ends; in the caller's process the timeout is
recorded but not enforced."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest
from pydantic import ValidationError

from dhmlrun.runtime.deadline import RunDeadline, timeout_message
from dhmlrun.runtime.taskparams import TaskParams
from dhmlrun.worker.job import EXIT_TIMED_OUT
from tests.runtime.test_bad_data import materials
from tests.runtime.test_core_dispatched_runs import follow
from tests.runtime.test_local_execution import log_text

SLEEPS_FOREVER = """
import time

import pandas as pd


def sleep(context):
    print("going to sleep", flush=True)
    while True:
        time.sleep(3600)
    context.log_dataset("never", df=pd.DataFrame({"a": [1]}))
"""

QUICK = """
import pandas as pd


def quick(context):
    context.log_dataset("dataset", df=pd.DataFrame({"a": [1, 2]}))
"""


def test_the_watchdog_fires_once_unless_the_work_finished_first() -> None:
    fired = threading.Event()
    calls: list[int] = []

    def expire(message: str) -> None:
        assert message == timeout_message(0.05)
        calls.append(1)
        fired.set()

    late = RunDeadline(0.05, expire).start()
    assert fired.wait(30)
    assert late.expired
    assert late.finish() is False  # too late: the watchdog owns the run
    assert calls == [1]

    fired.clear()
    early = RunDeadline(3600, expire).start()
    assert early.finish() is True
    early._timer.join(30)  # cancelled: the timer thread ends without calling back
    assert not early._timer.is_alive()
    assert not early.expired
    assert calls == [1]


def test_an_interrupt_ends_the_run_at_once_unless_the_handler_returned() -> None:
    ended: list[str] = []
    guard = RunDeadline(None, ended.append).start()
    assert guard.interrupt("interrupted") is True
    assert guard.interrupt("again") is False  # ended once
    assert guard.finish() is False  # the handler returned too late: nothing is registered
    assert (ended, guard.message) == (["interrupted"], "interrupted")

    done = RunDeadline(None, ended.append).start()
    assert done.finish() is True
    assert done.interrupt("interrupted") is False  # registering: the run is left to complete
    assert ended == ["interrupted"]


def test_timeout_must_be_a_positive_number_of_seconds() -> None:
    assert TaskParams(timeout=2).timeout == 2
    assert TaskParams(timeout=0.5).timeout == 0.5
    for bad in (0, -1, "soon"):
        with pytest.raises(ValidationError, match="timeout"):
            TaskParams(timeout=bad)
    assert timeout_message(2) == "timed out after 2 s"
    assert timeout_message(2.5) == "timed out after 2.5 s"


def built_but_not_dispatched(task: Any, **kwargs: Any) -> Any:
    """A READY remote run, as the core's create leaves it, that the core's job runner never took:
    created for local execution (so it is not queued), then turned remote and built while still
    CREATED (its spec may change then), then moved READY."""
    run = task.run("mlrun+job:run", local_execution=True, **kwargs)
    run.spec.local_execution = False
    run.build()
    run.status.state = "READY"
    run.save(update=True)
    return run


@pytest.mark.slow
def test_a_worker_ends_a_run_that_exceeds_its_timeout(project: Any) -> None:
    function = project.new_function(
        name="sleeper-direct", kind="mlrun", source={"code": SLEEPS_FOREVER}, handler="sleep"
    )
    task = function.new_task("job")
    run = built_but_not_dispatched(task, timeout=2, outputs={"never": "never"})  # this test starts the worker
    assert (run.status.state, run.spec.local_execution) == ("READY", False)
    before = materials(project)
    worker = subprocess.run(
        [sys.executable, "-m", "dhmlrun.worker.job", project.name, run.id],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == EXIT_TIMED_OUT, worker.stderr[-3000:]
    run.refresh()
    assert run.status.state == "ERROR"
    assert run.status.message == "timed out after 2 s"
    assert not run.status.outputs
    assert "run failed: timed out after 2 s" in log_text(run)
    assert materials(project) == before


@pytest.mark.slow
def test_core_dispatched_runs_honour_run_and_task_timeouts(project: Any) -> None:
    sleeper = project.new_function(
        name="sleeper", kind="mlrun", source={"code": SLEEPS_FOREVER}, handler="sleep"
    )
    quick = project.new_function(name="quick", kind="mlrun", source={"code": QUICK}, handler="quick")
    quick.new_task("job", timeout=120)
    stuck = sleeper.run("job", timeout=2)
    done = quick.run("job", outputs={"dataset": "quick-out"})
    assert follow(stuck)[-1] == "ERROR"
    assert stuck.status.message == "timed out after 2 s"
    assert follow(done)[-1] == "COMPLETED", done.status.message
    assert done.spec.timeout == 120  # the task's timeout reached the run
    assert done.output("dataset").as_df()["a"].tolist() == [1, 2]


@pytest.mark.slow
def test_in_the_callers_process_the_timeout_is_noted_not_enforced(project: Any) -> None:
    quick = project.new_function(name="quick-local", kind="mlrun", source={"code": QUICK}, handler="quick")
    run = quick.run("job", timeout=30, local_execution=True)
    assert run.status.state == "COMPLETED", run.status.message
    assert "timeout 30 s is not enforced in the caller's process" in log_text(run)
