"""The mlrun runtime's classes the digitalhub SDK registers: kinds `mlrun`, `mlrun+job`,
`mlrun+job:run` (`digitalhub_runtime_mlrun` re-exports these tuples while the SDK scans for
runtimes). Importing this module imports the SDK's 0.15 builder classes, never mlrun.

Why a module of its own: the rest of `dhmlrun.runtime` (deadlines, failure lines, captured
output) serves every worker, python runs included; under another SDK line (0.16), whose builder
classes moved, a worker importing those helpers must not fail on these.
"""

from __future__ import annotations

from digitalhub.runtimes.builder import RuntimeBuilder

from dhmlrun.runtime.function import FunctionMlrunBuilder
from dhmlrun.runtime.kinds import Kind
from dhmlrun.runtime.run import RunMlrunJobBuilder
from dhmlrun.runtime.runtime import RuntimeMlrunJob
from dhmlrun.runtime.task import TaskMlrunJobBuilder


class RuntimeMlrunJobBuilder(RuntimeBuilder):
    """Builds the runtime that executes `mlrun+job:run` runs."""

    RUNTIME_CLASS = RuntimeMlrunJob


entity_builders = (
    (Kind.FUNCTION.value, FunctionMlrunBuilder),
    (Kind.TASK_JOB.value, TaskMlrunJobBuilder),
    (Kind.RUN_JOB.value, RunMlrunJobBuilder),
)

runtime_builders = (
    (Kind.FUNCTION.value, RuntimeMlrunJobBuilder),
    (Kind.TASK_JOB.value, RuntimeMlrunJobBuilder),
    (Kind.RUN_JOB.value, RuntimeMlrunJobBuilder),
)

__all__ = ["entity_builders", "runtime_builders"]
