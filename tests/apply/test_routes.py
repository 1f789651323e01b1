"""Apply dispatches on each action's type and backend alone: every action the planner emits has
a route, and only plans with a step in a worker process start the warm run server."""

from __future__ import annotations

from pathlib import Path

from dhmlrun.apply.executor import ROUTES, needs_workers
from dhmlrun.plan import build_destroy_plan, build_plan
from dhmlrun.plan.model import Plan
from dhmlrun.platform.state import PlatformState
from tests.plan.helpers import declaration, write_repo
from tests.plan.mlrun_states import MLRUN, RecordedService, apply_on_mlrun
from tests.plan.test_mlrun_host import NIGHTLY


def unrouted(plan: Plan) -> list[str]:
    return [
        f"{a.address} ({type(a).__name__} on {a.backend})"
        for a in plan.changes()
        if (type(a), a.backend) not in ROUTES
    ]


def test_every_action_planned_on_dhcore_has_a_route(tmp_path: Path) -> None:
    decl = declaration(write_repo(tmp_path / "repo"))
    plan = build_plan(decl, PlatformState(project=decl.project_name))
    assert plan.changes() and not unrouted(plan)
    assert needs_workers(plan)


def test_every_action_planned_on_an_mlrun_service_has_a_route(tmp_path: Path) -> None:
    decl = declaration(write_repo(tmp_path / "repo"), extra=NIGHTLY)
    plan = build_plan(decl, PlatformState(project=decl.project_name, mlrun=MLRUN))
    assert {a.backend for a in plan.changes()} == {"dhcore", "mlrun"}
    assert not unrouted(plan)
    dhcore = PlatformState(project=decl.project_name, project_exists=True)
    destroy = build_destroy_plan(apply_on_mlrun(plan, RecordedService(), dhcore), str(decl.root), decl)
    assert destroy.changes() and not unrouted(destroy)


def test_a_plan_without_runs_needs_no_worker(tmp_path: Path) -> None:
    decl = declaration(write_repo(tmp_path / "repo"))
    plan = build_plan(decl, PlatformState(project=decl.project_name), targets=["dataitems.employees"])
    assert plan.changes() and not needs_workers(plan)


def test_a_plan_uploading_a_declared_file_to_the_files_store_needs_a_worker(tmp_path: Path) -> None:
    """The upload goes through the SDK's stores in a worker process, so the apply keeps its warm
    run server for it (without a files store the file is not uploaded: no worker)."""
    decl = declaration(write_repo(tmp_path / "repo"))
    targets = ["dataitems.employees"]
    with_store = build_plan(
        decl, PlatformState(project=decl.project_name, files_store="s3://files/"), targets=targets
    )
    assert needs_workers(with_store)
    assert not needs_workers(build_plan(decl, PlatformState(project=decl.project_name), targets=targets))
