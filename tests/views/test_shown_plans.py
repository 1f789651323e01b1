"""What every view of a plan shows: sensitive values masked in values, never in keys or in the
plan's structure, and no bidirectional or zero-width formatting characters (issue 21, items 3
and 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dhmlrun.plan import build_plan
from dhmlrun.platform.state import PlatformState
from dhmlrun.views.markdown import render_plan_markdown
from dhmlrun.views.plan import plan_json, render_plan
from tests.plan.helpers import counter_ids, declaration, write_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")


@pytest.mark.parametrize("secret", ["x", "e", "n", "r", "u", "1", "a", "employees", "run"])
def test_a_short_secret_masks_values_never_the_plans_structure(repo: Path, secret: str) -> None:
    """With TRAINING_REGISTRY_TOKEN=x apply crashed: `RunRequest.__init__() got an unexpected
    keyword argument 'e(sensitive)ecution'` (the mask replaced a key of the plan)."""
    decl = declaration(repo)
    plan = build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids())
    text = render_plan(plan, {secret})
    assert "runs.download" in text and text.splitlines()[-1].startswith("Plan: 4 to create")
    assert "(sensitive)" in text
    assert "## dhmlrun plan" in render_plan_markdown(plan, decl, {secret})
    assert [a["address"] for a in plan_json(plan, {secret})["actions"]] == [a.address for a in plan.actions]


def test_bidi_and_zero_width_characters_are_removed_from_text_and_markdown_plans(repo: Path) -> None:
    decl = declaration(repo)
    decl.resources["runs.summary"].spec["parameters"]["note"] = "safe\u202e\u2066\u200b gnp.exe"
    plan = build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids())
    for shown in (render_plan(plan), render_plan_markdown(plan, decl)):
        assert "safe gnp.exe" in shown
        assert not any(c in shown for c in "\u202e\u2066\u200b")
