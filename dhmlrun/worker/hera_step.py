"""A hera step, as the step image's `step.py --entity KEY --kwargs JSON` runs it in its Argo pod.

Each task of a hera pipeline is a container running the wrapper's `step.py` (docs/dhcore-runs.md
§4): it reads the function KEY, pops `action` from the kwargs, gets or creates the function's task
for that action, creates the run of the action's run kind with the remaining kwargs for the
platform to execute (`local_execution=False`), related to the pipeline run (`step_of`, the
pipeline run's key and id from `RUN_ID`/`PROJECT_NAME`) and to the function (`run_of`), waits for
it (a serve run until its service is up), fails the step if the run ended in ERROR, and writes
`/tmp/run_id` and `/tmp/entity_<output>` (each output's key) for Argo to read as output
parameters. The embedded core does exactly that here, in its pipeline worker, with the files kept
per step in memory (several steps of one pipeline run at once in one process: one `/tmp` would
be shared).
"""

from __future__ import annotations

import argparse
import json
import posixpath
import time
from dataclasses import dataclass
from typing import Any

from dhmlrun.worker.argo import Container
from dhmlrun.worker.walk import ContainerResult

STEP_SCRIPT = "step.py"
OUTPUT_DIR = "/tmp"
POLL_SECONDS = 0.25
SERVE_TIMEOUT_SECONDS = 300.0
"""How long a serve step waits for the service (the SDK's `Run.wait` for serve runs)."""
READ_ATTEMPTS = 3
FINAL = ("COMPLETED", "ERROR", "STOPPED")
SERVE_ACTION = "serve"


class StepError(Exception):
    """The step failed (step.py's `exit(1)`), with what it logged."""


@dataclass(frozen=True)
class StepCall:
    entity: str
    kwargs: dict[str, Any]


def step_call(container: Container) -> StepCall | None:
    """The call a container makes, if it runs the hera step wrapper (`python step.py ...`)."""
    command = [*container.command, *container.args]
    if not command or posixpath.basename(command[0]) not in ("python", "python3"):
        return None
    if len(command) < 2 or posixpath.basename(command[1]) != STEP_SCRIPT:
        return None
    parser = argparse.ArgumentParser(prog=STEP_SCRIPT, add_help=False, exit_on_error=False)
    parser.add_argument("--entity", required=True)
    parser.add_argument("--kwargs", required=True)
    try:
        arguments, _ = parser.parse_known_args(command[2:])
        kwargs = json.loads(arguments.kwargs)
    except (argparse.ArgumentError, json.JSONDecodeError) as exc:
        raise StepError(f"{STEP_SCRIPT}: {exc}") from exc
    except SystemExit as exc:  # argparse on a missing required argument
        raise StepError(f"{STEP_SCRIPT}: --entity and --kwargs are required") from exc
    if not isinstance(kwargs, dict):
        raise StepError(f"{STEP_SCRIPT}: --kwargs must be a JSON object")
    return StepCall(arguments.entity, kwargs)


def run_step(call: StepCall, project: str, pipeline_run_id: str, say: Any = print) -> ContainerResult:
    """Create the step's run, wait for it, and answer with the files step.py would write."""
    from digitalhub.entities._commons.enums import Relationship
    from digitalhub.entities.function.crud import get_function
    from digitalhub.entities.run.crud import get_run
    from digitalhub.factory.entity import entity_factory

    function = get_function(call.entity)
    pipeline_run = get_run(pipeline_run_id, project=project)
    kwargs = dict(call.kwargs)
    action = kwargs.pop("action", None)
    if action is None:
        raise StepError("Step failed: action argument is required.")
    run_kind = entity_factory.get_run_kind_from_action(function.kind, action)
    task = task_for_action(function, action)
    kwargs.pop("local_execution", None)
    kwargs.pop("wait", None)
    run = task.run(run_kind, save=False, local_execution=False, **kwargs)
    run.add_relationship(Relationship.STEP_OF.value, f"{pipeline_run.key}:{pipeline_run.id}")
    run.add_relationship(Relationship.RUN_OF.value, function.key)
    run.save()
    say(f"step {function.name} ({action}): run {run.id} created")
    wait_for(run, action)
    state = run.status.state
    if state == "ERROR":
        raise StepError(
            f"run {run.id} of {function.name} ended in ERROR: {run.status.message or ''}".rstrip(": ")
        )
    say(f"step {function.name} ({action}): run {run.id} ended with state {state}")
    return ContainerResult(True, written_outputs(run), run_id=run.id)


def task_for_action(function: Any, action: str) -> Any:
    """The function's task for `action`, created if missing: step.py calls the SDK's private
    `Function._get_or_create_task` (digitalhub 0.15); a test fails if it goes away."""
    return function._get_or_create_task(action)


def wait_for(run: Any, action: str) -> None:
    """Until the run ends, or for a serve run until its service is up or it fails (the SDK's
    `Run.wait` rules, polled faster); reading errors are retried as step.py retries."""
    deadline = time.monotonic() + SERVE_TIMEOUT_SECONDS if action == SERVE_ACTION else None
    failures = 0
    while True:
        try:
            run.refresh()
            failures = 0
        except Exception:
            failures += 1
            if failures >= READ_ATTEMPTS:
                raise
        status = run.status
        if status.state in FINAL:
            return
        if action == SERVE_ACTION and getattr(status, "service", None) is not None:
            return
        if deadline is not None and time.monotonic() > deadline:
            return  # step.py then goes on with the run as it is
        time.sleep(POLL_SECONDS)


def written_outputs(run: Any) -> dict[str, str]:
    """The files step.py writes for Argo: `run_id`, then `entity_<name>` per output (its key)."""
    files = {posixpath.join(OUTPUT_DIR, "run_id"): str(run.id)}
    outputs = run.outputs() if hasattr(run, "outputs") else {}
    for name, value in (outputs or {}).items():
        key = value if isinstance(value, str) else getattr(value, "key", None)
        if key is None and isinstance(value, dict):
            key = value.get("key")
        path = posixpath.normpath(posixpath.join(OUTPUT_DIR, f"entity_{name}"))
        if key is not None and posixpath.dirname(path) == OUTPUT_DIR:  # step.py refuses traversal
            files[path] = str(key)
    return files
