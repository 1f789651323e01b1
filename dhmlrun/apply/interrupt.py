"""Ctrl-C and SIGTERM during apply: the first stops it cleanly, a second one at once.

Why: runs can take hours, and CI cancels a job with SIGINT or SIGTERM. As with Terraform, the
first interrupt starts nothing more (every step not started is skipped) and ends the runs in
progress: each run's worker marks its run ERROR ("interrupted") with its log kept, so nothing
is left RUNNING on the platform and the next apply runs them again; apply then prints its
summary, releases the project lock and exits 130. Steps other than runs are short and finish.
A second interrupt kills the run workers and exits at once, as a `kill -9` would (the next
apply finds those runs through their expired leases, and the lock through its own).

The first interrupt is forwarded to the run workers (a terminal sends it to them too, CI's
SIGTERM to the apply process may not), again every second while the walk lasts, so a run
that was starting at that instant is reached as well; a worker ends its run once only.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dhmlrun.vocabulary.processes import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from dhmlrun.apply.executor import Applier

FORWARD_EVERY_SECONDS = 1.0
FIRST = (
    "Interrupted: starting nothing more and ending the runs in progress (the next apply runs them "
    "again). Interrupt again to exit at once."
)
SECOND = "Interrupted again: killing the runs and exiting now. The project's lock ends with its lease."


@contextmanager
def interruptible(applier: Applier, say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Handle SIGINT and SIGTERM as above while `applier` walks its plan; `say` tells the user
    (the progress display's `notice`: a line written past a live board would be drawn over).

    Signal handlers can only be set from the main thread; elsewhere this does nothing. During
    the walk the main thread only waits, so the handler may write and take the display's lock."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ended = threading.Event()
    received = 0

    def forward() -> None:
        while True:
            applier.signal_runs(signal.SIGINT)
            if ended.wait(FORWARD_EVERY_SECONDS):
                return

    def handle(signum: int, frame: Any) -> None:
        nonlocal received
        received += 1
        if received == 1:
            (say or _say)(FIRST)
            applier.stop.set()
            threading.Thread(target=forward, name="dhmlrun-interrupt", daemon=True).start()
            return
        _say(SECOND)
        applier.signal_runs(signal.SIGKILL)
        os._exit(EXIT_INTERRUPTED)

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        ended.set()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _say(text: str) -> None:
    """Write straight to fd 2 (no buffered stream to re-enter, nothing to wait for)."""
    os.write(2, f"\n{text}\n".encode())
