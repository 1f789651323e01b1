"""The kinds the mlrun runtime registers with the digitalhub SDK, in one place."""

from __future__ import annotations

from enum import Enum

from digitalhub.entities._commons.utils import map_actions


class Kind(Enum):
    """Entity kinds: the function, its one task and the run of that task."""

    FUNCTION = "mlrun"
    TASK_JOB = "mlrun+job"
    RUN_JOB = "mlrun+job:run"


class Action(Enum):
    """Task actions a user names in `function.run(action, ...)`."""

    JOB = "job"


TASK_KINDS = map_actions([(Kind.TASK_JOB.value, Action.JOB.value)])
RUN_KINDS = map_actions([(Kind.RUN_JOB.value, Action.JOB.value)])
