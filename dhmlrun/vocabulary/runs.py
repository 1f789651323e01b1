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
from dhmlrun.vocabulary.kinds import PYTHON_KIND

FIELDS_NOT_TAKEN: dict[str, tuple[str, ...]] = {PYTHON_KIND: ("outputs", "values")}
"""Run fields a function kind's run does not take: a python run's outputs are named by its
handler and all its other returns are results (digitalhub-runtime-python's run spec has neither
field). The worker does not send them, so the platform never records them, and a plan's view of
such a run leaves them out on both sides (`plan/runview.py`)."""


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
    remote execution, dhmlrun's labels (`platform/labels.py`), and for a pipeline run whether its
    workflow is built first; every one is given (the planner decides them all). Its inputs are
    each user's own."""

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
    workflow_build: str | None = None
    """A pipeline run's: why its workflow is built right before it (a new version of the
    workflow, no build yet, a step function's version changed: `plan/pipelines.py`); None when
    the build its workflow's version holds is run as it is."""

    @property
    def remote(self) -> bool:
        """Executed by the platform's executor, not by the process that starts it."""
        return self.execution == defaults.REMOTE
