"""`python -m dhmlrun.worker.job PROJECT RUN_ID`: execute a run that the core queued.

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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dhmlrun.vocabulary import endings, states
from dhmlrun.worker.ending import declared_source, end_run_now, failure_message, mark_run_error

if TYPE_CHECKING:
    from dhmlrun.platform.rest import RestClient

log = logging.getLogger("dhmlrun.worker.job")

EXIT_OK = 0
EXIT_INFRASTRUCTURE = 1
EXIT_USAGE = 2
EXIT_TIMED_OUT = 3


def execute_run(project: str, run_id: str) -> int:
    """Execute the READY run `run_id` of `project`; return the process exit code."""
    from dhmlrun.platform.sdk import sdk_session

    failed = enter_environment(project, run_id)
    if failed is not None:
        return failed

    mask: set[str] = set()
    with sdk_session(project, run_id, leased=True, mask=mask) as client:
        return _execute(project, run_id, client, mask)


def _execute(project: str, run_id: str, client: RestClient, mask: set[str]) -> int:
    from dhmlrun.platform.secrets import secret_environment
    from dhmlrun.platform.worker_env import secret_variables

    run = ready_run(project, run_id)
    if run is None:
        return EXIT_INFRASTRUCTURE
    try:
        # the secrets its task names, as environment variables: what DHCore gives a run's pod
        spec = run.spec.to_dict()
        secrets = secret_environment(client, project, spec.get("secrets") or ())
        os.environ.update(secret_variables(secrets, spec))
        mask.update(value for value in secrets.values() if value)  # masked in its results and log
        _arm_deadline(client, project, run_id, getattr(run.spec, "timeout", None))
        _start(run)
    except Exception as exc:  # the platform failing under us
        print(f"dhmlrun worker: run {run_id} could not be executed: {exc}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    try:
        run.run()
    except Exception as exc:  # the kind's runtime raised: the run failed
        message = failure_message(exc, declared_source(run.spec))
        print(f"dhmlrun worker: run {run_id} failed: {message}", file=sys.stderr)
        mark_run_error(client, project, run_id, message)
    return EXIT_OK


def enter_environment(
    project: str, run_id: str, module: str = "dhmlrun.worker.job", args: tuple[str, ...] = ()
) -> int | None:
    """A python run whose function has `requirements` runs in the function's environment
    (`environments.py`), prepared now if no build prepared it (DHCore's entrypoint installs
    the requirements before its processor starts): this worker (`python -m module PROJECT
    RUN_ID *args`; a service's too) starts again there (`exec`, same process). None when the run
    needs no environment or this worker is in it already; an exit code when the environment
    could not be prepared (the run is then ERROR, saying why)."""
    from dhmlrun.environments import PYTHON_KIND_PREFIX, EnvironmentFailed, EnvironmentRequest, prepare
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
    os.execve(python, [python, "-m", module, project, run_id, *args], env)


def ready_run(project: str, run_id: str, executor: str = "worker") -> Any | None:
    """The run to execute, READY (built by the platform at its create, as on DHCore), or None
    after saying why it cannot be executed (`executor` names who says it)."""
    import digitalhub as dh

    try:
        run = dh.get_run(run_id, project=project)
    except Exception as exc:
        print(f"dhmlrun {executor}: cannot read run {run_id} of project {project}: {exc}", file=sys.stderr)
        return None
    if run.status.state != states.READY:
        print(
            f"dhmlrun {executor}: run {run_id} is {run.status.state}, not READY (built by the platform "
            "at create); not executing it",
            file=sys.stderr,
        )
        return None
    return run


def _start(run: Any) -> None:
    """READY -> RUNNING, as a platform's executor reports a started job; the runtime then sets
    the final state."""
    run.status.state = states.RUNNING
    run.save(update=True)


def _arm_deadline(client: RestClient, project: str, run_id: str, timeout: float | None) -> None:
    """Watch the run for `timeout` seconds (nothing to do without one)."""
    if not timeout:
        return
    from dhmlrun.runtime import deadline

    def end(message: str) -> None:
        end_run_now(client, project, run_id, message, EXIT_TIMED_OUT, reason=endings.TIMED_OUT)

    deadline.arm(float(timeout), end)


def executor_main(module: str, execute: Callable[[str, str], int], argv: list[str] | None = None) -> int:
    """`python -m MODULE PROJECT RUN_ID`: how the core starts an executor of one run (as DHCore
    starts a job with the run's project and id); `execute(project, run_id)` is its exit code."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(f"usage: python -m {module} PROJECT RUN_ID", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return execute(args[0], args[1])


def main(argv: list[str] | None = None) -> int:
    return executor_main("dhmlrun.worker.job", execute_run, argv)


if __name__ == "__main__":
    sys.exit(main())
