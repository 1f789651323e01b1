"""Environment variables that pass a setting between dhmlrun's own processes (apply, its run
workers, the embedded core's job workers, the runtime), named once."""

from __future__ import annotations

import os
from pathlib import Path

FILES_STORE_ENV = "DHCORE_DEFAULT_FILES_STORE"
"""The SDK's default files store (digitalhub.stores.client.auth.enums.ConfigurationVars): where
`log_*` put files; DHCore hands it to its pods, the embedded core to its runs."""

RUNS_DIR_ENV = "DHMLRUN_RUNS_DIR"
"""Where the mlrun runtime keeps run directories; outputs registered by local path live there,
so it must outlive the run: apply sets it to `<config repo>/.dhmlrun/runs`, the embedded core
to `runs/` next to its database."""


def default_runs_dir() -> Path:
    """Where runs go when nobody set `DHMLRUN_RUNS_DIR` (an SDK script using the runtime
    directly): the user's data directory, never the current directory."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dhmlrun" / "runs"


ENVS_DIR_ENV = "DHMLRUN_ENVS_DIR"
"""Where the embedded core keeps the Python environments of functions' requirements
(`environments.py`): `envs/` next to its database, told to its workers."""
ENVIRONMENT_ENV = "DHMLRUN_ENVIRONMENT"
"""Set (to its digest) in a job worker that runs inside a function's environment already."""


def run_logs_dir(root: Path, project: str) -> Path:
    """Where apply keeps what its workers printed for `project`: `.dhmlrun/logs/PROJECT/` of the
    config directory `root`, one `RUN_ID.log` per run. By project and run, never by address
    alone: one configuration deploys several projects (its environments), and an apply of one
    must never replace another's record."""
    return Path(root) / ".dhmlrun" / "logs" / project


OUTPUT_KEPT_ENV = "DHMLRUN_OUTPUT_KEPT"
"""Set in a worker whose executor keeps everything the worker prints as the run's log (the
embedded core's job runner, as DHCore keeps a pod's): the runtime then prints its own notes
instead of storing a second log of the same run."""
