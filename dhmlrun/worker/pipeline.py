"""`python -m dhmlrun.worker.pipeline PROJECT RUN_ID`: a hera pipeline run, as Argo runs it.

DHCore hands a `hera+pipeline:run` to Argo: the Workflow its build stored (the run's
`spec.build`, base64 YAML), with the run's `parameters` as the workflow's arguments; Argo runs each
task's container (the hera step) and DHCore copies the workflow's nodes into the run's
`status.nodes` while it runs, then sets COMPLETED, or ERROR with `Job failed: <message>`
(docs/dhcore-runs.md §3). The embedded core's job runner starts this worker for such a run, outside
its bounded pool (it only orchestrates: the steps' runs are what take the pool's workers). It
walks the spec (`walk.py`), runs each step as step.py does (`hera_step.py`), and writes the
nodes into the run as they change.

Exit codes as `job.py`: 0 when the run reached a final state, 1 when the platform could not be
used, 2 for bad arguments.
"""

from __future__ import annotations

import base64
import logging
import sys
import threading
import time
from typing import Any

from dhmlrun.vocabulary import states
from dhmlrun.worker.argo import SUCCEEDED, ArgoSpecError, Container, parse_workflow_spec
from dhmlrun.worker.ending import failure_message
from dhmlrun.worker.hera_step import StepError, run_step, step_call
from dhmlrun.worker.job import EXIT_INFRASTRUCTURE, EXIT_OK, executor_main, ready_run
from dhmlrun.worker.walk import ContainerResult, Node, PipelineWalker

log = logging.getLogger("dhmlrun.worker.pipeline")

NO_BUILD = (
    "the workflow has no build: run its `build` action first (DHCore refuses a pipeline whose "
    "workflow spec has no build: workflowSpec is null)"
)


def execute_pipeline(project: str, run_id: str) -> int:
    from dhmlrun.platform.sdk import sdk_session

    with sdk_session(project, run_id, leased=True):
        return _execute(project, run_id)


def _execute(project: str, run_id: str) -> int:
    from dhmlrun.runtime.logs import store_run_log

    run = ready_run(project, run_id, "pipeline")
    if run is None:
        return EXIT_INFRASTRUCTURE
    status = RunStatusWriter(run)
    spec = run.spec.to_dict()
    try:
        encoded = (spec.get("build") or {}).get("base64")
        if not encoded:
            raise ArgoSpecError(NO_BUILD)
        workflow = parse_workflow_spec(base64.b64decode(encoded).decode("utf-8"))
        steps = StepRunner(project, run_id)
        walker = PipelineWalker(workflow, run_id, spec.get("parameters") or {}, steps, status.nodes)
    except (ArgoSpecError, ValueError) as exc:
        status.final(states.ERROR, f"Job failed: {exc}", None)
        return EXIT_OK
    status.state(states.RUNNING)
    try:
        outcome = walker.run()
    except Exception as exc:  # the walker itself broke: the run must not stay RUNNING
        status.final(states.ERROR, f"Job failed: {failure_message(exc)}", None)
        return EXIT_OK
    finally:
        store_run_log(project, run_id, steps.log())  # what Argo's pods printed, for DHCore
    if outcome.phase == SUCCEEDED:
        status.final(states.COMPLETED, None, outcome.nodes)
    else:
        status.final(states.ERROR, f"Job failed: {outcome.message or outcome.phase}", outcome.nodes)
    return EXIT_OK


class StepRunner:
    """Runs the containers of the walk: hera steps; any other container cannot run here."""

    def __init__(self, project: str, run_id: str) -> None:
        self.project, self.run_id = project, run_id
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def log(self) -> str:
        """Everything the steps said, in order: the pipeline run's log."""
        with self._lock:
            return "".join(f"{line}\n" for line in self._lines)

    def __call__(self, node: Node, container: Container) -> ContainerResult:
        try:
            call = step_call(container)
            if call is None:
                message = (
                    f"the embedded core runs hera steps (python step.py ...) only; {node.display_name} "
                    f"runs {container.image} {' '.join((*container.command, *container.args))}"
                )
                return ContainerResult(False, message=message)
            self._say(f"{node.display_name}: {call.entity} {call.kwargs}")
            return run_step(call, self.project, self.run_id, say=self._say)
        except StepError as exc:
            self._say(f"{node.display_name}: {exc}")
            return ContainerResult(False, message=str(exc))
        except Exception as exc:  # the SDK refusing the step (unknown function, kind, action)
            message = failure_message(exc)
            self._say(f"{node.display_name}: step failed: {message}")
            return ContainerResult(False, message=message)

    def _say(self, text: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}"
        print(line, flush=True)
        with self._lock:
            self._lines.append(line)


class RunStatusWriter:
    """Writes the pipeline run's state and nodes, one write at a time (steps end concurrently),
    through the SDK so the run's lease is kept in every write (`platform/relay.py`)."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self._lock = threading.Lock()

    def state(self, state: str) -> None:
        with self._lock:
            self.run.status.state = state
            self.run.save(update=True)

    def nodes(self, nodes: list[dict[str, Any]]) -> None:
        with self._lock:
            self.run.status.nodes = nodes
            self.run.save(update=True)

    def final(self, state: str, message: str | None, nodes: list[dict[str, Any]] | None) -> None:
        with self._lock:
            self.run.status.state = state
            self.run.status.message = message
            if nodes is not None:
                self.run.status.nodes = nodes
            self.run.save(update=True)


def main(argv: list[str] | None = None) -> int:
    return executor_main("dhmlrun.worker.pipeline", execute_pipeline, argv)


if __name__ == "__main__":
    sys.exit(main())
