"""One request, in its own process: `python -m dhmlrun.worker REQUEST.json RESULT.json`.

Apply starts one of these per run (forked by the warm run server, `worker/fork_server.py`, or a
fresh interpreter) so that mlrun's process-global state (env vars, temp files, its run DB) never
leaks between runs and the apply process itself never imports mlrun or the SDK. The request is
one of `protocol.OPERATIONS`; the operation's function does it and the result file gets its
`Result`. The exit code is 0 whenever a result could be written (a failed run is a result, not
a crash).

Interrupted (SIGINT, as from Ctrl-C, or SIGTERM, both forwarded by apply), the worker ends its
run instead of leaving it behind: a run whose deadline guard is armed (`runtime/deadline.py`)
is ended by that guard at once; otherwise the operation unwinds with KeyboardInterrupt and ends
its run itself (`run.py`, `on_mlrun.py`). Either way the result file says what became of it.
"""

from __future__ import annotations

import importlib
import json
import signal
import threading
import traceback
from pathlib import Path
from typing import Any

from dhmlrun.worker.ending import INTERRUPTED_MESSAGE, failure_message
from dhmlrun.worker.protocol import EXIT_RESULT_WRITTEN, OPERATIONS, Request, Result, decode, operation_name


def main(argv: list[str]) -> int:
    request_file, result_file = Path(argv[0]), Path(argv[1])
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_interrupt)
    subject = None
    try:
        request = decode(json.loads(request_file.read_text(encoding="utf-8")))
        subject = request.subject
        result = _handler(request)(request, lambda early: write_result(result_file, early))
    except KeyboardInterrupt:  # before the worker could reach the platform: nothing was started
        result = Result.failure(subject, f"{INTERRUPTED_MESSAGE} (before it was created)")
    except Exception as exc:  # reported as the run's failure, with the traceback in the log
        traceback.print_exc()
        result = Result.failure(subject, failure_message(exc))
    write_result(result_file, result)
    return EXIT_RESULT_WRITTEN


def _handler(request: Request) -> Any:
    """The function doing `request` (`protocol.OPERATIONS`), imported now."""
    module, _, function = OPERATIONS[operation_name(request)].handler.partition(":")
    return getattr(importlib.import_module(module), function)


def write_result(result_file: Path, result: Result) -> None:
    result_file.write_text(json.dumps(result.as_dict(), default=str), encoding="utf-8")


_interrupted = threading.Event()


def _on_interrupt(signum: int, frame: Any) -> None:
    """SIGINT/SIGTERM: end the run (once; apply forwards the signal a terminal also sent).

    While the run's guard is armed, a thread ends the run (it talks to the platform, which
    this signal may have interrupted mid-request in this thread); before it is armed, the
    worker unwinds with KeyboardInterrupt and the operation ends the run."""
    if _interrupted.is_set():
        return
    _interrupted.set()
    from dhmlrun.runtime import deadline

    guard = deadline.active()
    if guard is None:
        raise KeyboardInterrupt
    threading.Thread(target=guard.interrupt, args=(INTERRUPTED_MESSAGE,), name="dhmlrun-interrupt").start()
