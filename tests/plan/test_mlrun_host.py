"""Planning when the `mlrun` families live on an MLRun service (a DHCore without the mlrun
runtime): the MLRun project, what MLRun cannot hold refused at plan time, schedules planned
like entities, and re-plans after an apply that are no-ops."""

from __future__ import annotations

from pathlib import Path

import pytest

from dhmlrun.errors import DhmlrunError
from dhmlrun.plan import build_destroy_plan, build_plan
from dhmlrun.plan.model import (
    MLRUN_PROJECT_ADDRESS,
    MLRunProject,
    Plan,
    ScheduleDelete,
    ScheduleWrite,
    action_from_dict,
)
from dhmlrun.plan.staleness import stale_reasons
from dhmlrun.platform.state import PlatformState
from tests.plan.helpers import counter_ids, declaration, write_repo
from tests.plan.mlrun_states import MLRUN, RecordedService, apply_on_mlrun, read_state

NIGHTLY = {
    # a pod reads its input: declared at a URL (a local file is refused at plan time without a
    # files store, tests/plan/test_files_store.py)
    "dataitems.shared": {"kind": "table", "path": "s3://team/employees.csv"},
    "runs.nightly": {
        "function": "functions.summarise",
        "action": "job",
        "inputs": {"dataset": "dataitems.shared"},
        "schedule": "0 3 * * *",
        "execution": "remote",
        "resources": {"cpu": "1"},
    },
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")


def empty(project: str = "employees-dev") -> PlatformState:
    return PlatformState(project=project, mlrun=MLRUN)


def by_address(plan: Plan) -> dict:
    return {a.address: a for a in plan.actions}


def test_the_project_is_created_on_mlrun_before_any_function(repo: Path) -> None:
    plan = build_plan(declaration(repo), empty())
    acts = by_address(plan)
    assert isinstance(acts[MLRUN_PROJECT_ADDRESS], MLRunProject)
    assert acts[MLRUN_PROJECT_ADDRESS].action == "create"
    assert MLRUN_PROJECT_ADDRESS in acts["functions.downloader"].depends_on
    assert MLRUN_PROJECT_ADDRESS not in acts["dataitems.employees"].depends_on
    assert plan.mlrun == MLRUN


def test_each_action_says_where_it_executes(repo: Path) -> None:
    acts = by_address(build_plan(declaration(repo), empty()))
    on_mlrun = {a for a, action in acts.items() if action.backend == "mlrun"}
    assert on_mlrun == {
        MLRUN_PROJECT_ADDRESS,
        "functions.downloader",
        "functions.summarise",
        "runs.download",
        "runs.summary",
    }
    assert all(action.backend == "dhcore" for a, action in acts.items() if a not in on_mlrun)


def test_no_mlrun_action_where_dhcore_holds_mlrun(repo: Path) -> None:
    plan = build_plan(declaration(repo), PlatformState(project="employees-dev"))
    assert MLRUN_PROJECT_ADDRESS not in by_address(plan) and plan.mlrun is None
    assert {a.backend for a in plan.actions} == {"dhcore"}


def test_replan_after_apply_on_mlrun_is_a_no_op(repo: Path) -> None:
    decl = declaration(repo, extra=NIGHTLY)
    service, dhcore = RecordedService(), PlatformState(project="employees-dev", project_exists=True)
    first = build_plan(decl, empty(), id_factory=counter_ids())
    state = apply_on_mlrun(first, service, dhcore)
    again = build_plan(decl, state)
    assert not again.has_changes, [(a.address, a.action, a.reason) for a in again.changes()]
    assert by_address(again)[MLRUN_PROJECT_ADDRESS].action == "no-op"


def test_changed_code_gives_the_mlrun_function_a_new_version_and_reruns(repo: Path) -> None:
    decl = declaration(repo)
    service, dhcore = RecordedService(), PlatformState(project="employees-dev", project_exists=True)
    state = apply_on_mlrun(build_plan(decl, empty(), id_factory=counter_ids()), service, dhcore)
    (repo / "src" / "pipeline.py").write_text(
        "def downloader(context, url):\n    return 3\n\n\ndef summarise(context, dataset):\n    return 2\n"
    )
    acts = by_address(build_plan(declaration(repo), state))
    assert acts["functions.downloader"].action == "update"
    assert acts["functions.downloader"].reason == "code changed: src/pipeline.py"
    assert acts["runs.download"].action == "run"


def test_code_changed_on_mlrun_is_drift(repo: Path) -> None:
    """The digest compared is the code MLRun holds, so a function edited there shows."""
    decl = declaration(repo)
    service, dhcore = RecordedService(), PlatformState(project="employees-dev", project_exists=True)
    apply_on_mlrun(build_plan(decl, empty(), id_factory=counter_ids()), service, dhcore)
    for record in service.funcs:
        record["spec"]["build"]["functionSourceCode"] = "ZGVmIGRvd25sb2FkZXIoKTogcGFzcw=="
    acts = by_address(build_plan(decl, read_state(service, dhcore)))
    assert acts["functions.downloader"].action == "update"
    assert acts["functions.downloader"].drift


def test_what_mlrun_cannot_hold_is_refused_at_plan_time(repo: Path) -> None:
    (repo / "src" / "code.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    extra = {
        "functions.zipped": {
            "kind": "mlrun",
            "source": {"source": str(repo / "src" / "code.zip")},
            "handler": "m:f",
        },
        "runs.big": {
            "function": "functions.downloader",
            "action": "job",
            "execution": "remote",
            "resources": {"disk": "5Gi"},
            "profile": "gpu-large",
        },
        "runs.reads_schedule": {
            "function": "functions.summarise",
            "action": "job",
            "inputs": {"dataset": "runs.nightly.outputs.dataset"},
        },
        **NIGHTLY,
    }
    extra["runs.nightly"] = {**NIGHTLY["runs.nightly"], "outputs": {"dataset": "nightly-out"}}
    with pytest.raises(DhmlrunError) as raised:
        build_plan(declaration(repo, extra=extra), empty())
    paths = {p.path for p in raised.value.problems}
    assert paths == {
        "functions.zipped.source.source",
        "runs.big.resources.disk",
        "runs.big.profile",
        "runs.reads_schedule.inputs.dataset",
    }
    assert all(p.location is not None for p in raised.value.problems)


def test_the_same_declaration_is_fine_where_dhcore_holds_mlrun(repo: Path) -> None:
    extra = {
        "runs.big": {
            "function": "functions.downloader",
            "action": "job",
            "execution": "remote",
            "resources": {"disk": "5Gi"},
        }
    }
    plan = build_plan(declaration(repo, extra=extra), PlatformState(project="employees-dev"))
    big = by_address(plan)["runs.big"]
    assert big.action == "run" and big.request.task["resources"] == {"disk": "5Gi"}


def test_a_scheduled_local_run_is_refused(repo: Path) -> None:
    extra = {"runs.nightly": {**NIGHTLY["runs.nightly"], "execution": "local"}}
    with pytest.raises(DhmlrunError, match="cannot be `execution: local`"):
        build_plan(declaration(repo, extra=extra), empty())


def test_a_schedule_is_created_not_started(repo: Path) -> None:
    plan = build_plan(declaration(repo, extra=NIGHTLY), empty())
    nightly = by_address(plan)["runs.nightly"]
    assert isinstance(nightly, ScheduleWrite) and nightly.action == "create"
    assert nightly.request is not None and nightly.request.run_id == "nightly"
    shown = {c.path: c.after for c in nightly.diff}
    assert shown["schedule"] == "0 3 * * *" and shown["function"] == "summarise"
    assert shown["resources.cpu"] == "1"
    assert "functions.summarise" in nightly.depends_on


def test_a_changed_cron_or_run_replaces_the_schedule(repo: Path) -> None:
    decl = declaration(repo, extra=NIGHTLY)
    service, dhcore = RecordedService(), PlatformState(project="employees-dev", project_exists=True)
    state = apply_on_mlrun(build_plan(decl, empty(), id_factory=counter_ids()), service, dhcore)
    changed = {
        **NIGHTLY,
        "runs.nightly": {**NIGHTLY["runs.nightly"], "schedule": "@daily", "parameters": {"x": 1}},
    }
    nightly = by_address(build_plan(declaration(repo, extra=changed), state))["runs.nightly"]
    assert isinstance(nightly, ScheduleWrite) and nightly.action == "update"
    assert nightly.reason == "schedule changed; run spec changed"
    assert [(c.path, c.before, c.after) for c in nightly.diff] == [("schedule", "0 3 * * *", "@daily")]


def test_a_schedule_no_longer_declared_is_deleted(repo: Path) -> None:
    decl = declaration(repo, extra=NIGHTLY)
    service, dhcore = RecordedService(), PlatformState(project="employees-dev", project_exists=True)
    state = apply_on_mlrun(build_plan(decl, empty(), id_factory=counter_ids()), service, dhcore)
    unscheduled = {
        **NIGHTLY,
        "runs.nightly": {k: v for k, v in NIGHTLY["runs.nightly"].items() if k != "schedule"},
    }
    plan = build_plan(declaration(repo, extra=unscheduled), state)
    deletes = [a for a in plan.actions if isinstance(a, ScheduleDelete)]
    assert [(a.address, a.schedule, a.reason) for a in deletes] == [
        ("runs.nightly", "nightly", "no longer scheduled")
    ]
    gone = build_plan(declaration(repo), state)
    assert [a.reason for a in gone.actions if isinstance(a, ScheduleDelete)] == [
        "removed from the configuration"
    ]


def test_destroy_deletes_the_schedules_and_the_functions_on_mlrun(repo: Path) -> None:
    decl = declaration(repo, extra=NIGHTLY)
    service, dhcore = RecordedService(), PlatformState(project="employees-dev", project_exists=True)
    state = apply_on_mlrun(build_plan(decl, empty(), id_factory=counter_ids()), service, dhcore)
    plan = build_destroy_plan(state, str(repo), decl)
    assert {a.address for a in plan.actions} == {
        "runs.nightly",
        "functions.downloader",
        "functions.summarise",
        "dataitems.employees",
        "dataitems.shared",
    }
    assert plan.mlrun == MLRUN


def test_schedule_actions_survive_a_saved_plan_and_are_checked_for_staleness(repo: Path) -> None:
    decl = declaration(repo, extra=NIGHTLY)
    plan = build_plan(decl, empty(), id_factory=counter_ids())
    restored = Plan.from_dict(plan.as_dict())
    assert restored.mlrun == MLRUN
    nightly = by_address(restored)["runs.nightly"]
    assert isinstance(nightly, ScheduleWrite) and nightly.request == by_address(plan)["runs.nightly"].request
    assert isinstance(action_from_dict(by_address(plan)[MLRUN_PROJECT_ADDRESS].as_dict()), MLRunProject)
    assert stale_reasons(plan, empty()) == []
    service, dhcore = RecordedService(), PlatformState(project="employees-dev", project_exists=True)
    moved = apply_on_mlrun(plan, service, dhcore)
    reasons = stale_reasons(plan, moved)
    assert any("runs.nightly was absent when planned, is now at nightly" in r for r in reasons)
    assert any("mlrun.project was absent" in r for r in reasons)
