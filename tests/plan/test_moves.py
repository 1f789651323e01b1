"""Renames: a function renamed is said to be one (not "code changed"), and a `moved:` entry keeps
the renamed resource's runs without running them again (Terraform's `moved {}`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dhmlrun.plan import build_plan
from tests.plan.helpers import applied_state, counter_ids, declaration, merged, write_repo

LOADER = {
    "kind": "mlrun",
    "handler": "downloader",
    "image": "mlrun/mlrun",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")


def renamed(repo: Path, moved: dict[str, str] | None = None, **changes: object):
    """The example with functions.downloader declared as functions.loader."""
    loader = {**LOADER, "source": {"source": str(repo / "src" / "pipeline.py")}, **changes}
    decl = declaration(repo, drop=("functions.downloader",), extra={"functions.loader": loader})
    run = decl.resources["runs.download"]
    run.spec["function"] = "functions.loader"
    run.depends_on = tuple("functions.loader" if d == "functions.downloader" else d for d in run.depends_on)
    decl.moved = dict(moved or {})
    return decl


def applied(repo: Path):
    decl = declaration(repo)
    return applied_state(build_plan(decl, decl_state(decl), id_factory=counter_ids()))


def decl_state(decl):
    from dhmlrun.platform.state import PlatformState

    return PlatformState(project=decl.project_name)


def acts(plan):
    return {a.address: a for a in plan.actions}


def test_a_renamed_function_s_runs_say_it_was_renamed_not_that_code_changed(repo: Path) -> None:
    plan = build_plan(renamed(repo), applied(repo))
    download = acts(plan)["runs.download"]
    assert download.action == "run"
    assert download.reason == "function renamed: functions.downloader -> functions.loader"
    assert any(
        "declare moved: [{from: functions.downloader, to: functions.loader}]" in w for w in plan.warnings
    )


def test_a_renamed_function_with_new_code_says_both(repo: Path) -> None:
    state = applied(repo)
    (repo / "src" / "pipeline.py").write_text("def downloader(context, url):\n    return 3\n")
    reason = acts(build_plan(renamed(repo), state))["runs.download"].reason
    assert (
        reason == "function renamed: functions.downloader -> functions.loader; code changed: src/pipeline.py"
    )


def test_a_moved_function_is_renamed_on_the_platform_and_keeps_its_runs(repo: Path) -> None:
    plan = build_plan(renamed(repo, {"functions.loader": "functions.downloader"}), applied(repo))
    by = acts(plan)
    assert (by["functions.loader"].action, by["functions.downloader"].action) == ("create", "delete")
    assert by["functions.loader"].reason.startswith("moved from functions.downloader: the same function")
    assert by["functions.downloader"].reason == "moved to functions.loader"
    assert (by["runs.download"].action, by["runs.summary"].action) == ("no-op", "no-op")
    assert by["runs.download"].reason == (
        "up to date: renamed functions.downloader -> functions.loader (moved:), kept without a re-run"
    )
    assert by["runs.summary"].reason == "up to date: its inputs were kept across a rename (moved:)"
    assert plan.counts() == {"create": 1, "update": 0, "delete": 1, "run": 0}
    assert not plan.warnings


def test_after_the_move_is_applied_the_plan_is_clean_while_the_entry_stays(repo: Path) -> None:
    state = applied(repo)
    decl = renamed(repo, {"functions.loader": "functions.downloader"})
    moved = build_plan(decl, state, id_factory=counter_ids())
    after = merged(state, applied_state(moved))  # the runs were kept: still the ones of before
    del after.entities["functions.downloader"]
    assert not build_plan(decl, after).has_changes


def test_a_moved_function_whose_code_changed_runs_its_runs(repo: Path) -> None:
    state = applied(repo)
    (repo / "src" / "pipeline.py").write_text("def downloader(context, url):\n    return 3\n")
    plan = build_plan(renamed(repo, {"functions.loader": "functions.downloader"}), state)
    by = acts(plan)
    assert by["functions.loader"].reason.startswith("moved from functions.downloader; code changed")
    assert by["runs.download"].action == "run" and by["runs.summary"].action == "run"


def test_a_moved_run_keeps_its_history(repo: Path) -> None:
    state = applied(repo)
    decl = declaration(repo)
    load = decl.resources.pop("runs.download")
    decl.resources["runs.load"] = type(load)("runs", "load", load.spec, load.location, load.depends_on)
    summary = decl.resources["runs.summary"]
    summary.spec["inputs"] = {"dataset": "runs.load.outputs.dataset"}
    summary.depends_on = tuple("runs.load" if d == "runs.download" else d for d in summary.depends_on)
    decl.moved = {"runs.load": "runs.download"}
    by = acts(build_plan(decl, state))
    assert by["runs.load"].action == "no-op" and by["runs.load"].seen == state.runs["runs.download"].id
    assert by["runs.summary"].action == "no-op"
    unmoved = acts(build_plan(decl.__class__(**{**decl.__dict__, "moved": {}}), state))
    assert unmoved["runs.load"].reason == "never run"


@pytest.mark.slow
def test_renaming_the_example_s_function_with_a_moved_entry_reruns_nothing(
    core: object, tmp_path: Path
) -> None:
    from tests.plan.conftest import by_address, copy_example, dhmlrun, plan_json, unique_env

    root = copy_example(tmp_path)
    env = ("--var", f"env={unique_env()}")
    assert dhmlrun("apply", root, "--auto-approve", *env).exit_code == 0
    config = root / "dhmlrun.yaml"
    text = (
        config.read_text()
        .replace("  downloader:", "  loader:")
        .replace("functions.downloader", "functions.loader")
    )
    config.write_text(text)
    plain = by_address(plan_json(root, *env))
    assert plain["runs.download"]["reason"] == "function renamed: functions.downloader -> functions.loader"
    config.write_text(text + "moved:\n  - {from: functions.downloader, to: functions.loader}\n")
    applied = dhmlrun("apply", root, "--auto-approve", *env)
    assert applied.exit_code == 0, (applied.output, applied.exception)
    assert "Plan: 1 to create, 0 to update, 1 to delete, 0 to run." in applied.stdout
    after = by_address(plan_json(root, *env))
    assert {a["action"] for a in after.values()} == {"no-op"}
    assert dhmlrun("logs", "runs.download", "--path", root, *env).exit_code == 0
