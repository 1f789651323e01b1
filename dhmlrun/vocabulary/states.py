"""Run and material states (DHCore's lifecycles, docs/dhcore.md §9) and the classes of them that
dhmlrun reasons with.

Why classes and not ad-hoc tuples: "is this run over?" has one answer everywhere (the planner's
"a running run is never duplicated", the lease heartbeat, the workers' polling, `logs --follow`),
so a run DELETING counts as over for all of them, and a run STOPPED as failed.
"""

from __future__ import annotations

CREATED = "CREATED"
BUILT = "BUILT"
READY = "READY"
PENDING = "PENDING"
RUNNING = "RUNNING"
COMPLETED = "COMPLETED"
ERROR = "ERROR"
STOP = "STOP"
STOPPED = "STOPPED"
RESUME = "RESUME"
DELETING = "DELETING"
DELETED = "DELETED"
UPLOADING = "UPLOADING"

ENDED = frozenset({COMPLETED, ERROR, STOPPED})
"""A run that reached its outcome."""
REMOVED = frozenset({DELETING, DELETED})
"""A run being (or already) deleted."""
FINAL = ENDED | REMOVED
"""Nothing executes a run in one of these states any more: never wait on it, never renew its
lease, never count it as still running."""
FAILED = frozenset({ERROR, STOPPED})
"""A run that ended without completing: an `on_change` run fires again."""


def is_final(state: str | None) -> bool:
    """True when nothing executes a run in `state` any more (None: the run is gone)."""
    return state is None or str(state) in FINAL
