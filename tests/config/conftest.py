"""Helpers for the declaration-language tests: write a config into a temp dir and load it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

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


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """`write(text, {"sub/file.yaml": text})`: the root dhmlrun.yaml (dedented) plus other files.

    Returns the config directory.

    `src/main.py` exists by default so function sources resolve.
    """

    def _write(text: str, files: dict[str, str] | None = None) -> Path:
        (tmp_path / "src").mkdir(exist_ok=True)
        (tmp_path / "src" / "main.py").write_text(PIPELINE_PY)
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
