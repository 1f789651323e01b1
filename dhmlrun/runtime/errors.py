"""The runtime's failure type: its message is what the user reads in the run's `status.message`."""

from __future__ import annotations


class ExecutionError(Exception):
    """A run could not be executed (bad source, missing input, failing handler, ...).

    Raised by the execution modules with a message meant for the user, never a traceback; the
    runtime turns it into run state ERROR with this message.
    """
