"""The planner's view of services (`plan/services.py`), as a pure function of a hand-built
declaration and platform state: deployed when not running, a no-op while it serves as declared,
redeployed after the run producing its model, brought back as drift, stopped when removed, and
refused when the platform cannot serve its kind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dhmlrun.errors import DhmlrunError
from dhmlrun.plan.builder import build_destroy_plan, build_plan
from dhmlrun.plan.model import CREATE, DELETE, NOOP, RUN, UPDATE, Plan, ServiceDeploy, ServiceStop
from dhmlrun.plan.services import served_labels
from dhmlrun.platform.state import PlatformState, RemoteRun

from .helpers import applied_state, declaration, write_repo

SERVICE = {"services.board": {"kind": "sklearnserve", "model": "runs.summary.outputs.dataset"}}


def services_declaration(root: Path, **kwargs: object):
    found = declaration(write_repo(root), extra=SERVICE, **kwargs)  # type: ignore[arg-type]
    found.resources["services.board"].depends_on = ("runs.summary",)
    return found


def deployed(
    plan: Plan, state: PlatformState, *, run_state: str = "RUNNING", message: str | None = None
) -> PlatformState:
    """`state` after `plan`'s services were deployed as apply records them (the served key in
    the fingerprint, `served_labels`)."""
    for action in plan.actions:
        if isinstance(action, ServiceDeploy) and action.request is not None:
            request = action.request
            produced = state.runs["runs.summary"].outputs["dataset"]
            state.runs[action.address] = RemoteRun(
                id=request.run_id,
                address=action.address,
                state=run_state,
                labels=tuple(served_labels(request.labels, {"model": produced})),
                created="2026-01-01T00:00:01.000Z",
                message=message,
                kind="sklearnserve+serve:run",
                service_url="127.0.0.1:9000",
            )
    return state


def service_action(plan: Plan) -> ServiceDeploy | ServiceStop:
    action = plan.by_address()["services.board"]
    assert isinstance(action, ServiceDeploy | ServiceStop) or action.action == NOOP
    return action  # type: ignore[return-value]


def test_a_service_not_running_is_deployed_after_the_run_making_its_model(tmp_path: Path) -> None:
    plan = build_plan(services_declaration(tmp_path), PlatformState(project="employees-dev"))
    action = service_action(plan)
    assert (action.action, action.reason) == (CREATE, "not running")
    assert "runs.summary" in action.depends_on
    assert action.request is not None and action.request.model is not None
    assert action.request.model.run == "runs.summary" and action.request.supersedes is None


def test_a_service_serving_as_declared_is_a_no_op_and_says_where(tmp_path: Path) -> None:
    decl = services_declaration(tmp_path)
    first = build_plan(decl, PlatformState(project="employees-dev"))
    state = deployed(first, applied_state(first))
    again = service_action(build_plan(decl, state))
    assert (again.action, again.reason) == (NOOP, "serving at http://127.0.0.1:9000")


def test_a_retrain_redeploys_the_service_in_the_same_plan(tmp_path: Path) -> None:
    decl = services_declaration(tmp_path)
    first = build_plan(decl, PlatformState(project="employees-dev"))
    state = deployed(first, applied_state(first))
    decl.resources["runs.summary"].spec["parameters"] = {"min_years": 5}
    plan = build_plan(decl, state)
    assert plan.by_address()["runs.summary"].action == RUN
    action = service_action(plan)
    assert action.action == UPDATE
    assert action.reason == "model changed: a new version from runs.summary (it runs first)"
    assert action.request is not None and action.request.supersedes == state.runs["services.board"].id


def test_a_service_that_stopped_serving_is_drift_and_deployed_anew(tmp_path: Path) -> None:
    decl = services_declaration(tmp_path)
    first = build_plan(decl, PlatformState(project="employees-dev"))
    state = deployed(first, applied_state(first), run_state="ERROR", message="service process 7 exited: boom")
    action = service_action(build_plan(decl, state))
    assert (action.action, action.drift) == (UPDATE, True)
    assert action.reason == "not running: service process 7 exited: boom"
    assert action.request is not None and action.request.supersedes is None  # nothing serves to stop


def test_a_service_removed_or_destroyed_is_stopped(tmp_path: Path) -> None:
    decl = services_declaration(tmp_path)
    first = build_plan(decl, PlatformState(project="employees-dev"))
    state = deployed(first, applied_state(first))
    del decl.resources["services.board"]
    removed = service_action(build_plan(decl, state))
    assert isinstance(removed, ServiceStop)
    assert (removed.action, removed.reason) == (DELETE, "removed from the configuration")
    assert removed.run_id == state.runs["services.board"].id
    destroyed = build_destroy_plan(state, str(tmp_path)).by_address()["services.board"]
    assert isinstance(destroyed, ServiceStop) and destroyed.run_id == removed.run_id


def test_a_kind_the_platform_cannot_serve_is_refused_at_plan_time(tmp_path: Path) -> None:
    state = PlatformState(project="employees-dev", service_refusals={"sklearnserve": "no server here"})
    with pytest.raises(DhmlrunError, match="no server here"):
        build_plan(services_declaration(tmp_path), state)


def test_a_saved_plan_keeps_its_service_requests(tmp_path: Path) -> None:
    plan = build_plan(services_declaration(tmp_path), PlatformState(project="employees-dev"))
    again = Plan.from_dict(plan.as_dict())
    action = service_action(again)
    assert isinstance(action, ServiceDeploy)
    assert dataclasses.asdict(action) == dataclasses.asdict(service_action(plan))
