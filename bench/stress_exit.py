"""Run the seed snippet in a fresh interpreter N times under CPU load; every exit code must be 0.

Why: a process that did all its work could still abort at interpreter exit ("terminate called
without an active exception", exit 134) when Arrow's thread pools were still finishing a read
(issue 18; the fix is `dhmlrun/compat/pyarrow.py`). The abort depends on timing, so it
shows only as a rate, and a busy machine makes it likelier: this check keeps every core busy with
a bounded busy loop while it runs `bench/seed_snippet.py` (a run executed by `dhmlrun core serve`,
then a local run, every output read as a table) again and again, and reports each exit code.

    python bench/stress_exit.py [--iterations 50] [--load N] [--without-exit-drain]

`--load` is the number of busy loops (default: one per core; 0 for none). `--without-exit-drain`
runs the snippet with the runtime's exit drain unregistered, to measure the rate without the fix.
Exit code 0 when every iteration exited 0, 1 otherwise. 10 to 27 s per iteration on a loaded
2-core machine, so 50 iterations take 11 to 23 minutes: too long for CI (see tests/README.md).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from dhmlrun.cli.core import TOKEN_ENV
from dhmlrun.core.sealing import KEY_ENV
from dhmlrun.platform.worker_env import embedded_connection
from dhmlrun.vocabulary.settings import RUNS_DIR_ENV

SNIPPET = Path(__file__).resolve().parent / "seed_snippet.py"
ITERATION_TIMEOUT_SECONDS = 600.0
SERVE_START_TIMEOUT_SECONDS = 60.0
BUSY_LOOP = """
import sys, time
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    pass
"""
"""One core's load: spins until its time is up (or it is stopped), so it can never outlive the
check by much even if the check itself is killed."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--load", type=int, default=os.cpu_count() or 1, help="busy loops (0: none)")
    parser.add_argument("--without-exit-drain", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="stress-exit-"))
    env = {**os.environ, RUNS_DIR_ENV: str(work / "runs"), KEY_ENV: str(work / "core.key")}
    codes: list[int | None] = []
    start = time.monotonic()
    with served_core(work, env) as snippet_env, busy_loops(args.load, args.iterations * 120.0):
        for index in range(1, args.iterations + 1):
            codes.append(run_snippet(index, args.iterations, snippet_env, work, args.without_exit_drain))
    report(codes, time.monotonic() - start, args)
    if all(code == 0 for code in codes):
        shutil.rmtree(work, ignore_errors=True)
        sys.exit(0)
    print(f"kept for inspection: {work}")
    sys.exit(1)


@contextlib.contextmanager
def served_core(work: Path, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """`dhmlrun core serve` on a free port for the block; yields the snippet's environment.

    Its output goes to a file (a pipe nobody reads could fill up and stall the server)."""
    token = secrets.token_urlsafe(24)
    command = [sys.executable, "-m", "dhmlrun", "core", "serve", "--port", "0", "--db", str(work / "core.db")]
    log = work / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**env, TOKEN_ENV: token}, cwd=work
        )
    try:
        yield {**env, **embedded_connection(_served_endpoint(server, log), token)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _served_endpoint(server: subprocess.Popen, log: Path) -> str:
    """The endpoint from the server's first line: `dhmlrun core serving http://127.0.0.1:PORT ...`."""
    deadline = time.monotonic() + SERVE_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        first = log.read_text().partition("\n")[0]
        if first.startswith("dhmlrun core serving "):
            return first.split()[3]
        time.sleep(0.1)
    raise SystemExit(f"dhmlrun core serve did not start:\n{log.read_text()}")


@contextlib.contextmanager
def busy_loops(count: int, limit_seconds: float) -> Iterator[None]:
    """`count` processes spinning on a core each for the block (each stops by itself after
    `limit_seconds` at the latest)."""
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(limit_seconds)]) for _ in range(count)]
    try:
        yield
    finally:
        for loop in loops:
            loop.terminate()
        for loop in loops:
            loop.wait(timeout=30)


def run_snippet(index: int, total: int, env: dict[str, str], work: Path, without_drain: bool) -> int | None:
    """One fresh interpreter running the snippet; its exit code (None: killed after the timeout)."""
    command = [sys.executable, str(SNIPPET), f"stress-{index}-{secrets.token_hex(4)}"]
    if without_drain:
        command.append("--without-exit-drain")
    began = time.monotonic()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=work, timeout=ITERATION_TIMEOUT_SECONDS
        )
        code: int | None = done.returncode
        stderr = done.stderr
    except subprocess.TimeoutExpired as exc:
        code, stderr = None, str(exc.stderr or "")
    shown = "timeout" if code is None else f"exit {code}"
    print(f"[{index:>4}/{total}] {shown:<8} {time.monotonic() - began:6.1f} s", flush=True)
    if code != 0:
        for line in stderr.strip().splitlines()[-3:]:
            print(f"           {line}", flush=True)
    return code


def report(codes: list[int | None], wall: float, args: argparse.Namespace) -> None:
    failures = [code for code in codes if code != 0]
    by_code = collections.Counter("timeout" if code is None else str(code) for code in failures)
    drain = "without the exit drain" if args.without_exit_drain else "with the exit drain"
    print(
        f"iterations {len(codes)}, failures {len(failures)}"
        + (f" (exit codes: {dict(by_code)})" if failures else "")
        + f", wall {wall:.0f} s ({wall / max(1, len(codes)):.1f} s each), "
        f"{args.load} busy loop(s), {drain}"
    )


if __name__ == "__main__":
    main()
