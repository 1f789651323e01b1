"""A declared workflow's pipeline run, applied to a stock DHCore (the embedded core in `--stock`
mode, served on loopback, one per module): submitted and polled like a remote run, its steps run
on the platform, each recorded as the run step.py creates; the workflow is built before it only
when its version has no build or its build runs an older step function (DHCore keeps the build in
the workflow's version), and a changed step function plans the pipeline run again, with its
reason."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dhmlrun import Project
from dhmlrun.api import ApplyOptions
from dhmlrun.plan.model import RunStart
from tests.conftest import one_worker, served_core, unique_project_name
from tests.workflow_sources import LABELLED_PIPELINE, STEP_FUNCTIONS

pytestmark = pytest.mark.slow


CONFIG = """version: 1
project: {name: PROJECT}
functions:
  produce: {kind: python, python_version: PYTHON3_11, source: {source: src/functions.py}, handler: produce}
  consume: {kind: python, python_version: PYTHON3_11, source: {source: src/functions.py}, handler: consume}
workflows:
  chain: {kind: hera, source: {source: src/pipeline.py}, handler: pipeline}
runs:
  chain: {workflow: chain, action: pipeline, parameters: {label: weekly}}
"""


@dataclass
class Flows:
    """The configuration above applied once, under a project of its own, on the module's core."""

    root: Path
    name: str

    def apply(self, reruns: tuple[str, ...] = ()) -> None:
        result = Project(self.root).apply(options=ApplyOptions(reruns=reruns))
        assert result.exit_code == 0, [(r.address, r.status, r.message) for r in result.results]

    def runs(self, kind: str) -> list[Any]:
        """The project's runs of `kind`, oldest first."""
        import digitalhub as dh

        return sorted(dh.list_runs(self.name, kind=kind), key=lambda run: run.metadata.created)


@pytest.fixture(scope="module")
@one_worker
def flows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flows]:
    """Each test reads what it needs relative to what was there before it (any order holds)."""
    root = tmp_path_factory.mktemp("flows")
    with served_core(root / "stock.db", stock=True):
        (root / "repo" / "src").mkdir(parents=True)
        (root / "repo" / "src" / "functions.py").write_text(STEP_FUNCTIONS)
        (root / "repo" / "src" / "pipeline.py").write_text(LABELLED_PIPELINE)
        flows = Flows(root / "repo", unique_project_name("flows"))
        (flows.root / "dhmlrun.yaml").write_text(CONFIG.replace("PROJECT", flows.name))
        flows.apply()
        yield flows


def test_a_declared_pipeline_runs_on_a_stock_dhcore_its_steps_recorded(flows: Flows) -> None:
    import digitalhub as dh

    pipeline = flows.runs("hera+pipeline:run")[0]
    assert pipeline.status.state == "COMPLETED"
    steps = [n for n in pipeline.status.nodes if n["type"] == "Pod"]
    assert [n["state"] for n in steps] == ["Succeeded", "Succeeded"]
    consume = next(n for n in steps if "consume" in n["display_name"])
    assert dh.get_run(consume["run_id"], project=flows.name).spec.parameters == {"label": "weekly"}


def test_a_pipeline_run_again_reuses_its_workflows_build(flows: Flows) -> None:
    assert not Project(flows.root).plan().has_changes
    rerun = Project(flows.root).plan(reruns=["runs.chain"]).by_address()["runs.chain"]
    assert isinstance(rerun, RunStart) and rerun.reason == "forced by --rerun"
    builds, pipelines = len(flows.runs("hera+build:run")), len(flows.runs("hera+pipeline:run"))
    flows.apply(reruns=("runs.chain",))
    assert [r.status.state for r in flows.runs("hera+pipeline:run")[pipelines:]] == ["COMPLETED"]
    assert len(flows.runs("hera+build:run")) == builds


def test_a_changed_step_function_replans_the_pipeline_which_rebuilds_its_workflow(flows: Flows) -> None:
    import digitalhub as dh

    functions = flows.root / "src" / "functions.py"
    functions.write_text(functions.read_text() + "\n# changed\n")
    rerun = Project(flows.root).plan().by_address()["runs.chain"]
    assert isinstance(rerun, RunStart)
    assert "step function functions.produce changed (code changed: src/functions.py)" in rerun.reason
    built = "builds workflows.chain first: its build runs an older version of functions.consume, "
    assert rerun.reason.endswith(built + "functions.produce")
    builds = len(flows.runs("hera+build:run"))
    flows.apply()
    assert len(flows.runs("hera+build:run")) == builds + 1
    latest = flows.runs("hera+pipeline:run")[-1]
    produce = next(n for n in latest.status.nodes if "produce" in n["display_name"] and n["type"] == "Pod")
    ran = dh.get_run(produce["run_id"], project=flows.name).spec.function  # python://PROJECT/produce:ID
    assert ran.endswith(f":{dh.get_function('produce', project=flows.name).id}")  # the new version
