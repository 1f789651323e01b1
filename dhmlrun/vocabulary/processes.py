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


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (Linux), None elsewhere or when gone.
    The command name (field 2) is in parentheses and may itself hold spaces or parentheses."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def process_start(pid: int) -> str | None:
    """When process `pid` started, as an opaque token (Linux: its start time in clock ticks since
    boot, field 22 of /proc/PID/stat); None when it does not exist or the OS does not say.

    A pid alone is not an identity: once a process ends, the OS may give its pid to another. A
    record that keeps (pid, start) names one process for as long as the machine runs.
    """
    fields = _proc_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def same_process(pid: int, start: str | None) -> bool:
    """True when `pid` is still the running process that had start token `start` (a zombie, ended
    but not yet reaped by its parent, is not; only existence is checked where the OS says no more)."""
    if not process_alive(pid):
        return False
    fields = _proc_stat(pid)
    if fields is None:
        return True
    if fields[0] in ("Z", "X"):
        return False
    return start is None or (len(fields) > 19 and fields[19] == start)
