"""What every benchmark returns, and the timing helpers they share.

The machine is shared and noisy, so a benchmark never reports one number alone: each `Result`
holds the measurement, its baseline measured in the same run, their ratio and the goal. Timings
are the best of N (the least disturbed run; said in `how`) unless a result says otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PLATFORM_PREFIXES = ("DHCORE_", "DH_")
"""The digitalhub SDK's (and so dhmlrun's) connection settings: endpoint, credentials, profile."""


@dataclass
class Result:
    """One row of the results table.

    `ratio` is measured / baseline. `goal` says what meets it in words; `met` is decided by the
    benchmark (some goals are on the ratio, some on the absolute measurement), None for a row
    reported for context, with no goal of its own."""

    name: str
    measured: str
    baseline: str
    ratio: float | None
    goal: str
    met: bool | None
    how: str = ""
    notes: list[str] = field(default_factory=list)


def verdict(met: bool | None) -> str:
    """How the table says whether a goal is met."""
    return "-" if met is None else "yes" if met else "NO"


def best_of(fn: Callable[[], float], repeat: int) -> float:
    """The smallest of `repeat` measurements (the one least disturbed by other load)."""
    return min(fn() for _ in range(max(1, repeat)))


def run_timed(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    ok: Sequence[int] = (0,),
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall seconds of one whole process and what it printed (for a benchmark that also checks
    what was timed); fails loudly when it exits with an unexpected code."""
    start = time.perf_counter()
    done = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return elapsed, done


def time_process(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    ok: Sequence[int] = (0,),
) -> float:
    """Wall seconds of one whole process; fails loudly when it exits with an unexpected code."""
    return run_timed(argv, cwd=cwd, env=env, ok=ok)[0]


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"


def embedded_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any platform setting and with no SDK ini file
    (`DH_CONFIG=/dev/null`): a dhmlrun command given no `--endpoint` then uses the config dir's
    embedded core, whatever the shell running the benchmark points at."""
    source = os.environ if environ is None else environ
    kept = {k: v for k, v in source.items() if not k.startswith(PLATFORM_PREFIXES)}
    return {**kept, "DH_CONFIG": os.devnull}


def command_line(run: Callable[[bool], list[Result]], description: str) -> int:
    """A benchmark module run alone (`python bench/bench_X.py [--quick]`): each of its results
    on a line."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true")
    for result in run(parser.parse_args().quick):
        ratio = "-" if result.ratio is None else f"{result.ratio:.3g}"
        print(f"{result.name}: {result.measured} vs {result.baseline} (ratio {ratio}, goal {result.goal})")
    return 0


@contextmanager
def sdk_on_a_new_core(tmp: Path, environ: dict[str, str] | None = None) -> Iterator[Any]:
    """For the block: a new embedded core on `tmp/core.db`, served on loopback, and the SDK of
    this process pointed at it (this process's environment plus `environ` meanwhile: the core
    hands it to the runs it executes); the core closed and the environment restored after."""
    from dhmlrun.core.server import EmbeddedCore
    from dhmlrun.platform.sdk import configure_sdk

    saved = dict(os.environ)
    os.environ.update({**(environ or {}), "DHMLRUN_CORE_KEY_FILE": str(tmp / "core.key")})
    core = EmbeddedCore(tmp / "core.db")
    try:
        os.environ.update(core.client_environment())
        configure_sdk()
        yield core
    finally:
        core.close()
        os.environ.clear()
        os.environ.update(saved)
        configure_sdk()
