"""The generated reference is committed and cannot drift from the schemas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dhmlrun.config.schema import load_schemas
from dhmlrun.reference import generate

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference.md"


def test_committed_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text() == generate(), (
        "docs/reference.md is stale: run `python -m dhmlrun.reference > docs/reference.md`"
    )


def test_module_prints_the_reference() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dhmlrun.reference"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out == generate()


def test_every_field_of_every_entity_is_documented_with_a_description() -> None:
    text = generate()
    for name in load_schemas()["run.schema.json"]["properties"]:
        assert f"| `{name}` |" in text, name
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    undocumented = [row.split("|")[1].strip() for row in rows if row.rstrip().endswith("|  |")]
    assert undocumented == []


def test_reference_shows_allowed_values_and_defaults() -> None:
    text = generate()
    assert '| `trigger` | string |  | `on_change`, `always`, `once` | `"on_change"` |' in text
    assert "exactly one of `source`, `code`, `base64`" in text
    name_row = "| `name` | string | yes | use only lowercase letters, digits and '-'; 2 to 38 characters |"
    assert name_row in text
