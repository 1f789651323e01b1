"""Where an action of a plan executes, and where a run lives: the backends dhmlrun talks to.

The planner records the backend on every action (`plan.model.Action.backend`) and apply
dispatches on it alone (`apply/executor.ROUTES`); what is read from a backend says where it came
from (`platform.state.RemoteEntity.backend`, `RemoteRun.backend`).
"""

from __future__ import annotations

DHCORE = "dhcore"
"""The DigitalHub platform: a DHCore, or the embedded core."""
MLRUN = "mlrun"
"""The MLRun service beside it, holding the `mlrun` functions, schedules and runs when the
DigitalHub platform has no `mlrun` runtime (`plan/mlrun_host.py`)."""
