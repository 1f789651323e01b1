"""`python -m dhmlrun.core.job_worker PROJECT RUN_ID`: execute a run that the core queued.

The embedded core starts this for each run created without local execution (as DHCore starts a
job with `PROJECT_NAME` and `RUN_ID`), whatever its kind, once it knows the kind's runtime is
installed. As on DHCore, the run was built inside its create: it is READY, its spec already
merged from function, task and run. The worker does what a platform's executor does next: it
moves the run RUNNING, gives it the secrets its task names as environment variables (named by
each secret's key, as DHCore's pods get them) and lets the kind's runtime execute it (the
runtime's status, COMPLETED or ERROR with results and outputs, is saved by the SDK). It never
builds the run again, and it reads no flag of one run class: every kind goes READY -> RUNNING
-> its runtime's final state.
A runtime that raises leaves the run ERROR with the exception's message. Each run has its own
process, so runs are isolated from each other; this process holds the run's lease.

A run with a `timeout` (task or run spec, seconds) is watched from the moment it starts: if
the handler has not returned by then, a watchdog thread marks the run ERROR ("timed out after
N s"), stores its log, and ends this process (see `runtime/deadline.py`).

Exit codes: 0 when the run reached a final state (a failing handler is a normal ERROR run),
1 when the platform could not be used (unreachable core, unknown run, wrong state), 2 for bad
arguments, 3 when the run timed out (it was marked ERROR before the exit).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from dhmlrun.vocabulary import states

if TYPE_CHECKING:
    from dhmlrun.platform.rest import RestClient

log = logging.getLogger("dhmlrun.core.job_worker")

EXIT_OK = 0
EXIT_INFRASTRUCTURE = 1
EXIT_USAGE = 2
EXIT_TIMED_OUT = 3
MARK_ATTEMPTS = 3
MARK_RECHECK_SECONDS = 0.5
PYTHON_KIND_PREFIX = "python+"
"""Runs of python functions: the ones whose `requirements` the core honours."""


def execute_run(project: str, run_id: str) -> int:
    """Execute the READY run `run_id` of `project`; return the process exit code."""
    from dhmlrun.platform.sdk import sdk_session

    failed = _enter_environment(project, run_id)
    if failed is not None:
        return failed

    with sdk_session(project, run_id, leased=True) as client:
        return _execute(project, run_id, client)


def _execute(project: str, run_id: str, client: RestClient) -> int:
    import digitalhub as dh

    from dhmlrun.platform.secrets import secret_environment
    from dhmlrun.platform.worker_env import secret_variables

    try:
        run = dh.get_run(run_id, project=project)
    except Exception as exc:
        print(f"dhmlrun worker: cannot read run {run_id} of project {project}: {exc}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    if run.status.state != states.READY:
        print(
            f"dhmlrun worker: run {run_id} is {run.status.state}, not READY (built by the platform "
            "at create); not executing it",
            file=sys.stderr,
        )
        return EXIT_INFRASTRUCTURE
    try:
        # the secrets its task names, as environment variables: what DHCore gives a run's pod
        spec = run.spec.to_dict()
        secrets = secret_environment(client, project, spec.get("secrets") or ())
        os.environ.update(secret_variables(secrets, spec))
        _arm_deadline(project, run_id, getattr(run.spec, "timeout", None))
        _start(run)
    except Exception as exc:  # the platform failing under us
        print(f"dhmlrun worker: run {run_id} could not be executed: {exc}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    try:
        run.run()
    except Exception as exc:  # the kind's runtime raised: the run failed
        message = failure_message(exc)
        print(f"dhmlrun worker: run {run_id} failed: {message}", file=sys.stderr)
        mark_run_error(project, run_id, message)
    return EXIT_OK


def _enter_environment(project: str, run_id: str) -> int | None:
    """A python run whose function has `requirements` runs in the function's environment
    (`core/environments.py`), prepared now if no build prepared it (DHCore's entrypoint installs
    the requirements before its processor starts): this worker starts again there (`exec`, same
    process). None when the run needs no environment or this worker is in it already; an exit
    code when the environment could not be prepared (the run is then ERROR, saying why)."""
    from dhmlrun.core.environments import EnvironmentFailed, EnvironmentRequest, prepare
    from dhmlrun.platform.auth import Credentials
    from dhmlrun.platform.rest import RestClient, context_path
    from dhmlrun.platform.transport import HttpTransport
    from dhmlrun.vocabulary.settings import ENVIRONMENT_ENV, ENVS_DIR_ENV

    envs_dir, endpoint = os.environ.get(ENVS_DIR_ENV), os.environ.get("DHCORE_ENDPOINT")
    if not envs_dir or not endpoint or os.environ.get(ENVIRONMENT_ENV):
        return None
    client = RestClient(HttpTransport(endpoint), Credentials(os.environ))
    path = context_path(project, "runs", run_id)
    try:
        run = client.get(path)
    except Exception:  # the worker proper reads it again and reports what is wrong
        return None
    request = EnvironmentRequest.of(run.get("spec") or {})
    if not str(run.get("kind", "")).startswith(PYTHON_KIND_PREFIX) or not request.requirements:
        return None
    try:
        environment = prepare(Path(envs_dir), request, say=lambda line: print(line, flush=True))
    except EnvironmentFailed as exc:
        message = f"the function's environment could not be prepared: {exc}"
        print(f"dhmlrun worker: run {run_id} failed: {message}", file=sys.stderr)
        client.put(path, {**run, "status": {"state": states.ERROR, "message": message}})
        return EXIT_OK
    python = str(environment.python)
    env = {**environment.variables(os.environ), ENVIRONMENT_ENV: environment.digest}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(python, [python, "-m", "dhmlrun.core.job_worker", project, run_id], env)


def failure_message(exc: BaseException) -> str:
    """`Type: message`, and the first exception it was raised from when that one says more: the
    SDK's runtimes replace a handler's error with "Something got wrong during function
    execution." (digitalhub.runtimes._base), which alone tells a user nothing."""
    text = f"{type(exc).__name__}: {exc}"
    root = exc
    while (root.__cause__ or root.__context__) is not None:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    if root is not exc:
        text += f" (caused by {type(root).__name__}: {root})"
    return text


def _start(run: Any) -> None:
    """READY -> RUNNING, as a platform's executor reports a started job; the runtime then sets
    the final state."""
    run.status.state = states.RUNNING
    run.save(update=True)


def _arm_deadline(project: str, run_id: str, timeout: float | None) -> None:
    """Watch the run for `timeout` seconds (nothing to do without one)."""
    if not timeout:
        return
    from dhmlrun.runtime import deadline

    deadline.arm(float(timeout), lambda message: end_run_now(project, run_id, message, EXIT_TIMED_OUT))


def end_run_now(
    project: str, run_id: str, message: str, exit_code: int, last_words: Callable[[], None] | None = None
) -> NoReturn:
    """The run's deadline fired (timed out, or interrupted): mark the run ERROR with `message`,
    keep what it printed as its log, call `last_words` (apply's worker writes its result
    there), end the process.

    The handler cannot be interrupted in its thread, so the process ends (`os._exit`: no
    cleanup of the handler's state is possible or wanted). Nothing was registered yet: the
    runtime registers outputs only after stopping the deadline.
    """
    from dhmlrun.runtime.capture import live_output
    from dhmlrun.runtime.logs import store_run_log

    try:
        if mark_run_error(project, run_id, message):
            store_run_log(project, run_id, f"{live_output().rstrip()}\nrun failed: {message}\n".lstrip())
        print(f"dhmlrun worker: run {run_id} {message}", file=sys.stderr)
    except BaseException as exc:  # the process must end whatever happens here
        print(f"dhmlrun worker: run {run_id} {message}; could not mark it ERROR: {exc}", file=sys.stderr)
    finally:
        try:
            if last_words is not None:
                last_words()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exit_code)


def mark_run_error(project: str, run_id: str, message: str) -> bool:
    """Set the run ERROR with `message` unless it already ended; False when it had.

    The executing thread may have a state update in flight (RUNNING, say) that lands after
    ours, so the state is read back and set again if it was overwritten.
    """
    import digitalhub as dh
    from digitalhub.utils.exceptions import EntityNotExistsError

    for _ in range(MARK_ATTEMPTS):
        try:
            run = dh.get_run(run_id, project=project)
        except EntityNotExistsError:  # ended before it was created: nothing to mark
            return False
        if states.is_final(run.status.state):
            return run.status.state == states.ERROR and run.status.message == message
        run.status.state = states.ERROR
        run.status.message = message
        run.save(update=True)
        time.sleep(MARK_RECHECK_SECONDS)
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m dhmlrun.core.job_worker PROJECT RUN_ID", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return execute_run(args[0], args[1])


if __name__ == "__main__":
    sys.exit(main())
