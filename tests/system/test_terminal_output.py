"""No control sequence from a run reaches the terminal: a handler that prints an OSC 52
(clipboard) and an OSC 0 (title) sequence and fails with a CSI in its message, seen through
`apply` (its failure lines and summary) and `logs`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.system.conftest import cli

pytestmark = pytest.mark.slow

HOSTILE = """
def boom(context):
    print("\\x1b]52;c;cHduZWQ=\\x07clipboard \\x1b]0;title\\x1b\\\\ \\x9b2J done", flush=True)
    raise RuntimeError("bad \\x1b[2J\\x1b[1;1H \\x1b]8;;http://evil\\x07link\\x1b]8;;\\x07 end")
"""
DECLARATION = """version: 1
project: {name: "%s"}
functions:
  f: {kind: mlrun, source: {source: src/hostile.py}, handler: boom}
runs:
  r: {function: functions.f, action: job}
"""


def test_run_output_and_messages_are_shown_without_control_sequences(core: Any, tmp_path: Path) -> None:
    from tests.conftest import unique_project_name

    root = tmp_path / "config"
    (root / "src").mkdir(parents=True)
    (root / "src" / "hostile.py").write_text(HOSTILE)
    (root / "dhmlrun.yaml").write_text(DECLARATION % unique_project_name("term"))
    applied = cli("apply", root, "--endpoint", core.endpoint, "--auto-approve")
    assert applied.returncode == 1
    logs = cli("logs", "runs.r", "--path", root, "--endpoint", core.endpoint)
    assert "clipboard" in logs.stdout and "done" in logs.stdout
    assert "bad" in applied.stdout + applied.stderr
    for text in (applied.stdout, applied.stderr, logs.stdout, logs.stderr):
        assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text, repr(text[-500:])
