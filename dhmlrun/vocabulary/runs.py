"""A run as the platform executes it: the function version it runs, and what it is given.

One definition shared by the plan (`plan.model.RunRequest`, whose inputs are still bindings to
resolve) and the worker protocol (`worker.protocol.RunOrder`, whose inputs are resolved), so a
field of a run is declared once on its way from the plan into the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dhmlrun.vocabulary import defaults
from dhmlrun.vocabulary.addresses import Address


@dataclass(frozen=True)
class FunctionVersion:
    """The function version a run executes: its address, version id, store key and kind."""

    address: str
    id: str
    key: str
    kind: str

    @property
    def name(self) -> str:
        return Address.parse(self.address).name


@dataclass
class RunSpec:
    """What a run executes and how: its project and id (chosen at plan time), the function
    version, the task action, outputs, parameters, `values`, the task parameters, local or
    remote execution, and dhmlrun's labels (`platform/labels.py`); every one is given (the
    planner decides them all). Its inputs are each user's own."""

    project: str
    run_id: str
    function: FunctionVersion
    action: str
    outputs: dict[str, str]
    parameters: dict[str, Any]
    values: list[str]
    task: dict[str, Any]
    execution: str
    labels: list[str]

    @property
    def remote(self) -> bool:
        """Executed by the platform's executor, not by the process that starts it."""
        return self.execution == defaults.REMOTE
