"""Benchmark: `dhmlrun validate` as a whole process on a generated 1,000-resource declaration.

Prints the best of 3 wall-clock times, the ratio to the 0.5 s goal (below 1.0 meets it) and the
ratio to a 10-resource declaration (how much of the time is start-up vs per-resource work).

    python bench/bench_validate.py [--resources 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 0.5

HEADER = """\
version: 1
project:
  name: bench-{{ env }}
  description: generated for the validate benchmark
variables:
  env: {default: dev}
  bucket: {default: data}
  retries: {default: 2}
environments:
  prod: {variables: {env: prod}}
"""


def generate(directory: Path, resources: int) -> Path:
    """A declaration with `resources` resources: a quarter dataitems, a quarter functions, half runs
    (each run reads a dataitem and, after the first, the previous run's output), with templates."""
    quarter = max(1, resources // 4)
    runs = max(1, resources - 2 * quarter)
    (directory / "src").mkdir(parents=True, exist_ok=True)
    (directory / "src" / "job.py").write_text("def handler(context):\n    return 1\n")
    lines = [HEADER, "dataitems:\n"]
    for i in range(quarter):
        lines.append(
            f'  data-{i}:\n    kind: table\n    path: "{{{{ bucket }}}}/part-{i}.csv"\n    labels: [bench]\n'
        )
    lines.append("functions:\n")
    for i in range(quarter):
        lines.append(
            f"  fn-{i}:\n    kind: mlrun\n    source: {{source: src/job.py, lang: python}}\n"
            f"    handler: handler\n    image: mlrun/mlrun\n    requirements: [pandas]\n"
        )
    lines.append("runs:\n")
    for i in range(runs):
        previous = f"\n      prev: runs.run-{i - 1}.outputs.dataset" if i else ""
        lines.append(
            f"  run-{i}:\n    function: fn-{i % quarter}\n    action: job\n"
            f"    inputs:\n      data: dataitems.data-{i % quarter}{previous}\n"
            f"    outputs: {{dataset: out-{i}}}\n"
            f'    parameters: {{index: {i}, retries: "{{{{ var.retries }}}}", '
            f'tag: "v-{{{{ env }}}}-{i}"}}\n'
            f"    values: [rows]\n    trigger: on_change\n    backoff_limit: 1\n"
            f"    resources: {{cpu: {{requests: 100m, limits: '1'}}}}\n"
            f'    envs: [{{name: STAGE, value: "{{{{ env }}}}"}}]\n'
        )
    root = directory / "dhmlrun.yaml"
    root.write_text("".join(lines))
    return directory


def time_validate(directory: Path, repeat: int) -> float:
    """Best wall-clock seconds of `python -m dhmlrun validate DIR` (it must succeed)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "dhmlrun", "validate", str(directory)], capture_output=True, text=True
        )
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"validate failed:\n{result.stdout}{result.stderr}")
        best = min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = generate(Path(tmp) / "big", args.resources)
        small = generate(Path(tmp) / "small", 10)
        big_seconds = time_validate(big, args.repeat)
        small_seconds = time_validate(small, args.repeat)
    print(f"validate, {args.resources} resources: {big_seconds:.3f} s (best of {args.repeat})")
    print(f"ratio to the {GOAL_SECONDS} s goal: {big_seconds / GOAL_SECONDS:.2f} (below 1.00 meets it)")
    print(
        f"validate, 10 resources: {small_seconds:.3f} s; {args.resources}/10 ratio: "
        f"{big_seconds / small_seconds:.2f}"
    )


if __name__ == "__main__":
    main()
