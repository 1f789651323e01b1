"""Workflows in the declaration: a hera workflow shaped as DHCore stores one, its pipeline and build
runs (always the platform's), the step functions a pipeline depends on read from its code without
running it, and each refused form one problem at its line."""

from __future__ import annotations

import base64

from dhmlrun.config.steps import step_function_names
from tests.workflow_sources import TWO_STEP_PIPELINE

from .conftest import load, one_problem

HEAD = "version: 1\nproject: {name: demo}\n"
PIPELINE = TWO_STEP_PIPELINE
FUNCTIONS = """
functions:
  prepare: {kind: python, python_version: PYTHON3_11, source: {source: src/main.py}, handler: handler}
  train: {kind: python, python_version: PYTHON3_11, source: {source: src/main.py}, handler: handler}
  other: {kind: python, python_version: PYTHON3_11, source: {source: src/main.py}, handler: handler}
workflows:
  flow: {kind: hera, source: {source: src/pipeline.py}, handler: pipeline}
"""


def declared(write, runs: str):
    return write(HEAD + FUNCTIONS + runs, {"src/pipeline.py": PIPELINE})


def test_a_workflow_is_shaped_as_dhcore_stores_it(write):
    text = HEAD + "workflows:\n  w: {kind: hera, source: {code: 'def pipeline(): pass'}, handler: pipeline}\n"
    spec = load(write(text)).resources["workflows.w"].spec
    assert spec["source"] == {
        "base64": base64.b64encode(b"def pipeline(): pass").decode(),
        "handler": "pipeline",
    }


def test_a_pipeline_run_depends_on_its_workflow_and_the_functions_its_steps_run(write):
    runs = "runs:\n  flow: {workflow: flow, action: pipeline, parameters: {url: x}}\n"
    run = load(declared(write, runs)).resources["runs.flow"]
    assert run.spec["workflow"] == "workflows.flow" and "function" not in run.spec
    assert set(run.depends_on) == {"workflows.flow", "functions.prepare", "functions.train"}
    assert run.spec["execution"] == "remote"  # Argo's, DHCore's: never apply's worker


def test_builds_are_the_platforms(write):
    runs = "runs:\n  b: {function: prepare, action: build}\n  w: {workflow: flow, action: build}\n"
    resources = load(declared(write, runs)).resources
    assert resources["runs.b"].spec["execution"] == resources["runs.w"].spec["execution"] == "remote"


def test_a_local_pipeline_or_build_is_refused(write):
    runs = "runs:\n  flow: {workflow: flow, action: pipeline, execution: local}\n"
    problem = one_problem(declared(write, runs))
    assert problem.path == "runs.flow.execution" and "executed by the platform" in problem.message


def test_each_kind_has_its_actions(write):
    problem = one_problem(declared(write, "runs:\n  flow: {workflow: flow, action: job}\n"))
    assert problem.path == "runs.flow.action"
    assert "a hera workflow has no action 'job'" in problem.message and problem.allowed == "pipeline, build"
    problem = one_problem(declared(write, "runs:\n  p: {function: prepare, action: pipeline}\n"))
    assert "a python function has no action 'pipeline'" in problem.message


def test_an_unknown_workflow_is_named_as_such(write):
    problem = one_problem(declared(write, "runs:\n  flow: {workflow: flwo, action: pipeline}\n"))
    assert problem.path == "runs.flow.workflow"
    assert problem.message == "unknown workflow 'workflows.flwo'; did you mean 'workflows.flow'?"


def test_a_workflow_needs_a_handler(write):
    problem = one_problem(write(HEAD + "workflows:\n  w: {kind: hera, source: {source: src/main.py}}\n"))
    assert "a hera workflow needs a handler" in problem.message


def test_step_functions_are_read_from_the_code_never_run():
    assert step_function_names({"base64": base64.b64encode(PIPELINE.encode()).decode()}) == {
        "prepare",
        "train",
    }
    assert step_function_names({"source": "git+https://example.com/repo.git#main"}) is None
    assert step_function_names({"base64": base64.b64encode(b"def (").decode()}) is None
