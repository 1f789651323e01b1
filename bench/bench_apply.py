"""Benchmarks (4) and (5): runs through `dhmlrun apply`, whole processes, on the embedded core.

(4) one trivial run through `dhmlrun apply --auto-approve DIR` vs a bare
    `mlrun.code_to_function(...).run(local=True)` script on the same handler (goal <= 1.5x);
(5) eight independent 1-second runs (`time.sleep(1)`), `--parallelism 4` vs `--parallelism 1`
    (goal <= 0.4x on 2 cores).

Every apply starts from an empty `.dhmlrun` (a fresh embedded core), so its plan creates the
project and the function and fires every run, as a first apply in CI would. Each apply is also
measured with the warm run server turned off (`DHMLRUN_RUN_SERVER=0`: one fresh
`python -m dhmlrun.worker` per run, the behaviour before the run server), so "before"
and "after" come from the same run of this benchmark. Timings are the best of N, the variants
measured in turns.

    python bench/bench_apply.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, Result, embedded_env, seconds, time_process, verdict

TRIVIAL = "def handler(context, n: int = 1):\n    context.log_result('n', n)\n"
SLEEPER = (
    "import time\n\n\ndef handler(context, n: int = 0):\n    time.sleep(1)\n    context.log_result('n', n)\n"
)

BARE_SCRIPT = """
import mlrun
function = mlrun.code_to_function(
    name="bench", project="bench", filename="handler.py", kind="job", handler="handler"
)
run = function.run(handler="handler", params={"n": 1}, local=True, output_path=%r)
assert run.status.state == "completed", run.status.state
"""

SERVER_ENV = "DHMLRUN_RUN_SERVER"


def write_config(directory: Path, handler: str, runs: int) -> Path:
    """A declaration with one function and `runs` independent runs of it (trigger: always)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "handler.py").write_text(handler)
    lines = [
        "version: 1\nproject:\n  name: bench-apply\n",
        "functions:\n  fn:\n    kind: mlrun\n    source: {source: handler.py}\n    handler: handler\n",
        "runs:\n",
    ]
    for i in range(runs):
        lines.append(
            f"  r{i}:\n    function: functions.fn\n    action: job\n"
            f"    parameters: {{n: {i}}}\n    trigger: always\n"
        )
    (directory / "dhmlrun.yaml").write_text("".join(lines))
    return directory


def apply_timed(directory: Path, *extra: str, server: bool = True) -> tuple[float, float]:
    """(whole process, runs phase) seconds of one `dhmlrun apply` on a fresh embedded core.

    The runs phase goes from the first "running…" progress line to the last run's end, read as
    the lines arrive on stderr."""
    shutil.rmtree(directory / ".dhmlrun", ignore_errors=True)
    # the embedded core whatever this shell points at, and none of dhmlrun's own settings
    env = {k: v for k, v in embedded_env().items() if not k.startswith("DHMLRUN_")}
    env[SERVER_ENV] = "1" if server else "0"
    argv = [PYTHON, "-m", "dhmlrun", "apply", "--auto-approve", *extra, str(directory)]
    start = time.perf_counter()
    first_run = last_end = None
    lines = []
    with subprocess.Popen(
        argv, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            now = time.perf_counter()
            if " runs." in line and ": running" in line and first_run is None:
                first_run = now
            elif " runs." in line and (": done" in line or ": failed" in line):
                last_end = now
    total = time.perf_counter() - start
    if proc.returncode != 0 or first_run is None or last_end is None:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{''.join(lines[-20:])}")
    return total, last_end - first_run


def apply_seconds(directory: Path, *extra: str, server: bool = True) -> float:
    return apply_timed(directory, *extra, server=server)[0]


def interleaved_best(variants: dict[str, Callable[[], float]], repeat: int) -> dict[str, float]:
    """Best time of each variant over `repeat` rounds, the variants measured in turns."""
    best = {name: float("inf") for name in variants}
    for _ in range(repeat):
        for name, fn in variants.items():
            best[name] = min(best[name], fn())
    return best


def one_run(tmp: Path, repeat: int) -> list[Result]:
    directory = write_config(tmp / "one", TRIVIAL, 1)
    bare = [PYTHON, "-c", BARE_SCRIPT % str(tmp / "bare-out")]
    best = interleaved_best(
        {
            "bare": lambda: time_process(bare, cwd=directory),
            "apply": lambda: apply_seconds(directory),
            "apply, no run server": lambda: apply_seconds(directory, server=False),
        },
        repeat,
    )
    ratio = best["apply"] / best["bare"]
    return [
        Result(
            "4. one trivial run: dhmlrun apply vs bare mlrun script (whole process)",
            seconds(best["apply"]),
            f"{seconds(best['bare'])} (bare mlrun)",
            ratio,
            "<= 1.5x",
            ratio <= 1.5,
            f"best of {repeat}, interleaved",
            [
                f"before (a fresh worker process per run, {SERVER_ENV}=0): "
                f"{seconds(best['apply, no run server'])}, "
                f"ratio {best['apply, no run server'] / best['bare']:.2f}"
            ],
        )
    ]


def parallel_runs(tmp: Path, repeat: int) -> list[Result]:
    """Benchmark 5, read as the issue states it: eight runs, parallelism 4 vs 1.

    What parallelism governs is the runs: the headline is the runs phase, from the moment apply
    starts its first run (so waiting for the run server's imports is included) to the end of
    the last one. The whole process is reported next to it: it adds the start-up both
    configurations pay alike (Python, loading, planning, `import mlrun` in the run server),
    which benchmark 4 measures and which parallelism cannot change."""
    directory = write_config(tmp / "eight", SLEEPER, 8)
    totals: dict[str, float] = {}

    def measure(name: str, parallelism: str, server: bool = True) -> Callable[[], float]:
        def once() -> float:
            total, phase = apply_timed(directory, "--parallelism", parallelism, server=server)
            totals[name] = min(totals.get(name, total), total)
            return phase

        return once

    phases = interleaved_best({"p4": measure("p4", "4"), "p1": measure("p1", "1")}, repeat)
    before = interleaved_best(
        {
            "p4": measure("p4, no run server", "4", server=False),
            "p1": measure("p1, no run server", "1", server=False),
        },
        1,
    )
    ratio = phases["p4"] / phases["p1"]
    whole = totals["p4"] / totals["p1"]
    startup = min(totals["p4"] - phases["p4"], totals["p1"] - phases["p1"])
    title = f"eight 1-s runs: apply --parallelism 4 vs 1 ({os.cpu_count()} cores"
    return [
        Result(
            f"5. {title}, runs phase)",
            seconds(phases["p4"]),
            f"{seconds(phases['p1'])} (parallelism 1)",
            ratio,
            "<= 0.4x",
            ratio <= 0.4,
            f"best of {repeat}, interleaved; from the first run started (waiting for the run "
            "server included) to the last run ended",
            [
                f"before ({SERVER_ENV}=0, one run each): {seconds(before['p4'])} vs "
                f"{seconds(before['p1'])}, ratio {before['p4'] / before['p1']:.2f}",
            ],
        ),
        Result(
            f"5. {title}, whole process)",
            seconds(totals["p4"]),
            f"{seconds(totals['p1'])} (parallelism 1)",
            whole,
            "- (adds the start-up of 4)",
            None,
            f"best of {repeat}; the same applies as the row above",
            [
                f"start-up before the first run, paid alike by both: {seconds(startup)}",
                f"before ({SERVER_ENV}=0): {seconds(totals['p4, no run server'])} vs "
                f"{seconds(totals['p1, no run server'])}, "
                f"ratio {totals['p4, no run server'] / totals['p1, no run server']:.2f}",
            ],
        ),
    ]


def run(quick: bool = False) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        return one_run(Path(tmp), 2 if quick else 4) + parallel_runs(Path(tmp), 1 if quick else 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("one", "parallel"), default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        results = []
        if args.only in (None, "one"):
            results += one_run(Path(tmp), 2 if args.quick else 4)
        if args.only in (None, "parallel"):
            results += parallel_runs(Path(tmp), 1 if args.quick else 3)
    for result in results:
        print(
            f"{result.name}: {result.measured} vs {result.baseline}, ratio {result.ratio:.2f}; "
            f"goal {result.goal}: {verdict(result.met)}; {'; '.join(result.notes)}"
        )


if __name__ == "__main__":
    main()
