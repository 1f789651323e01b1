"""Entity kinds dhmlrun names outside the runtime plugin (which has its own `Kind` enum, tied to
the SDK): the mlrun runtime's kinds, and the python runtime's function kind (digitalhub-runtime-
python), as DHCore and the SDK spell them."""

from __future__ import annotations

MLRUN_KIND = "mlrun"
"""The function kind of the mlrun runtime (and the runtime's name in DHCore's schemas API)."""
MLRUN_TASK_JOB = "mlrun+job"
MLRUN_RUN_JOB = "mlrun+job:run"
PYTHON_KIND = "python"
"""The function kind of DigitalHub's python runtime (task `python+job`, run `python+job:run`)."""
FUNCTION_KINDS = (MLRUN_KIND, PYTHON_KIND)
"""The function kinds a declaration may use."""
HERA_KIND = "hera"
"""The workflow kind of digitalhub-runtime-hera (tasks `hera+build`, `hera+pipeline`)."""
BUILD_ACTION = "build"
PIPELINE_ACTION = "pipeline"
PLATFORM_ACTIONS = (BUILD_ACTION, PIPELINE_ACTION)
"""Actions only the platform executes (DHCore's builders and Argo; the runtimes' own `run()`
does nothing for them): their runs are remote, and their run specs say nothing of local
execution."""


def runtime_name(kind: str) -> str:
    """The runtime a function, task or run kind belongs to: `sklearnserve` for
    `sklearnserve+serve:run` (DHCore names every kind of a runtime after it)."""
    return kind.split(":", 1)[0].split("+", 1)[0]


def task_action(kind: str) -> str | None:
    """The action of a task or run kind (`serve` for `python+serve:run`), None for other kinds."""
    task_kind = kind.split(":", 1)[0]
    return task_kind.split("+", 1)[1] if "+" in task_kind else None
