"""Walking a plan's dependency graph (no platform): order, parallelism, failure propagation;
staleness of saved plans; which endpoint a saved plan is applied to."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dhmlrun.apply.graph import walk
from dhmlrun.apply.results import NodeResult
from dhmlrun.errors import DhmlrunError
from dhmlrun.plan import build_plan
from dhmlrun.plan.model import Action, EntityWrite, NoChange, ProjectChange, RunStart
from dhmlrun.plan.staleness import stale_reasons
from dhmlrun.platform import EMBEDDED, Platform, check_same_platform
from dhmlrun.platform.rest import RestClient
from dhmlrun.platform.state import PlatformState, RemoteEntity
from dhmlrun.platform.transport import HttpTransport
from tests.plan.helpers import applied_state, declaration, write_repo


def chain() -> list[Action]:
    return [
        ProjectChange("project", "create"),
        EntityWrite("functions.f", "create", depends_on=["project"]),
        NoChange("functions.g", "no-op", depends_on=["project"]),
        RunStart("runs.a", "run", depends_on=["project", "functions.f"]),
        RunStart("runs.b", "run", depends_on=["project", "runs.a"]),
        RunStart("runs.c", "run", depends_on=["project", "runs.b"]),
        RunStart("runs.sibling", "run", depends_on=["project", "functions.f"]),
    ]


def platform_at(endpoint: str, embedded: bool = False) -> Platform:
    return Platform(RestClient(HttpTransport(endpoint)), embedded=embedded)


def test_once_stopped_the_walk_starts_nothing_more_and_lets_running_nodes_end() -> None:
    """Interrupted during runs.a: runs queued in the pool or still waiting are skipped."""
    stop = threading.Event()
    started: list[str] = []

    def execute(action: Action) -> NodeResult:
        started.append(action.address)
        if action.address == "runs.a":
            stop.set()
            return NodeResult(action.address, action.action, "failed", "interrupted")
        return NodeResult(action.address, action.action, "done")

    results = {r.address: r for r in walk(chain(), execute, parallelism=1, stop=stop)}
    assert started == ["project", "functions.f", "runs.a"]
    assert results["runs.a"].status == "failed"
    for address in ("runs.b", "runs.c", "runs.sibling"):
        assert (results[address].status, results[address].message) == ("skipped", "apply was interrupted")


def test_walk_runs_every_change_after_its_dependencies() -> None:
    order: list[str] = []
    lock = threading.Lock()

    def execute(action: Action) -> NodeResult:
        with lock:
            order.append(action.address)
        return NodeResult(action.address, action.action, "done")

    results = walk(chain(), execute, parallelism=4)
    assert {r.address for r in results} == {
        "project",
        "functions.f",
        "runs.a",
        "runs.b",
        "runs.c",
        "runs.sibling",
    }
    assert all(r.status == "done" for r in results)
    for before, after in [
        ("project", "functions.f"),
        ("functions.f", "runs.a"),
        ("runs.a", "runs.b"),
        ("runs.b", "runs.c"),
        ("functions.f", "runs.sibling"),
    ]:
        assert order.index(before) < order.index(after)


def test_failure_skips_dependents_transitively_but_not_siblings() -> None:
    def execute(action: Action) -> NodeResult:
        if action.address == "runs.a":
            raise RuntimeError("boom")
        return NodeResult(action.address, action.action, "done")

    results = {r.address: r for r in walk(chain(), execute, parallelism=2)}
    assert results["runs.a"].status == "failed" and results["runs.a"].message == "boom"
    assert results["runs.b"].status == "skipped" and results["runs.b"].message == "runs.a failed"
    assert results["runs.c"].status == "skipped" and results["runs.c"].message == "runs.b skipped"
    assert results["runs.sibling"].status == "done"


def test_independent_nodes_run_in_parallel() -> None:
    barrier = threading.Barrier(2, timeout=10)
    actions: list[Action] = [EntityWrite("functions.x", "create"), EntityWrite("functions.y", "create")]

    def execute(action: Action) -> NodeResult:
        barrier.wait()  # both must be in flight at once, or this raises BrokenBarrierError
        return NodeResult(action.address, action.action, "done")

    assert [r.status for r in walk(actions, execute, parallelism=2)] == ["done", "done"]


def test_stale_when_an_entity_appeared_or_moved_since_the_plan(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo")
    decl = declaration(repo)
    plan = build_plan(decl, PlatformState(project=decl.project_name))
    assert stale_reasons(plan, PlatformState(project=decl.project_name)) == []
    moved = PlatformState(project=decl.project_name)
    moved.entities["dataitems.employees"] = RemoteEntity("dataitems", "employees", "abc", "table")
    assert stale_reasons(plan, moved) == ["dataitems.employees was absent when planned, is now at abc"]
    ran = applied_state(plan)
    assert any("runs.download has run since" in r for r in stale_reasons(plan, ran))


def test_saved_plan_goes_back_to_the_platform_it_was_made_on() -> None:
    check_same_platform("http://core:8080", platform_at("http://core:8080/"))
    check_same_platform(EMBEDDED, platform_at("http://127.0.0.1:5555", embedded=True))
    with pytest.raises(DhmlrunError, match="made against http://core:8080"):
        check_same_platform("http://core:8080", platform_at("http://other:8080"))
    with pytest.raises(DhmlrunError, match="embedded core"):
        check_same_platform(EMBEDDED, platform_at("http://other:8080"))
