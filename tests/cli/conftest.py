"""Fixtures of the day-two tests: the CLI in-process against the session's embedded core, and
small config repos written on the fly (no mlrun run unless a test needs one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from dhmlrun.cli import cli

HANDLERS = '''\
import pandas as pd


def make(context, rows: int = 3) -> pd.DataFrame:
    """A small dataset output and one result value."""
    context.log_result("rows", rows)
    return pd.DataFrame({"n": list(range(rows))})


def boom(context):
    print("about to fail")
    raise RuntimeError("boom on purpose")
'''


def dhmlrun(*args: Any) -> Result:
    """One dhmlrun command in this process (stdin and stderr are not TTYs, as in CI)."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def write_config(root: Path, project: str, *, runs: str = "") -> Path:
    """A config repo: one URL dataitem, two functions on src/handlers.py, optional runs."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "handlers.py").write_text(HANDLERS)
    (root / "dhmlrun.yaml").write_text(
        f"""version: 1
project: {{name: {project}}}
dataitems:
  remote: {{kind: table, path: "https://example.com/data.csv"}}
functions:
  maker: {{kind: mlrun, source: {{source: src/handlers.py}}, handler: make}}
  failer: {{kind: mlrun, source: {{source: src/handlers.py}}, handler: boom}}
{runs}"""
    )
    return root


def plan_json(root: Path) -> dict[str, Any]:
    result = dhmlrun("plan", root, "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)
