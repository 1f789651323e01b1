"""A hostile declaration, as a pull request would bring it, against a real `dhmlrun validate`.

Issue 21: `(['x'*999999]*100000)|sort` took 23 GB (lower-casing a key of every reference to one
string). The process runs with its address space capped at 2 GiB, so a regression fails here
instead of taking the machine; its own peak memory comes from `os.wait4`.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tests.system.conftest import cli_env

DECLARATION = """\
version: 1
project: {name: hostile}
functions:
  f: {kind: mlrun, source: {source: src/main.py}, handler: handler}
runs:
  r:
    function: f
    action: job
    parameters:
      p: "{{ (['x'*999999]*100000)|sort|length }}"
"""
CAP = 2 * 1024**3


def validate_capped(root: Path) -> tuple[int, str, float]:
    """Exit code, stderr and peak resident MB of `dhmlrun validate ROOT` under the cap."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))

    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "dhmlrun", "validate", str(root)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=cli_env(),
            preexec_fn=cap,
        )
        guard = threading.Timer(120, process.kill)  # against a hang; not a measure
        guard.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            guard.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return process.returncode, err.read().decode(), usage.ru_maxrss / 1024


def test_a_sort_bomb_is_refused_at_its_field_within_a_gigabyte(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("def handler(context):\n    return 1\n")
    (tmp_path / "dhmlrun.yaml").write_text(DECLARATION)
    code, stderr, peak_mb = validate_capped(tmp_path)
    assert code == 1, stderr
    assert "Traceback" not in stderr
    assert (
        "dhmlrun.yaml:10:10: runs.r.parameters.p: the template goes over a sandbox limit: a list holding"
        in stderr
    )
    assert "(limit 'value_chars')" in stderr
    assert peak_mb < 1024
