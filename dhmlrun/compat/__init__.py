"""Where dhmlrun leans on another library's internals (pandas' `compat/`, pytest's `compat.py`):
each use in one module, with the versions it was written for, and a test
(`tests/compat/test_versions.py`) that fails when what is installed leaves that range, so the
use is checked again instead of going stale silently.

    python.py      CPython: running the exit handlers of a forked child without finalizing
    mlrun.py       mlrun: its offline run DB replaced, a local run's process-wide changes undone
    digitalhub.py  the digitalhub SDK: its client configuration read again from the environment
    hera.py        digitalhub-runtime-hera: its runtime registered without importing hera
    pyarrow.py     pyarrow: waiting for Arrow's thread pools at exit (until apache/arrow#49943)

Nothing else in dhmlrun touches these internals. Each module imports its library lazily.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from packaging.specifiers import SpecifierSet
from packaging.version import Version


def installed(distribution: str) -> Version | None:
    """The installed version of `distribution` (None when it is not installed)."""
    try:
        return Version(version(distribution))
    except PackageNotFoundError:
        return None


def within(distribution: str, versions: SpecifierSet) -> bool:
    """Whether the installed `distribution` is one of `versions` (pre-releases included)."""
    found = installed(distribution)
    return found is not None and versions.contains(found, prereleases=True)
