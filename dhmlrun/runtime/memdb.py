"""An in-memory mlrun run DB, so offline runs report failures and artifacts instead of losing them.

With `MLRUN_DBPATH` unset, mlrun 1.12.1 uses `NopDB`: a raising handler then leaves the run
`created`, `run.outputs` blocks forever and artifacts cannot be read back. Registering this DB
as the provider behind mlrun's "nop" URL (through `mlrun.db.factory`) gives mlrun somewhere to
record run state, errors, artifacts and the handler's stdout; mlrun then raises `RunError` with
the real message, and the runtime reads everything back from here (the mlrun internals this
takes are fenced in `compat/mlrun.py`). Imported only inside `run()`.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import mlrun.utils
from mlrun.db.nopdb import NopDB

from dhmlrun.compat.mlrun import install_offline_db, without_nop_warnings


@without_nop_warnings
class MemoryRunDB(NopDB):
    """Keeps runs, artifacts and logs of this process; everything else stays a no-op."""

    def __init__(self, url: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(url)
        self._lock = threading.Lock()
        self.runs: dict[tuple[str, str, int], dict] = {}
        self.artifacts: list[dict] = []
        self.logs: dict[str, bytes] = {}

    def reset(self) -> None:
        """Forget everything: the runtime reads one run at a time and keeps no history here."""
        with self._lock:
            self.runs.clear()
            self.artifacts.clear()
            self.logs.clear()

    def connect(self, secrets: Any = None) -> MemoryRunDB:
        return self

    def store_run(self, struct: dict, uid: str, project: str = "", iter: int = 0) -> None:
        with self._lock:
            self.runs[(project, uid, iter or 0)] = copy.deepcopy(struct)

    def update_run(self, updates: dict, uid: str, project: str = "", iter: int = 0) -> None:
        with self._lock:
            run = self.runs.setdefault((project, uid, iter or 0), {})
            for path, value in (updates or {}).items():
                mlrun.utils.update_in(run, path, copy.deepcopy(value))

    def read_run(self, uid: str, project: str = "", iter: int = 0, format_: Any = None) -> dict | None:
        with self._lock:
            run = self.runs.get((project, uid, iter or 0))
            return copy.deepcopy(run) if run is not None else None

    def store_artifact(
        self,
        key: str,
        artifact: dict,
        iter: int | None = None,
        tag: str = "",
        project: str = "",
        tree: Any = None,
    ) -> dict:
        stored = copy.deepcopy(artifact)
        with self._lock:
            self.artifacts = [a for a in self.artifacts if _identity(a) != (project, key, tree)]
            self.artifacts.append({"db_key": key, "project": project, "tree": tree, "artifact": stored})
        return stored

    def read_artifact(
        self,
        key: str,
        tag: str = "",
        iter: int | None = None,
        project: str = "",
        tree: Any = None,
        uid: Any = None,
        format_: Any = None,
    ) -> dict | None:
        with self._lock:
            for entry in reversed(self.artifacts):
                if entry["db_key"] == key and entry["project"] == project and tree in (None, entry["tree"]):
                    return copy.deepcopy(entry["artifact"])
        return None

    def artifacts_of(self, tree: str) -> list[dict]:
        """Every artifact a run (its uid is the artifacts' tree) logged, in logging order."""
        with self._lock:
            return [copy.deepcopy(e["artifact"]) for e in self.artifacts if e["tree"] == tree]

    def store_log(self, uid: str, project: str = "", body: bytes | None = None, append: bool = False) -> None:
        with self._lock:
            self.logs[uid] = (self.logs.get(uid, b"") if append else b"") + (body or b"")

    def get_log(
        self, uid: str, project: str = "", offset: int = 0, size: int = 0, attempt: Any = None
    ) -> Any:
        with self._lock:
            return "completed", self.logs.get(uid, b"")[offset:]


def _identity(entry: dict) -> tuple:
    return (entry["project"], entry["db_key"], entry["tree"])


_INSTALLED: MemoryRunDB | None = None


def install_memory_db() -> MemoryRunDB:
    """Make mlrun's offline ("nop") run DB this process-wide in-memory DB, and return it."""
    global _INSTALLED
    if _INSTALLED is None:
        _INSTALLED = MemoryRunDB()
        # Connecting to a DB without "://" always warns "MLRUN_DBPATH is misconfigured"; offline
        # is exactly what is intended here, so that warning would only mislead the run's log.
        old_level = mlrun.utils.logger.level
        mlrun.utils.logger.set_logger_level("ERROR")
        try:
            install_offline_db(_INSTALLED)
        finally:
            mlrun.utils.logger.set_logger_level(old_level)
    return _INSTALLED
