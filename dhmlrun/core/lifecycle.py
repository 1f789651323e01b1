"""The state machines of runs and materials (docs/dhcore.md §9), as data.

Core moves a stored entity through at most one edge per update. Types without a table store the
state as sent. A state change with no edge is refused with `Invalid transition from state X to
state Y.` where DHCore refuses it (run actions, server-side moves); in a PUT, DHCore 0.15 keeps
the stored state and saves the rest of the update (`BaseLifecycleManager` catches the
`InvalidTransitionException`), and so does this core (`lenient=True`). One refinement, on
purpose: a stale copy of a run saved after the run ended keeps the run's whole final status
(`service.update_entity`), where DHCore would save the copy's results over the executor's.
"""

from __future__ import annotations

from dhmlrun.core.errors import invalid_transition
from dhmlrun.vocabulary.states import (
    BUILT,
    COMPLETED,
    CREATED,
    DELETED,
    DELETING,
    ERROR,
    PENDING,
    READY,
    RESUME,
    RUNNING,
    STOP,
    STOPPED,
    UPLOADING,
)

MATERIAL_EDGES: dict[str, frozenset[str]] = {
    CREATED: frozenset({UPLOADING, READY, ERROR, DELETED}),
    UPLOADING: frozenset({READY, ERROR, DELETED}),
    READY: frozenset({READY, ERROR, DELETED}),
    ERROR: frozenset({UPLOADING, READY, ERROR, DELETED}),
}

RUN_EDGES: dict[str, frozenset[str]] = {
    CREATED: frozenset({BUILT, ERROR, DELETING}),
    BUILT: frozenset({READY, ERROR, DELETING}),
    READY: frozenset({PENDING, RUNNING, ERROR, DELETING}),
    PENDING: frozenset({PENDING, RUNNING, COMPLETED, ERROR, DELETING}),
    RUNNING: frozenset({RUNNING, COMPLETED, ERROR, STOP, DELETING}),
    STOP: frozenset({STOPPED, ERROR, DELETING}),
    STOPPED: frozenset({RESUME, ERROR, DELETING}),
    RESUME: frozenset({RUNNING, ERROR, DELETING}),
    COMPLETED: frozenset({DELETING}),
    ERROR: frozenset({DELETING}),
    DELETING: frozenset({DELETED}),
}

LIFECYCLES: dict[str, dict[str, frozenset[str]]] = {
    "run": RUN_EDGES,
    "artifact": MATERIAL_EDGES,
    "dataitem": MATERIAL_EDGES,
    "model": MATERIAL_EDGES,
}


def can_move(entity_type: str, current: str, target: str) -> bool:
    """Whether the lifecycle has an edge from `current` to `target` (types without one: always)."""
    edges = LIFECYCLES.get(entity_type)
    return edges is None or target in edges.get(current, frozenset())


def next_state(entity_type: str, current: str, target: str | None, *, lenient: bool = False) -> str:
    """The state to store after a client asked for `target` (None or same state: unchanged).

    A target with no edge from `current` raises the contract's 400, or with `lenient` (a PUT)
    leaves the state as it is.
    """
    if target is None or target == current:
        return current
    edges = LIFECYCLES.get(entity_type)
    if edges is None:
        return target
    if target not in edges.get(current, frozenset()):
        if lenient:
            return current
        raise invalid_transition(current, target)
    return target
