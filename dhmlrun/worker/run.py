"""A run on the DigitalHub platform, through the SDK (`protocol.ExecuteRun`).

The run goes through the SDK exactly as a user's `function.run("job", ..., local_execution=True)`
would; with `execution: remote` the run is created for the platform's executor and polled until
it ends. The worker's SDK is configured by its environment (apply builds it: the platform's
endpoint and credentials) and talks through a relay that retries, recovers lost creates and
keeps the run's lease (`dhmlrun.platform.sdk`).

Interrupted, a local run still executing is marked ERROR ("interrupted") with its log kept and
the process ends at once without waiting for the handler; one whose handler already returned is
left to finish registering. A remote run is asked to stop.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

from dhmlrun.platform.secrets import secret_environment
from dhmlrun.platform.worker_env import secret_variables
from dhmlrun.vocabulary import endings, states, times
from dhmlrun.vocabulary.kinds import BUILD_ACTION as BUILD
from dhmlrun.vocabulary.kinds import PIPELINE_ACTION as PIPELINE
from dhmlrun.vocabulary.kinds import PLATFORM_ACTIONS
from dhmlrun.vocabulary.runs import FIELDS_NOT_TAKEN
from dhmlrun.worker.ending import (
    INTERRUPTED_MESSAGE,
    declared_source,
    end_run_now,
    failure_message,
    mark_run_error,
)
from dhmlrun.worker.protocol import EXIT_RESULT_WRITTEN, ExecuteRun, Reply, Result, RunOrder

if TYPE_CHECKING:
    from dhmlrun.platform.rest import RestClient

POLL_SECONDS = 0.5


def execute(request: ExecuteRun, reply: Reply) -> Result:
    """Execute the run with the SDK connected through the relay; a local run executes in this
    process, which holds its lease from its create on, so that if this process dies the next
    apply sees "executor lost" (a remote run's executor holds its own)."""
    from dhmlrun.platform.sdk import sdk_session

    run = request.run
    mask = set(request.mask)
    with sdk_session(run.project, run.run_id, leased=not run.remote, mask=mask) as client:
        try:
            return execute_run(run, reply, client, mask)
        except KeyboardInterrupt:
            print(f"dhmlrun worker: run {run.run_id} {INTERRUPTED_MESSAGE}", file=sys.stderr)
            try:
                return _end_interrupted(run, client)
            except Exception as exc:
                traceback.print_exc()
                return Result.failure(run.run_id, f"{INTERRUPTED_MESSAGE}; {exc}")


def execute_run(run: RunOrder, reply: Reply, client: RestClient, mask: set[str]) -> Result:
    """Create and execute the run; its final state and outputs.

    A local run gets the secrets its task names as environment variables, as a platform's pod
    gets them (`platform/secrets.py`); `client` reads them (a remote run's executor does that),
    and their values join `mask`, what the relay masks in the run's results and log."""
    function = _executable(run)
    kwargs = dict(run.task)
    if not run.remote:
        secrets = secret_environment(client, run.project, kwargs.get("secrets") or ())
        os.environ.update(secret_variables(secrets, kwargs))
        mask.update(value for value in secrets.values() if value)
        _guard_against_interrupts(run, reply, client)
    if run.action == PIPELINE and run.workflow_build:
        failed = _build_first(function, run, kwargs)
        if failed is not None:
            return failed
    try:
        started = _start_or_adopt(function, run, kwargs)
    except Exception as exc:  # a local run's handler raised: say what, where in its source
        traceback.print_exc()
        return Result.failure(run.run_id, failure_message(exc, declared_source(function.spec)))
    echoed = ""
    while not states.is_final(str(started.status.state)):
        time.sleep(POLL_SECONDS)
        started.refresh()
        echoed = _echo_platform_log(started, echoed) if run.remote else echoed
    if run.remote:
        _echo_platform_log(started, echoed)
    if run.action == PIPELINE and started.status.state == states.COMPLETED:
        _record_step_outputs(started, run.outputs)
    return _result_of(started)


def _echo_platform_log(started: Any, echoed: str) -> str:
    """Print what the platform's executor has logged of a remote run since `echoed` (all of it
    when it was rewritten): apply keeps and shows a worker's output, so a remote run's reaches
    the live progress and `.dhmlrun/logs` as a local run's does. Best effort: a platform that
    serves no logs yet shows nothing."""
    try:
        text = "".join(entry.text or "" for entry in started.logs())
    except Exception:  # logs are a courtesy here: the run's outcome is read from its state
        return echoed
    if text and text != echoed:
        print(text[len(echoed) :] if text.startswith(echoed) else text, end="", flush=True)
    return text or echoed


def _record_step_outputs(pipeline: Any, wanted: dict[str, str]) -> None:
    """A pipeline run's declared outputs are output parameters of its steps (the keys of the
    entities they produced, as the steps wrote them for Argo), found in its `status.nodes`;
    recorded in its `status.outputs`, where later plans read a run's outputs."""
    found: dict[str, str] = {}
    for node in getattr(pipeline.status, "nodes", None) or []:
        for parameter in node.get("outputs") or []:
            name, value = parameter.get("name"), parameter.get("value")
            if name in wanted and isinstance(value, str) and value.startswith("store://"):
                found[name] = value
    if found:
        pipeline.status.outputs = {**(getattr(pipeline.status, "outputs", None) or {}), **found}
        pipeline.save(update=True)


def _executable(run: RunOrder) -> Any:
    """The function (or workflow) version the run executes."""
    import digitalhub as dh

    if _is_workflow(run):
        return dh.get_workflow(run.function.key)
    return dh.get_function(run.function.key)


def _is_workflow(run: RunOrder) -> bool:
    return run.function.address.startswith("workflows.")


def _build_first(workflow: Any, run: RunOrder, kwargs: dict[str, Any]) -> Result | None:
    """A pipeline executes the Argo Workflow its workflow's version holds as its build, whose
    steps name their functions' versions at that build: so when the plan found none, or one
    running older step functions (`run.workflow_build`, `plan/pipelines.py`), the workflow is
    built right before the pipeline run (as the platform's own scenarios do:
    `workflow.run("build", wait=True)`), with the run's task parameters. None when the build
    completed, else the pipeline run's failure, saying why."""
    build = workflow.run(BUILD, **kwargs)
    while not states.is_final(str(build.status.state)):
        time.sleep(POLL_SECONDS)
        build.refresh()
    if build.status.state == states.COMPLETED:
        return None
    said = f": {build.status.message}" if build.status.message else ""
    return Result.failure(
        run.run_id, f"the workflow's build (run {build.id}) ended {build.status.state}{said}"
    )


def _result_of(run: Any) -> Result:
    status = run.status.to_dict() if hasattr(run.status, "to_dict") else dict(vars(run.status))
    metadata = run.metadata
    took = times.run_duration(getattr(metadata, "created", None), getattr(metadata, "updated", None))
    return Result(
        id=run.id,
        state=str(run.status.state),
        message=status.get("message"),
        outputs=dict(status.get("outputs") or {}),
        results=dict(status.get("results") or {}),
        took=took if states.is_final(str(run.status.state)) else None,
    )


def _guard_against_interrupts(run: RunOrder, reply: Reply, client: RestClient) -> None:
    """From here on, an interrupt marks the local run ERROR and ends this process at once."""
    from dhmlrun.runtime import deadline

    def end(message: str) -> None:
        end_run_now(
            client,
            run.project,
            run.run_id,
            message,
            EXIT_RESULT_WRITTEN,
            reason=endings.INTERRUPTED,
            last_words=lambda: reply(Result.failure(run.run_id, INTERRUPTED_MESSAGE)),
        )

    deadline.arm(None, end)


def _end_interrupted(order: RunOrder, client: RestClient) -> Result:
    """Interrupted before the guard took over (or a remote run): stop or fail the run, say how."""
    import digitalhub as dh
    from digitalhub.utils.exceptions import EntityNotExistsError

    try:
        run = dh.get_run(order.run_id, project=order.project)
    except EntityNotExistsError:
        return Result.failure(order.run_id, f"{INTERRUPTED_MESSAGE} (before it was created)")
    if not states.is_final(str(run.status.state)) and order.remote:
        run.stop()  # the platform's executor ends it and marks it STOPPED
    elif not states.is_final(str(run.status.state)):
        mark_run_error(client, order.project, order.run_id, INTERRUPTED_MESSAGE, endings.INTERRUPTED)
    run.refresh()
    result = _result_of(run)
    if not states.is_final(result.state):  # stop is asynchronous: what matters is that it was asked
        result.state = states.STOPPED
    if result.state != states.COMPLETED:
        result.message = INTERRUPTED_MESSAGE
    return result


def _start_or_adopt(function: Any, run: RunOrder, kwargs: dict[str, Any]) -> Any:
    """Start the run with the id apply chose; a retry finds it already there and adopts it."""
    import digitalhub as dh
    from digitalhub.utils.exceptions import EntityAlreadyExistsError

    fields: dict[str, Any] = {
        "inputs": dict(run.inputs),
        "outputs": dict(run.outputs),
        "parameters": dict(run.parameters),
        "values": list(run.values),
    }
    for name in FIELDS_NOT_TAKEN.get(run.function.kind, ()):
        fields.pop(name)
    if run.action in PLATFORM_ACTIONS:  # a build takes nothing; a pipeline its workflow's arguments:
        arguments = {**fields.get("parameters", {}), **fields.get("inputs", {})}  # inputs as their keys
        fields = {"parameters": arguments} if run.action == PIPELINE else {}
    try:
        return function.run(
            run.action or "job",
            uuid=run.run_id,
            labels=list(run.labels),
            **({} if _is_workflow(run) else {"local_execution": not run.remote}),  # `Workflow.run` sets it
            **fields,
            **kwargs,
        )
    except EntityAlreadyExistsError:
        return dh.get_run(run.run_id, project=run.project)
