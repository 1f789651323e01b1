"""Benchmark (12) of remote runs on the embedded core: a worker forked from the core's warm run
server vs a new interpreter per run.

Run: `python bench/bench_remote_runs.py [--quick]`. On an embedded core served on loopback, the
SDK creates remote runs (`function.run("job")`, no local execution) of a trivial python handler
and of a trivial mlrun handler. Measured, from the run's create to its COMPLETED: each run with
the core's warm run server (the default: the worker is a fork of a process that imported mlrun
and digitalhub once, `worker/fork_server.py`) and, as the baseline, with `DHMLRUN_RUN_SERVER=0`
(a new `python -m dhmlrun.worker.job` per run, paying those imports). Runs alternate, so both
see the same load; the first run (which starts the server) is left out, as a core serving runs
all day pays it once. The goal: a warm run takes at most 0.6x a fresh one.
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, command_line, sdk_on_a_new_core

FINAL = ("COMPLETED", "ERROR", "STOPPED")
SERVER_ENV = "DHMLRUN_RUN_SERVER"


def _python_function(project: Any) -> Any:
    code = base64.b64encode(b"def handler():\n    return 'plain'\n").decode()
    source = {"base64": code, "handler": "handler"}
    return project.new_function("plain", kind="python", python_version="PYTHON3_11", source=source)


def _mlrun_function(project: Any) -> Any:
    source = {"code": "def handler(context):\n    context.log_result('answer', 42)\n"}
    return project.new_function("trivial", kind="mlrun", source=source, handler="handler")


def _timed_run(function: Any, warm: bool) -> float:
    """Create to COMPLETED, with the core's warm server on or off for this run."""
    if warm:
        os.environ.pop(SERVER_ENV, None)
    else:
        os.environ[SERVER_ENV] = "0"
    try:
        started = time.perf_counter()
        run = function.run("job")
        while run.refresh().status.state not in FINAL:
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        os.environ.pop(SERVER_ENV, None)
    if run.status.state != "COMPLETED":
        raise RuntimeError(f"run {run.id} ended {run.status.state}: {run.status.message}")
    return elapsed


def _measure(function: Any, repeat: int) -> tuple[float, float]:
    """Best of `repeat` warm and fresh runs, alternating (after one warm run starting the server)."""
    _timed_run(function, warm=True)
    warm, fresh = [], []
    for _ in range(repeat):
        warm.append(_timed_run(function, warm=True))
        fresh.append(_timed_run(function, warm=False))
    return min(warm), min(fresh)


def run(quick: bool = False) -> list[Result]:
    repeat = 2 if quick else 4
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp_dir, sdk_on_a_new_core(Path(tmp_dir)):
        import digitalhub as dh

        project = dh.get_or_create_project("bench-remote")
        timings = {
            "python": _measure(_python_function(project), repeat),
            "mlrun": _measure(_mlrun_function(project), repeat),
        }
    return [
        Result(
            f"12. remote {kind} run on the core: warm worker vs new interpreter",
            f"{warm:.2f} s",
            f"{fresh:.2f} s (DHMLRUN_RUN_SERVER=0)",
            warm / fresh,
            "<= 0.6x",
            warm / fresh <= 0.6,
            how=f"create to COMPLETED through the SDK; best of {repeat}, alternating",
        )
        for kind, (warm, fresh) in timings.items()
    ]


if __name__ == "__main__":
    sys.exit(command_line(run, __doc__.splitlines()[0]))
