"""How a worker ends a run that cannot finish normally: mark it ERROR unless it already ended,
or end it and the process at once (a deadline fired: it timed out, or apply was interrupted).
The worker's client goes through its relay (`platform/sdk.py`), so these writes are ordered with
the run's lease renewals. Shared by apply's workers (`worker/run.py`) and the
embedded core's job worker (`worker/job.py`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from dhmlrun.platform.rest import RestClient
from dhmlrun.platform.runs import fail_run

MARK_RECHECKS = 2
INTERRUPTED_MESSAGE = "interrupted: apply was stopped (Ctrl-C or SIGTERM) while the run executed"
"""The message of a run that apply's interrupt ended (`apply/interrupt.py`)."""


def failure_message(exc: BaseException, declared: str | None = None) -> str:
    """`Type: message (file:line)` of what the handler raised (`runtime.failure`): the SDK's
    runtimes replace a handler's error with "Something got wrong during function execution."
    (digitalhub.runtimes._base), which alone tells a user nothing, so the exception it was
    raised from is named instead, at its line of the source `declared` (`src/train.py`)."""
    from dhmlrun.runtime.failure import describe_failure, python_runtime_paths

    return describe_failure(exc, python_runtime_paths(declared))


def declared_source(spec: Any) -> str | None:
    """The `source.source` a function's (or its run's) spec names, if any."""
    source = spec.get("source") if isinstance(spec, dict) else getattr(spec, "source", None)
    found = source.get("source") if isinstance(source, dict) else None
    return found if isinstance(found, str) else None


def mark_run_error(
    client: RestClient, project: str, run_id: str, message: str, reason: str | None = None
) -> bool:
    """Set the run ERROR with `message` (and why: `vocabulary/endings.py`) unless it already
    ended; False when it had (`platform/runs.py`). The run's executing thread may have a state
    update in flight, so the state is read back and set again if it was overwritten."""
    return fail_run(client, project, run_id, message, reason=reason, rechecks=MARK_RECHECKS)


def end_run_now(
    client: RestClient,
    project: str,
    run_id: str,
    message: str,
    exit_code: int,
    *,
    reason: str,
    last_words: Callable[[], None] | None = None,
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
        if mark_run_error(client, project, run_id, message, reason):
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
