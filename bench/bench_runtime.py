"""Overhead of one trivial run through the mlrun runtime vs a bare mlrun local run.

Both sides are whole processes (`python -c`), so imports count as a user would feel them:
- runtime: the digitalhub SDK against an embedded core (started here and served over HTTP behind
  a bearer token, which the script gets through the SDK's settings `DHCORE_ENDPOINT` and
  `DHCORE_ACCESS_TOKEN`, with `DH_CONFIG=/dev/null`), `function.run("job",
  local_execution=True)` — inputs, source, mlrun, results, logs, state updates;
- bare: `mlrun.code_to_function(...).run(local=True)` on the same handler.
Also the warm cost of a second run inside each process (imports paid). Prints medians and ratios.

    python bench/bench_runtime.py [--repeat 3] [--quick]     (--quick: one repeat)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import embedded_env

HANDLER = "def handler(context, n: int = 1):\n    context.log_result('n', n)\n"

RUNTIME_SCRIPT = """
import sys, time
import digitalhub as dh
project = dh.get_or_create_project(sys.argv[1])
function = project.new_function(name="bench", kind="mlrun", source={{"source": {code!r}}}, handler="handler")
for i in range(2):
    start = time.perf_counter()
    run = function.run("job", parameters={{"n": i}}, local_execution=True)
    assert run.status.state == "COMPLETED", run.status.message
    print("run", time.perf_counter() - start)
"""

BARE_SCRIPT = """
import time
import mlrun
function = mlrun.code_to_function(
    name="bench", project="bench", filename={code!r}, kind="job", handler="handler"
)
for i in range(2):
    start = time.perf_counter()
    run = function.run(handler="handler", params={{"n": i}}, local=True, output_path={out!r})
    assert run.status.state == "completed"
    print("run", time.perf_counter() - start)
"""


def timed(script: str, *args: str, cwd: Path, env: Mapping[str, str]) -> tuple[float, float]:
    """(process seconds up to the end of its first run, warm second-run seconds).

    The process runs twice; its wall time minus the second (warm) run is the whole-process cost
    of one run, imports included.
    """
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark script failed:\n{done.stdout}\n{done.stderr}")
    runs = [float(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("run ")]
    return elapsed - runs[-1], runs[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat (a smoke run)")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat

    from dhmlrun.core.server import EmbeddedCore

    work = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    code = work / "handler.py"
    code.write_text(HANDLER)
    # both scripts see the same environment: the runs directory, and the SDK's settings for the
    # core (which the bare mlrun script never reads)
    env = {**embedded_env(), "DHMLRUN_RUNS_DIR": str(work / "runs")}
    runtime_times, bare_times = [], []
    core = EmbeddedCore(work / "core.db")
    try:
        env.update(core.client_environment())
        for index in range(repeat):
            runtime_times.append(
                timed(RUNTIME_SCRIPT.format(code=str(code)), f"bench-{index}", cwd=work, env=env)
            )
            bare_times.append(
                timed(BARE_SCRIPT.format(code=str(code), out=str(work / "bare")), cwd=work, env=env)
            )
    finally:
        core.close()

    def median(values: list[tuple[float, float]], i: int) -> float:
        return statistics.median(v[i] for v in values)

    runtime_total, bare_total = median(runtime_times, 0), median(bare_times, 0)
    runtime_warm, bare_warm = median(runtime_times, 1), median(bare_times, 1)
    print(
        f"one run, whole process: runtime {runtime_total:.2f}s  bare mlrun {bare_total:.2f}s  "
        f"ratio {runtime_total / bare_total:.2f}"
    )
    print(
        f"one warm run          : runtime {runtime_warm * 1000:.0f}ms  bare mlrun {bare_warm * 1000:.0f}ms  "
        f"ratio {runtime_warm / bare_warm:.2f}"
    )


if __name__ == "__main__":
    main()
