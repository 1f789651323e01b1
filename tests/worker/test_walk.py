"""The core walks an Argo Workflow spec as Argo's controller does: tasks in `depends` order,
independent ones at once, output parameters passed into later arguments, failures stopping what
depends on them, every node recorded (docs/dhcore-runs.md §3-§4). Containers are run by a
callback here; the pipeline worker's real one runs hera steps (tests/core/test_pipelines.py)."""

from __future__ import annotations

import threading
import time

import pytest

from dhmlrun.worker.argo import ArgoSpecError, Depends, parse_workflow_spec, substitute
from dhmlrun.worker.walk import ContainerResult, PipelineWalker, node_id, workflow_arguments

# What digitalhub-runtime-hera 0.15's DSL builds for s1-etl's pipeline (ids shortened).
S1_SPEC = """
entrypoint: dag
templates:
- name: dag
  dag:
    tasks:
    - {name: download, template: c-download}
    - name: spire
      depends: download
      template: c-spire
      arguments: {parameters: [{name: di, value: '{{tasks.download.outputs.parameters.dataset}}'}]}
    - name: measures
      depends: download
      template: c-measures
      arguments: {parameters: [{name: di, value: '{{tasks.download.outputs.parameters.dataset}}'}]}
    - name: api
      depends: measures
      template: c-api
      arguments:
        parameters:
        - {name: dataitem, value: '{{tasks.measures.outputs.parameters.dataset-measures}}'}
- name: c-download
  container:
    image: wrapper-hera:latest
    command: [python]
    args: [step.py, --entity, 'store://p/function/python/download-data:1', --kwargs,
           '{"action": "job", "inputs": {"url": "{{workflow.parameters.url}}"}}']
  outputs:
    artifacts: [{name: dataset, path: /tmp/entity_dataset}]
    parameters: [{name: dataset, valueFrom: {path: /tmp/entity_dataset}}]
- name: c-spire
  container: {image: w, command: [python], args: [step.py, --kwargs, '{"di": "{{inputs.parameters.di}}"}']}
  inputs: {parameters: [{name: di}]}
- name: c-measures
  container: {image: w, command: [python], args: [step.py, --kwargs, '{"di": "{{inputs.parameters.di}}"}']}
  inputs: {parameters: [{name: di}]}
  outputs:
    parameters: [{name: dataset-measures, valueFrom: {path: /tmp/entity_dataset-measures}}]
- name: c-api
  container:
    {image: w, command: [python], args: [step.py, --kwargs, '{"d": "{{inputs.parameters.dataitem}}"}']}
  inputs: {parameters: [{name: dataitem}]}
arguments:
  parameters: [{name: url}]
"""


class Recorder:
    """Runs containers by answering from a table; records what each was given and when."""

    def __init__(self, answers: dict[str, ContainerResult] | None = None, work: float = 0.0) -> None:
        self.answers = answers or {}
        self.work = work
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.spans: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, node, container) -> ContainerResult:
        started = time.monotonic()
        time.sleep(self.work)
        with self._lock:
            self.calls.append((node.display_name, container.args))
            self.spans[node.display_name] = (started, time.monotonic())
        default = ContainerResult(
            True,
            {
                "/tmp/entity_dataset": f"store://p/dataitem/table/dataset:{node.display_name}",
                "/tmp/entity_dataset-measures": "store://p/dataitem/table/dataset-measures:m",
            },
            run_id=f"run-{node.display_name}",
        )
        return self.answers.get(node.display_name, default)


def walk(spec_text: str, parameters=None, recorder: Recorder | None = None):
    recorder = recorder or Recorder()
    walker = PipelineWalker(
        parse_workflow_spec(spec_text), "wf1", parameters or {"url": "store://u"}, recorder
    )
    return walker.run(), recorder


def test_tasks_run_in_dependency_order_with_outputs_passed_as_arguments() -> None:
    outcome, recorder = walk(S1_SPEC)
    assert outcome.phase == "Succeeded"
    order = [name for name, _ in recorder.calls]
    assert order[0] == "download" and sorted(order) == ["api", "download", "measures", "spire"]
    assert order.index("measures") < order.index("api")  # spire and api are independent: any order
    args = dict(recorder.calls)
    assert '"url": "store://u"' in args["download"][-1]  # the run's parameter, as Argo's argument
    assert "store://p/dataitem/table/dataset:download" in args["spire"][-1]
    assert "dataset-measures:m" in args["api"][-1]


def test_independent_tasks_run_at_once() -> None:
    recorder = Recorder(work=0.3)
    outcome, _ = walk(S1_SPEC, recorder=recorder)
    assert outcome.phase == "Succeeded"
    spire, measures = recorder.spans["spire"], recorder.spans["measures"]
    assert spire[0] < measures[1] and measures[0] < spire[1]  # their spans overlap


def test_every_node_is_recorded_as_argo_records_it() -> None:
    outcome, _ = walk(S1_SPEC)
    nodes = {n["display_name"]: n for n in outcome.nodes}
    root = nodes["wf1"]
    assert (root["id"], root["type"], root["state"]) == ("wf1", "DAG", "Succeeded")
    assert set(root["children"]) == {nodes[t]["id"] for t in ("download", "spire", "measures", "api")}
    download = nodes["download"]
    assert download["id"] == node_id("wf1", "wf1.download") != "wf1"
    assert download["type"] == "Pod" and download["exit_code"] == "0"
    assert download["outputs"] == [{"name": "dataset", "value": "store://p/dataitem/table/dataset:download"}]
    assert download["run_id"] == "run-download"
    assert nodes["spire"]["inputs"] == [{"name": "di", "value": "store://p/dataitem/table/dataset:download"}]
    assert download["start_time"].endswith("Z") and download["end_time"].endswith("Z")


def test_argos_node_ids_are_the_fnv1a_hash_of_the_node_name() -> None:
    assert node_id("wf", "wf") == "wf"
    assert node_id("hello-world-x", "hello-world-x.a") == f"hello-world-x-{_fnv1a(b'hello-world-x.a')}"


def _fnv1a(data: bytes) -> int:
    digest = 0x811C9DC5
    for byte in data:
        digest = ((digest ^ byte) * 0x01000193) % 2**32
    return digest


def test_a_failed_task_stops_its_dependents_and_fails_the_workflow() -> None:
    recorder = Recorder({"measures": ContainerResult(False, message="run r2 ended in ERROR: boom")}, work=0.2)
    outcome, _ = walk(S1_SPEC, recorder=recorder)
    assert outcome.phase == "Failed"
    assert outcome.message == f"child '{node_id('wf1', 'wf1.measures')}' failed"
    nodes = {n["display_name"]: n for n in outcome.nodes}
    assert nodes["measures"]["state"] == "Failed"
    assert nodes["measures"]["message"] == "run r2 ended in ERROR: boom"
    assert "api" not in nodes  # never started
    assert nodes["spire"]["state"] == "Succeeded"  # a sibling already running finishes


def test_a_depends_expression_false_once_its_tasks_are_done_omits_the_task() -> None:
    spec = """
entrypoint: d
templates:
- name: d
  dag:
    tasks:
    - {name: a, template: c}
    - {name: on-failure, template: c, depends: a.Failed}
    - {name: after, template: c, depends: on-failure}
    - {name: anyway, template: c, depends: a && !on-failure.Succeeded}
- name: c
  container: {image: w, command: [python], args: [step.py]}
"""
    outcome, recorder = walk(spec)
    assert outcome.phase == "Succeeded"
    nodes = {n["display_name"]: n for n in outcome.nodes}
    assert nodes["on-failure"]["state"] == "Omitted"
    assert nodes["after"]["state"] == "Omitted"  # a bare task name means it succeeded or was skipped
    assert [name for name, _ in recorder.calls] == ["a", "anyway"]


def test_steps_run_group_after_group() -> None:
    spec = """
entrypoint: s
templates:
- name: s
  steps:
  - - {name: first, template: out}
  - - name: second
      template: in
      arguments: {parameters: [{name: v, value: '{{steps.first.outputs.parameters.dataset}}'}]}
- name: out
  container: {image: w, command: [python], args: [step.py]}
  outputs: {parameters: [{name: dataset, valueFrom: {path: /tmp/entity_dataset}}]}
- name: in
  container: {image: w, command: [python], args: ['{{inputs.parameters.v}}']}
  inputs: {parameters: [{name: v}]}
"""
    outcome, recorder = walk(spec)
    assert outcome.phase == "Succeeded"
    assert recorder.calls[1] == ("second", ("store://p/dataitem/table/dataset:first",))


def test_a_missing_output_file_is_an_error_of_that_node() -> None:
    recorder = Recorder({"download": ContainerResult(True, {})})
    outcome, _ = walk(S1_SPEC, recorder=recorder)
    nodes = {n["display_name"]: n for n in outcome.nodes}
    assert nodes["download"]["state"] == "Error"
    assert "unable to read output parameter dataset from /tmp/entity_dataset" in nodes["download"]["message"]
    assert outcome.phase == "Failed"


def test_run_parameters_set_the_workflow_arguments_as_dhcores_argo_framework_does() -> None:
    spec = parse_workflow_spec(S1_SPEC)
    assert workflow_arguments(spec, {"url": "x", "n": 3, "flag": True}) == {
        "url": "x",
        "n": "3",
        "flag": "true",
    }
    with pytest.raises(ArgoSpecError, match="url have no value"):
        workflow_arguments(spec, {})


def test_an_unresolved_tag_is_refused() -> None:
    assert substitute("a {{ x.y }} b", {"x.y": "1"}) == "a 1 b"
    with pytest.raises(ArgoSpecError, match=r"failed to resolve \{\{tasks.a.outputs.parameters.z\}\}"):
        substitute("{{tasks.a.outputs.parameters.z}}", {})


def test_depends_expressions_follow_argos_grammar() -> None:
    phases = {"a": "Succeeded", "b": "Failed", "c": "Skipped"}
    assert Depends.parse("a && c").holds(phases)
    assert not Depends.parse("a && b").holds(phases)
    assert Depends.parse("b.Failed || a.Failed").holds(phases)
    assert Depends.parse("(a || b) && !b.Succeeded").holds(phases)
    assert Depends.parse("b.AllFailed").holds(phases)
    assert Depends.parse("a && b").tasks() == {"a", "b"}
    for bad in ("a &&", "a.Nope", "(a", "a b"):
        with pytest.raises(ArgoSpecError):
            Depends.parse(bad)


def test_a_spec_naming_a_missing_template_or_an_unsupported_one_is_refused() -> None:
    with pytest.raises(ArgoSpecError, match="entrypoint"):
        parse_workflow_spec("entrypoint: x\ntemplates: []")
    with pytest.raises(ArgoSpecError, match="not \\['script'\\]"):
        parse_workflow_spec("entrypoint: s\ntemplates: [{name: s, script: {image: x}}]")
    with pytest.raises(ArgoSpecError, match="names no template 'nope'"):
        parse_workflow_spec(
            "entrypoint: d\ntemplates: [{name: d, dag: {tasks: [{name: a, template: nope}]}}]"
        )
