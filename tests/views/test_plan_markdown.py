"""`plan --format markdown`: the plan for a pull request, with the Mermaid graph of what changes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dhmlrun.plan import build_plan
from dhmlrun.plan.model import EntityDelete, Plan
from dhmlrun.platform.state import PlatformState
from dhmlrun.views.markdown import cell_text, code_span, fenced, render_plan_markdown
from tests.plan.helpers import applied_state, counter_ids, declaration, write_repo
from tests.views.mermaid_check import check_mermaid

SECRET = "s3cr3t-t0ken-value"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")


def mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```$", markdown, re.S | re.M)


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of each change row (GFM splits on pipes not escaped by a backslash)."""
    rows = [line for line in markdown.splitlines() if line.startswith("| `")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def rerun_summary(repo: Path, secret: str | None = None) -> tuple[object, Plan]:
    decl = declaration(repo, secret=secret)
    state = applied_state(
        build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids())
    )
    spec = {**decl.resources["runs.summary"].spec, "parameters": {"min_years": 9}}
    edited = declaration(repo, secret=secret, extra={"runs.summary": spec})
    return edited, build_plan(edited, state, id_factory=counter_ids())


def test_markdown_has_the_summary_a_row_per_change_and_the_graph_of_what_changes(repo: Path) -> None:
    decl, plan = rerun_summary(repo)
    text = render_plan_markdown(plan, decl)
    assert "**Plan: 0 to create, 0 to update, 0 to delete, 1 to run.**" in text
    rows = table_rows(text)
    assert [r[:3] for r in rows] == [["`>`", "`runs.summary`", "run"]]
    assert rows[0][3] == cell_text(plan.by_address()["runs.summary"].reason)
    [diagram] = mermaid_blocks(text)
    chart = check_mermaid(diagram)
    assert chart.with_class("run") == {"run_summary"}
    assert chart.with_class("affected") == {"run_summary__dataset"}
    assert "run_download" not in chart.nodes  # upstream, unchanged, and not a direct input


def test_the_whole_text_plan_is_folded_under_the_table(repo: Path) -> None:
    decl, plan = rerun_summary(repo)
    text = render_plan_markdown(plan, decl)
    folded = text.split("<details><summary>The whole plan</summary>", 1)[1]
    assert "> runs.summary" in folded and folded.rstrip().endswith("</details>")


def test_no_changes_is_one_line_without_a_table_or_graph(repo: Path) -> None:
    decl = declaration(repo)
    state = applied_state(
        build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids())
    )
    text = render_plan_markdown(build_plan(decl, state), decl)
    assert "No changes. The platform matches the configuration." in text
    assert "|" not in text and "mermaid" not in text


def test_sensitive_values_are_masked_everywhere_in_the_markdown(repo: Path) -> None:
    decl, plan = rerun_summary(repo, secret=SECRET)
    plan.actions[-1].reason = f"changed: parameters.token {SECRET}"
    text = render_plan_markdown(plan, decl)
    assert SECRET not in text
    assert "(sensitive)" in text


def test_platform_text_cannot_break_the_table_ping_people_or_inject_html(repo: Path) -> None:
    decl = declaration(repo)
    hostile = "x | y `z` <details> @octocat **b** [l](http://e) \n second line"
    plan = Plan(
        project=decl.project_name,
        root=str(repo),
        actions=[EntityDelete("dataitems.gone|`x`", "delete", hostile)],
    )
    text = render_plan_markdown(plan, decl)
    [row] = table_rows(text)
    assert len(row) == 4
    assert "<details>" not in row[3] and "&lt;details&gt;" in row[3]
    prose = re.sub(r"^(`{3,})[a-z]*\n.*?^\1$", "", text, flags=re.S | re.M)  # code: no mentions
    assert "@&#8203;octocat" in prose and "@octocat" not in prose
    assert "\\*\\*b\\*\\*" in row[3] and "\\[l\\]" in row[3]
    check_mermaid(mermaid_blocks(text)[0])


def test_code_spans_and_fences_outlast_any_backticks_inside() -> None:
    assert code_span("a`b") == "`` a`b ``"
    assert code_span("a|b") == "`a\\|b`"
    block = fenced("```\n````\nend")
    assert block[0] == block[-1] == "`````"
