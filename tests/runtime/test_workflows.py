"""Hera workflows on the embedded core, through the unmodified SDK as the platform's scenarios drive
them: `workflow.run("build")` runs the real digitalhub-runtime-hera build, whose Argo Workflow the
core stores in the workflow's `spec.build` (HeraRuntime.onComplete); `workflow.run("pipeline")`
is walked as Argo walks it, each step becoming the run step.py creates, its outputs passed to later
steps, each step's run recorded (step_of the pipeline run) and listed in the pipeline run's
`status.nodes` (docs/dhcore-runs.md §2-§4)."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import yaml

from tests.workflow_sources import LABELLED_PIPELINE, STEP_FUNCTIONS

pytestmark = pytest.mark.slow

FINAL = ("COMPLETED", "ERROR", "STOPPED")

FUNCTIONS = (
    STEP_FUNCTIONS
    + """

def explode(di):
    raise RuntimeError("the step's handler failed on purpose")
"""
)

FAILING_PIPELINE = """
from digitalhub_runtime_hera.dsl import step
from hera.workflows import DAG, Workflow


def pipeline():
    with Workflow(entrypoint="dag") as w:
        with DAG(name="dag"):
            a = step(template={"action": "job"}, function="produce", outputs=["dataset"])
            b = step(template={"action": "job", "inputs": {"di": "{{inputs.parameters.di}}"}},
                     function="explode", inputs={"di": a.get_parameter("dataset")})
            c = step(template={"action": "job", "inputs": {"di": "{{inputs.parameters.di}}"}},
                     function="consume", inputs={"di": a.get_parameter("dataset")})
            a >> b >> c
    return w
"""


def encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def python_function(project: Any, name: str, handler: str) -> Any:
    source = {"base64": encoded(FUNCTIONS), "handler": handler}
    return project.new_function(name, kind="python", python_version="PYTHON3_11", source=source)


def hera_workflow(project: Any, name: str, code: str) -> Any:
    source = {"base64": encoded(code), "handler": "pipeline", "lang": "python"}
    return project.new_workflow(name, kind="hera", source=source)


def wait_final(run: Any, seconds: float = 240) -> Any:
    deadline = time.monotonic() + seconds
    while run.refresh().status.state not in FINAL:
        assert time.monotonic() < deadline, f"run {run.id} still {run.status.state}"
        time.sleep(0.2)
    return run


def test_a_pipeline_runs_its_steps_as_argo_and_dhcore_do(project: Any) -> None:
    produce = python_function(project, "produce", "produce")
    consume = python_function(project, "consume", "consume")
    workflow = hera_workflow(project, "chain", LABELLED_PIPELINE)

    build = wait_final(workflow.run("build"))
    assert build.status.state == "COMPLETED", build.status.message
    stored = project.get_workflow("chain").spec.to_dict()["build"]
    assert stored["lang"] == "yaml"
    argo = yaml.safe_load(base64.b64decode(stored["base64"]))
    assert argo["entrypoint"] == "dag"  # the Workflow's spec part, as HeraRuntime.onComplete keeps
    step_args = [t["container"]["args"] for t in argo["templates"] if "container" in t]
    assert all(args[0] == "step.py" for args in step_args)

    pipeline = wait_final(workflow.run("pipeline", parameters={"label": "weekly"}))
    assert pipeline.status.state == "COMPLETED", pipeline.status.message

    log = "".join(entry.text or "" for entry in pipeline.logs())
    assert "step produce (job): run" in log and "ended with state COMPLETED" in log  # what the steps said

    nodes = {n["display_name"]: n for n in pipeline.status.nodes}
    pods = [n for n in nodes.values() if n["type"] == "Pod"]
    assert len(pods) == 2 and all(n["state"] == "Succeeded" for n in pods)
    first = next(n for n in pods if n["display_name"].startswith("dag-op-produce"))
    second = next(n for n in pods if n["display_name"].startswith("dag-op-consume"))
    dataset_key = first["outputs"][0]["value"]
    assert dataset_key.startswith(f"store://{project.name}/dataitem/table/produced:")
    assert second["inputs"] == [{"name": "di", "value": dataset_key}]

    produce_run = project.get_run(first["run_id"])
    consume_run = project.get_run(second["run_id"])
    assert produce_run.spec.parameters == {"rows": 7}
    assert consume_run.spec.inputs == {"di": dataset_key}
    assert consume_run.spec.parameters == {"label": "weekly"}  # the run's parameter, via Argo
    assert consume_run.output("summary").spec.path.endswith("produced-weekly.txt")
    for run, function in ((produce_run, produce), (consume_run, consume)):
        relations = {(r["type"], r["dest"]) for r in run.metadata.relationships or []}
        assert ("step_of", f"{pipeline.key}:{pipeline.id}") in relations  # as step.py relates it
        assert ("run_of", function.key) in relations
        assert run.status.state == "COMPLETED"


def test_a_failed_step_fails_the_pipeline_and_nothing_after_it_runs(project: Any) -> None:
    python_function(project, "produce", "produce")
    python_function(project, "explode", "explode")
    consume = python_function(project, "consume", "consume")
    workflow = hera_workflow(project, "breaks", FAILING_PIPELINE)
    assert wait_final(workflow.run("build")).status.state == "COMPLETED"

    pipeline = wait_final(workflow.run("pipeline"))
    assert pipeline.status.state == "ERROR"
    assert pipeline.status.message.startswith("Job failed: child '")
    nodes = {n["display_name"].split("-")[2]: n for n in pipeline.status.nodes if n["type"] == "Pod"}
    assert nodes["explode"]["state"] == "Failed"
    assert "the step's handler failed on purpose" in nodes["explode"]["message"]
    assert "consume" not in nodes
    assert consume.list_runs() == []


def test_a_pipeline_without_a_build_is_refused_with_the_reason(project: Any) -> None:
    workflow = hera_workflow(project, "unbuilt", LABELLED_PIPELINE)
    pipeline = wait_final(workflow.run("pipeline", parameters={"label": "x"}))
    assert pipeline.status.state == "ERROR"
    assert "run its `build` action first" in pipeline.status.message
