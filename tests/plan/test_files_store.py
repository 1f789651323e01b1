"""A files store configured later is honoured (issue 22, item 3): a declared local file whose
current version is not in the store plans a new version that uploads it, and a run that would
read a file of this machine on another machine's executor is refused when the plan is made."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dhmlrun.errors import DhmlrunError
from dhmlrun.plan import build_plan
from dhmlrun.platform.state import PlatformState
from tests.plan.helpers import applied_state, counter_ids, declaration, write_repo

STORE = "s3://team-store"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")


def applied_without_store(repo: Path) -> PlatformState:
    decl = declaration(repo)
    plan = build_plan(decl, PlatformState(project=decl.project_name), id_factory=counter_ids())
    return applied_state(plan)


def test_a_store_configured_after_the_first_apply_plans_the_upload(repo: Path) -> None:
    state = dataclasses.replace(applied_without_store(repo), files_store=STORE)
    plan = build_plan(declaration(repo), state, id_factory=counter_ids())
    acts = plan.by_address()
    employees = acts["dataitems.employees"]
    assert (employees.action, employees.reason) == ("update", "upload to the files store")
    assert [(c.path, c.after) for c in employees.diff] == [("files store", STORE)]
    assert plan.files_store == STORE
    assert acts["runs.download"].reason == "input dataitems.employees moves to the files store"
    assert acts["functions.downloader"].action == "no-op"  # code is not data: never uploaded


def test_a_version_already_in_the_store_plans_nothing(repo: Path) -> None:
    state = dataclasses.replace(applied_without_store(repo), files_store=STORE)
    employees = state.entities["dataitems.employees"]
    uploaded = {**employees.spec, "path": f"{STORE}/employees-dev/dataitem/employees/1/employees.csv"}
    state.entities["dataitems.employees"] = dataclasses.replace(employees, spec=uploaded)
    plan = build_plan(declaration(repo), state)
    assert not plan.has_changes


def test_another_store_is_not_the_configured_one(repo: Path) -> None:
    state = dataclasses.replace(applied_without_store(repo), files_store=STORE)
    employees = state.entities["dataitems.employees"]
    elsewhere = {**employees.spec, "path": "s3://team-store-old/employees.csv"}
    state.entities["dataitems.employees"] = dataclasses.replace(employees, spec=elsewhere)
    assert build_plan(declaration(repo), state).by_address()["dataitems.employees"].action == "update"


REMOTE_DOWNLOAD = {
    "runs.download": {
        "function": "functions.downloader",
        "action": "job",
        "inputs": {"url": "dataitems.employees"},
        "outputs": {"dataset": "employees-clean"},
        "values": ["rows"],
        "execution": "remote",
    }
}


def test_a_remote_run_reading_a_local_file_is_refused_at_plan_time(repo: Path) -> None:
    decl = declaration(repo, extra=REMOTE_DOWNLOAD)
    with pytest.raises(DhmlrunError) as refused:
        build_plan(decl, PlatformState(project=decl.project_name))
    problem = refused.value.problems[0]
    assert problem.path == "runs.download.inputs.url"
    assert "a file on this machine (data/employees.csv)" in problem.message
    assert "DHCORE_DEFAULT_FILES_STORE" in problem.message


def test_a_remote_run_reading_a_local_runs_output_is_refused_too(repo: Path) -> None:
    summary = {"runs.summary": {**declaration(repo).resources["runs.summary"].spec, "execution": "remote"}}
    decl = declaration(repo, extra=summary)
    with pytest.raises(DhmlrunError) as refused:
        build_plan(decl, PlatformState(project=decl.project_name))
    assert "which a local run registers on this machine" in refused.value.problems[0].message


def test_with_a_store_or_an_executor_on_this_machine_the_remote_run_is_planned(repo: Path) -> None:
    decl = declaration(repo, extra=REMOTE_DOWNLOAD)
    with_store = build_plan(decl, PlatformState(project=decl.project_name, files_store=STORE))
    here = build_plan(decl, PlatformState(project=decl.project_name, executes_here=True))
    assert with_store.by_address()["runs.download"].action == "run"
    assert here.by_address()["runs.download"].action == "run"
