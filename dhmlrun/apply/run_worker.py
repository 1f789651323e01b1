"""One run, in its own process: `python -m dhmlrun.apply.run_worker REQUEST.json RESULT.json`.

Apply starts one of these per run so that mlrun's process-global state (env vars, temp files,
its run DB) never leaks between runs and the apply process itself never imports mlrun. The run
goes through the SDK exactly as a user's `function.run("job", ..., local_execution=True)` would;
with `execution: remote` the run is created for the platform's executor and polled until it ends.
The result file gets {id, state, message, outputs, results}; the exit code is 0 whenever a
result could be written (a failed run is a result, not a crash).

Interrupted (SIGINT, as from Ctrl-C, or SIGTERM, both forwarded by apply), the worker ends its
run instead of leaving it behind: a local run still executing is marked ERROR ("interrupted")
with its log kept, and the process ends at once without waiting for the handler; one whose
handler already returned is left to finish registering. A remote run is asked to stop.
Either way the result file says what became of the run.

With an `op` in the request the worker does that operation instead: upload a declared file to
the files store (`uploads.py`), or store a function, execute a run or create a schedule on the
MLRun service (`mlrun_worker.py`).

The worker's SDK is configured by its environment (apply builds it: the platform's endpoint and
credentials) and talks through a relay that retries, recovers lost creates and keeps the run's
lease (`dhmlrun.platform.sdk`).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dhmlrun.platform.secrets import secret_environment
from dhmlrun.vocabulary import states

if TYPE_CHECKING:
    from dhmlrun.platform.rest import RestClient

POLL_SECONDS = 0.5
EXIT_RESULT_WRITTEN = 0
"""The exit code whenever the result file was written, whatever became of the run."""
INTERRUPTED = "interrupted: apply was stopped (Ctrl-C or SIGTERM) while the run executed"


NOT_TAKEN: dict[str, tuple[str, ...]] = {"python": ("outputs", "values")}
"""Run fields a function kind's run does not take: a python run's outputs are named by its
handler and all its other returns are results (digitalhub-runtime-python)."""


def execute(
    request: dict[str, Any], result_file: Path | None = None, client: RestClient | None = None
) -> dict[str, Any]:
    """Create and execute the run the request describes; return its final state and outputs.

    A local run gets the secrets its task names as environment variables, as a platform's pod
    gets them (`platform/secrets.py`); `client` reads them (a remote run's executor does that)."""
    import digitalhub as dh

    function = dh.get_function(request["function"]["key"])
    remote = request.get("execution") == "remote"
    kwargs = dict(request.get("task") or {})
    if not remote:
        if client is not None:
            os.environ.update(secret_environment(client, request["project"], kwargs.get("secrets") or ()))
        _guard_against_interrupts(request, result_file)
    try:
        run = _start_or_adopt(function, request, kwargs, remote)
    except Exception as exc:  # a local run's handler raised: say what, where in its source
        from dhmlrun.core.job_worker import declared_source, failure_message

        traceback.print_exc()
        return _failure(request, failure_message(exc, declared_source(function.spec)))
    while not states.is_final(str(run.status.state)):
        time.sleep(POLL_SECONDS)
        run.refresh()
    return _result_of(run)


def _execute_connected(request: dict[str, Any], result_file: Path) -> dict[str, Any]:
    """`execute` with the SDK connected through the relay; a local run executes in this process,
    which holds its lease from its create on, so that if this process dies the next apply sees
    "executor lost" (a remote run's executor holds its own)."""
    from dhmlrun.platform.sdk import sdk_session

    leased = request.get("execution") != "remote"
    with sdk_session(request["project"], request["run_id"], leased=leased) as client:
        try:
            return execute(request, result_file, client)
        except KeyboardInterrupt:
            print(f"dhmlrun worker: run {request.get('run_id')} {INTERRUPTED}", file=sys.stderr)
            try:
                return _end_interrupted(request)
            except Exception as exc:
                traceback.print_exc()
                return _failure(request, f"{INTERRUPTED}; {exc}")


def _execute_operation(request: dict[str, Any]) -> dict[str, Any]:
    """An operation other than a DigitalHub run: a declared file's upload (`uploads.py`), or one
    on the MLRun service holding the `mlrun` families (`mlrun_worker.py`)."""
    if request["op"] == "upload":
        from dhmlrun.apply.uploads import upload

        return upload(request)
    from dhmlrun.apply import mlrun_worker

    return mlrun_worker.execute(request)


def _result_of(run: Any) -> dict[str, Any]:
    status = run.status.to_dict() if hasattr(run.status, "to_dict") else dict(vars(run.status))
    return {
        "id": run.id,
        "state": str(run.status.state),
        "message": status.get("message"),
        "outputs": status.get("outputs") or {},
        "results": status.get("results") or {},
    }


# ------------------------------------------------------------------------------ interrupts

_interrupted = threading.Event()


def _on_interrupt(signum: int, frame: Any) -> None:
    """SIGINT/SIGTERM: end the run (once; apply forwards the signal a terminal also sent).

    While the run's guard is armed, a thread ends the run (it talks to the platform, which
    this signal may have interrupted mid-request in this thread); before it is armed, the
    worker unwinds with KeyboardInterrupt and `main` ends the run."""
    if _interrupted.is_set():
        return
    _interrupted.set()
    from dhmlrun.runtime import deadline

    guard = deadline.active()
    if guard is None:
        raise KeyboardInterrupt
    threading.Thread(target=guard.interrupt, args=(INTERRUPTED,), name="dhmlrun-interrupt").start()


def _guard_against_interrupts(request: dict[str, Any], result_file: Path | None) -> None:
    """From here on, an interrupt marks the local run ERROR and ends this process at once."""
    from dhmlrun.core.job_worker import end_run_now
    from dhmlrun.runtime import deadline

    def last_words() -> None:
        if result_file is not None:
            _write(result_file, {"id": request["run_id"], "state": states.ERROR, "message": INTERRUPTED})

    project, run_id = request["project"], request["run_id"]
    deadline.arm(None, lambda message: end_run_now(project, run_id, message, EXIT_RESULT_WRITTEN, last_words))


def _end_interrupted(request: dict[str, Any]) -> dict[str, Any]:
    """Interrupted before the guard took over (or a remote run): stop or fail the run, say how."""
    import digitalhub as dh
    from digitalhub.utils.exceptions import EntityNotExistsError

    from dhmlrun.core.job_worker import mark_run_error

    try:
        run = dh.get_run(request["run_id"], project=request["project"])
    except EntityNotExistsError:
        message = f"{INTERRUPTED} (before it was created)"
        return {"id": request["run_id"], "state": states.ERROR, "message": message}
    if not states.is_final(str(run.status.state)) and request.get("execution") == "remote":
        run.stop()  # the platform's executor ends it and marks it STOPPED
    elif not states.is_final(str(run.status.state)):
        mark_run_error(request["project"], request["run_id"], INTERRUPTED)
    run.refresh()
    result = _result_of(run)
    if not states.is_final(result["state"]):  # stop is asynchronous: what matters is that it was asked
        result["state"] = states.STOPPED
    if result["state"] != states.COMPLETED:
        result["message"] = INTERRUPTED
    return result


def _write(result_file: Path, result: dict[str, Any]) -> None:
    result_file.write_text(json.dumps(result, default=str), encoding="utf-8")


def _start_or_adopt(function: Any, request: dict[str, Any], kwargs: dict[str, Any], remote: bool) -> Any:
    """Start the run with the id apply chose; a retry finds it already there and adopts it."""
    import digitalhub as dh
    from digitalhub.utils.exceptions import EntityAlreadyExistsError

    fields = {
        "inputs": dict(request.get("inputs") or {}),
        "outputs": dict(request.get("outputs") or {}),
        "parameters": dict(request.get("parameters") or {}),
        "values": list(request.get("values") or ()),
    }
    for name in NOT_TAKEN.get(str(request["function"].get("kind")), ()):
        fields.pop(name)
    try:
        return function.run(
            request.get("action") or "job",
            uuid=request["run_id"],
            labels=list(request.get("labels") or ()),
            local_execution=not remote,
            **fields,
            **kwargs,
        )
    except EntityAlreadyExistsError:
        return dh.get_run(request["run_id"], project=request["project"])


def main(argv: list[str]) -> int:
    request_file, result_file = Path(argv[0]), Path(argv[1])
    request = json.loads(request_file.read_text(encoding="utf-8"))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_interrupt)
    try:
        result = (
            _execute_operation(request) if request.get("op") else _execute_connected(request, result_file)
        )
    except KeyboardInterrupt:  # before the worker could reach the platform: nothing was started
        result = _failure(request, f"{INTERRUPTED} (before it was created)")
    except Exception as exc:  # reported as the run's failure, with the traceback in the log
        from dhmlrun.core.job_worker import failure_message

        traceback.print_exc()
        result = _failure(request, failure_message(exc))
    _write(result_file, result)
    return EXIT_RESULT_WRITTEN


def _failure(request: dict[str, Any], message: str) -> dict[str, Any]:
    return {"id": request.get("run_id"), "state": states.ERROR, "message": message}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
