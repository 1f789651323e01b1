"""A declared workflow's pipeline run, applied to a stock DHCore (the embedded core in `--stock`
mode, served on loopback): submitted and polled like a remote run, built right before it, its
steps run on the platform, each recorded as the run step.py creates; a changed step function plans
the pipeline run again, with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from dhmlrun import Project
from dhmlrun.plan.model import RunStart
from tests.conftest import served_core

pytestmark = pytest.mark.slow

FUNCTIONS = """
from digitalhub_runtime_python import handler


@handler(outputs=["dataset"])
def produce(project, rows: int = 3):
    return project.new_dataitem("produced", kind="table", path=f"s3://bucket/produced-{rows}.csv")


@handler(outputs=["summary"])
def consume(project, di, label: str = ""):
    return project.new_artifact("summary", kind="artifact", path=f"s3://bucket/{di.name}-{label}.txt")
"""

PIPELINE = """
from digitalhub_runtime_hera.dsl import step
from hera.workflows import DAG, Parameter, Workflow


def pipeline():
    with Workflow(entrypoint="dag", arguments=Parameter(name="label")) as w:
        with DAG(name="dag"):
            a = step(template={"action": "job"}, function="produce", outputs=["dataset"])
            b = step(
                template={"action": "job", "inputs": {"di": "{{inputs.parameters.di}}"},
                          "parameters": {"label": "{{workflow.parameters.label}}"}},
                function="consume",
                inputs={"di": a.get_parameter("dataset")},
            )
            a >> b
    return w
"""

CONFIG = """version: 1
project: {name: flows}
functions:
  produce: {kind: python, python_version: PYTHON3_11, source: {source: src/functions.py}, handler: produce}
  consume: {kind: python, python_version: PYTHON3_11, source: {source: src/functions.py}, handler: consume}
workflows:
  chain: {kind: hera, source: {source: src/pipeline.py}, handler: pipeline}
runs:
  chain: {workflow: chain, action: pipeline, parameters: {label: weekly}}
"""


def test_a_declared_pipeline_runs_on_a_stock_dhcore_and_replans_when_a_step_changes(tmp_path: Path) -> None:
    import digitalhub as dh

    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "functions.py").write_text(FUNCTIONS)
    (root / "src" / "pipeline.py").write_text(PIPELINE)
    (root / "dhmlrun.yaml").write_text(CONFIG)
    with served_core(tmp_path / "stock.db", stock=True):
        result = Project(root).apply()
        assert result.exit_code == 0, [(r.address, r.status, r.message) for r in result.results]
        project = dh.get_project("flows")
        pipeline = project.list_runs(kind="hera+pipeline:run")[0]
        assert pipeline.status.state == "COMPLETED"
        steps = [n for n in pipeline.status.nodes if n["type"] == "Pod"]
        assert [n["state"] for n in steps] == ["Succeeded", "Succeeded"]
        consume = project.get_run(next(n["run_id"] for n in steps if "consume" in n["display_name"]))
        assert consume.spec.parameters == {"label": "weekly"}
        assert not Project(root).plan().has_changes

        (root / "src" / "functions.py").write_text(FUNCTIONS + "\n# changed\n")
        plan = Project(root).plan()
        rerun = plan.by_address()["runs.chain"]
        assert isinstance(rerun, RunStart)
        assert "step function functions.produce changed (code changed: src/functions.py)" in rerun.reason
