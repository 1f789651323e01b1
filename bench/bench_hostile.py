"""Benchmark: hostile declarations (issue 21) refused by a real `dhmlrun validate` process.

Each declaration is one attack on the template sandbox or on `include:` globs. Each runs as a
whole `dhmlrun validate DIR` process; its wall time and peak resident memory (its own, from
`os.wait4`) are reported against the goals: a `|sort` bomb ends in < 10 s and < 1 GB with exit
1, every other attack is refused (exit 1) in < 2 s and < 200 MB (a glob of repeated `**`
matches nothing here: it must only end as fast). The baseline is validating a
harmless declaration of the same shape (what start-up and loading cost anyway).

    python bench/bench_hostile.py

Every process runs with its address space capped at 4 GiB, so a regression fails here instead
of taking the machine's memory.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, Result, seconds

ADDRESS_SPACE = 4 * 1024**3
TIMEOUT = float(os.environ.get("BENCH_HOSTILE_TIMEOUT", "120"))
"""Seconds before an attack's process is killed (lower it to measure a version without the fixes)."""

DECLARATION = """\
version: 1
project: {name: hostile}
include: %s
functions:
  f: {kind: mlrun, source: {source: src/main.py}, handler: handler}
runs:
  r:
    function: f
    action: job
    parameters:
      p: %s
"""


@dataclass(frozen=True)
class Attack:
    name: str
    template: str = '"{{ 1 }}"'
    include: str = "[]"
    goal_seconds: float = 2.0
    goal_mb: float = 200.0
    exit_code: int = 1


ATTACKS = [
    Attack(
        "|sort bomb", json.dumps("{{ (['x'*999999]*100000)|sort|length }}"), goal_seconds=10, goal_mb=1024
    ),
    Attack("|max bomb", json.dumps("{{ (['x'*999999]*100000)|max|length }}")),
    Attack("|unique bomb", json.dumps("{{ (['x'*999999]*100000)|unique|list|length }}")),
    Attack("|groupby bomb", json.dumps("{{ ([{'a': 'x'*999999}]*100000)|groupby('a')|length }}")),
    Attack("|dictsort bomb", json.dumps("{% set s = 'x'*999999 %}{{ dict(a=s, b=s, c=s)|dictsort|length }}")),
    Attack("|string of a cheap list", json.dumps("{{ (['x'*999999]*100000)|string|length }}")),
    Attack(
        "batch fill, sorted",
        json.dumps("{% for b in [0]|batch(100000, 'x'*999999) %}{{ b|sort|length }}{% endfor %}"),
    ),
    Attack("printf guard, nested keys", json.dumps("{{ ('%(' * 450000) % {} }}")),
    Attack("printf guard, flags", json.dumps("{{ ('%' ~ '0' * 900000 ~ '!%1000000000s') % 1 }}")),
    Attack("include */../ x12", include=json.dumps(["*/../" * 12 + "*.yaml"])),
    Attack("include **/ x12 over a tree", include=json.dumps(["**/" * 12 + "*.yaml"]), exit_code=0),
    Attack("include through a symlink out", include=json.dumps(["*/*.yaml"])),
]


def write(directory: Path, attack: Attack) -> Path:
    """The config dir of one attack: the declaration, its source, a small tree for the globs
    (3 levels of 3 directories) and a symlink to the directory above the config dir."""
    (directory / "src").mkdir(parents=True)
    (directory / "src" / "main.py").write_text("def handler(context):\n    return 1\n")
    for a in "abc":
        for b in "abc":
            for c in "abc":
                (directory / "tree" / a / b / c).mkdir(parents=True)
    if "symlink" in attack.name:
        (directory / "up").symlink_to(directory.parent)
    (directory / "dhmlrun.yaml").write_text(DECLARATION % (attack.include, attack.template))
    return directory


def measure(directory: Path) -> tuple[int, float, float, str]:
    """Exit code, wall seconds and peak RSS (MB) of `dhmlrun validate DIR`, and its last stderr line."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [PYTHON, "-m", "dhmlrun", "validate", str(directory)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=cap,
        )
        deadline = started + TIMEOUT
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    return process.returncode, elapsed, usage.ru_maxrss / 1024, (lines[-1] if lines else "")[:110]


def run(quick: bool = False) -> list[Result]:
    """Benchmark (9): each attack against its goal, the harmless declaration as the baseline."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        base_code, base_seconds, base_mb, _ = measure(
            write(Path(tmp) / "harmless" / "config", Attack("harmless"))
        )
        for index, attack in enumerate(ATTACKS):
            code, elapsed, mb, said = measure(write(Path(tmp) / str(index) / "config", attack))
            met = code == attack.exit_code and elapsed < attack.goal_seconds and mb < attack.goal_mb
            results.append(
                Result(
                    f"9. hostile: {attack.name}",
                    f"exit {code}, {seconds(elapsed)}, {mb:.0f} MB",
                    f"exit {base_code}, {seconds(base_seconds)}, {base_mb:.0f} MB (harmless)",
                    elapsed / base_seconds,
                    f"exit {attack.exit_code}, < {attack.goal_seconds:g} s, < {attack.goal_mb:g} MB",
                    met,
                    "one whole `dhmlrun validate` process, peak RSS from os.wait4",
                    [said],
                )
            )
    return results


def main() -> None:
    for result in run():
        print(
            f"{result.name}: {result.measured} (baseline {result.baseline}); goal {result.goal}: "
            f"{'met' if result.met else 'NOT met'}; {result.notes[0]}"
        )


if __name__ == "__main__":
    main()
