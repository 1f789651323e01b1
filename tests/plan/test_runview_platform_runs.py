"""A build's or pipeline's run spec says nothing of local execution (digitalhub-runtime-hera's and
the python build's run specs have no such field): such runs are the platform's, and a re-plan
shows no `execution: local -> remote` change for them."""

from __future__ import annotations

from dhmlrun.plan.runview import recorded_view
from dhmlrun.platform.state import RemoteRun


def run(task: str, **spec: object) -> RemoteRun:
    return RemoteRun("r1", "runs.x", "COMPLETED", spec={"task": task, "workflow": "hera://p/w:1", **spec})


def test_a_pipeline_or_build_run_is_the_platforms() -> None:
    assert recorded_view(run("hera+pipeline://p/t1"), ())["execution"] == "remote"
    assert recorded_view(run("python+build://p/t2"), ())["execution"] == "remote"
    assert recorded_view(run("hera+pipeline://p/t1"), ())["function"] == "w"


def test_a_job_says_where_it_ran() -> None:
    assert recorded_view(run("python+job://p/t3"), ())["execution"] == "local"
    assert recorded_view(run("python+job://p/t3", local_execution=False), ())["execution"] == "remote"
