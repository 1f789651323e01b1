"""Helpers for the declaration-language tests: write a config into a temp dir and load it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.config import load_declaration
from dhmlrun.errors import DhmlrunError, Problem

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "employees"

MINIMAL = """\
version: 1
project:
  name: demo
"""

PIPELINE_PY = "def handler(context):\n    return 1\n"
DATA_CSV = "id,value\n1,2\n"


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """`write(text, {"sub/file.yaml": text})`: the root dhmlrun.yaml (dedented) plus other files.

    Returns the config directory.

    `src/main.py` and `data.csv` exist by default so function sources and local data resolve.
    """

    def _write(text: str, files: dict[str, str] | None = None) -> Path:
        (tmp_path / "src").mkdir(exist_ok=True)
        (tmp_path / "src" / "main.py").write_text(PIPELINE_PY)
        (tmp_path / "data.csv").write_text(DATA_CSV)
        (tmp_path / "dhmlrun.yaml").write_text(textwrap.dedent(text))
        for name, content in (files or {}).items():
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(content))
        return tmp_path

    return _write


def problems(path: Path, **kwargs) -> list[Problem]:
    """The problems loading `path` raises (fails the test when it loads fine)."""
    kwargs.setdefault("environ", {})
    with pytest.raises(DhmlrunError) as info:
        load_declaration(path, **kwargs)
    assert info.value.problems, "DhmlrunError without problems"
    return info.value.problems


def one_problem(path: Path, **kwargs) -> Problem:
    found = problems(path, **kwargs)
    assert len(found) == 1, "\n".join(p.render() for p in found)
    return found[0]


def load(path: Path, **kwargs):
    kwargs.setdefault("environ", {})
    return load_declaration(path, **kwargs)


REPO = Path(__file__).resolve().parents[2]
_MEASURE = """
import json, resource, sys, time


def peak_rss_mb():
    # VmHWM: this program's own peak. ru_maxrss would also count the parent's memory, which Linux
    # carries over to a child that was forked (or vforked) before it exec'd this program.
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


limit = int(sys.argv[2]) * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
scope = {"peak_rss_mb": peak_rss_mb}
started, started_cpu = time.perf_counter(), time.process_time()
exec(compile(sys.argv[1], "<measured>", "exec"), scope)
seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
report = {"seconds": seconds, "cpu_seconds": cpu_seconds, "max_rss_mb": peak_rss_mb(),
          "result": scope.get("result")}
print("MEASURED " + json.dumps(report))
"""


def measure_in_subprocess(code: str, *, address_space_mb: int = 2048, timeout: float = 60) -> dict[str, Any]:
    """Run `code` in a fresh interpreter and report its wall time (`seconds`), the CPU time it took
    (`cpu_seconds`: what a bound on work should check, since wall time on a loaded machine is
    mostly waiting), the process's peak resident memory (`max_rss_mb`, imports included) and the
    value it left in `result`; `code` may call `peak_rss_mb()` itself.

    A fresh process, because peak RSS only ever grows in one; its address space is capped
    (`address_space_mb`) and it is killed after `timeout` s, so a regression fails the test
    instead of taking the machine's memory or the session's time.
    """
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, code, str(address_space_mb)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("MEASURED ")]
    assert lines, f"the measured code failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(lines[-1].removeprefix("MEASURED "))
