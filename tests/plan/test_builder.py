"""The planner as a specification: declaration + platform state -> actions with reasons."""

from __future__ import annotations

import copy
import dataclasses
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest

from dhmlrun.errors import DhmlrunError
from dhmlrun.plan import build_destroy_plan, build_plan
from dhmlrun.platform.state import PlatformState, RemoteEntity, RemoteRun
from tests.plan.helpers import applied_state, counter_ids, declaration, merged, write_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")


def actions(plan):
    return {a.address: a for a in plan.actions}


def first_apply(repo: Path):
    decl = declaration(repo)
    plan = build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids())
    return decl, plan, applied_state(plan)


def test_empty_platform_plans_every_create_and_every_run(repo: Path) -> None:
    decl = declaration(repo)
    plan = build_plan(decl, PlatformState(project=decl.project_name))
    acts = actions(plan)
    assert acts["project"].action == "create"
    assert {
        acts[a].action for a in ("dataitems.employees", "functions.downloader", "functions.summarise")
    } == {"create"}
    assert acts["runs.download"].action == "run"
    assert acts["runs.download"].reason == "never run"
    assert plan.counts() == {"create": 4, "update": 0, "delete": 0, "run": 2}
    assert all(a.seen == "absent" for a in plan.actions)


def test_replan_after_apply_is_clean(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    again = build_plan(decl, state)
    assert not again.has_changes, [(a.address, a.action, a.reason) for a in again.changes()]


def test_clone_in_another_directory_plans_nothing(repo: Path, tmp_path: Path) -> None:
    _, _, state = first_apply(repo)
    clone = tmp_path / "ci-clone"
    shutil.copytree(repo, clone)
    assert not build_plan(declaration(clone), state).has_changes


def test_code_change_updates_the_function_and_reruns_with_the_reason(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    (repo / "src" / "pipeline.py").write_text("def downloader(context, url):\n    return 3\n")
    acts = actions(build_plan(decl, state))
    assert acts["functions.downloader"].action == "update"
    assert acts["functions.downloader"].reason == "code changed: src/pipeline.py"
    assert acts["runs.download"].action == "run"
    assert acts["runs.download"].reason == "code changed: src/pipeline.py"
    assert acts["runs.summary"].action == "run"
    assert "runs.download.outputs.dataset" in acts["runs.summary"].reason


def test_new_function_version_gets_a_new_id_and_runs_use_it(repo: Path) -> None:
    decl, plan, state = first_apply(repo)
    (repo / "src" / "pipeline.py").write_text("# changed\n")
    again = actions(build_plan(decl, state))
    new_id = again["functions.downloader"].body["id"]
    assert new_id != actions(plan)["functions.downloader"].body["id"]
    assert again["runs.download"].request.function.id == new_id


def test_input_dataitem_change_refires_dependent_runs(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    (repo / "data" / "employees.csv").write_text("id,department,salary,years\n2,b,20,5\n")
    acts = actions(build_plan(decl, state))
    assert acts["dataitems.employees"].action == "update"
    assert acts["dataitems.employees"].reason == "content changed: data/employees.csv"
    assert acts["runs.download"].reason == "input dataitems.employees has a new version"
    assert acts["functions.downloader"].action == "no-op"


def test_parameter_change_fires_only_that_run(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    decl.resources["runs.summary"].spec["parameters"] = {"min_years": 5}
    acts = actions(build_plan(decl, state))
    assert acts["runs.summary"].action == "run"
    assert acts["runs.summary"].reason == "run spec changed"
    assert acts["runs.download"].action == "no-op"


def test_removed_entity_is_planned_for_deletion(repo: Path) -> None:
    _, _, state = first_apply(repo)
    decl = declaration(repo, drop=("functions.summarise", "runs.summary"))
    acts = actions(build_plan(decl, state))
    assert acts["functions.summarise"].action == "delete"
    assert acts["functions.summarise"].reason == "removed from the configuration"


def test_prevent_destroy_keeps_a_removed_entity_with_a_warning(repo: Path) -> None:
    decl = declaration(repo, lifecycle={"functions.summarise": {"prevent_destroy": True}})
    state = applied_state(build_plan(decl, PlatformState(project=decl.project_name)))
    plan = build_plan(declaration(repo, drop=("functions.summarise", "runs.summary")), state)
    assert "functions.summarise" not in actions(plan)
    assert any("prevent_destroy" in w and "functions.summarise" in w for w in plan.warnings)
    destroy = build_destroy_plan(state, str(repo))
    assert "functions.summarise" not in actions(destroy)
    assert actions(destroy)["functions.downloader"].action == "delete"


def test_replicas_on_a_run_is_planned_with_a_warning_that_it_is_ignored(repo: Path) -> None:
    base = declaration(repo)
    empty = PlatformState(project=base.project_name)
    spec = {**base.resources["runs.download"].spec, "replicas": 3}
    plan = build_plan(declaration(repo, extra={"runs.download": spec}), empty)
    assert plan.warnings == ["runs.download: replicas is ignored: an mlrun job runs as one process"]
    assert build_plan(base, empty).warnings == []


def test_unmanaged_outputs_are_never_deleted(repo: Path) -> None:
    _, _, state = first_apply(repo)
    state.entities["dataitems.employees-clean"] = RemoteEntity("dataitems", "employees-clean", "o1", "table")
    assert "dataitems.employees-clean" not in actions(build_plan(declaration(repo), state))


def test_latest_version_created_outside_dhmlrun_is_drift(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    mine = state.entities["functions.downloader"]
    state.entities["functions.downloader"] = RemoteEntity(
        "functions", "downloader", "x9", "mlrun", spec={"handler": "other"}
    )
    act = actions(build_plan(decl, state))["functions.downloader"]
    assert act.action == "update" and act.drift
    assert "drift" in act.reason
    assert mine.id != act.body["id"]


def test_failed_last_run_fires_again(repo: Path) -> None:
    decl, plan, _ = first_apply(repo)
    state = applied_state(plan, run_state="ERROR")
    acts = actions(build_plan(decl, state))
    assert acts["runs.download"].action == "run"
    assert acts["runs.download"].reason == "last run failed"


@pytest.mark.parametrize(
    ("state", "message", "ended_by", "reason"),
    [
        ("STOPPED", None, None, "last run was stopped"),
        (
            "ERROR",
            "interrupted: apply was stopped (Ctrl-C or SIGTERM) while the run executed",
            "interrupted",
            "last run was interrupted",
        ),
        ("ERROR", "interrupted by the handler itself", None, "last run failed"),
        ("ERROR", "refusing token s3cr3t", None, "last run failed"),
    ],
)
def test_the_reason_a_failed_run_fires_again_says_how_it_ended(
    repo: Path, state: str, message: str | None, ended_by: str | None, reason: str
) -> None:
    """How it ended is read from what dhmlrun recorded (`ended_by`), never from the message."""
    decl, plan, _ = first_apply(repo)
    after = applied_state(plan, run_state=state)
    last = dataclasses.replace(after.runs["runs.download"], message=message, ended_by=ended_by)
    after.runs["runs.download"] = last
    assert actions(build_plan(decl, after))["runs.download"].reason == reason


def test_running_run_is_never_duplicated_even_when_forced(repo: Path) -> None:
    decl, plan, _ = first_apply(repo)
    state = applied_state(plan, run_state="RUNNING")  # its executor's lease is alive
    act = actions(build_plan(decl, state, reruns=["runs.download"]))["runs.download"]
    assert act.action == "no-op"
    assert "running" in act.reason


def test_rerun_forces_a_run_with_the_reason(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    acts = actions(build_plan(decl, state, reruns=["runs.download"]))
    assert acts["runs.download"].reason == "forced by --rerun"
    assert acts["runs.summary"].action == "run"
    assert acts["runs.summary"].reason == "input runs.download.outputs.dataset is recomputed"


def test_trigger_always_and_once(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    decl.resources["runs.download"].spec["trigger"] = "always"
    decl.resources["runs.summary"].spec["trigger"] = "once"
    decl.resources["runs.summary"].spec["parameters"] = {"min_years": 9}
    acts = actions(build_plan(decl, state))
    assert acts["runs.download"].reason == "trigger: always"
    assert acts["runs.summary"].action == "no-op"
    assert acts["runs.summary"].reason == "trigger: once, already run"


def test_changing_only_the_trigger_does_not_rerun(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    decl.resources["runs.download"].spec["trigger"] = "once"
    assert not build_plan(decl, state).has_changes


def test_target_includes_its_dependencies_only(repo: Path) -> None:
    decl = declaration(repo)
    plan = build_plan(decl, PlatformState(project=decl.project_name), targets=["runs.download"])
    assert set(actions(plan)) == {"project", "dataitems.employees", "functions.downloader", "runs.download"}


def test_a_targeted_plan_records_the_changes_it_left_out(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    (repo / "src" / "pipeline.py").write_text("# changed\n")
    plan = build_plan(decl, state, targets=["dataitems.employees"])
    assert not plan.has_changes
    assert plan.partial and plan.targets == ["dataitems.employees"]
    assert plan.left_out == ["functions.downloader", "functions.summarise", "runs.download", "runs.summary"]
    assert plan.pending


def test_a_targeted_plan_with_nothing_left_out_is_not_pending(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    plan = build_plan(decl, state, targets=["runs.download"])
    assert plan.partial and plan.left_out == [] and not plan.pending


def test_unknown_target_or_rerun_is_an_error(repo: Path) -> None:
    decl = declaration(repo)
    with pytest.raises(DhmlrunError, match=r"--target runs\.nope"):
        build_plan(decl, PlatformState(project=decl.project_name), targets=["runs.nope"])
    with pytest.raises(DhmlrunError, match=r"--rerun functions\.downloader"):
        build_plan(decl, PlatformState(project=decl.project_name), reruns=["functions.downloader"])


def test_a_targeted_destroy_deletes_only_its_targets_and_says_what_it_left_out(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    plan = build_destroy_plan(state, str(repo), decl, targets=["functions.summarise"])
    assert [a.address for a in plan.changes()] == ["functions.summarise"]
    assert plan.targets == ["functions.summarise"]
    assert plan.left_out == ["functions.downloader", "dataitems.employees"]
    with pytest.raises(DhmlrunError, match=r"--target runs\.download: not managed by dhmlrun here"):
        build_destroy_plan(state, str(repo), decl, targets=["runs.download"])


def test_a_mistyped_target_gets_the_nearest_address(repo: Path) -> None:
    decl = declaration(repo)
    with pytest.raises(DhmlrunError) as raised:
        build_plan(decl, PlatformState(project=decl.project_name), targets=["runs.sumary"])
    assert (
        raised.value.problems[0]
        .render()
        .startswith("--target runs.sumary: no such resource; did you mean 'runs.summary'?")
    )


def test_a_rerun_of_a_function_is_refused_listing_only_the_runs(repo: Path) -> None:
    decl = declaration(repo)
    with pytest.raises(DhmlrunError) as raised:
        build_plan(decl, PlatformState(project=decl.project_name), reruns=["functions.summarise"])
    problem = raised.value.problems[0]
    assert problem.path == "--rerun functions.summarise"
    assert problem.message.startswith("is not a run: --rerun forces runs")
    assert problem.allowed == "runs.download, runs.summary"


def test_upstream_output_key_comes_from_the_last_run_when_upstream_does_not_fire(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    decl.resources["runs.summary"].spec["parameters"] = {"min_years": 1}
    act = actions(build_plan(decl, state))["runs.summary"]
    assert act.request.inputs["dataset"].key == state.runs["runs.download"].outputs["dataset"]


def test_run_body_records_the_fingerprint_as_labels(repo: Path) -> None:
    decl = declaration(repo)
    action = actions(build_plan(decl, PlatformState(project=decl.project_name)))["runs.download"]
    body = asdict(action.request)
    assert "dhmlrun" in body["labels"]
    assert f"dhmlrun/fingerprint={body['fingerprint']}" in body["labels"]
    assert "dhmlrun/address=runs.download" in body["labels"]


def test_plan_is_deterministic_given_ids(repo: Path) -> None:
    decl = declaration(repo)
    state = PlatformState(project=decl.project_name)
    one = build_plan(decl, state, id_factory=counter_ids()).as_dict()
    two = build_plan(copy.deepcopy(decl), state, id_factory=counter_ids()).as_dict()
    assert one == two


def test_later_run_with_new_upstream_output_keeps_fingerprint_stable(repo: Path) -> None:
    decl, _plan, state = first_apply(repo)
    rerun = build_plan(decl, state, reruns=["runs.download"])
    state2 = merged(state, applied_state(rerun))
    assert not build_plan(decl, state2).has_changes


def test_last_run_missing_fingerprint_labels_fires_with_a_reason(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    run = state.runs["runs.download"]
    state.runs["runs.download"] = RemoteRun(
        run.id, run.address, "COMPLETED", labels=("dhmlrun", "dhmlrun/address=runs.download")
    )
    act = actions(build_plan(decl, state))["runs.download"]
    assert act.action == "run" and act.reason.startswith("run spec changed")


def test_managed_version_edited_outside_dhmlrun_is_drift(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    mine = state.entities["dataitems.employees"]
    state.entities["dataitems.employees"] = dataclasses.replace(mine, description="edited in the console")
    act = actions(build_plan(decl, state))["dataitems.employees"]
    assert act.action == "update" and act.drift
    assert act.reason == "drift: the latest version was changed outside dhmlrun"
    assert [(c.path, c.before) for c in act.diff] == [("description", "edited in the console")]


def test_run_left_running_by_an_executor_whose_lease_expired_is_rerun(repo: Path) -> None:
    decl, plan, _ = first_apply(repo)
    state = applied_state(plan, run_state="RUNNING")
    lost = dataclasses.replace(state.runs["runs.download"], executor_lost=True)
    state.runs["runs.download"] = lost
    act = actions(build_plan(decl, state))["runs.download"]
    assert act.action == "run"
    assert act.reason.startswith("executor lost: last run")
    assert act.request.supersedes == state.runs["runs.download"].id


def test_remote_run_still_running_is_left_alone(repo: Path) -> None:
    decl, plan, _ = first_apply(repo)
    state = applied_state(plan, run_state="RUNNING")
    state.runs["runs.download"] = dataclasses.replace(state.runs["runs.download"], local_execution=False)
    assert actions(build_plan(decl, state))["runs.download"].action == "no-op"


def test_run_waits_while_its_upstream_run_is_still_running_elsewhere(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    state.runs["runs.download"] = dataclasses.replace(state.runs["runs.download"], state="RUNNING")
    del state.runs["runs.summary"]  # never run: it would fire, but its input is still being made
    act = actions(build_plan(decl, state))["runs.summary"]
    assert act.action == "no-op"
    assert act.reason.startswith("waits for input runs.download.outputs.dataset: run ")


def test_bare_names_stand_for_the_declared_address(repo: Path) -> None:
    decl, _, state = first_apply(repo)
    acts = actions(build_plan(decl, state, reruns=["download"], targets=["download"]))
    assert acts["runs.download"].reason == "forced by --rerun"
    assert set(acts) == {"project", "dataitems.employees", "functions.downloader", "runs.download"}


def test_changing_one_parameter_of_one_run_plans_exactly_that_parameters_diff(repo: Path) -> None:
    decl = declaration(repo)
    applied = applied_state(build_plan(decl, PlatformState(project=decl.project_name)))
    changed = declaration(
        repo, extra={"runs.summary": {**decl.resources["runs.summary"].spec, "parameters": {"min_years": 5}}}
    )
    plan = build_plan(changed, applied)
    (run,) = [a for a in plan.changes()]
    assert run.address == "runs.summary"
    assert [(c.path, c.before, c.after) for c in run.diff] == [("parameters.min_years", 2, 5)]


def test_a_new_run_lists_what_it_executes_with_what(repo: Path) -> None:
    decl = declaration(repo)
    run = actions(build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids()))[
        "runs.download"
    ]
    shown = {c.path: c.after for c in run.diff}
    assert shown["function"] == "downloader"
    assert shown["function_version"] == "(new version: its first version)"
    assert shown["action"] == "job" and shown["execution"] == "local"
    assert shown["inputs.url"].startswith("store://employees-dev/dataitem/table/employees:")
    assert shown["outputs.dataset"] == "employees-clean"
    assert shown["values"] == ["rows"]


def test_a_rerun_after_a_code_change_names_the_file_in_the_function_version(repo: Path) -> None:
    decl = declaration(repo)
    applied = applied_state(build_plan(decl, PlatformState(project=decl.project_name)))
    (repo / "src" / "pipeline.py").write_text((repo / "src" / "pipeline.py").read_text() + "# edited\n")
    run = actions(build_plan(declaration(repo), applied))["runs.download"]
    (change,) = [c for c in run.diff if c.path == "function_version"]
    assert change.after == "(new version: code changed: src/pipeline.py)"
