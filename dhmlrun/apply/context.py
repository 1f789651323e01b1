"""What a step kept outside the executor sees of the apply it is part of (`Applier.context`).

Narrow on purpose: the platform, the project, whether apply was interrupted, and the keys that
upstream runs of this apply produced; never the `Applier` itself (its workers, its run server,
its lock), so such a step module imports nothing of the executor and cannot reach into it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from dhmlrun.plan.model import InputBinding
from dhmlrun.platform.dhcore import Platform


@dataclass(frozen=True)
class StepContext:
    """The apply a step belongs to, as the step may use it."""

    platform: Platform
    project: str
    stop: threading.Event
    """Set when apply was interrupted: a step that waits gives up."""
    resolve: Callable[[str, InputBinding], str]
    """The key a binding names now (`Applier.resolve_binding`): an output of an upstream run of
    this apply once it has run, else the key planned; the first argument names the binding in
    the error raised when there is none."""
