"""Benchmark: `dhmlrun validate` as a whole process on a generated 1,000-resource declaration.

Reports the best of N wall-clock times against the 0.5 s goal, and the ratio to a 10-resource
declaration (how much of the time is start-up vs per-resource work).

    python bench/bench_validate.py [--quick]

Also checks, with `-X importtime`, that validate imports neither mlrun nor digitalhub.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, Result, best_of, seconds, time_process

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
    (directory / "data").mkdir(exist_ok=True)  # validate checks that each declared local file exists
    for i in range(quarter):
        (directory / "data" / f"part-{i}.csv").write_text("index,value\n0,0\n")
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
    argv = [PYTHON, "-m", "dhmlrun", "validate", str(directory)]
    return best_of(lambda: time_process(argv), repeat)


def heavy_imports(directory: Path) -> list[str]:
    """Modules of mlrun or digitalhub that `dhmlrun validate` imports (`-X importtime`); want none."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "dhmlrun", "validate", str(directory)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        module = line.rsplit("|", 1)[1].strip()
        if module.split(".")[0] in ("mlrun", "digitalhub"):
            found.append(module)
    return found


def run(quick: bool = False) -> list[Result]:
    """Benchmark (1): validate on 1,000 resources (best of N), vs 10 resources as the baseline."""
    repeat = 3 if quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        big = generate(Path(tmp) / "big", 1000)
        small = generate(Path(tmp) / "small", 10)
        big_seconds = time_validate(big, repeat)
        small_seconds = time_validate(small, repeat)
        imported = heavy_imports(big)
    notes = [
        "imports neither mlrun nor digitalhub (-X importtime)"
        if not imported
        else f"IMPORTS {len(imported)} heavy modules, e.g. {', '.join(imported[:5])}"
    ]
    return [
        Result(
            "1. validate, 1,000 resources (whole process)",
            seconds(big_seconds),
            f"{seconds(small_seconds)} (10 resources)",
            big_seconds / small_seconds,
            f"<= {GOAL_SECONDS} s, no mlrun/digitalhub import",
            big_seconds <= GOAL_SECONDS and not imported,
            f"best of {repeat}",
            notes,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for result in run(args.quick):
        print(
            f"{result.name}: {result.measured} (baseline {result.baseline}, ratio {result.ratio:.2f}); "
            f"goal {result.goal}: {'met' if result.met else 'NOT met'}; {'; '.join(result.notes)}"
        )


if __name__ == "__main__":
    main()
