"""Rendering of plans (human and JSON) and of an apply's outcome; masking of sensitive values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dhmlrun.apply.results import ApplyResult, NodeResult
from dhmlrun.plan import build_plan
from dhmlrun.platform.state import PlatformState
from dhmlrun.views.apply import render_apply_summary
from dhmlrun.views.plan import plan_json, render_plan
from tests.plan.helpers import applied_state, counter_ids, declaration, write_repo

SECRET = "s3cr3t-t0ken-value"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")


def fresh_plan(repo: Path, secret: str | None = None):
    decl = declaration(repo, secret=secret)
    return decl, build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids())


def test_human_plan_groups_lines_by_address_with_symbols_and_summary(repo: Path) -> None:
    _, plan = fresh_plan(repo)
    text = render_plan(plan)
    assert "  + dataitems.employees  (not on the platform)" in text
    assert "  > runs.download  (never run)" in text
    assert '      + spec.path: "data/employees.csv"' in text
    assert text.splitlines()[-1] == "Plan: 4 to create, 0 to update, 0 to delete, 2 to run."
    assert "\x1b[" not in text


def test_update_lines_show_before_and_after(repo: Path) -> None:
    decl, plan = fresh_plan(repo)
    (repo / "src" / "pipeline.py").write_text("# new\n")
    text = render_plan(build_plan(decl, applied_state(plan)))
    assert "  ~ functions.downloader  (code changed: src/pipeline.py)" in text
    assert "      ~ spec.source:sha256: " in text and " -> " in text


def test_no_changes_message(repo: Path) -> None:
    decl, plan = fresh_plan(repo)
    assert render_plan(build_plan(decl, applied_state(plan))) == (
        "No changes. The platform matches the configuration."
    )


def test_a_partial_plan_never_says_the_platform_matches(repo: Path) -> None:
    decl, plan = fresh_plan(repo)
    (repo / "src" / "pipeline.py").write_text("# new\n")
    text = render_plan(build_plan(decl, applied_state(plan), targets=["dataitems.employees"]))
    assert "The platform matches" not in text
    assert text.splitlines()[-1] == (
        "No changes for --target dataitems.employees, but 4 changes outside it: "
        "the platform does not match the configuration."
    )
    assert (
        "Warning: partial plan: only --target dataitems.employees and what it depends on; 4 changes "
        "left out (functions.downloader, functions.summarise, runs.download, runs.summary)."
    ) in text


def test_a_partial_plan_with_changes_counts_what_it_left_out(repo: Path) -> None:
    decl, plan = fresh_plan(repo)
    (repo / "src" / "pipeline.py").write_text("# new\n")
    partial = build_plan(decl, applied_state(plan), targets=["functions.downloader"])
    text = render_plan(partial)
    assert text.splitlines()[-1] == (
        "Plan: 0 to create, 1 to update, 0 to delete, 0 to run. (3 changes left out by --target.)"
    )
    data = json.loads(json.dumps(plan_json(partial)))
    assert data["partial"] == {
        "targets": ["functions.downloader"],
        "left_out": ["functions.summarise", "runs.download", "runs.summary"],
    }
    assert plan_json(plan)["partial"] is None


def test_entity_versions_read_by_the_names_the_platform_gave_them(repo: Path) -> None:
    import dataclasses

    decl, plan = fresh_plan(repo)
    state = applied_state(plan)
    named = {"dataitems.employees": "sunny-ocelot", "functions.downloader": "cosmic-badger"}
    for address, name in named.items():
        state.entities[address] = dataclasses.replace(state.entities[address], version=name)
    (repo / "data" / "employees.csv").write_text("id,department,salary,years\n2,b,20,4\n")
    (repo / "src" / "pipeline.py").write_text("def downloader(context, url):\n    return 2\n")
    text = render_plan(build_plan(decl, state))
    changed = "      ~ inputs.url: dataitem employees (version sunny-ocelot) -> dataitem employees (version "
    assert changed in text
    assert "      ~ function_version: version cosmic-badger -> " in text


def test_colour_only_when_asked(repo: Path) -> None:
    _, plan = fresh_plan(repo)
    assert "\x1b[32m" in render_plan(plan, colour=True)


PLAN_SCHEMA = Path(__file__).resolve().parents[2] / "dhmlrun" / "plan" / "plan.schema.json"


def test_json_plan_matches_its_published_schema(repo: Path) -> None:
    import jsonschema

    decl, plan = fresh_plan(repo, secret=SECRET)
    schema = json.loads(PLAN_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(json.loads(json.dumps(plan_json(plan, decl.sensitive_values()))))
    (repo / "src" / "pipeline.py").write_text("# new\n")
    replanned = build_plan(
        declaration(repo, drop=("runs.summary", "functions.summarise")), applied_state(plan)
    )
    validator.validate(json.loads(json.dumps(plan_json(replanned))))


def test_json_plan_format(repo: Path) -> None:
    _, plan = fresh_plan(repo)
    data = json.loads(json.dumps(plan_json(plan)))
    assert data["format_version"] == "1"
    assert data["summary"] == {"create": 4, "update": 0, "delete": 0, "run": 2}
    assert data["changes"] is True
    for action in data["actions"]:
        assert set(action) == {"address", "action", "reason", "drift", "backend", "depends_on", "diff"}
        assert action["backend"] == "dhcore"
        assert action["action"] in {"create", "update", "delete", "run", "no-op"}
        for change in action["diff"]:
            assert set(change) == {"path", "before", "after"}


def test_secrets_are_masked_in_human_and_json_output(repo: Path) -> None:
    decl, plan = fresh_plan(repo, secret=SECRET)
    secrets = decl.sensitive_values()
    run = next(a for a in plan.actions if a.address == "runs.download")
    assert any(c.path == "parameters.token" and c.after == SECRET for c in run.diff)  # a new run shows it
    human = render_plan(plan, secrets)
    machine = json.dumps(plan_json(plan, secrets))
    assert SECRET not in human and '+ parameters.token: "(sensitive)"' in human
    assert SECRET not in machine and "(sensitive)" in machine


def test_apply_summary_counts_done_failed_skipped() -> None:
    text = render_apply_summary(
        ApplyResult(
            [
                NodeResult("functions.a", "create", "done"),
                NodeResult("runs.a", "run", "failed", "boom"),
                NodeResult("runs.b", "run", "skipped", "runs.a failed"),
            ]
        )
    )
    assert "failed:  runs.a (run): boom" in text
    assert "skipped: runs.b (run): runs.a failed" in text
    assert text.splitlines()[-1] == "Apply failed: 1 done, 1 failed, 1 skipped."


def test_destroy_summary_says_destroy() -> None:
    text = render_apply_summary(ApplyResult([NodeResult("functions.a", "delete", "done")], destroy=True))
    assert text.splitlines()[-1] == "Destroy complete: 1 done, 0 failed, 0 skipped."
