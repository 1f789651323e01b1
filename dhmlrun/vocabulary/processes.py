"""Whether a process of this host still exists (locks and claims of dead processes are stale),
and the exit code of one that an interrupt ended."""

from __future__ import annotations

import os

EXIT_INTERRUPTED = 130
"""The exit code of a command ended by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)."""


def process_alive(pid: int) -> bool:
    """True when a process with this pid exists; signal 0 checks without signalling. A process
    of another user (PermissionError) exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
