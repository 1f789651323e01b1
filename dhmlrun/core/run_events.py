"""DHCore's run lifecycle events: `POST …/runs/{id}/{action}` performs the event the action
names, upper-cased (RunContextController.performOnRun → lifecycleManager.perform).

Each event leads to one state (BaseRunState's transitions: BUILD → BUILT, RUN → READY, SCHEDULE
→ PENDING, EXECUTE → RUNNING, LOOP → the state it is in, COMPLETE → COMPLETED, ERROR → ERROR,
STOP → STOP then STOPPED, RESUME → RESUME, DELETE → DELETING then DELETED) when the current
state has that transition (`lifecycle.RUN_EDGES`); an event without one, an unknown event
included, is Fsm.perform's `InvalidTransitionException(current, null)`: 400 `Invalid transition
from state X to state null.`.
"""

from __future__ import annotations

from collections.abc import Callable

from dhmlrun.vocabulary import states

EVENTS: dict[str, Callable[[str], str]] = {
    "BUILD": lambda current: states.BUILT,
    "RUN": lambda current: states.READY,
    "SCHEDULE": lambda current: states.PENDING,
    "EXECUTE": lambda current: states.RUNNING,
    "LOOP": lambda current: current,
    "COMPLETE": lambda current: states.COMPLETED,
    "ERROR": lambda current: states.ERROR,
    "STOP": lambda current: states.STOPPED if current == states.STOP else states.STOP,
    "RESUME": lambda current: states.RESUME,
    "DELETE": lambda current: states.DELETED if current == states.DELETING else states.DELETING,
}
LOOPS = frozenset({states.PENDING, states.RUNNING})
"""LOOP is a transition of PENDING and RUNNING only."""


def event_target(event: str, current: str) -> str | None:
    """The state `event` leads to from `current`, or None when it names no event."""
    target = EVENTS.get(event.upper())
    if target is None or (event.upper() == "LOOP" and current not in LOOPS):
        return None
    return target(current)
