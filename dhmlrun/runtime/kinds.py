"""The kinds the mlrun runtime registers with the digitalhub SDK, as the SDK's enums (their words
are `vocabulary/kinds.py`'s)."""

from __future__ import annotations

from enum import Enum

from digitalhub.entities._commons.utils import map_actions

from dhmlrun.vocabulary.kinds import MLRUN_KIND, MLRUN_RUN_JOB, MLRUN_TASK_JOB


class Kind(Enum):
    """Entity kinds: the function, its one task and the run of that task."""

    FUNCTION = MLRUN_KIND
    TASK_JOB = MLRUN_TASK_JOB
    RUN_JOB = MLRUN_RUN_JOB


class Action(Enum):
    """Task actions a user names in `function.run(action, ...)`."""

    JOB = "job"


TASK_KINDS = map_actions([(Kind.TASK_JOB.value, Action.JOB.value)])
RUN_KINDS = map_actions([(Kind.RUN_JOB.value, Action.JOB.value)])
