"""Run timeouts: a watchdog that ends a run still executing after its `timeout` seconds.

mlrun runs the handler in the executing process, and a Python thread cannot be stopped from
outside, so the only safe way to end a runaway handler is to end its process. That is possible
in a worker (one process per run, `worker.py`), which arms a `RunDeadline` after building the
run: on expiry the worker marks the run ERROR ("timed out after N s") and exits. In the caller's
own process (`local_execution=True`) ending the process would end the caller, so the timeout is
not enforced there (the run's log says so).

The deadline covers fetching inputs and the source and running the handler. It stops when the
handler returns (`handler_finished`), before outputs are registered: a lock decides between
the handler finishing and the watchdog firing, so either outputs are registered and the run
completes, or the watchdog owns the run and nothing is registered. The watchdog only ends the
process; registration time is bounded by the platform client's own timeouts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_ARMED, _FINISHED, _EXPIRED = "armed", "finished", "expired"


class RunDeadline:
    """Calls `on_expiry` once, `seconds` after `start()`, unless `finish()` came first."""

    def __init__(self, seconds: float, on_expiry: Callable[[], None]) -> None:
        self.seconds = seconds
        self._on_expiry = on_expiry
        self._lock = threading.Lock()
        self._state = _ARMED
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.name = "dhmlrun-run-deadline"

    def start(self) -> RunDeadline:
        self._timer.start()
        return self

    def finish(self) -> bool:
        """Stop the watchdog; False when it already fired (the run is being ended as timed out)."""
        with self._lock:
            if self._state == _EXPIRED:
                return False
            self._state = _FINISHED
        self._timer.cancel()
        return True

    @property
    def expired(self) -> bool:
        return self._state == _EXPIRED

    def _fire(self) -> None:
        with self._lock:
            if self._state != _ARMED:
                return
            self._state = _EXPIRED
        self._on_expiry()


_active: RunDeadline | None = None


def arm(seconds: float, on_expiry: Callable[[], None]) -> RunDeadline:
    """Start the deadline of the run this process executes (a worker executes one run)."""
    global _active
    _active = RunDeadline(seconds, on_expiry).start()
    return _active


def active() -> RunDeadline | None:
    """The armed deadline of this process, if any."""
    return _active


def handler_finished() -> str | None:
    """Called by the runtime when the handler returned: stop the watchdog before registering.

    Returns the timeout message when the deadline already expired: the watchdog is ending the
    run, so the caller must not register anything. None otherwise (also when none is armed).
    """
    if _active is None or _active.finish():
        return None
    return timeout_message(_active.seconds)


def timeout_message(seconds: float) -> str:
    """The run's message when its deadline expired."""
    return f"timed out after {seconds:g} s"
