"""`python -m dhmlrun.serving.worker PROJECT RUN_ID PORT [SECOND_PORT]`: serve one serve run.

The embedded core's service supervisor (`core/supervisor.py`) starts this in the service's own
folder, with the environment of a run the core executes (`PROJECT_NAME`, `RUN_ID`, the core's
endpoint and token). It reads the run, gives itself what DHCore gives a serve run's pod (the
task's `envs` come with the environment the core gives it; its `secrets` become environment
variables here), and becomes the server (a python function with `requirements` in the
function's prepared environment, as a job's worker: `worker/job.py`):

- a model-serving kind: the model is fetched and MLServer's settings written (`mlserver.py`), then
  this process *becomes* `mlserver start` (exec: same pid, none of the SDK left in memory);
- a python function: the nuclio-style host (`python_host.py`) serves its handler in this process.

Anything that goes wrong before the server listens is printed as one line, `dhmlrun service:
...`, and the process exits 1: the supervisor makes that line the run's error message.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from dhmlrun.serving.errors import ServeError
from dhmlrun.vocabulary.kinds import runtime_name

EXIT_FAILED = 1
EXIT_USAGE = 2


def serve(project: str, run_id: str, port: int, second_port: int | None) -> list[str] | None:
    """Prepare and run the service of `run_id`. Returns the command line of a server to exec
    (model servers), or None once an in-process server has stopped (python)."""
    from dhmlrun.platform.rest import context_path
    from dhmlrun.platform.sdk import sdk_session
    from dhmlrun.platform.secrets import secret_environment
    from dhmlrun.platform.worker_env import secret_variables
    from dhmlrun.serving import endpoints

    with sdk_session(project, run_id, leased=False) as client:
        run = client.get(context_path(project, "runs", run_id))
        spec = dict(run.get("spec") or {})
        kind = runtime_name(str(run.get("kind", "")))
        secrets = secret_environment(client, project, spec.get("secrets") or ())
        os.environ.update(secret_variables(secrets, spec))  # as DHCore's pods get them
        if kind in endpoints.MODEL_SERVER_IMPLEMENTATIONS:
            from dhmlrun.serving import mlserver

            if second_port is None:
                raise ServeError("a model server needs two ports (HTTP and gRPC)")
            folder = Path.cwd() / "server"
            return mlserver.prepare(kind, project, spec, folder, (port, second_port), client)
        if kind == endpoints.PYTHON:
            from dhmlrun.serving import python_host

            python_host.serve(project, run_id, spec, port, Path.cwd() / "src")
            return None
        raise ServeError(endpoints.refusal(kind) or f"cannot serve {kind}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (3, 4) or not all(a.isdigit() for a in args[2:]):
        print("usage: python -m dhmlrun.serving.worker PROJECT RUN_ID PORT [SECOND_PORT]", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    project, run_id, port = args[0], args[1], int(args[2])
    second = int(args[3]) if len(args) == 4 else None
    from dhmlrun.worker.job import enter_environment

    # a python function with requirements serves from its prepared environment (this process
    # starts again there), as DHCore's entrypoint installs them before its processor starts
    failed = enter_environment(project, run_id, "dhmlrun.serving.worker", tuple(args[2:]))
    if failed is not None:
        return EXIT_FAILED
    try:
        command = serve(project, run_id, port, second)
    except Exception as exc:  # one line the supervisor turns into the run's message
        print(f"dhmlrun service: {_one_line(exc)}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    if command is None:
        return 0
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)  # the server takes this process over (same pid)
    return EXIT_FAILED  # never reached


def _one_line(exc: BaseException) -> str:
    text = f"{exc}" if isinstance(exc, ServeError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
