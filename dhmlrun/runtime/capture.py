"""Capture everything a run prints (handler stdout/stderr and mlrun's own log lines) as one text.

The captured text is echoed to the real streams as well, so a user running locally still sees it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

_live: list[io.StringIO] = []


class Tee(io.TextIOBase):
    """A text stream writing to a buffer and to the original stream."""

    def __init__(self, buffer: io.StringIO, echo: TextIO) -> None:
        self._buffer = buffer
        self._echo = echo
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._buffer.write(text)
        with contextlib.suppress(Exception):
            self._echo.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(Exception):
            self._echo.flush()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def captured_output(handlers: tuple[logging.StreamHandler, ...] = ()) -> Iterator[io.StringIO]:
    """Send stdout, stderr and the given log handlers' streams into one buffer for the block.

    mlrun's logger writes through its own "default" handler and re-points that handler's stream
    at `sys.stdout` after each run; restoring the handlers' original streams afterwards keeps a
    stale capture buffer from outliving the block.
    """
    buffer = io.StringIO()
    out, err = Tee(buffer, sys.stdout), Tee(buffer, sys.stderr)
    saved = [(handler, handler.stream) for handler in handlers]
    for handler, _ in saved:
        handler.setStream(out)
    _live.append(buffer)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield buffer
    finally:
        _live.remove(buffer)
        for handler, stream in saved:
            handler.setStream(stream)


def live_output() -> str:
    """What the runs executing now have printed so far (a timed-out run's log keeps it)."""
    return "".join(buffer.getvalue() for buffer in list(_live))
