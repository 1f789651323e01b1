"""mlrun: what dhmlrun changes of mlrun's own behaviour, and of the process a local run is in.

- Offline (no `MLRUN_DBPATH`) mlrun records runs in `NopDB`, which keeps nothing (`runtime/memdb.py`
  says why that loses failures and artifacts). mlrun's public API has no way to give it another
  offline DB: `install_offline_db` overrides the "nop" provider of `RunDBFactory`'s private
  dependency-injection container (`_rundb_container.nop`).
  Connecting to it makes mlrun export `MLRUN_DBPATH=./` into the process's environment
  (`mlrun.db.get_or_set_dburl`); `install_offline_db` takes that back, for the reason below.
- `NopDB` logs "MLRUN_DBPATH is misconfigured" from its `__getattribute__` on every attribute
  access; `without_nop_warnings` gives a subclass plain attribute lookup back.
- A local run (`function.run(local=True)`) executes the handler in this process, in its working
  directory, importing from `sys.path`, reading and setting `os.environ` (mlrun exports `MLRUN_*`
  variables per run and leaves a temp file named by `MLRUN_META_TMPFILE`). `isolated_run` gives
  the run its own directory, source path and variables, and puts the caller's back after: the
  runtime plugin runs inside a user's SDK process, whose state is not the run's to change.

mlrun is imported here only inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from packaging.specifiers import SpecifierSet

VERSIONS = SpecifierSet(">=1.12.1,<1.13")
"""The mlrun versions these uses were written for (`pyproject.toml` pins 1.12.1)."""
META_TMPFILE = "MLRUN_META_TMPFILE"
DBPATH = "MLRUN_DBPATH"

T = TypeVar("T", bound=type)


def without_nop_warnings(cls: T) -> T:
    """A `NopDB` subclass with plain attribute lookup (no warning on every access)."""
    cls.__getattribute__ = object.__getattribute__  # type: ignore[method-assign,assignment]
    return cls


def install_offline_db(db: Any) -> None:
    """Make `db` the run DB mlrun uses offline, process-wide, and connect mlrun to it, leaving
    the process's environment as it was: mlrun's own configuration keeps the `./` it sets, but
    a `MLRUN_DBPATH=./` left in `os.environ` would reach every process the caller starts after
    (each would take it for a configured run DB)."""
    from dependency_injector import providers
    from mlrun.db.factory import RunDBFactory

    factory = RunDBFactory()
    factory._rundb_container.nop.override(providers.Object(db))
    before = os.environ.get(DBPATH)
    try:
        factory.create_run_db(force_reconnect=True)
    finally:
        if before is None:
            os.environ.pop(DBPATH, None)
        else:
            os.environ[DBPATH] = before


@contextlib.contextmanager
def isolated_run(work_dir: Path, source_root: Path | None, envs: dict[str, str]) -> Iterator[None]:
    """Run in `work_dir`, with `source_root` importable and `envs` set; restore the working
    directory, `sys.path` and `os.environ` after (mlrun's `MLRUN_*` variables and its temp file
    too, so one run cannot leak configuration into the next one in the same process)."""
    old_cwd = os.getcwd()
    old_env = dict(os.environ)
    old_path = list(sys.path)
    os.environ.update(envs)
    if source_root is not None:
        sys.path.insert(0, str(source_root))
    os.chdir(work_dir)
    try:
        yield
    finally:
        tmpfile = os.environ.get(META_TMPFILE)
        if tmpfile and tmpfile != old_env.get(META_TMPFILE):
            Path(tmpfile).unlink(missing_ok=True)
        os.chdir(old_cwd)
        sys.path[:] = old_path
        for name in set(os.environ) - set(old_env):
            del os.environ[name]
        os.environ.update(old_env)
