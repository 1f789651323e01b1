"""The mlrun runtime for the digitalhub SDK: kinds `mlrun`, `mlrun+job`, `mlrun+job:run`.

The SDK imports `digitalhub_runtime_mlrun` (which re-exports these tuples) while it scans for
runtimes, so importing this package stays cheap: mlrun is imported only when a run executes.

Importing it also makes the process wait, at exit, for Arrow's thread pools to finish what they
still do (`dhmlrun/compat/pyarrow.py`): reading a table the runtime produced (`dataitem.as_df()`) can leave
work there that aborts the interpreter if it is still running when Python finalizes.
"""

from __future__ import annotations

from digitalhub.runtimes.builder import RuntimeBuilder

from dhmlrun.compat.pyarrow import drain_at_exit
from dhmlrun.runtime.function import FunctionMlrunBuilder
from dhmlrun.runtime.kinds import Kind
from dhmlrun.runtime.run import RunMlrunJobBuilder
from dhmlrun.runtime.runtime import RuntimeMlrunJob
from dhmlrun.runtime.task import TaskMlrunJobBuilder

drain_at_exit()


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
