"""A pipeline run builds its workflow only when it must: DHCore keeps the build in the workflow's
version (`spec.build`, HeraRuntime.onComplete) and the build names its step functions' versions
(`step.py --entity KEY`), so the plan builds first when the version has none, or when its build runs
an older version of a step function, and says so; and when the workflow's code cannot be read at
plan time, the plan notes that every declared function counts as a step."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path

import yaml

from dhmlrun.config import load_declaration
from dhmlrun.plan import build_plan
from dhmlrun.plan.model import NoChange, Plan, RunStart
from dhmlrun.plan.pipelines import build_reason, built_step_versions
from dhmlrun.platform.state import PlatformState
from dhmlrun.views.plan import plan_json, render_plan
from tests.plan.helpers import applied_state, counter_ids
from tests.workflow_sources import TWO_STEP_PIPELINE

PIPELINE = TWO_STEP_PIPELINE
CONFIG = """\
version: 1
project: {name: flows}
functions:
  prepare: {kind: python, python_version: PYTHON3_11, source: {source: src/main.py}, handler: prepare}
  train: {kind: python, python_version: PYTHON3_11, source: {source: src/main.py}, handler: train}
workflows:
  flow: {kind: hera, source: {source: SOURCE}, handler: pipeline}
runs:
  flow: {workflow: flow, action: pipeline}
"""


def repo(root: Path, source: str = "src/pipeline.py") -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "main.py").write_text("def prepare():\n    return 1\n\n\ndef train():\n    return 2\n")
    (root / "src" / "pipeline.py").write_text(PIPELINE)
    (root / "dhmlrun.yaml").write_text(CONFIG.replace("SOURCE", source))
    return root


def plan_of(root: Path, state: PlatformState | None = None, reruns: tuple[str, ...] = ()) -> Plan:
    state = state or PlatformState(project="flows", project_exists=True, project_description=None)
    declaration = load_declaration(root, environ={})
    return build_plan(declaration, state, reruns=reruns, id_factory=counter_ids())


def argo_build(versions: dict[str, str]) -> dict[str, str]:
    """A workflow's `spec.build` as DHCore stores it: base64 of the Argo Workflow's spec as YAML,
    each step a container running the hera wrapper's `step.py --entity KEY --kwargs JSON`."""
    templates = [{"name": "dag", "dag": {"tasks": [{"name": n, "template": f"c-{n}"} for n in versions]}}]
    for name, version in versions.items():
        key = f"store://flows/function/python/{name}:{version}"
        args = ["step.py", "--entity", key, "--kwargs", json.dumps({"action": "job"})]
        templates.append(
            {"name": f"c-{name}", "container": {"image": "hera-step", "command": ["python"], "args": args}}
        )
    spec = yaml.safe_dump({"entrypoint": "dag", "templates": templates})
    return {"base64": base64.b64encode(spec.encode()).decode(), "lang": "yaml"}


def applied(root: Path, build: bool | dict[str, str] = True) -> PlatformState:
    """The platform after the first apply; the workflow's version holds a build of the functions'
    current versions (`build=True`), of the versions given, or none (`False`)."""
    state = applied_state(plan_of(root))
    versions = {name: state.entities[f"functions.{name}"].id for name in ("prepare", "train")}
    if build:
        spec = state.entities["workflows.flow"].spec
        spec["build"] = argo_build(versions if build is True else {**versions, **build})
    return state


def pipeline_run(plan: Plan) -> RunStart:
    action = plan.by_address()["runs.flow"]
    assert isinstance(action, RunStart) and action.request is not None
    return action


def test_the_first_pipeline_run_builds_its_new_workflow_and_the_plan_says_so(tmp_path: Path) -> None:
    run = pipeline_run(plan_of(repo(tmp_path)))
    assert (
        run.reason
        == "never run; builds workflows.flow first: workflows.flow gets a new version, which has no build yet"
    )
    assert run.request is not None and run.request.workflow_build is not None


def test_a_pipeline_run_reuses_the_build_its_workflow_version_holds(tmp_path: Path) -> None:
    root = repo(tmp_path)
    run = pipeline_run(plan_of(root, applied(root), reruns=("runs.flow",)))
    assert run.reason == "forced by --rerun"
    assert run.request is not None and run.request.workflow_build is None


def test_a_workflow_version_without_a_build_is_built_first(tmp_path: Path) -> None:
    root = repo(tmp_path)
    run = pipeline_run(plan_of(root, applied(root, build=False), reruns=("runs.flow",)))
    assert run.reason == "forced by --rerun; builds workflows.flow first: workflows.flow has no build yet"


def test_a_changed_step_function_re_plans_the_pipeline_and_rebuilds_its_workflow(tmp_path: Path) -> None:
    root = repo(tmp_path)
    state = applied(root)
    (root / "src" / "main.py").write_text("def prepare():\n    return 3\n\n\ndef train():\n    return 2\n")
    plan = plan_of(root, state)
    run = pipeline_run(plan)
    assert run.reason == (
        "step function functions.prepare changed (code changed: src/main.py); "
        "step function functions.train changed (code changed: src/main.py); "
        "builds workflows.flow first: its build runs an older version of functions.prepare, functions.train"
    )
    assert "builds workflows.flow first" in render_plan(plan)


def test_a_build_of_a_step_function_version_since_replaced_is_rebuilt(tmp_path: Path) -> None:
    """Built before the step function's current version was made (outside this plan)."""
    root = repo(tmp_path)
    run = pipeline_run(plan_of(root, applied(root, build={"train": "old"}), reruns=("runs.flow",)))
    assert run.reason.endswith(
        "builds workflows.flow first: its build runs an older version of functions.train"
    )


def test_an_unchanged_pipeline_is_not_run_nor_built(tmp_path: Path) -> None:
    root = repo(tmp_path)
    action = plan_of(root, applied(root)).by_address()["runs.flow"]
    assert isinstance(action, NoChange) and action.reason == "up to date"


def test_the_steps_a_build_names_are_read_from_its_containers() -> None:
    assert built_step_versions(argo_build({"prepare": "v1", "train": "v2"})["base64"]) == {
        "prepare": "v1",
        "train": "v2",
    }
    assert built_step_versions(base64.b64encode(b"[not, a, workflow]").decode()) is None
    assert build_reason("workflows.w", False, {"build": {"base64": "%%%"}}, {}) == (
        "the build of workflows.w cannot be read"
    )


def test_a_workflow_read_at_plan_time_has_no_note(tmp_path: Path) -> None:
    assert plan_of(repo(tmp_path)).notes == []


def test_a_workflow_fetched_from_git_counts_every_function_as_a_step_and_the_plan_notes_it(
    tmp_path: Path,
) -> None:
    root = repo(tmp_path, "git+https://bob:hunter2@example.com/flows.git#main")
    plan = plan_of(root)
    note = (
        "runs.flow: the steps of workflows.flow cannot be read at plan time (its source is fetched "
        "by the platform's build: git+https://****@example.com/flows.git#main): every declared "
        "function counts as one of its steps (functions.prepare, functions.train), so a change to "
        "any of them runs it again"
    )
    assert plan.notes == [note]
    assert f"Note: {note}" in render_plan(plan)
    assert plan_json(plan)["notes"] == [note]
    assert Plan.from_dict(plan.as_dict()).notes == [note]  # a saved plan keeps it


def test_a_workflow_whose_code_does_not_parse_is_noted_too(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / "src" / "pipeline.py").write_text(textwrap.dedent("def pipeline(:\n"))
    assert "its code does not parse (SyntaxError)" in plan_of(root).notes[0]
