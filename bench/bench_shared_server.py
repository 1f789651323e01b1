"""Benchmark (13): a run server forked from a shared one (`fork_server.SharedRunServer`, named in
`DHMLRUN_SHARED_RUN_SERVER`) vs one the owner starts.

Run: `python bench/bench_shared_server.py [--quick]`. Measured, alternating so both see the same
load:

- an owner's run server ready and its first run (a trivial module) ended: forked from a shared
  server that preloaded mlrun and digitalhub already, vs started by the owner (which pays those
  imports first). The goal: at most 0.1x;
- for context, a whole `dhmlrun apply --auto-approve` of `examples/employees` (two mlrun runs)
  on a fresh embedded core, with the address of the shared server in its environment vs
  without: what a CI job or a test session that applies many times gains per apply. Apply
  starts its own server first thing, overlapping its imports with planning, so the gain is less
  than the server's start.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, REPO, Result, command_line, embedded_env, seconds, time_process

EXAMPLE = REPO / "examples" / "employees"


def _server_and_first_run(tmp: Path, shared: str | None) -> float:
    """Seconds from asking for a run server to its first run's end (`shared`: the address)."""
    from dhmlrun.worker.fork_server import SHARED_ENV, RunServer

    saved = os.environ.pop(SHARED_ENV, None)
    if shared is not None:
        os.environ[SHARED_ENV] = shared
    try:
        started = time.perf_counter()
        with RunServer() as server:
            code = server.spawn([], tmp / "first.log", dict(os.environ), str(tmp), module="platform").wait()
            elapsed = time.perf_counter() - started
    finally:
        os.environ.pop(SHARED_ENV, None)
        if saved is not None:
            os.environ[SHARED_ENV] = saved
    if code != 0:
        raise RuntimeError(f"the first run exited {code}: {(tmp / 'first.log').read_text()}")
    return elapsed


def _apply(tmp: Path, shared: str | None, n: int) -> float:
    """Wall seconds of one first apply of the example, on a fresh copy (a fresh embedded core)."""
    from dhmlrun.worker.fork_server import SHARED_ENV

    copy = tmp / f"employees-{n}"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns(".dhmlrun"))
    env = embedded_env()
    env.pop(SHARED_ENV, None)
    if shared is not None:
        env[SHARED_ENV] = shared
    return time_process([PYTHON, "-m", "dhmlrun", "apply", str(copy), "--auto-approve"], env=env)


def run(quick: bool = False) -> list[Result]:
    from dhmlrun.worker.fork_server import SharedRunServer

    repeat = 2 if quick else 4
    applies = 1 if quick else 2
    with tempfile.TemporaryDirectory(prefix="bench-shared-") as tmp_dir:
        tmp = Path(tmp_dir)
        shared = SharedRunServer()
        try:
            address = shared.address.encode()
            _server_and_first_run(tmp, address)  # the shared server's own start, paid once
            forked, started = [], []
            for _ in range(repeat):
                forked.append(_server_and_first_run(tmp, address))
                started.append(_server_and_first_run(tmp, None))
            with_shared, alone = [], []
            for n in range(applies):
                with_shared.append(_apply(tmp, address, 2 * n))
                alone.append(_apply(tmp, None, 2 * n + 1))
        finally:
            shared.close()
    server_ratio = min(forked) / min(started)
    apply_ratio = min(with_shared) / min(alone)
    return [
        Result(
            "13. run server ready and its first run ended: forked from a shared one vs started",
            seconds(min(forked)),
            f"{seconds(min(started))} (started by its owner)",
            server_ratio,
            "<= 0.1x",
            server_ratio <= 0.1,
            how=f"best of {repeat}, alternating; a trivial module as the run",
        ),
        Result(
            "13. apply of examples/employees, fresh core: with a shared run server vs without",
            seconds(min(with_shared)),
            f"{seconds(min(alone))} (its own server)",
            apply_ratio,
            "-",
            None,
            how=f"whole process; best of {applies}, alternating",
        ),
    ]


if __name__ == "__main__":
    sys.exit(command_line(run, __doc__.splitlines()[0]))
