"""Benchmark (10) of functions' requirements on the embedded core: what reusing an environment saves.

Run: `python bench/bench_environments.py [--quick]`. On an embedded core served on loopback, a
python function with `requirements` runs a trivial handler: the first run prepares the function's
environment (a virtual environment and a pip install, from wheels this benchmark makes: no
internet), every later run reuses it. Measured, from the run's create to its COMPLETED: the first
run, later runs (best of N) and, as the baseline, the same handler without requirements (the
core's own environment). Either kind of run is a fork of a warm run server of its interpreter
(`core/jobs.py`); each server's first run, which starts it, is not among the N. The goal: a
run reusing its environment costs about what a run without requirements costs (ratio <= 1.3).
Also measured alone (`environments.prepare`, in this process): preparing a new environment vs
finding a prepared one, which is what a reusing run skips.
"""

from __future__ import annotations

import base64
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, command_line, sdk_on_a_new_core

from tests.wheels import make_wheel

HANDLER = "import dhmlrun_bench_dep\n\ndef handler():\n    return dhmlrun_bench_dep.VERSION\n"
PLAIN = "def handler():\n    return 'plain'\n"
FINAL = ("COMPLETED", "ERROR", "STOPPED")


def _function(project: Any, name: str, code: str, requirements: list[str]) -> Any:
    source = {"base64": base64.b64encode(code.encode()).decode(), "handler": "handler"}
    return project.new_function(
        name, kind="python", python_version="PYTHON3_11", source=source, requirements=requirements
    )


def _timed_run(function: Any) -> float:
    started = time.perf_counter()
    run = function.run("job")
    while run.refresh().status.state not in FINAL:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if run.status.state != "COMPLETED":
        raise RuntimeError(f"run {run.id} ended {run.status.state}: {run.status.message}")
    return elapsed


def _prepare_times(tmp: Path, repeat: int) -> tuple[float, float]:
    """Best of `repeat`: preparing a new environment (a new digest each time) vs reusing one."""
    from dhmlrun.environments import EnvironmentRequest, prepare

    quiet = lambda line: None  # noqa: E731
    fresh, again = [], []
    for index in range(repeat):
        version = f"1.0.{index + 1}"
        make_wheel(tmp / "wheels", "dhmlrun-bench-dep", version, module="dhmlrun_bench_dep")
        request = EnvironmentRequest((f"dhmlrun-bench-dep=={version}",))
        started = time.perf_counter()
        prepare(tmp / "envs", request, quiet)
        fresh.append(time.perf_counter() - started)
        started = time.perf_counter()
        prepare(tmp / "envs", request, quiet)
        again.append(time.perf_counter() - started)
    return min(fresh), min(again)


def run(quick: bool = False) -> list[Result]:
    repeat = 2 if quick else 4
    with tempfile.TemporaryDirectory(prefix="bench-envs-") as tmp_dir:
        tmp = Path(tmp_dir)
        make_wheel(tmp / "wheels", "dhmlrun-bench-dep", "1.0.0", module="dhmlrun_bench_dep")
        with sdk_on_a_new_core(tmp, {"PIP_FIND_LINKS": str(tmp / "wheels"), "PIP_NO_INDEX": "1"}):
            import digitalhub as dh

            project = dh.get_or_create_project("bench-envs")
            with_requirements = _function(project, "needs", HANDLER, ["dhmlrun-bench-dep==1.0.0"])
            plain = _function(project, "plain", PLAIN, [])
            first = _timed_run(with_requirements)
            for function in (with_requirements, plain):  # each interpreter's warm run server starts
                _timed_run(function)
            reused, baseline = [], []
            for index in range(repeat):  # interleaved, ABBA: both see the same load and slots
                pair = [(reused, with_requirements), (baseline, plain)]
                for timings, function in pair if index % 2 == 0 else pair[::-1]:
                    timings.append(_timed_run(function))
            prepared, found = _prepare_times(tmp, repeat)
    best_reused, best_plain = min(reused), min(baseline)
    return [
        Result(
            "10. environment of a function's requirements: reuse vs prepare",
            f"{found * 1000:.2f} ms",
            f"{prepared:.2f} s (prepare: venv + pip)",
            found / prepared,
            "<= 0.01x",
            found / prepared <= 0.01,
            how=f"environments.prepare in-process, one local wheel; best of {repeat}",
            notes=["a real requirement set (scikit-learn from an index) takes tens of seconds to prepare"],
        ),
        Result(
            "10. python run reusing its requirements' environment vs none",
            f"{best_reused:.2f} s",
            f"{best_plain:.2f} s (no requirements)",
            best_reused / best_plain,
            "<= 1.3x",
            best_reused / best_plain <= 1.3,
            how=f"create to COMPLETED on the embedded core; best of {repeat}, interleaved ABBA",
        ),
        Result(
            "10. python run reusing its environment vs the first (which prepares it)",
            f"{best_reused:.2f} s",
            f"{first:.2f} s (first run)",
            best_reused / first,
            "-",
            None,
            how="one first run (venv + pip install of one local wheel)",
        ),
    ]


if __name__ == "__main__":
    sys.exit(command_line(run, __doc__.splitlines()[0]))
