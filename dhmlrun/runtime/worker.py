"""`python -m dhmlrun.runtime.worker PROJECT RUN_ID`: execute a run that the platform queued.

The embedded core starts this for each run created without local execution (as DHCore starts a
job with `PROJECT_NAME` and `RUN_ID`). The run is still CREATED; the worker drives it through
the SDK exactly as local execution would (build → BUILT, READY, RUNNING, COMPLETED/ERROR, with
results, outputs and logs), in its own process so runs are isolated from each other.

Exit codes: 0 when the run reached a final state (a failing handler is a normal ERROR run),
1 when the platform could not be used (unreachable core, unknown run, wrong state), 2 for bad
arguments.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("dhmlrun.runtime.worker")

EXIT_OK = 0
EXIT_INFRASTRUCTURE = 1
EXIT_USAGE = 2


def execute_run(project: str, run_id: str) -> int:
    """Build and run the CREATED run `run_id` of `project`; return the process exit code."""
    import digitalhub as dh
    from digitalhub.entities._commons.enums import State

    try:
        run = dh.get_run(run_id, project=project)
    except Exception as exc:
        print(f"dhmlrun worker: cannot read run {run_id} of project {project}: {exc}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    if run.status.state != State.CREATED.value:
        print(
            f"dhmlrun worker: run {run_id} is {run.status.state}, not CREATED; not executing it",
            file=sys.stderr,
        )
        return EXIT_INFRASTRUCTURE
    run.executes_here = True
    try:
        run.build()
        run.run()
    except Exception as exc:  # the runtime never raises: this is the platform failing under us
        print(f"dhmlrun worker: run {run_id} could not be executed: {exc}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m dhmlrun.runtime.worker PROJECT RUN_ID", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return execute_run(args[0], args[1])


if __name__ == "__main__":
    sys.exit(main())
