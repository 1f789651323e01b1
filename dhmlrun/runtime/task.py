"""Task kind `mlrun+job` (action `job`): the k8s parameters a job runs with."""

from __future__ import annotations

from typing import Any

from digitalhub.entities.task._base.builder import TaskBuilder
from digitalhub.entities.task._base.entity import Task
from digitalhub.entities.task._base.spec import TaskSpecFunction, TaskValidator
from digitalhub.entities.task._base.status import TaskStatus

from dhmlrun.runtime.function import RuntimeEntityBuilderMlrun
from dhmlrun.runtime.kinds import Kind
from dhmlrun.runtime.taskparams import TASK_PARAM_FIELDS, TaskParams


class TaskSpecMlrunJob(TaskSpecFunction):
    """Spec of an `mlrun+job` task: the function string plus the k8s parameters."""

    def __init__(self, function: str, **kwargs: Any) -> None:
        super().__init__(function)
        for name in TASK_PARAM_FIELDS:
            setattr(self, name, kwargs.get(name))


class TaskValidatorMlrunJob(TaskValidator, TaskParams):
    """Validates an `mlrun+job` task spec."""

    function: str


class TaskStatusMlrunJob(TaskStatus):
    """Status of an `mlrun+job` task (no fields beyond the SDK's)."""


class TaskMlrunJob(Task):
    """An `mlrun+job` task."""


class TaskMlrunJobBuilder(TaskBuilder, RuntimeEntityBuilderMlrun):
    """Builds `mlrun+job` tasks."""

    ENTITY_CLASS = TaskMlrunJob
    ENTITY_SPEC_CLASS = TaskSpecMlrunJob
    ENTITY_SPEC_VALIDATOR = TaskValidatorMlrunJob
    ENTITY_STATUS_CLASS = TaskStatusMlrunJob
    ENTITY_KIND = Kind.TASK_JOB.value
