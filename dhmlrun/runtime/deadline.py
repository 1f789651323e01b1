"""Run timeouts: a watchdog that ends a run still executing after its `timeout` seconds.

mlrun runs the handler in the executing process, and a Python thread cannot be stopped from
outside, so the only safe way to end a runaway handler is to end its process. That is possible
in a worker (one process per run, `dhmlrun/worker/`), which arms a `RunDeadline` after building
the run: on expiry the worker marks the run ERROR ("timed out after N s") and exits. In the caller's
own process (`local_execution=True`) ending the process would end the caller, so the timeout is
not enforced there (the run's log says so).

The deadline covers fetching inputs and the source and running the handler. It stops when the
handler returns (`handler_finished`), before outputs are registered: a lock decides between
the handler finishing and the watchdog firing, so either outputs are registered and the run
completes, or the watchdog owns the run and nothing is registered. The watchdog only ends the
process; registration time is bounded by the platform client's own timeouts.

An interrupt (apply's run worker got Ctrl-C or SIGTERM) ends the run the same way, at once:
`interrupt(message)` takes the run over unless the handler already returned, in which case the
run is left to finish registering (it is nearly done, and outputs are all-or-nothing).
A deadline without `seconds` only guards against interrupts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_ARMED, _FINISHED, _EXPIRED = "armed", "finished", "expired"


class RunDeadline:
    """Calls `on_expiry(message)` once: `seconds` after `start()` (with `timeout_message`) or at
    `interrupt(message)`, whichever comes first, unless `finish()` came before either."""

    def __init__(self, seconds: float | None, on_expiry: Callable[[str], None]) -> None:
        self.seconds = seconds
        self.message: str | None = None
        """Why the run was ended, once it was (None while armed or after `finish`)."""
        self._on_expiry = on_expiry
        self._lock = threading.Lock()
        self._state = _ARMED
        self._timer = None if seconds is None else threading.Timer(seconds, self._fire)
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.name = "dhmlrun-run-deadline"

    def start(self) -> RunDeadline:
        if self._timer is not None:
            self._timer.start()
        return self

    def interrupt(self, message: str) -> bool:
        """End the run now with `message`; False when the handler had already returned or the
        run was already being ended (nothing to do then)."""
        return self._fire(message)

    def finish(self) -> bool:
        """Stop the watchdog; False when it already fired (the run is being ended as timed out)."""
        with self._lock:
            if self._state == _EXPIRED:
                return False
            self._state = _FINISHED
        if self._timer is not None:
            self._timer.cancel()
        return True

    @property
    def expired(self) -> bool:
        return self._state == _EXPIRED

    def _fire(self, message: str | None = None) -> bool:
        with self._lock:
            if self._state != _ARMED:
                return False
            self._state = _EXPIRED
            self.message = message or timeout_message(self.seconds or 0)
        if self._timer is not None:
            self._timer.cancel()
        self._on_expiry(self.message)
        return True


_active: RunDeadline | None = None


def arm(seconds: float | None, on_expiry: Callable[[str], None]) -> RunDeadline:
    """Start the deadline of the run this process executes (a worker executes one run);
    without `seconds` it only ends the run when `interrupt`ed."""
    global _active
    _active = RunDeadline(seconds, on_expiry).start()
    return _active


def active() -> RunDeadline | None:
    """The armed deadline of this process, if any."""
    return _active


def handler_finished() -> str | None:
    """Called by the runtime when the handler returned: stop the watchdog before registering.

    Returns the message (timed out, interrupted) when the deadline already fired: the run is
    being ended, so the caller must not register anything. None otherwise (also when none is
    armed).
    """
    if _active is None or _active.finish():
        return None
    return _active.message


def timeout_message(seconds: float) -> str:
    """The run's message when its deadline expired."""
    return f"timed out after {seconds:g} s"
