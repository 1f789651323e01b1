"""What the planner's parts share while one plan is made: the declaration and the state it
compares, and what was planned so far (`Planned`, by address), which later steps read (a run
whose function gets a new version fires, a service whose model a run produces redeploys).

A module of its own so that the builder and the per-family planners (`services.py`) both import
it and neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dhmlrun.config.model import Declaration
from dhmlrun.plan.rules import LocalFile
from dhmlrun.platform.state import PlatformState, RemoteRun
from dhmlrun.vocabulary import keys


@dataclass
class Planned:
    """What later steps need to know of an entity planned earlier in the same plan."""

    address: str
    action: str
    entity_id: str | None
    key: str | None
    kind: str | None
    view: dict[str, Any] = field(default_factory=dict)
    local: LocalFile | None = None
    fingerprint: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    before_move: str | None = None
    """Moved (`moved:`) with its content unchanged: the entity id it had under its old address,
    or, for a run, the fingerprint it had with every moved address as it was. Runs compare their
    last run with that, so a rename alone never re-runs anything."""


@dataclass
class PlanContext:
    """One plan in the making: its inputs, and what was planned so far (by address)."""

    declaration: Declaration
    state: PlatformState
    reruns: set[str]
    id_factory: Callable[[], str]
    planned: dict[str, Planned] = field(default_factory=dict)

    @property
    def moved(self) -> dict[str, str]:
        """{new address: old address} of the declared `moved:` entries."""
        return self.declaration.moved

    def last_run(self, address: str) -> RemoteRun | None:
        """The last run of `address`, or of the address it was moved from."""
        found = self.state.runs.get(address)
        if found is None and address in self.moved:
            found = self.state.runs.get(self.moved[address])
        return found


def last_output(run: RemoteRun | None, output: str) -> str | None:
    """The store key of an output of the last run (status.outputs holds keys or entity dicts)."""
    return None if run is None else keys.output_key(run.outputs.get(output))
