"""The state machines of runs and materials (contract §9), as data.

Core moves a stored entity through exactly one edge per update; any other change is refused with
`Invalid transition from state X to state Y.` Types without a table store the state as sent.
"""

from __future__ import annotations

from dhmlrun.core.errors import invalid_transition

MATERIAL_EDGES: dict[str, frozenset[str]] = {
    "CREATED": frozenset({"UPLOADING", "READY", "ERROR", "DELETED"}),
    "UPLOADING": frozenset({"READY", "ERROR", "DELETED"}),
    "READY": frozenset({"READY", "ERROR", "DELETED"}),
    "ERROR": frozenset({"UPLOADING", "READY", "ERROR", "DELETED"}),
}

RUN_EDGES: dict[str, frozenset[str]] = {
    "CREATED": frozenset({"BUILT", "ERROR", "DELETING"}),
    "BUILT": frozenset({"READY", "ERROR", "DELETING"}),
    "READY": frozenset({"PENDING", "RUNNING", "ERROR", "DELETING"}),
    "PENDING": frozenset({"PENDING", "RUNNING", "COMPLETED", "ERROR", "DELETING"}),
    "RUNNING": frozenset({"RUNNING", "COMPLETED", "ERROR", "STOP", "DELETING"}),
    "STOP": frozenset({"STOPPED", "ERROR", "DELETING"}),
    "STOPPED": frozenset({"RESUME", "ERROR", "DELETING"}),
    "RESUME": frozenset({"RUNNING", "ERROR", "DELETING"}),
    "COMPLETED": frozenset({"DELETING"}),
    "ERROR": frozenset({"DELETING"}),
    "DELETING": frozenset({"DELETED"}),
}

LIFECYCLES: dict[str, dict[str, frozenset[str]]] = {
    "run": RUN_EDGES,
    "artifact": MATERIAL_EDGES,
    "dataitem": MATERIAL_EDGES,
    "model": MATERIAL_EDGES,
}

# Run states after which nothing runs any more (the executor's "did the worker finish?" test).
RUN_FINAL_STATES = frozenset({"COMPLETED", "ERROR", "STOPPED", "DELETING", "DELETED"})


def has_lifecycle(entity_type: str) -> bool:
    """True when state changes of this type are checked against an FSM."""
    return entity_type in LIFECYCLES


def next_state(entity_type: str, current: str, target: str | None) -> str:
    """The state to store after a client asked for `target` (None or same state: unchanged).

    Raises the contract's 400 when the type has a lifecycle and no edge leads there.
    """
    if target is None or target == current:
        return current
    edges = LIFECYCLES.get(entity_type)
    if edges is None:
        return target
    if target not in edges.get(current, frozenset()):
        raise invalid_transition(current, target)
    return target
